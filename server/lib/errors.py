"""One error path: services raise DomainError subclasses; one handler renders them.

Failures that are not the caller's fault nor a bug get their own answers here too: a
database that cannot be reached is a 503 with Retry-After (the pool reconnects by itself
once it is back), and a value the database cannot store (a number past its integer range,
a NUL in text) is the caller's 422, not a 500."""

from __future__ import annotations

import math
import sqlite3
from types import TracebackType
from typing import Any

import asyncpg
from litestar import Request, Response
from litestar.exceptions import ValidationException

from server.lib.logs import get_logger

log = get_logger("naryad.errors")


class DomainError(Exception):
    """A rule or a state refused the request; the message is meant for a person."""

    status_code = 422

    def __init__(self, detail: str, *, rule: str | None = None, extra: Any = None) -> None:
        self.rule = rule
        self.detail = f"{rule}: {detail}" if rule else detail
        self.extra = extra
        super().__init__(self.detail)


class InvalidInput(DomainError):
    status_code = 422


class RuleViolation(DomainError):
    status_code = 422


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Forbidden(DomainError):
    status_code = 403


class UnsupportedMediaType(DomainError):
    status_code = 415


class _RetryLater(DomainError):
    """An answer that tells the client when to come back (the Retry-After header)."""

    def __init__(self, detail: str, *, retry_after_s: float, extra: Any = None) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(detail, extra={"retry_after_s": self.retry_after_s, **(extra or {})})


class TooManyRequests(_RetryLater):
    status_code = 429


class ServiceUnavailable(_RetryLater):
    status_code = 503


def _error_response(
    status_code: int, detail: str, extra: Any = None, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(
        {"status_code": status_code, "detail": detail, "extra": extra},
        status_code=status_code,
        headers=headers,
    )


def domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    extra = exc.extra
    if exc.rule and extra is None:
        extra = {"rule": exc.rule}
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, _RetryLater) else None
    return _error_response(exc.status_code, exc.detail, extra, headers)


def validation_error_handler(
    _: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    """Body and query validation: 422 with the field named, as API.md asks."""
    extra = exc.extra
    messages = []
    if isinstance(extra, list):
        for item in extra:
            if isinstance(item, dict) and item.get("message"):
                key = item.get("key")
                messages.append(f"{key}: {item['message']}" if key else str(item["message"]))
    detail = "Invalid request: " + ("; ".join(messages) if messages else str(exc.detail))
    return _error_response(422, detail, extra)


def internal_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error", error=repr(exc))
    return _error_response(500, "Internal server error; it has been logged")


# --- the database: unreachable (503) or refusing a value (422) -----------------------------

DATABASE_RETRY_AFTER_S = 5

# asyncpg: the server went away, refused us, is shutting down or starting up, is full.
_PG_OUTAGES: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
)
# sqlite3.OperationalError texts that mean the file cannot be used right now.
_SQLITE_OUTAGES = (
    "unable to open database file",
    "disk i/o error",
    "database is locked",
    "readonly database",
    "database or disk is full",
)
_DATABASE_MODULES = ("asyncpg", "piccolo", "aiosqlite", "sqlite3")


def _raised_in_database_driver(traceback: TracebackType | None) -> bool:
    while traceback is not None:
        module = str(traceback.tb_frame.f_globals.get("__name__", ""))
        if module.split(".")[0] in _DATABASE_MODULES:
            return True
        traceback = traceback.tb_next
    return False


def is_database_outage(exc: BaseException) -> bool:
    """The database cannot be reached or used right now (not: the query was wrong)."""
    if isinstance(exc, _PG_OUTAGES):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        return "closed" in str(exc) or "closing" in str(exc)
    if isinstance(exc, sqlite3.OperationalError):
        return any(text in str(exc).lower() for text in _SQLITE_OUTAGES)
    # Connecting: refused, reset, timed out, no such host; only when the driver raised it.
    return isinstance(exc, OSError) and _raised_in_database_driver(exc.__traceback__)


def database_error_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    """Outages answer 503 + Retry-After; values PostgreSQL cannot take (a NUL in text, a
    number out of range: class 22 "data exception") are 422; anything else is a bug."""
    if is_database_outage(exc):
        log.warning("database unavailable", error=repr(exc), path=request.url.path)
        return domain_error_handler(
            request,
            ServiceUnavailable(
                "The database is unreachable at the moment; try again in a few seconds",
                retry_after_s=DATABASE_RETRY_AFTER_S,
                extra={"code": "database_unavailable"},
            ),
        )
    if isinstance(exc, asyncpg.DataError | OverflowError):
        log.warning("value refused by the database", error=repr(exc), path=request.url.path)
        reason = str(exc).split("\n")[0]
        return _error_response(
            422, f"Invalid request: a value cannot be stored ({reason})", {"code": "invalid_value"}
        )
    return internal_error_handler(request, exc)


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    asyncpg.PostgresError: database_error_handler,
    asyncpg.InterfaceError: database_error_handler,
    sqlite3.Error: database_error_handler,
    OSError: database_error_handler,
    OverflowError: database_error_handler,
}
