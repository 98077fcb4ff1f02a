"""What the OpenAPI schema says beyond what Litestar derives from the handlers.

* Errors: API.md says every error is `{"status_code", "detail", "extra"}`; 401, 403, 404,
  409, 415, 422, 429 and 503 come from guards, services and the boundary checks, which
  Litestar does not see. Each operation gets that shape as its `default` response.
* Request bodies whose msgspec Struct forbids unknown fields say so
  (`additionalProperties: false`): an unknown field is a 422.
* Integer path and query parameters are bounded to the database's integers
  (server/lib/boundary.py refuses anything larger).

Run once on the app's schema at start-up (create_app), so clients and schemathesis
(tests/test_fuzz_api.py) see the contract the server keeps.
"""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
)

from server.lib.ids import MAX_ID, MIN_INT

ERROR_SCHEMA_NAME = "NaryadError"
ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["status_code", "detail"],
    properties={
        "status_code": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING, description="for a person, in their language"),
        "extra": Schema(
            description="machine-readable details; `code` is a stable error code",
            one_of=[
                Schema(type=OpenAPIType.OBJECT),
                Schema(type=OpenAPIType.ARRAY),
                Schema(type=OpenAPIType.NULL),
            ],
        ),
    },
)
ERROR_RESPONSE = OpenAPIResponse(
    description="An error: the status code says which (API.md, Errors)",
    content={
        "application/json": OpenAPIMediaType(
            schema=Reference(ref=f"#/components/schemas/{ERROR_SCHEMA_NAME}")
        )
    },
)


def _operations(openapi: OpenAPI) -> Iterator[Operation]:
    for item in (openapi.paths or {}).values():
        for operation in (item.get, item.put, item.post, item.delete, item.patch, item.head):
            if operation is not None:
                yield operation


def _structs(cls: type[msgspec.Struct] = msgspec.Struct) -> Iterator[type[msgspec.Struct]]:
    sub: type[msgspec.Struct]
    for sub in cls.__subclasses__():
        yield sub
        yield from _structs(sub)


def _closed_struct_names() -> set[str]:
    """Names of our Structs that forbid unknown fields, unless another Struct of the same
    name (which Litestar would show under that name too) allows them."""
    closed: set[str] = set()
    open_: set[str] = set()
    for struct in _structs():
        if struct.__module__.startswith("server."):
            forbids = struct.__struct_config__.forbid_unknown_fields
            (closed if forbids else open_).add(struct.__name__)
    return closed - open_


def _integer_schemas(schema: Schema | Reference | None) -> Iterator[Schema]:
    if isinstance(schema, Schema):
        if schema.type == OpenAPIType.INTEGER:
            yield schema
        for option in schema.one_of or []:
            yield from _integer_schemas(option)


def tighten(openapi: OpenAPI) -> None:
    """Apply the three additions above to the app's schema, in place."""
    if openapi.components is None:
        openapi.components = Components()
    assert isinstance(openapi.components, Components)
    schemas = openapi.components.schemas = openapi.components.schemas or {}
    schemas.setdefault(ERROR_SCHEMA_NAME, ERROR_SCHEMA)
    for name in _closed_struct_names() & set(schemas):
        schemas[name].additional_properties = False
    for operation in _operations(openapi):
        if operation.responses is None:
            operation.responses = {}
        operation.responses.setdefault("default", ERROR_RESPONSE)
        for parameter in operation.parameters or []:
            if isinstance(parameter, Parameter) and parameter.param_in in ("path", "query"):
                for integer in _integer_schemas(parameter.schema):
                    if integer.maximum is None or integer.maximum > MAX_ID:
                        integer.maximum = MAX_ID
                    if integer.minimum is None or integer.minimum < MIN_INT:
                        integer.minimum = MIN_INT
