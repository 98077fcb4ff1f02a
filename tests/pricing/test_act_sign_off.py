"""The client's sign-off in the portal is printed on the completion act (issue 18): who
accepted it and when, or that it was disputed and why; a new answer prints a new act."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.sqlite


async def test_completion_act_prints_the_clients_sign_off(desk, backend, pdf_text):
    task = await desk.visit()
    tid = task["id"]
    await desk.ok("ivanov", "POST", f"/api/tasks/{tid}/done", {"completed_works": "Замена ленты"})
    client = await desk.person("client")

    act = await desk.call("office", "GET", f"/api/tasks/{tid}/completion-act.pdf")
    assert act.status_code == 200, act.text
    assert "личном кабинете" not in pdf_text(act.content)

    await desk.ok("client", "POST", f"/api/tasks/{tid}/sign-off", {"decision": "accept"})
    act = await desk.call("client", "GET", f"/api/tasks/{tid}/completion-act.pdf")
    assert act.status_code == 200, act.text
    text = pdf_text(act.content)
    assert f"Акт подтверждён клиентом в личном кабинете: {client['full_name']}" in text

    english = await desk.call("office", "GET", f"/api/tasks/{tid}/completion-act.pdf?lang=en")
    assert f"Act accepted by the client in the portal: {client['full_name']}" in pdf_text(
        english.content
    )

    body = {"decision": "dispute", "comment": "Касса 2 всё ещё не печатает"}
    await desk.ok("client", "POST", f"/api/tasks/{tid}/sign-off", body)
    text = pdf_text(
        (await desk.call("office", "GET", f"/api/tasks/{tid}/completion-act.pdf")).content
    )
    assert "Акт оспорен клиентом в личном кабинете" in text
    assert "«Касса 2 всё ещё не печатает»" in text
    assert "Акт подтверждён" not in text
