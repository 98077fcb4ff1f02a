"""The `naryad` command."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import click

from server import settings as process_settings
from server.settings import Settings, SettingsError


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def _settings() -> Settings:
    try:
        return process_settings.install(Settings.from_env())
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


async def _with_db(settings: Settings, coro_fn: Any) -> Any:
    from server import db, subscribers

    subscribers.install()
    try:
        engine = db.configure_database(settings.database_url)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    async with db.connection_pool(engine, max_size=4):
        return await coro_fn()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Naryad: field-service management (tasks, visits, checks, client mail).

    Configuration comes from NARYAD_* environment variables; see the README.
    """


@main.command()
def migrate() -> None:
    """Create or update the database schema and the default templates."""
    from server import db

    settings = _settings()

    async def go() -> list[str]:
        from server.channels import service as channels

        await db.migrate(quiet=True)
        # R5 intake addresses need the mail domain, which migrations cannot rely on.
        return await channels.seed_default_addresses(settings.mail_domain)

    added = _run(_with_db(settings, go))
    click.echo(f"migrations applied ({settings.database_url.split('://', 1)[0]})")
    for address in added:
        click.echo(f"intake address added: {address}")


@main.command("create-user")
@click.option("--login", required=True, help="Login name used to sign in.")
@click.option("--password", required=True, help="Password (at least 8 characters).")
@click.option("--full-name", required=True, help="Name shown to colleagues, e.g. 'Иванов Пётр'.")
@click.option("--surname", required=True, help="Surname; e-mail subjects '*Surname' route to it.")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(["admin", "office", "engineer", "checker", "client"]),
    help="Role; repeat for several.",
)
@click.option("--group", "groups", multiple=True, help="Work group name; repeat for several.")
@click.option("--email", default=None, help="E-mail address for notifications.")
@click.option("--language", default="ru", type=click.Choice(["ru", "en"]), show_default=True)
def create_user(
    login: str,
    password: str,
    full_name: str,
    surname: str,
    roles: tuple[str, ...],
    groups: tuple[str, ...],
    email: str | None,
    language: str,
) -> None:
    """Create an account (for example the first admin)."""
    import msgspec

    from server.accounts import service
    from server.accounts.schemas import UserIn
    from server.lib.errors import DomainError

    settings = _settings()

    async def go() -> Any:
        group_ids = [await service.group_id_by_name(g) for g in groups]
        data = msgspec.convert(
            {
                "login": login,
                "password": password,
                "full_name": full_name,
                "surname": surname,
                "roles": list(roles),
                "group_ids": group_ids,
                "email": email,
                "language": language,
            },
            UserIn,
        )
        return await service.create_user(data)

    try:
        user = _run(_with_db(settings, go))
    except (DomainError, msgspec.ValidationError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created user {user.login} (id {user.id}, roles: {', '.join(user.roles)})")


@main.command("seed-demo")
@click.option("--force", is_flag=True, help="Add the demo data even if users already exist.")
def seed_demo(force: bool) -> None:
    """Fill an empty database with a believable demo company and print its logins."""
    from server import demo

    settings = _settings()
    _run(_with_db(settings, lambda: demo.seed(force=force, echo=click.echo)))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="API processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Run the HTTP API and the PWA."""
    import uvicorn

    settings = _settings()
    click.echo(f"Naryad on http://{host}:{port}/ (database: {settings.database_url})")
    uvicorn.run(
        "server.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


@main.command()
def worker() -> None:
    """Run background jobs (arq on NARYAD_REDIS_URL): notification delivery and sweeps."""
    from jobs.worker import run_worker

    settings = _settings()
    if not settings.redis_url:
        raise click.ClickException(
            "NARYAD_REDIS_URL is not set; without Redis, jobs run inside `naryad serve`"
        )
    run_worker(settings)


@main.command("mail-intake")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=2525, show_default=True, type=int)
def mail_intake(host: str, port: int) -> None:
    """Receive client mail over SMTP for NARYAD_MAIL_DOMAIN (R5, R6)."""
    from server.channels import intake, smtp

    settings = _settings()
    click.echo(f"mail intake on smtp://{host}:{port} (domain: {settings.mail_domain or 'any'})")

    async def go() -> None:
        await smtp.serve(host, port, settings.mail_domain, intake.max_message_bytes())

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl+C is how it stops
        _run(_with_db(settings, go))


@main.command("imap-intake")
@click.option("--once", is_flag=True, help="Take in what waits now, then exit (cron, checks).")
def imap_intake(once: bool) -> None:
    """Take client mail from IMAP mailboxes into tasks and comments (R5, R6).

    NARYAD_IMAP_URL lists the mailboxes, separated by spaces or commas:

      imaps://user:password@imap.example.ru:993/INBOX

    (imaps:// checks the server's certificate against the system's CAs, or SSL_CERT_FILE;
    imap:// is unencrypted; percent-encode special characters of the password). Options
    after '?': address=project+31@example.ru names the intake address the mailbox
    receives when the messages' own To/Delivered-To do not; idle=no polls every
    NARYAD_IMAP_POLL_S seconds instead of waiting with IDLE.

    Each message goes through the same intake as SMTP and HTTP, exactly once even with
    several of these processes, and is then flagged and moved to
    NARYAD_IMAP_PROCESSED_FOLDER; one that keeps failing is moved to
    NARYAD_IMAP_FAILED_FOLDER after NARYAD_IMAP_MAX_ATTEMPTS tries, with the reason logged.
    `naryad worker` does the same every minute when NARYAD_IMAP_URL is set.
    """
    import signal

    from server.channels import imap
    from server.lib.logs import configure_logging

    settings = _settings()
    if not settings.imap_url:
        raise click.ClickException("NARYAD_IMAP_URL is not set (imaps://user:pass@host/INBOX)")
    try:
        mailboxes = imap.parse_mailboxes(settings.imap_url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(settings.log_level, settings.log_format)
    for mailbox in mailboxes:
        click.echo(f"imap intake: {mailbox}{' (once)' if once else ''}")

    async def go() -> Any:
        main_task = asyncio.current_task()
        assert main_task is not None
        # systemd stops with SIGTERM: end the current unit of work cleanly (it rolls back).
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main_task.cancel)
        return await imap.run(settings, mailboxes, once=once)

    try:
        counts = _run(_with_db(settings, go))
    except (imap.ImapError, OSError, TimeoutError) as exc:
        raise click.ClickException(f"imap intake: {exc}") from exc
    except (KeyboardInterrupt, asyncio.CancelledError):
        return
    if once:
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing waiting"
        click.echo(f"imap intake: {summary}")


@main.command()
@click.option("--all", "all_sites", is_flag=True, required=True, help="Every current site.")
@click.option("--refresh", is_flag=True, help="Ask the geocoder, not the cache of answers.")
@click.option("--include-manual", is_flag=True, help="Also sites whose point was set by hand.")
def geocode(all_sites: bool, refresh: bool, include_manual: bool) -> None:
    """Geocode site addresses in bulk at NARYAD_GEOCODER_URL, with progress."""
    from server.dispatch import geocoding
    from server.lib.errors import DomainError

    settings = _settings()

    async def go() -> dict[str, int]:
        return await geocoding.geocode_all(
            refresh=refresh, include_manual=include_manual, echo=click.echo
        )

    try:
        counts = _run(_with_db(settings, go))
    except DomainError as exc:
        raise click.ClickException(exc.detail) from exc
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no sites"
    click.echo(f"geocoded: {summary}")


@main.group()
def telegram() -> None:
    """Telegram bot set-up."""


@telegram.command("set-webhook")
def telegram_set_webhook() -> None:
    """Register NARYAD_PUBLIC_URL/api/channels/telegram/webhook with the Bot API."""
    from server.channels import telegram as bot

    settings = _settings()
    try:
        _run(bot.set_webhook(settings))
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"webhook set: {settings.public_url.rstrip('/')}/api/channels/telegram/webhook")


