"""The access matrix (issue 14): every operation of the running server's OpenAPI schema ×
every role, against objects of one group and one company (a remote-support task of group A
for company X, its attachment and specification line, X's contact and site...).

ACCESS below declares, per method and path, which callers may succeed. Every caller *not*
declared is sent the request — with a body made from the operation's schema, so the
request is refused for who sends it, not for its shape — and must not get a 2xx. Callers
declared are not sent it (other tests cover what they do), so nothing here changes the
objects. An operation of the schema missing from ACCESS fails the test: whoever adds an
endpoint declares who may use it.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import httpx
from naryad_harness import Backend

# --- who is who -------------------------------------------------------------------------

ADMIN, OFFICE, ENG_A, ENG_B, CHECKER, CLIENT_X, CLIENT_Y = (
    "admin",
    "office",
    "engineer_a",
    "engineer_b",
    "checker",
    "client_x",
    "client_y",
)
CALLERS = (ADMIN, OFFICE, ENG_A, ENG_B, CHECKER, CLIENT_X, CLIENT_Y)
ALL = frozenset(CALLERS)
NOBODY: frozenset[str] = frozenset()
EMPLOYEES = frozenset({ADMIN, OFFICE, ENG_A, ENG_B, CHECKER})
ENGINEERS = frozenset({ENG_A, ENG_B})
DISPATCH = frozenset({ADMIN, OFFICE})
ONLY_ADMIN = frozenset({ADMIN})
# The task T (group A, company X, in the queue): who sees it.
SEE_T = frozenset({ADMIN, OFFICE, CHECKER, ENG_A, CLIENT_X})
STAFF_SEE_T = SEE_T - {CLIENT_X}
# Changing T's specification or attachments: its holder (nobody yet), office, admins.
CHANGE_T = DISPATCH
T = "/api/tasks/{task_id}"

# method, path (as in the OpenAPI schema) → who may get a 2xx.
ACCESS: dict[tuple[str, str], frozenset[str]] = {
    # auth and the caller's own things
    ("POST", "/api/auth/login"): ALL,
    ("POST", "/api/auth/logout"): ALL,
    ("GET", "/api/auth/lockouts"): ONLY_ADMIN,
    ("DELETE", "/api/auth/lockouts/{login}"): ONLY_ADMIN,
    ("DELETE", "/api/auth/lockouts/address/{address}"): ONLY_ADMIN,
    ("GET", "/api/me"): ALL,
    ("POST", "/api/me/password"): ALL,
    ("GET", "/api/me/notifications"): ALL,
    ("PUT", "/api/me/notifications"): ALL,
    ("POST", "/api/push/subscriptions"): ALL,
    ("GET", "/api/push/vapid-public-key"): ALL,
    ("GET", "/api/me/feed"): EMPLOYEES,
    ("POST", "/api/me/feed/read"): EMPLOYEES,
    ("GET", "/api/me/location-sharing"): EMPLOYEES,
    ("PUT", "/api/me/location-sharing"): EMPLOYEES,
    ("POST", "/api/me/location"): ENGINEERS,
    ("GET", "/api/me/route"): ENGINEERS,
    ("GET", "/api/me/maintenance-calendar"): EMPLOYEES,
    # channels: webhooks check their own secrets; the rest is the admins'
    ("POST", "/api/channels/telegram/webhook"): ALL,
    ("POST", "/api/channels/email/inbound"): ALL,
    ("GET", "/api/channels/telegram/chats"): ONLY_ADMIN,
    ("POST", "/api/channels/telegram/chats"): ONLY_ADMIN,
    ("GET", "/api/channels/email/addresses"): ONLY_ADMIN,
    ("POST", "/api/channels/email/addresses"): ONLY_ADMIN,
    ("GET", "/api/channels/email/messages"): ONLY_ADMIN,
    ("GET", "/api/channels/email/missing-counterparty"): DISPATCH,
    ("GET", "/api/dev/mail"): ONLY_ADMIN,
    ("GET", "/api/dev/mail/{mail_id}"): ONLY_ADMIN,
    ("GET", "/api/notifications"): ONLY_ADMIN,
    # directory
    ("GET", "/api/groups"): EMPLOYEES,
    ("POST", "/api/groups"): DISPATCH,
    ("GET", "/api/users"): EMPLOYEES,
    ("POST", "/api/users"): DISPATCH,
    ("GET", "/api/users/{user_id}"): EMPLOYEES,
    ("PATCH", "/api/users/{user_id}"): DISPATCH,
    ("POST", "/api/users/{user_id}/password"): ONLY_ADMIN,
    ("GET", "/api/users/{user_id}/open-tasks"): DISPATCH,
    ("GET", "/api/users/{user_id}/home-base"): EMPLOYEES,
    ("PUT", "/api/users/{user_id}/home-base"): DISPATCH,
    ("GET", "/api/counterparties"): EMPLOYEES,
    ("POST", "/api/counterparties"): DISPATCH,
    ("GET", "/api/counterparties/match"): EMPLOYEES,
    ("GET", "/api/counterparties/{counterparty_id}"): EMPLOYEES,
    ("PATCH", "/api/counterparties/{counterparty_id}"): DISPATCH,
    ("GET", "/api/contacts"): EMPLOYEES,
    ("POST", "/api/contacts"): DISPATCH,
    ("PATCH", "/api/contacts/{contact_id}"): DISPATCH,
    ("POST", "/api/contacts/{contact_id}/merge"): DISPATCH,
    ("POST", "/api/contacts/{contact_id}/apply-counterparty"): DISPATCH,
    ("GET", "/api/sites"): EMPLOYEES,
    ("POST", "/api/sites"): DISPATCH,
    ("PATCH", "/api/sites/{site_id}"): DISPATCH,
    ("POST", "/api/sites/{site_id}/geocode"): DISPATCH,
    ("POST", "/api/sites/{site_id}/geocode/choose"): DISPATCH,
    ("GET", "/api/templates"): EMPLOYEES,
    ("GET", "/api/templates/{code}"): EMPLOYEES,
    ("PATCH", "/api/templates/{code}"): ONLY_ADMIN,
    ("GET", "/api/templates/{code}/checklist"): EMPLOYEES,
    ("PUT", "/api/templates/{code}/checklist"): ONLY_ADMIN,
    ("GET", "/api/refusal-reasons"): EMPLOYEES,
    ("POST", "/api/refusal-reasons"): ONLY_ADMIN,
    ("PATCH", "/api/refusal-reasons/{reason_id}"): ONLY_ADMIN,
    ("GET", "/api/portal/templates"): ALL,
    # price list, equipment, contracts, maintenance
    ("GET", "/api/price-list"): EMPLOYEES,
    ("POST", "/api/price-list"): ONLY_ADMIN,
    ("GET", "/api/price-list/{item_id}"): EMPLOYEES,
    ("PATCH", "/api/price-list/{item_id}"): ONLY_ADMIN,
    ("GET", "/api/equipment"): EMPLOYEES,
    ("POST", "/api/equipment"): DISPATCH,
    ("POST", "/api/equipment/import"): DISPATCH,
    ("GET", "/api/equipment/kinds"): EMPLOYEES,
    ("POST", "/api/equipment/kinds"): ONLY_ADMIN,
    ("GET", "/api/equipment/{equipment_id}"): EMPLOYEES,
    ("PATCH", "/api/equipment/{equipment_id}"): DISPATCH,
    ("GET", "/api/contracts"): EMPLOYEES,
    ("POST", "/api/contracts"): DISPATCH,
    ("GET", "/api/contracts/report.csv"): DISPATCH,
    ("GET", "/api/contracts/report.xlsx"): DISPATCH,
    ("GET", "/api/contracts/{contract_id}"): EMPLOYEES,
    ("PATCH", "/api/contracts/{contract_id}"): DISPATCH,
    ("GET", "/api/contracts/{contract_id}/report"): DISPATCH,
    ("GET", "/api/labour"): DISPATCH,
    ("GET", "/api/labour/export.csv"): DISPATCH,
    ("GET", "/api/labour/export.xlsx"): DISPATCH,
    ("GET", "/api/maintenance-plans"): EMPLOYEES,
    ("POST", "/api/maintenance-plans"): DISPATCH,
    ("POST", "/api/maintenance-plans/sweep"): ONLY_ADMIN,
    # a subscription link: its token is the credential, not the session
    ("GET", "/api/maintenance-plans/calendar.ics"): ALL,
    ("GET", "/api/maintenance-plans/{plan_id}"): EMPLOYEES,
    ("PATCH", "/api/maintenance-plans/{plan_id}"): DISPATCH,
    ("GET", "/api/maintenance-plans/{plan_id}/calendar.ics"): EMPLOYEES,
    ("GET", "/api/maintenance-plans/{plan_id}/occurrences"): EMPLOYEES,
    # knowledge base
    ("GET", "/api/kb/articles"): ALL,
    ("POST", "/api/kb/articles"): EMPLOYEES,
    ("GET", "/api/kb/articles/{article_id}"): ALL,
    ("PATCH", "/api/kb/articles/{article_id}"): EMPLOYEES,
    ("GET", "/api/kb/search"): ALL,
    ("GET", "/api/kb/suggest"): ALL,
    # SLA, reports, dispatch
    ("GET", "/api/sla/automations"): DISPATCH,
    ("PATCH", "/api/sla/automations/{automation_id}"): ONLY_ADMIN,
    ("POST", "/api/sla/automations/restore-defaults"): ONLY_ADMIN,
    ("GET", "/api/sla/calendars"): DISPATCH,
    ("POST", "/api/sla/calendars"): ONLY_ADMIN,
    ("PUT", "/api/sla/calendars/{calendar_id}/days"): ONLY_ADMIN,
    ("GET", "/api/sla/escalations"): DISPATCH,
    ("GET", "/api/sla/rules"): DISPATCH,
    ("POST", "/api/sla/rules"): ONLY_ADMIN,
    ("POST", "/api/sla/rules/{rule_id}/activate"): ONLY_ADMIN,
    ("POST", "/api/sla/rules/{rule_id}/deactivate"): ONLY_ADMIN,
    ("POST", "/api/sla/sweep"): ONLY_ADMIN,
    ("GET", "/api/dashboard"): DISPATCH,
    ("GET", "/api/dispatch/board"): DISPATCH,
    # tasks: lists are filtered per caller (checked below), creation is R1–R3's business
    ("GET", "/api/tasks"): ALL,
    ("POST", "/api/tasks"): ALL,
    ("GET", "/api/tasks/export.csv"): DISPATCH,
    ("GET", "/api/tasks/export.xlsx"): DISPATCH,
    # the task T and what hangs on it
    ("GET", T): SEE_T,
    ("PATCH", T): DISPATCH,
    ("GET", f"{T}/history"): SEE_T,
    ("GET", f"{T}/comments"): SEE_T,
    ("POST", f"{T}/comments"): SEE_T,
    ("GET", f"{T}/attachments"): SEE_T,
    ("POST", f"{T}/attachments"): CHANGE_T | {CLIENT_X},  # remote support takes portal requests
    ("GET", f"{T}/attachments/{{attachment_id}}"): STAFF_SEE_T,  # the file is internal
    ("GET", f"{T}/specification"): STAFF_SEE_T,  # clients: once published (locked)
    ("POST", f"{T}/specification/lines"): CHANGE_T,
    ("PATCH", f"{T}/specification/lines/{{line_id}}"): CHANGE_T,
    ("DELETE", f"{T}/specification/lines/{{line_id}}"): CHANGE_T,
    ("POST", f"{T}/specification/lock"): ONLY_ADMIN,
    ("POST", f"{T}/specification/unlock"): ONLY_ADMIN,
    ("GET", f"{T}/signature"): SEE_T,
    ("POST", f"{T}/signature"): NOBODY,  # the holder's, and T has none
    ("GET", f"{T}/work-order.pdf"): SEE_T,
    ("GET", f"{T}/completion-act.pdf"): SEE_T,
    ("GET", f"{T}/watchers"): SEE_T,
    ("POST", f"{T}/watchers"): STAFF_SEE_T,
    ("DELETE", f"{T}/watchers/{{user_id}}"): STAFF_SEE_T,
    ("GET", f"{T}/checklist"): STAFF_SEE_T,
    ("PATCH", f"{T}/checklist/{{item_id}}"): STAFF_SEE_T,
    ("PUT", f"{T}/equipment"): STAFF_SEE_T,
    ("GET", f"{T}/time"): STAFF_SEE_T,
    ("POST", f"{T}/time"): STAFF_SEE_T,
    ("GET", f"{T}/nearest-engineers"): DISPATCH,
    ("GET", f"{T}/articles"): SEE_T,
    ("POST", f"{T}/articles"): STAFF_SEE_T,
    ("GET", f"{T}/rating"): SEE_T,
    ("POST", f"{T}/rating"): frozenset({CLIENT_X}),
    ("GET", f"{T}/sign-off"): SEE_T,
    ("POST", f"{T}/sign-off"): frozenset({CLIENT_X}),
    # the state machine: who sees T and works (R7 and the statuses decide among them)
    **{
        ("POST", f"{T}/{action}"): STAFF_SEE_T
        for action in (
            "accept",
            "assign",
            "start",
            "depart",
            "arrive",
            "done",
            "approve",
            "return",
            "release",
            "postpone",
            "resume",
            "redirect",
            "refuse",
        )
    },
}

BUDGET_S = 120
FUTURE = "2030-01-15T10:00:00+03:00"
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "gAF/QualzQAAAABJRU5ErkJggg=="
)
# Body and query values by field name; the schema's types fill in the rest.
NAMED: dict[str, Any] = {
    "title": "Ромашка: проверка доступа",
    "template": "remote_support",
    "password": "probe-pass-123",
    "new_password": "probe-pass-123",
    "old_password": "secret-pass",
    "filename": "probe.png",
    "content_type": "image/png",
    "data_base64": PNG,
    "png_base64": PNG,
    "price": "100",
    "quantity": "1",
    "completed_works": "проверка",
    "reason": "проверка",
    "until": FUTURE,
    "score": 5,
    "lat": 55.75,
    "lon": 37.61,
    "accuracy_m": 10,
    "roles": ["engineer"],
    "channels": ["ui"],
    "email": "probe@example.test",
    "address": "Москва, Тверская, 1",
    "day": "2030-01-15",
    "date": "2030-01-15",
    "from": "2030-01-01",
    "to": "2030-02-01",
    "minutes": 30,
    "hours": [],
    "public": False,
    "q": "Ромашка",
}


class _Bodies:
    """Request bodies and query strings from the OpenAPI schema: required fields only,
    by name (NAMED, the objects' ids) or by type."""

    def __init__(self, schema: dict[str, Any], ids: dict[str, int]) -> None:
        self.components = schema.get("components", {}).get("schemas", {})
        self.ids = ids
        self.n = 0

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.components[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def value(self, name: str, node: dict[str, Any], caller_id: int) -> Any:
        node = self.resolve(node)
        if name == "user_id":
            return caller_id
        if name in NAMED:
            return NAMED[name]
        if name.endswith("_id") and name[:-3] in self.ids:
            return self.ids[name[:-3]]
        for key in ("oneOf", "anyOf"):
            if key in node:
                options = [o for o in node[key] if self.resolve(o).get("type") != "null"]
                return self.value(name, options[0], caller_id) if options else None
        if "enum" in node:
            return node["enum"][0]
        kind = node.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), None)
        if kind == "object" or "properties" in node:
            return {
                key: self.value(key, sub, caller_id)
                for key, sub in node.get("properties", {}).items()
                if key in node.get("required", [])
            }
        if kind == "array":
            return []
        if kind == "integer":
            return 1
        if kind == "number":
            return 1
        if kind == "boolean":
            return False
        if node.get("format") == "date-time":
            return FUTURE
        if node.get("format") == "date":
            return "2030-01-15"
        self.n += 1
        return f"Проба {self.n}"

    def body(self, op: dict[str, Any], caller_id: int) -> Any:
        content = op.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            return None
        return self.value("", content["application/json"].get("schema", {}), caller_id)

    def query(self, op: dict[str, Any], caller_id: int) -> dict[str, Any]:
        return {
            p["name"]: self.value(p["name"], p.get("schema", {}), caller_id)
            for p in op.get("parameters", [])
            if p.get("in") == "query" and p.get("required")
        }


