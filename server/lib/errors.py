"""One error path: services raise DomainError subclasses; one handler renders them."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import ValidationException


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


def _error_response(status_code: int, detail: str, extra: Any = None) -> Response[dict[str, Any]]:
    return Response(
        {"status_code": status_code, "detail": detail, "extra": extra}, status_code=status_code
    )


def domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    extra = exc.extra
    if exc.rule and extra is None:
        extra = {"rule": exc.rule}
    return _error_response(exc.status_code, exc.detail, extra)


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


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
}