@telegram.command("poll")
@click.option("--once", is_flag=True, help="Handle the updates waiting now, then exit.")
@click.option(
    "--delete-webhook",
    is_flag=True,
    help="Remove a webhook set earlier (Telegram refuses polling while one is set).",
)
def telegram_poll(once: bool, delete_webhook: bool) -> None:
    """Take the bot's updates with getUpdates long polling, for installations without a
    public HTTPS address for the webhook.

    Each update goes through the same handler as the webhook, exactly once across
    restarts: the offset is stored in the database with the update it follows. One long
    poll waits up to NARYAD_TELEGRAM_POLL_TIMEOUT_S seconds; network and Bot API errors
    are retried with backoff. Run one poller per bot.
    """
    import signal

    from server.channels import telegram_poll as polling
    from server.lib.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    click.echo(f"telegram poll: {settings.telegram_api_base}{' (once)' if once else ''}")

    async def go() -> Any:
        # systemd stops with SIGTERM: finish the update in hand (and its reply), then exit.
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        return await polling.poll(
            settings, once=once, delete_webhook=delete_webhook, stopping=stopping
        )

    try:
        counts = _run(_with_db(settings, go))
    except polling.PollError as exc:
        raise click.ClickException(f"telegram poll: {exc}") from exc
    except (KeyboardInterrupt, asyncio.CancelledError):
        return
    if once:
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "nothing waiting"
        click.echo(f"telegram poll: {summary}")


@main.command("vapid-keys")
def vapid_keys() -> None:
    """Print a new VAPID key pair for Web Push (set them as NARYAD_VAPID_*)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    click.echo(f"NARYAD_VAPID_PRIVATE_KEY={b64(private)}")
    click.echo(f"NARYAD_VAPID_PUBLIC_KEY={b64(public)}")


@main.command("sla-sweep")
@click.option("--now", "now_text", default=None, help="Pretend it is this ISO time (testing).")
def sla_sweep(now_text: str | None) -> None:
    """Run the SLA automations once (the worker runs them every minute)."""
    import datetime as dt

    from server.lib import clock
    from server.sla import service as sla

    now = None
    if now_text:
        try:
            now = dt.datetime.fromisoformat(now_text)
        except ValueError as exc:
            raise click.ClickException(f"--now: {exc}") from exc
        if now.tzinfo is None:
            raise click.ClickException("--now needs a timezone, e.g. 2026-12-01T09:00:00+03:00")
        clock.set_clock(lambda: now)
    settings = _settings()
    report = _run(_with_db(settings, sla.run_sla_sweep))
    fired = ", ".join(f"{k}: {v}" for k, v in report.fired.items()) or "nothing"
    click.echo(f"sla sweep: fired {fired}; postponed tasks resumed: {report.resumed}")


if __name__ == "__main__":
    main()
