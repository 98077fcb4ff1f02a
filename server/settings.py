"""One typed settings object, read from the NARYAD_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec


class SettingsError(ValueError):
    """A NARYAD_* variable holds a value that cannot be used."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str = "sqlite:///var/naryad.db"
    # PostgreSQL connections each process keeps at most (every API process and every worker
    # has its own pool; README "Scale-out" gives the max_connections formula), and asyncpg's
    # prepared-statement cache per connection: 0 behind PgBouncer in transaction mode
    # (PgBouncer before 1.21, Debian 12's 1.18, cannot keep prepared statements).
    db_pool_max: int = 10
    db_statement_cache: int = 100
    redis_url: str | None = None
    secret_key: str = "dev-insecure-secret-change-me"
    public_url: str = "http://127.0.0.1:8000"
    mail_domain: str | None = None
    # Unset: e-mail is not configured; e-mail notifications are recorded as skipped.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_tls: str = "none"
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str | None = None
    # No SMTP host and this on (scripts/demo sets it): outgoing mail is kept in dev_mail
    # and shown to admins at GET /api/dev/mail instead of being skipped (server/devmail).
    dev_mail_catcher: bool = False
    telegram_bot_token: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_webhook_secret: str | None = None
    inbound_email_secret: str | None = None
    geocoder_url: str | None = None
    # Geocoding (server/dispatch): who we say we are to the geocoder, at most one request
    # per geocoder_min_delay_s (Nominatim's policy: 1/s), how long one may take, and when a
    # site whose geocoding failed is tried again (doubling up to a day).
    geocoder_user_agent: str = "Naryad field service (https://github.com/naryad)"
    geocoder_min_delay_s: float = 1.0
    geocoder_timeout_s: float = 10.0
    geocoder_retry_s: float = 900.0
    # The dispatch board's map tiles (an empty value: the board is a list only) and the day
    # route's rough ETA: the average speed over straight-line distances, and which app the
    # route link opens (yandex or google).
    map_tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_tile_attribution: str = "© OpenStreetMap contributors"
    route_speed_kmh: float = 25.0
    route_navigator: str = "yandex"
    token_ttl_hours: int = 24 * 30
    # With a Redis, each API process remembers whose a token is for this long; any change
    # to the user (roles, groups, deactivation, password, logout) forgets it in every
    # process at once (server/accounts/session_cache.py). 0 switches it off.
    auth_cache_s: float = 10.0
    # The client portal (server/portal): codes of templates whose tasks clients never see
    # (comma-separated; empty: clients see every template's tasks of their company).
    portal_hidden_templates: str = "accounting"
    # A check-in farther than this from the site's coordinates is kept but flagged.
    checkin_radius_m: float = 500.0
    # The company's timezone: what "today" and "per day" mean on the dashboard.
    timezone: str = "Europe/Moscow"
    # Notifications (jobs/): the address clients see and reply to, Web Push keys, and how
    # deliveries retry. A 'sending' row older than the lease is taken over by another worker.
    support_address: str | None = None
    vapid_private_key: str | None = None
    vapid_public_key: str | None = None
    vapid_subject: str = "mailto:support@example.invalid"
    notify_lease_s: float = 120.0
    notify_sweep_s: float = 60.0
    notify_max_attempts: int = 8
    notify_concurrency: int = 10
    # Print forms: the company printed as the contractor on work orders and acts, the zone
    # their times are shown in, and how long one render may take (then 503).
    company_name: str = ""
    company_address: str = ""
    company_phone: str = ""
    company_inn: str = ""
    company_email: str = ""
    print_timezone: str = "Europe/Moscow"
    print_timeout_s: float = 20.0
    # Inbound mail (R5, R6): larger messages are rejected, larger attachments not kept.
    mail_max_bytes: int = 10 * 1024 * 1024
    mail_max_attachment_bytes: int = 5 * 1024 * 1024
    # IMAP intake (`naryad imap-intake`; the worker too when set): mailbox URLs separated by
    # spaces or commas, imaps://user:password@host:993/INBOX. Taken messages are moved to the
    # processed folder; one whose intake keeps failing goes to the failures folder after
    # imap_max_attempts tries. Without IDLE (or between IDLE retries) look every imap_poll_s.
    imap_url: str | None = None
    imap_processed_folder: str = "Naryad-Processed"
    imap_failed_folder: str = "Naryad-Failed"
    imap_poll_s: float = 60.0
    imap_max_attempts: int = 3
    # `naryad telegram poll`: how long one getUpdates long poll may wait, in seconds.
    telegram_poll_timeout_s: int = 25
    log_level: str = "INFO"
    log_format: str = "console"
    # Failed logins (server/lib/ratelimit.py): this many within the window lock the account
    # (or the client address) out; each further lockout within a day is twice as long.
    # 0 switches that limit off.
    login_max_failures: int = 10
    login_max_failures_per_address: int = 50
    login_window_s: float = 900.0
    login_lockout_s: float = 60.0
    login_lockout_max_s: float = 3600.0
    # argon2 hashes running at once per API process (0: half the CPUs, at least one).
    password_hash_threads: int = 0

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
        if settings.route_navigator not in {"yandex", "google"}:
            raise SettingsError("NARYAD_ROUTE_NAVIGATOR must be 'yandex' or 'google'")
        if not (settings.route_speed_kmh > 0 and settings.geocoder_timeout_s > 0):
            raise SettingsError(
                "NARYAD_ROUTE_SPEED_KMH and NARYAD_GEOCODER_TIMEOUT_S must be positive"
            )
        if settings.db_pool_max < 1 or settings.db_statement_cache < 0:
            raise SettingsError(
                "NARYAD_DB_POOL_MAX must be at least 1 and NARYAD_DB_STATEMENT_CACHE at least 0"
            )
        if settings.auth_cache_s < 0:
            raise SettingsError("NARYAD_AUTH_CACHE_S must be 0 (off) or a number of seconds")
        if not settings.print_timeout_s > 0:
            raise SettingsError("NARYAD_PRINT_TIMEOUT_S must be a positive number of seconds")
        if not settings.imap_poll_s > 0 or settings.imap_max_attempts < 1:
            raise SettingsError("NARYAD_IMAP_POLL_S and NARYAD_IMAP_MAX_ATTEMPTS must be positive")
        if not 0 <= settings.telegram_poll_timeout_s <= 50:
            raise SettingsError("NARYAD_TELEGRAM_POLL_TIMEOUT_S must be 0 to 50 seconds")
        for name in ("timezone", "print_timezone"):
            zone = getattr(settings, name)
            try:
                ZoneInfo(zone)
            except (ValueError, ZoneInfoNotFoundError) as exc:
                raise SettingsError(f"NARYAD_{name.upper()}: unknown time zone {zone!r}") from exc
        return settings

    @property
    def jobs_in_process(self) -> bool:
        return self.redis_url is None


# One Settings per process, injected at start-up (create_app, the worker, the CLI, the
# test harness); services read it here instead of the environment.
_installed: Settings | None = None


def install(settings: Settings) -> Settings:
    global _installed
    _installed = settings
    return settings


def current() -> Settings:
    if _installed is None:
        raise RuntimeError("settings are not installed: call server.settings.install() at start-up")
    return _installed