async def _world(b: Backend) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    admin = await b.user("admin")
    office = await b.user("office")
    x = await b.counterparty("Ромашка")
    y = await b.counterparty("Лютик")
    who = {
        ADMIN: admin,
        OFFICE: office,
        ENG_A: await b.user("engineer", groups=("Удалённая техподдержка",)),
        ENG_B: await b.user("engineer", groups=("Ремонт",)),
        CHECKER: await b.user("checker"),
        CLIENT_X: await b.user("client", counterparty_id=x["id"]),
        CLIENT_Y: await b.user("client", counterparty_id=y["id"]),
    }
    h = office["headers"]

    async def made(method: str, path: str, body: Any, headers: dict[str, str] = h) -> Any:
        resp = await b.http.request(method, path, json=body, headers=headers)
        assert resp.is_success, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json()

    contact = await made("POST", "/api/contacts", {"name": "Ирина", "counterparty_id": x["id"]})
    site = await made(
        "POST", "/api/sites", {"counterparty_id": x["id"], "name": "Зал", "address": "Москва"}
    )
    task = await made(
        "POST",
        "/api/tasks",
        {"template": "remote_support", "title": "Ромашка: касса", "site_id": site["id"]},
    )
    tid = task["id"]
    attachment = await made(
        "POST",
        f"/api/tasks/{tid}/attachments",
        {"filename": "a.png", "content_type": "image/png", "data_base64": PNG},
    )
    line = await made(
        "POST",
        f"/api/tasks/{tid}/specification/lines",
        {"name": "Выезд", "price": "1500", "quantity": "1"},
    )
    item = await made(
        "POST",
        "/api/price-list",
        {"code": "probe-1", "name": "Проба", "price": "10"},
        admin["headers"],
    )
    reasons = await made("GET", "/api/refusal-reasons", None)
    ids = {
        "task": tid,
        "user": who[ENG_A]["id"],
        "counterparty": x["id"],
        "contact": contact["id"],
        "site": site["id"],
        "attachment": attachment["id"],
        "line": line["id"],
        "item": item["id"],
        "price_item": item["id"],
        "reason": reasons[0]["id"] if reasons else 1,
        "group": who[ENG_A]["group_ids"][0],
        "into": contact["id"],
    }
    return who, ids


