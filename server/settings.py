"""One typed settings object, read from the NARYAD_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec


class SettingsError(ValueError):
    """A NARYAD_* variable holds a value that cannot be used."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "sqlite:///var/naryad.db"
    redis_url: str | None = None
    secret_key: str = "dev-insecure-secret-change-me"
    public_url: str = "http://127.0.0.1:8000"
    mail_domain: str | None = None
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_tls: str = "none"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    telegram_bot_token: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_webhook_secret: str | None = None
    inbound_email_secret: str | None = None
    geocoder_url: str | None = None
    token_ttl_hours: int = 24 * 30
    # A check-in farther than this from the site's coordinates is kept but flagged.
    checkin_radius_m: float = 500.0
    log_level: str = "INFO"
    log_format: str = "console"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from NARYAD_<FIELD> variables; unset or empty ones keep defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in msgspec.structs.fields(cls):
            raw = env.get(f"NARYAD_{field.name.upper()}")
            if raw is None or raw == "":
                continue
            values[field.name] = raw
        try:
            settings = msgspec.convert(values, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(f"invalid NARYAD_* setting: {exc}") from exc
        if settings.smtp_tls not in {"none", "starttls", "tls"}:
            raise SettingsError("NARYAD_SMTP_TLS must be one of: none, starttls, tls")
        if settings.log_format not in {"console", "json"}:
            raise SettingsError("NARYAD_LOG_FORMAT must be 'console' or 'json'")
        return settings

    @property
    def jobs_in_process(self) -> bool:
        return self.redis_url is None
