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
from litestar.exceptions import HTTPException, ValidationException

from server.lib import i18n
from server.lib.logs import get_logger

log = get_logger("naryad.errors")


class DomainError(Exception):
    """A rule or a state refused the request.

    `code` is a stable machine code (`task.conflict.version`) whose message, in each
    language, lives in server/lib/messages/{ru,en}.json; `params` fill its placeholders.
    The handler renders it in the reader's language and sends the code as `extra.code`."""

    status_code = 422

    def __init__(
        self, code: str, /, *, rule: str | None = None, extra: Any = None, **params: Any
    ) -> None:
        self.code = code
        self.rule = rule
        self.params = params
        self.extra = extra
        super().__init__(code)

    def message(self, language: str | None) -> str:
        """The message for a person reading `language` (ru when unknown)."""
        text = i18n.render(self.code, language, self.params)
        return f"{self.rule}: {text}" if self.rule else text

    @property
    def detail(self) -> str:
        """English, for logs and the CLI."""
        return self.message("en")

    def __str__(self) -> str:
        return self.detail


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

    def __init__(
        self, code: str, /, *, retry_after_s: float, extra: Any = None, **params: Any
    ) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(
            code, extra={"retry_after_s": self.retry_after_s, **(extra or {})}, **params
        )


class TooManyRequests(_RetryLater):
    status_code = 429


class ServiceUnavailable(_RetryLater):
    status_code = 503


def request_language(request: Request[Any, Any, Any]) -> str:
    """The reader's language: the request's Accept-Language (the PWA sends the language the
    person chose in the app), else the signed-in user's `language`, else ru."""
    asked = i18n.from_accept_language(request.headers.get("accept-language"))
    if asked:
        return asked
    user = request.scope.get("user")
    return i18n.pick(getattr(user, "language", None))


def _error_response(
    status_code: int, detail: str, extra: Any = None, headers: dict[str, str] | None = None
) -> Response[dict[str, Any]]:
    return Response(
        {"status_code": status_code, "detail": detail, "extra": extra},
        status_code=status_code,
        headers=headers,
    )


def _with_code(extra: Any, code: str, rule: str | None = None) -> dict[str, Any]:
    """`extra` as a dict that always carries `code` (and `rule` for a rule's refusal)."""
    found: dict[str, Any] = dict(extra) if isinstance(extra, dict) else {}
    if extra is not None and not isinstance(extra, dict):
        found["items"] = extra
    found.setdefault("code", code)
    if rule:
        found.setdefault("rule", rule)
    return found


def domain_error_handler(
    request: Request[Any, Any, Any], exc: DomainError
) -> Response[dict[str, Any]]:
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, _RetryLater) else None
    return _error_response(
        exc.status_code,
        exc.message(request_language(request)),
        _with_code(exc.extra, exc.code, exc.rule),
        headers,
    )


def validation_error_handler(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    """Body and query validation: 422 with the field named, as API.md asks; `extra.fields`
    keeps Litestar's list of {key, message, source}."""
    extra = exc.extra
    messages = []
    fields = []
    if isinstance(extra, list):
        for item in extra:
            if isinstance(item, dict) and item.get("message"):
                key = item.get("key")
                fields.append(item)
                messages.append(f"{key}: {item['message']}" if key else str(item["message"]))
    problems = "; ".join(messages) if messages else str(exc.detail)
    language = request_language(request)
    body: dict[str, Any] = {"code": "request.invalid", "fields": fields}
    field = next((f.get("key") for f in fields if f.get("key")), None)
    if field:
        body["field"] = field
    return _error_response(
        422, i18n.render("request.invalid", language, {"problems": problems}), body
    )


_HTTP_CODES = {
    400: "request.bad",
    401: "request.unauthorized",
    403: "request.forbidden",
    404: "request.not_found",
    405: "request.method_not_allowed",
    413: "request.too_large",
    415: "request.unsupported_media_type",
    429: "request.too_many",
    503: "request.unavailable",
}


def http_error_handler(
    request: Request[Any, Any, Any], exc: HTTPException
) -> Response[dict[str, Any]]:
    """Litestar's own refusals (no route, wrong method, not signed in, ...) with a code and a
    message in the reader's language; the English detail Litestar gave stays in extra."""
    code = _HTTP_CODES.get(exc.status_code, "request.error")
    extra = _with_code(exc.extra, code)
    language = request_language(request)
    # Our own English details (auth.py: "Not logged in: send ...") say more than the generic
    # line; an English reader keeps them, everyone else gets the catalogue's words.
    return _error_response(
        exc.status_code,
        exc.detail if language == "en" and exc.detail else i18n.render(code, language),
        extra,
        dict(exc.headers) if exc.headers else None,
    )


def internal_error_handler(
    request: Request[Any, Any, Any], exc: Exception
) -> Response[dict[str, Any]]:
    log.exception("unhandled error", error=repr(exc))
    return _error_response(
        500,
        i18n.render("request.internal", request_language(request)),
        {"code": "request.internal"},
    )


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
    if isinstance(exc, asyncpg.InternalClientError):
        # A pooled connection the server has just terminated (PostgreSQL restarting) can
        # be handed out before asyncpg notices; its next query fails this way (seen by
        # bench/scale during `pg_ctl restart`). Naryad never shares one connection between
        # tasks (server/db.py), so here it means the connection died.
        text = str(exc)
        return "another operation" in text and "in progress" in text
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
                "database_unavailable",
                retry_after_s=DATABASE_RETRY_AFTER_S,
            ),
        )
    if isinstance(exc, asyncpg.DataError | OverflowError):
        log.warning("value refused by the database", error=repr(exc), path=request.url.path)
        reason = str(exc).split("\n")[0]
        return domain_error_handler(request, InvalidInput("invalid_value", reason=reason))
    return internal_error_handler(request, exc)


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    asyncpg.PostgresError: database_error_handler,
    asyncpg.InterfaceError: database_error_handler,
    sqlite3.Error: database_error_handler,
    OSError: database_error_handler,
    OverflowError: database_error_handler,
}
