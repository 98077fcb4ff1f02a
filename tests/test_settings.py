from __future__ import annotations

import pytest

from server.db import engine_from_url
from server.settings import Settings, SettingsError


def test_defaults_are_the_embedded_demo():
    s = Settings.from_env({})
    assert s.database_url.startswith("sqlite:///")
    assert s.redis_url is None and s.jobs_in_process


def test_reads_naryad_variables_with_types():
    s = Settings.from_env(
        {
            "NARYAD_DATABASE_URL": "postgresql://u@h:5432/db",
            "NARYAD_REDIS_URL": "redis://127.0.0.1:6379/0",
            "NARYAD_SMTP_PORT": "2525",
            "NARYAD_SMTP_TLS": "starttls",
            "NARYAD_MAIL_DOMAIN": "",
        }
    )
    assert s.smtp_port == 2525 and s.smtp_tls == "starttls"
    assert not s.jobs_in_process and s.mail_domain is None


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"NARYAD_SMTP_PORT": "twenty"}, "smtp_port"),
        ({"NARYAD_SMTP_TLS": "ssl3"}, "NARYAD_SMTP_TLS"),
        ({"NARYAD_LOG_FORMAT": "xml"}, "NARYAD_LOG_FORMAT"),
    ],
)
def test_bad_values_are_named(env, needle):
    with pytest.raises(SettingsError, match=needle):
        Settings.from_env(env)


# Piccolo's PostgresEngine asks the server for its version on construction; no server here.
@pytest.mark.filterwarnings("ignore:.*Unable to fetch server version")
def test_database_urls():
    assert engine_from_url("sqlite:///var/x.db").path == "var/x.db"  # type: ignore[attr-defined]
    assert engine_from_url("sqlite:////tmp/x.db").path == "/tmp/x.db"  # type: ignore[attr-defined]
    assert engine_from_url("postgresql://u@127.0.0.1:1/d").engine_type == "postgres"
    with pytest.raises(SettingsError, match="unsupported scheme"):
        engine_from_url("mysql://u@h/d")


def test_print_and_company_settings_are_part_of_settings():
    s = Settings.from_env({"NARYAD_COMPANY_NAME": "ООО «Сервис»", "NARYAD_PRINT_TIMEOUT_S": "5"})
    assert s.company_name == "ООО «Сервис»" and s.print_timeout_s == 5
    with pytest.raises(SettingsError, match="NARYAD_PRINT_TIMEOUT_S"):
        Settings.from_env({"NARYAD_PRINT_TIMEOUT_S": "0"})
    with pytest.raises(SettingsError, match="NARYAD_TIMEZONE"):
        Settings.from_env({"NARYAD_TIMEZONE": "Mars/Olympus"})
