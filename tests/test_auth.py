"""Auth (API.md): login, bearer token, session cookie, 401/403."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.sqlite


async def test_login_returns_token_and_user_and_sets_cookie(backend):
    admin = await backend.user("admin", login="boss")
    resp = await backend.http.post(
        "/api/auth/login", json={"login": "boss", "password": "secret-pass"}
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["token"]
    assert body["user"]["login"] == "boss"
    assert body["user"]["roles"] == ["admin"]
    assert body["user"]["id"] == admin["id"]
    assert "naryad_session" in resp.cookies
    me = await backend.http.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["login"] == "boss"
    # the PWA relies on the cookie alone
    cookie_me = await backend.http.get(
        "/api/me", headers={"Cookie": f"naryad_session={resp.cookies['naryad_session']}"}
    )
    assert cookie_me.status_code == 200 and cookie_me.json()["id"] == admin["id"]


async def test_wrong_password_and_unknown_login_are_401(backend):
    await backend.user("office", login="olga")
    for creds in ({"login": "olga", "password": "nope-nope"}, {"login": "ghost", "password": "x"}):
        resp = await backend.http.post("/api/auth/login", json=creds)
        assert resp.status_code == 401
        assert resp.json()["detail"] == "wrong login or password"


async def test_missing_or_bad_token_is_401_with_json_error(backend):
    resp = await backend.http.get("/api/me")
    assert resp.status_code == 401
    assert resp.json()["status_code"] == 401 and "Bearer" in resp.json()["detail"]
    resp = await backend.http.get("/api/tasks", headers={"Authorization": "Bearer forged"})
    assert resp.status_code == 401
    assert "log in again" in resp.json()["detail"]


async def test_logout_revokes_the_token(backend):
    user = await backend.user("engineer")
    assert (await backend.http.post("/api/auth/logout", headers=user["headers"])).status_code == 204
    assert (await backend.http.get("/api/me", headers=user["headers"])).status_code == 401


async def test_roles_are_checked_by_guards(backend):
    engineer = await backend.user("engineer")
    client_cp = await backend.counterparty("Ромашка")
    client = await backend.user("client", counterparty_id=client_cp["id"])
    resp = await backend.http.post("/api/groups", json={"name": "X"}, headers=engineer["headers"])
    assert resp.status_code == 403
    assert "admin, office" in resp.json()["detail"]
    for path in ("/api/users", "/api/counterparties", "/api/templates", "/api/groups"):
        assert (await backend.http.get(path, headers=client["headers"])).status_code == 403, path
    # ...but a client may read tasks (only their own; see test_tasks_read)
    assert (await backend.http.get("/api/tasks", headers=client["headers"])).status_code == 200


async def test_malformed_login_body_is_4xx_not_500(backend):
    resp = await backend.http.post("/api/auth/login", json={"login": "x"})
    assert resp.status_code == 422 and "password" in resp.json()["detail"]
    resp = await backend.http.post(
        "/api/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert 400 <= resp.status_code < 500


_GUARDED_HANDLERS = """
import json
from server.app import create_app
app = create_app()
handlers = [h for route in app.routes for h in getattr(route, "route_handlers", ())]
# Litestar's own OPTIONS answers keep its way (they have no __dict__; rarely asked)
guarded = [h for h in handlers if h.resolve_guards() and h.http_methods != {"OPTIONS"}]
print(json.dumps({
    "guarded": len(guarded),
    "copying": [str(h) for h in guarded if "authorize_connection" not in vars(h)],
}))
"""


def test_every_guarded_handler_runs_its_guards_in_place(tmp_path):
    """Litestar calls each guard with a copy of the handler; Naryad's role guards run on the
    handler itself (issue 21). A guard that is not a role guard would keep Litestar's way:
    this lists any such handler."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "NARYAD_DATABASE_URL": f"sqlite:///{tmp_path}/g.db"}
    env.pop("NARYAD_REDIS_URL", None)
    out = subprocess.run(
        [sys.executable, "-c", _GUARDED_HANDLERS], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["guarded"] > 50
    assert result["copying"] == []


async def test_two_guards_in_place_refuse_as_before(backend):
    """A task action has the controller's guard (anyone signed in) and its own (employees):
    both still run, in order, and refuse with the same answers."""
    office = await backend.user("office")
    client_cp = await backend.counterparty("Ромашка")
    created = await backend.create_task(office, template="field_visit", title="Ромашка: касса")
    assert created.status_code == 201, created.text
    task = created.json()
    client = await backend.user("client", counterparty_id=client_cp["id"])
    resp = await backend.http.post(f"/api/tasks/{task['id']}/accept", headers=client["headers"])
    assert resp.status_code == 403
    assert "admin, office, engineer, checker" in resp.json()["detail"]
    assert "you have: client" in resp.json()["detail"]
    unknown = {"Authorization": "Bearer no-such-token"}
    resp = await backend.http.post(f"/api/tasks/{task['id']}/accept", headers=unknown)
    assert resp.status_code == 401
