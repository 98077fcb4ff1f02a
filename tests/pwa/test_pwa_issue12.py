"""Issue #12 on the phone, in Debian's Chromium: a far check-in is answered with a warning,
not the green "on site"; a task redirected with "call the client back" shows it on the card.
Screenshots go to test-output/pwa/."""

from __future__ import annotations

from playwright.async_api import expect
from test_pwa import (  # noqa: F401  (fixtures)
    _crew,
    _post,
    _task,
    _visit,
    apps,
    browser,
)

# Some 5 km north-east of the demo site (55.67, 37.553): well past the 500 m radius.
FAR_AWAY = {"latitude": 55.71, "longitude": 37.61}


async def test_a_far_check_in_is_shown_as_a_warning(backend, apps):  # noqa: F811
    crew = await _crew(backend, "office", "ivanov")
    tid = await _visit(backend, crew["office"], site_id=crew["site"]["id"])
    await _post(backend, crew["ivanov"], f"/api/tasks/{tid}/accept")
    await _post(backend, crew["ivanov"], f"/api/tasks/{tid}/depart")
    app = await apps(geolocation=FAR_AWAY, permissions=["geolocation"])
    await app.login(crew["ivanov"])
    await app.open(f"#/task/{tid}")
    await app.wait_status("en_route")

    await app.button("arrive").click()
    await app.wait_status("in_progress")
    feedback = app.page.locator("#task-feedback .alert")
    await expect(feedback).to_have_class("alert alert-warning")
    await expect(feedback).to_contain_text("м от объекта")
    await app.shot("12-1-far-check-in")
    task = await _task(backend, crew["office"], tid)
    assert task["checkin_far"] is True and task["checkin_warning"]
    assert not app.errors, app.errors


async def test_a_call_back_redirect_shows_on_the_card(backend, apps):  # noqa: F811
    crew = await _crew(backend, "office", "ivanov", "petrov")
    tid = await _visit(backend, crew["office"], site_id=crew["site"]["id"])
    await _post(backend, crew["ivanov"], f"/api/tasks/{tid}/accept")
    await _post(
        backend,
        crew["ivanov"],
        f"/api/tasks/{tid}/redirect",
        {"user_id": crew["petrov"]["id"], "call_back": True},
    )
    app = await apps()
    await app.login(crew["petrov"])
    await app.open(f"#/task/{tid}")
    await app.wait_status("accepted")
    await expect(app.page.locator("#call-back-badge")).to_have_text("Перезвонить клиенту")
    await app.shot("12-2-call-back")
    # taken back and accepted again: the call-back was for the redirect
    await _post(backend, crew["petrov"], f"/api/tasks/{tid}/release")
    await _post(backend, crew["ivanov"], f"/api/tasks/{tid}/accept")
    other = await apps()
    await other.login(crew["ivanov"])
    await other.open(f"#/task/{tid}")
    await other.wait_status("accepted")
    await expect(other.page.locator("#call-back-badge")).to_have_count(0)
    assert not app.errors and not other.errors, (app.errors, other.errors)
