"""Checks at the HTTP boundary that no handler should have to repeat.

* A handler that reads a JSON body gets JSON: another media type is a 415. Besides saying
  what is wrong, this closes the door on cross-site form posts, which can only send
  `text/plain`, `application/x-www-form-urlencoded` or `multipart/form-data` without a
  CORS preflight (and we answer no preflight with CORS headers).
* No NUL character (U+0000) in the path, the query string or a JSON body: PostgreSQL
  text cannot hold one, so it is a 422 naming the field here instead of a 500 later.
* Integer path and query parameters must fit the database's integer columns (a larger id
  names no row: 404 in the path, 422 in the query).

Endpoints that take another body (raw mail) declare no `data` parameter and are not held to
JSON; the checks read each handler's signature once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.params import BodyKwarg, ParameterKwarg
from litestar.types import ASGIApp, Receive, Scope, Send

from server.lib.errors import InvalidInput, NotFound, UnsupportedMediaType
from server.lib.ids import MAX_ID, MIN_INT, in_db_range

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NOT_QUERY = frozenset({"data", "request", "scope", "state", "headers", "cookies", "query", "body"})
NUL = "\x00"


class _Shape(msgspec.Struct, frozen=True):
    """What a handler takes: a JSON body or not, and its integer query parameters."""

    json_body: bool
    int_query: frozenset[str]


_shapes: dict[int, tuple[HTTPRouteHandler, _Shape]] = {}


def _is_int(field: Any) -> bool:
    if field.annotation is int:
        return True
    return bool(field.is_optional) and any(t.annotation is int for t in field.inner_types)


def _shape(handler: HTTPRouteHandler) -> _Shape:
    cached = _shapes.get(id(handler))
    if cached is not None and cached[0] is handler:
        return cached[1]
    params = handler.parsed_fn_signature.parameters
    data = params.get("data")
    json_body = data is not None and (
        not isinstance(data.kwarg_definition, BodyKwarg)
        or data.kwarg_definition.media_type == "application/json"
    )
    path_names = {name for path in handler.paths for name in _path_param_names(path)}
    dependencies = set(handler.resolve_dependencies())
    int_query = set()
    for name, field in params.items():
        if name in _NOT_QUERY or name in path_names or name in dependencies or not _is_int(field):
            continue
        kwarg = field.kwarg_definition
        if isinstance(kwarg, ParameterKwarg) and (kwarg.header or kwarg.cookie):
            continue
        int_query.add(kwarg.query if isinstance(kwarg, ParameterKwarg) and kwarg.query else name)
    shape = _Shape(json_body=json_body, int_query=frozenset(int_query))
    _shapes[id(handler)] = (handler, shape)
    return shape


def _path_param_names(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


def _content_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return value.decode("latin-1").split(";")[0].strip().lower()
    return ""


def is_json_media_type(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def _nul_refused(where: str) -> InvalidInput:
    return InvalidInput(
        "request.nul_characters_u_not",
        where=where,
        extra={"code": "nul_character", "field": where},
    )


def check_request_line(scope: Scope, handler: HTTPRouteHandler) -> None:
    """Path, query string and media type; raises the DomainError to answer with."""
    if NUL in scope["path"]:
        raise _nul_refused("path")
    for name, value in (scope.get("path_params") or {}).items():
        if isinstance(value, int) and not isinstance(value, bool) and not in_db_range(value):
            raise NotFound("request.no_id", value=name.removesuffix("_id"), value2=value)
        if isinstance(value, str) and NUL in value:
            raise _nul_refused(name)
    shape = _shape(handler)
    query = scope.get("query_string", b"")
    if query:
        pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True, encoding="utf-8")
        for key, value in pairs:
            if NUL in key or NUL in value:
                raise _nul_refused(key.replace(NUL, "") or "query")
            if key in shape.int_query:
                try:
                    number = int(value)
                except ValueError:
                    continue  # not a number: the handler's own validation says so
                if not in_db_range(number):
                    raise InvalidInput(
                        "request.out_range",
                        key=key,
                        value=value,
                        min_int=MIN_INT,
                        max_id=MAX_ID,
                        extra={"code": "out_of_range", "field": key},
                    )
    if shape.json_body and scope.get("method") in WRITE_METHODS and _has_body(scope):
        media_type = _content_type(scope)
        if not is_json_media_type(media_type):
            raise UnsupportedMediaType(
                "request.endpoint_takes_json_send",
                value=media_type or "no Content-Type",
                extra={"code": "unsupported_media_type"},
            )


def _find_nul(value: Any, where: str) -> str | None:
    if isinstance(value, str):
        return where if NUL in value else None
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _find_nul(item, f"{where}[{i}]")
            if found:
                return found
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}" if where else str(key)
            if NUL in str(key):
                return path
            found = _find_nul(item, path)
            if found:
                return found
    return None


async def check_json_body(scope: Scope, receive: Receive, handler: HTTPRouteHandler) -> None:
    """A JSON body with a NUL in any string is refused, naming the field. The body read
    here is kept on the connection, so the handler does not read it again."""
    if not (
        _shape(handler).json_body and scope.get("method") in WRITE_METHODS and _has_body(scope)
    ):
        return
    body = await Request[Any, Any, Any](scope, receive).body()
    if b"\\u0000" not in body:  # JSON can carry a NUL only escaped
        return
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return  # malformed: the handler's decoding answers it
    where = _find_nul(decoded, "")
    if where is not None:
        raise _nul_refused(where or "body")


def boundary_middleware(app: ASGIApp) -> ASGIApp:
    """Before authentication: nothing here needs to know who is asking."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler")
        if scope["type"] == ScopeType.HTTP and isinstance(handler, HTTPRouteHandler):
            check_request_line(scope, handler)
        await app(scope, receive, send)

    return middleware


def json_body_middleware(app: ASGIApp) -> ASGIApp:
    """After authentication, so an anonymous caller cannot make us read bodies."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        handler = scope.get("route_handler")
        if scope["type"] == ScopeType.HTTP and isinstance(handler, HTTPRouteHandler):
            await check_json_body(scope, receive, handler)
        await app(scope, receive, send)

    return middleware
