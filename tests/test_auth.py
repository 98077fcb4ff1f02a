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