def _path(pattern: str, ids: dict[str, int]) -> str:
    path = pattern
    for name, value in (
        ("{code}", "remote_support"),
        ("{login}", "nobody"),
        ("{address}", "192.0.2.1"),
    ):
        path = path.replace(name, value)
    while "{" in path:
        start = path.index("{")
        end = path.index("}", start)
        name = path[start + 1 : end].removesuffix("_id")
        path = f"{path[:start]}{ids.get(name, 1)}{path[end + 1 :]}"
    return path


async def test_no_role_gets_a_2xx_it_is_not_declared_for(backend: Backend) -> None:
    started = time.monotonic()
    b = backend
    schema = (await b.http.get("/schema/openapi.json")).json()
    operations = {
        (method.upper(), path): op
        for path, item in schema["paths"].items()
        if path.startswith("/api/")
        for method, op in item.items()
        if method.upper() in {"GET", "POST", "PUT", "PATCH", "DELETE"}
    }
    missing = sorted(set(operations) - set(ACCESS))
    assert not missing, (
        "operations with no declared access — add each to ACCESS in "
        "tests/test_access_matrix.py with the callers that may use it:\n"
        + "\n".join(f'    ("{m}", "{p}"): ...,' for m, p in missing)
    )
    gone = sorted(set(ACCESS) - set(operations))
    assert not gone, f"ACCESS declares operations the server no longer has: {gone}"

    who, ids = await _world(b)
    bodies = _Bodies(schema, ids)
    unexpected: list[str] = []
    sent = 0
    answers: Counter[int] = Counter()
    async with httpx.AsyncClient(base_url=b.server.base_url, timeout=30) as http:
        for (method, pattern), op in sorted(operations.items()):
            path = _path(pattern, ids)
            for caller in CALLERS:
                if caller in ACCESS[(method, pattern)]:
                    continue
                user = who[caller]
                resp = await http.request(
                    method,
                    path,
                    params=bodies.query(op, user["id"]),
                    json=bodies.body(op, user["id"]),
                    headers=user["headers"],
                )
                sent += 1
                answers[resp.status_code] += 1
                if resp.is_success:
                    unexpected.append(
                        f"{caller}: {method} {pattern} → {resp.status_code} {resp.text[:120]}"
                    )
    assert not unexpected, "\n".join(unexpected)

    # Lists and exports leave out what the caller may not see.
    for caller in (ENG_B, CLIENT_Y):
        resp = await b.http.get("/api/tasks?limit=200", headers=who[caller]["headers"])
        assert ids["task"] not in {t["id"] for t in resp.json()["items"]}, caller
    for caller in (ENG_A, CLIENT_X, CHECKER):
        resp = await b.http.get("/api/tasks?limit=200", headers=who[caller]["headers"])
        assert ids["task"] in {t["id"] for t in resp.json()["items"]}, caller
    elapsed = time.monotonic() - started
    print(
        f"\naccess matrix: {len(operations)} operations, {sent} refused requests "
        f"({dict(sorted(answers.items()))}), {elapsed:.1f} s"
    )
    assert elapsed < BUDGET_S
