"""Run with the helpdesk venv's Python (bench/helpdesk_bench.py does):

    python -m bench.helpdesk.setup_data setup   -> creates the queue, staff and a token; prints JSON
    python -m bench.helpdesk.setup_data count   -> setup, then one ticket through the API;
                                                   prints the setup's JSON and its queries

DJANGO_SETTINGS_MODULE=bench.helpdesk.settings and HELPDESK_BENCH_DB name the database."""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.helpdesk.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from helpdesk.models import Queue, Ticket  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402

# The same company as Naryad's demo: an office user who creates, seven more staff.
STAFF = ["office", "admin", "checker", "ivanov", "petrov", "smirnova", "volkov", "buh"]


def setup() -> dict[str, object]:
    users = get_user_model()
    for login in STAFF:
        user, _ = users.objects.get_or_create(
            username=login, defaults={"email": f"{login}@naryad.example", "is_staff": True}
        )
        if login == "office":
            # The ticket API (TicketViewSet) is for IsAdminUser: is_staff; superuser so that
            # every queue is accessible, as the office sees every Naryad template.
            user.is_superuser = True
            user.save()
    queue, _ = Queue.objects.get_or_create(
        slug="remote",
        defaults={
            "title": "Удалённая техподдержка",
            "email_address": "support@helpdesk.example",
            # Like Naryad telling the remote-support group: one team address hears of it.
            "new_ticket_cc": "remote-team@helpdesk.example",
            "allow_public_submission": False,
        },
    )
    token, _ = Token.objects.get_or_create(user=users.objects.get(username="office"))
    return {"token": token.key, "queue_id": queue.id}


def body(queue_id: int, n: int) -> dict[str, object]:
    return {
        "queue": queue_id,
        "title": f"Ромашка: не проходит оплата картой, касса {n}",
        "description": "Терминал отвечает «нет связи с банком», чеки не печатаются.",
        "submitter_email": "director@romashka.example",
        "priority": 3,
    }


def count() -> dict[str, object]:
    info = setup()
    client = Client(HTTP_AUTHORIZATION=f"Token {info['token']}")
    payload = json.dumps(body(int(info["queue_id"]), 0))  # type: ignore[call-overload]
    client.post("/api/tickets/", payload, content_type="application/json")  # warm caches
    before = Ticket.objects.count()
    with CaptureQueriesContext(connection) as ctx:
        resp = client.post("/api/tickets/", payload, content_type="application/json")
    assert resp.status_code == 201, resp.content
    assert Ticket.objects.count() == before + 1
    return {**info, "queries": [q["sql"] for q in ctx.captured_queries]}


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "setup"
    print(json.dumps(setup() if what == "setup" else count()))
