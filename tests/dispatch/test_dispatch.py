"""Where engineers are, the nearest of them to a visit, the engineer's day route, and
sites linked to tasks by themselves (issue 17). Distances are checked against the length
of a meridian arc on the WGS-84 ellipsoid, integrated here independently of geopy."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import pytest
from naryad_harness import Backend

from server.dispatch import routing

FIELD = ("Выездные инженеры",)
LON = 37.6
A, F = 6378137.0, 1 / 298.257223563
E2 = F * (2 - F)


def meridian_m(lat1: float, lat2: float) -> float:
    """Metres along a meridian between two latitudes: ∫ a(1−e²)/(1−e² sin²φ)^1.5 dφ
    (Simpson's rule; exact to well under a millimetre over a few kilometres)."""
    lo, hi = sorted((math.radians(lat1), math.radians(lat2)))
    n = 200
    step = (hi - lo) / n

    def m(phi: float) -> float:
        return A * (1 - E2) / (1 - E2 * math.sin(phi) ** 2) ** 1.5

    total = m(lo) + m(hi) + sum((4 if i % 2 else 2) * m(lo + i * step) for i in range(1, n))
    return total * step / 3


async def _post(b: Backend, who: dict[str, Any], path: str, body: Any = None) -> Any:
    resp = await b.http.post(path, json=body if body is not None else {}, headers=who["headers"])
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


async def _visit(
    b: Backend, office: dict[str, Any], lat: float | None, assignee: dict[str, Any] | None = None
) -> dict[str, Any]:
    name = f"Ромашка{b._next()}"
    cp = await b.counterparty(name)
    point = {"lat": lat, "lon": LON} if lat is not None else {}
    site = await b.site(cp["id"], address=f"Москва, {name}", **point)
    body: dict[str, Any] = {
        "template": "field_visit",
        "title": f"{name}: касса",
        "site_id": site["id"],
    }
    if assignee:
        body["assignee_id"] = assignee["id"]
    return await _post(b, office, "/api/tasks", body)  # type: ignore[no-any-return]


@pytest.mark.sqlite
async def test_a_counterpartys_only_site_is_linked_to_new_tasks(backend: Backend) -> None:
    office = await backend.user("office")
    one = await backend.counterparty("Ромашка")
    site = await backend.site(one["id"], address="Москва, Тверская, 7")
    task = await _post(
        backend, office, "/api/tasks", {"template": "field_visit", "title": "Ромашка: касса"}
    )
    assert task["site"]["id"] == site["id"]
    history = (
        await backend.http.get(f"/api/tasks/{task['id']}/history", headers=office["headers"])
    ).json()
    assert any(e["kind"] == "site_linked" for e in history)
    two = await backend.counterparty("Лютик")
    await backend.site(two["id"], "Первый")
    await backend.site(two["id"], "Второй")
    task = await _post(
        backend, office, "/api/tasks", {"template": "field_visit", "title": "Лютик: касса"}
    )
    assert task["site"] is None  # two sites: the office chooses


@pytest.mark.sqlite
async def test_positions_are_shared_only_when_switched_on(backend: Backend) -> None:
    engineer = await backend.user("engineer", groups=FIELD)
    client_cp = await backend.counterparty("Клиент")
    client = await backend.user("client", counterparty_id=client_cp["id"])
    here = {"lat": 55.75, "lon": 37.6, "accuracy_m": 12}
    off = await backend.http.post("/api/me/location", json=here, headers=engineer["headers"])
    assert off.status_code == 409 and "sharing is off" in off.json()["detail"]
    resp = await backend.http.put(
        "/api/me/location-sharing", json={"enabled": True}, headers=engineer["headers"]
    )
    assert resp.json()["enabled"] is True
    assert (await _post(backend, engineer, "/api/me/location", here))["lat"] == 55.75
    refused = await backend.http.post("/api/me/location", json=here, headers=client["headers"])
    assert refused.status_code == 403
    bad = await backend.http.post(
        "/api/me/location", json={"lat": 91, "lon": 0}, headers=engineer["headers"]
    )
    assert bad.status_code == 400 or bad.status_code == 422


@pytest.mark.sqlite
async def test_nearest_engineers_by_hand_computed_distance(backend: Backend) -> None:
    office = await backend.user("office")
    near = await backend.user("engineer", groups=FIELD, surname="Ближний")
    home = await backend.user("engineer", groups=FIELD, surname="Домашний")
    far = await backend.user("engineer", groups=FIELD, surname="Дальний")
    lost = await backend.user("engineer", groups=("Ремонт",), surname="Безместный")
    await backend.user("checker", groups=FIELD)  # may not take a field visit (R7)
    client_cp = await backend.counterparty("Клиент")
    client = await backend.user("client", counterparty_id=client_cp["id"])

    # near shares its position 1.1 km north of the visit
    await backend.http.put(
        "/api/me/location-sharing", json={"enabled": True}, headers=near["headers"]
    )
    await _post(backend, near, "/api/me/location", {"lat": 55.76, "lon": LON})
    # home has a home base 2.2 km north
    resp = await backend.http.put(
        f"/api/users/{home['id']}/home-base",
        json={"lat": 55.77, "lon": LON, "label": "Дом"},
        headers=office["headers"],
    )
    assert resp.status_code == 200, resp.text
    # far checked in 3.3 km north, on a visit it still works on
    other = await _visit(backend, office, 55.78, assignee=far)
    await _post(backend, far, f"/api/tasks/{other['id']}/depart")
    await _post(backend, far, f"/api/tasks/{other['id']}/arrive", {"lat": 55.78, "lon": LON})

    task = await _visit(backend, office, 55.75)
    resp = await backend.http.get(
        f"/api/tasks/{task['id']}/nearest-engineers?limit=5", headers=office["headers"]
    )
    assert resp.status_code == 200, resp.text
    rows = resp.json()
    assert [r["user"]["id"] for r in rows] == [near["id"], home["id"], far["id"], lost["id"]]
    for row, lat in zip(rows, (55.76, 55.77, 55.78), strict=False):
        assert row["distance_m"] == pytest.approx(meridian_m(55.75, lat), abs=0.2)
    assert [r["open_tasks"] for r in rows] == [0, 0, 1, 0]
    assert rows[0]["position_at"] is not None and rows[0]["source"] == "location"
    assert rows[1]["position_at"] is None and rows[1]["source"] == "home"
    assert rows[2]["source"] == "checkin" and rows[2]["position_at"] is not None
    assert rows[3]["distance_m"] is None  # no position known: last, still assignable
    limited = await backend.http.get(
        f"/api/tasks/{task['id']}/nearest-engineers?limit=2", headers=office["headers"]
    )
    assert [r["user"]["id"] for r in limited.json()] == [near["id"], home["id"]]
    hidden = await backend.http.get(
        f"/api/tasks/{task['id']}/nearest-engineers", headers=client["headers"]
    )
    assert hidden.status_code == 403  # clients never see where anyone is
    # the office assigns from the list
    await _post(
        backend, office, f"/api/tasks/{task['id']}/assign", {"user_id": rows[0]["user"]["id"]}
    )
    nowhere = await _visit(backend, office, None)
    resp = await backend.http.get(
        f"/api/tasks/{nowhere['id']}/nearest-engineers", headers=office["headers"]
    )
    assert resp.status_code == 409 and "no site with a point" in resp.json()["detail"]


@pytest.mark.sqlite
async def test_the_day_route_in_order_with_distance_and_eta(backend: Backend) -> None:
    office = await backend.user("office")
    me = await backend.user("engineer", groups=FIELD)
    await backend.http.put(
        "/api/me/location-sharing", json={"enabled": True}, headers=me["headers"]
    )
    await _post(backend, me, "/api/me/location", {"lat": 55.75, "lon": LON})
    lats = [55.77, 55.74, 55.79, 55.76]
    tasks = {lat: await _visit(backend, office, lat, assignee=me) for lat in lats}
    unplaced = await _visit(backend, office, None, assignee=me)
    await _visit(backend, office, 55.751)  # in the queue, not mine: not on my route

    resp = await backend.http.get("/api/me/route", headers=me["headers"])
    assert resp.status_code == 200, resp.text
    route = resp.json()
    # south first (1 km) then north through the rest: 6 km, against 9 km north first
    order = [55.74, 55.76, 55.77, 55.79]
    assert [s["task"]["id"] for s in route["stops"]] == [tasks[lat]["id"] for lat in order]
    expected = meridian_m(55.75, 55.74) + meridian_m(55.74, 55.79)
    assert route["distance_m"] == pytest.approx(expected, abs=0.5)
    assert route["stops"][0]["leg_m"] == pytest.approx(meridian_m(55.75, 55.74), abs=0.2)
    assert route["duration_s"] == pytest.approx(expected / (25 / 3.6), abs=1)
    assert route["speed_kmh"] == 25.0
    assert [t["id"] for t in route["unplaced"]] == [unplaced["id"]]
    assert route["start"]["source"] == "location"
    assert route["navigator_url"].startswith("https://yandex.ru/maps/?rtt=auto&rtext=55.750000,")
    assert route["navigator_url"].endswith("~55.790000,37.600000")
    assert route["next_stop_geo_uri"].startswith("geo:55.740000,37.600000")
    # the phone's own position wins over the stored one
    given = (
        await backend.http.get("/api/me/route?lat=55.80&lon=37.6", headers=me["headers"])
    ).json()
    assert given["stops"][0]["task"]["id"] == tasks[55.79]["id"]
    past = await backend.http.get("/api/me/route?date=2000-01-01", headers=me["headers"])
    assert past.status_code == 422


def test_twelve_visits_route_within_50_ms() -> None:
    rng = random.Random(17)
    start = (55.75, 37.62)
    best = math.inf
    for _ in range(5):
        stops = [(55.6 + rng.random() * 0.3, 37.4 + rng.random() * 0.45) for _ in range(12)]
        began = time.perf_counter()
        order, legs = routing.plan(start, stops)
        best = min(best, time.perf_counter() - began)
        assert sorted(order) == list(range(12))
        matrix = routing.distance_matrix([start, *stops])
        nn = routing.path_length(matrix, routing.nearest_neighbour(matrix))
        assert sum(legs) <= nn + 1e-6  # 2-opt never makes nearest neighbour worse
    assert best <= 0.050, f"{best * 1000:.1f} ms"
