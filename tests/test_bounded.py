"""Analyses are bounded before they start, run outside the serving process, and share work.

The finding: ``GET /api/v1/hotspots/emerging?band=20000`` ran 38 s and grew the server to
11.9 GB, ``band=50000`` answered 500 after a 24.5 GiB allocation, and a city without appeals
asked with ``cell_size`` and ``since`` answered 500.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import tracemalloc
from concurrent.futures import Future
from pathlib import Path

import pytest
from sqlalchemy import text

from geo.hotspots import budget
from geo.hotspots.run import HotspotQuery, run_hotspots, to_geojson
from geo.hotspots.workers import Analysis
from tests.factories import a_yard_well, make_appeal, make_city, staff

MB = 1024 * 1024


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (the peak) of a process, in bytes (Linux /proc)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) * 1024
    return out


@pytest.mark.parametrize("band", [20000, 50000])
def test_the_emerging_requests_that_exhausted_memory_are_refused_before_they_start(
    client, band, record_property
):
    """Refused with a 422 that names the band and the largest that would pass; neither the
    serving process (its traced allocations: numpy's are traced too) nor the analysis
    worker (its peak resident memory against its resident memory before) grows by 100 MB.
    The time is recorded (``-s`` prints it), not asserted. No cell size is given; the band
    is wider than the whole demo city (its extent's diagonal is about 9 km), which the
    serving process refuses from the extent alone, before the worker is asked."""
    pool = client.app.state.analyses
    pool.warm()  # the worker started, its modules imported: what a running service has
    # the serving process's first connections made, as in a running service
    assert client.get("/api/v1/hotspots/emerging", params={"cell_size": 20}).status_code == 422
    (worker,) = pool.worker_pids()
    t0 = time.perf_counter()
    timed = client.get("/api/v1/hotspots/emerging", params={"band": band})
    elapsed = time.perf_counter() - t0
    record_property("seconds", round(elapsed, 3))
    print(f"band={band}: refused in {elapsed:.3f} s")
    assert timed.status_code == 422, timed.text
    before = _memory(worker)
    tracemalloc.start()
    try:
        r = client.get("/api/v1/hotspots/emerging", params={"band": band})
        _, served_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    after = _memory(worker)
    assert r.status_code == 422, r.text
    body = r.json()
    assert "wider than the whole city" in body["detail"] and "band <=" in body["detail"]
    assert 0 < body["change"]["band"] < band
    assert served_peak < 100 * MB, served_peak
    assert after["VmHWM"] - before["VmRSS"] < 100 * MB, (before, after)


def test_the_refusal_names_values_that_pass_and_only_just():
    extent = budget.Extent(12_000.0, 9_000.0)
    with pytest.raises(budget.TooMuchWork) as refused:
        budget.check_grid(extent, 150.0, 3_000.0, limit=1e8, steps=53, weekly=True)
    change = refused.value.change
    assert set(change) == {"band", "cell_size", "steps"}
    assert "step=month" in str(refused.value)
    # each suggested value passes on its own ...
    budget.check_grid(extent, 150.0, change["band"], limit=1e8, steps=53)
    budget.check_grid(extent, change["cell_size"], 3_000.0, limit=1e8, steps=53)
    budget.check_grid(extent, 150.0, 3_000.0, limit=1e8, steps=int(change["steps"]))
    # ... and is near the edge: a tenth further does not
    with pytest.raises(budget.TooMuchWork):
        budget.check_grid(extent, 150.0, change["band"] * 1.1, limit=1e8, steps=53)
    with pytest.raises(budget.TooMuchWork):
        budget.check_grid(extent, change["cell_size"] * 0.9, 3_000.0, limit=1e8, steps=53)
    with pytest.raises(budget.TooMuchWork):
        budget.check_grid(extent, 150.0, 3_000.0, limit=1e8, steps=int(change["steps"] * 1.1))


def test_a_too_wide_clustering_is_refused_with_the_largest_eps(client, settings):
    settings.analysis_max_work = 1e4  # the demo city's 600 appeals would pass the default
    r = client.get("/api/v1/clusters", params={"eps_m": 2000, "min_points": 5})
    assert r.status_code == 422, r.text
    assert "eps_m <=" in r.json()["detail"]
    smaller = r.json()["change"]["eps_m"]
    assert 1 <= smaller < 2000
    ok = client.get("/api/v1/clusters", params={"eps_m": smaller, "min_points": 5})
    assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/hotspots", {"cell_size": 250, "since": "2025-01-01T00:00:00Z"}),
        ("/api/v1/hotspots", {}),
        ("/api/v1/hotspots/emerging", {"cell_size": 250, "since": "2025-01-01T00:00:00Z"}),
        ("/api/v1/hotspots/emerging", {"cell_size": 250, "study_area": "incidents"}),
        ("/api/v1/hotspots/emerging", {}),
    ],
)
def test_a_city_without_appeals_answers_an_empty_collection_with_a_note(client, conn, path, params):
    make_city(conn, "EMPT")
    r = client.get(path, params={**params, "city": "EMPT", "format": "geojson"})
    assert r.status_code == 200, r.text
    fc = r.json()
    assert fc["type"] == "FeatureCollection" and fc["features"] == []
    assert "no appeals" in fc["note"]
    plain = client.get(path, params={**params, "city": "EMPT"}).json()
    assert plain["cells"] == [] and "no appeals" in plain["note"]


@pytest.mark.parametrize("path", ["/api/v1/hotspots", "/api/v1/hotspots/emerging"])
def test_a_period_without_appeals_answers_an_empty_collection_with_a_note(client, path):
    r = client.get(
        path, params={"cell_size": 250, "since": "2099-01-01T00:00:00Z", "format": "geojson"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["features"] == [] and "in this period" in r.json()["note"]


def test_the_worker_gives_the_same_statistics_as_the_domain_code(client, conn, city_id):
    params = {"cell_size": 250, "band": 500, "since": "2000-01-01T00:00:00Z"}
    r = client.get("/api/v1/hotspots", params={**params, "format": "geojson"})
    assert r.status_code == 200, r.text
    since = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    direct = to_geojson(
        run_hotspots(conn, city_id, HotspotQuery(cell_size=250, band=500, since=since))
    )
    assert r.json() == json.loads(json.dumps(direct))
    # compressed once, in the worker; the same answer to a client that takes no gzip
    assert r.headers["content-encoding"] == "gzip"
    plain = client.get(
        "/api/v1/hotspots",
        params={**params, "format": "geojson"},
        headers={"Accept-Encoding": "identity"},
    )
    assert "content-encoding" not in plain.headers and plain.content == r.content


def test_identical_requests_share_one_computation_until_the_data_changes(client, conn, city_id):
    pool = client.app.state.analyses
    params = {"cell_size": 250, "band": 500}
    first = client.get("/api/v1/hotspots", params=params)
    assert first.status_code == 200 and pool.computed == 1
    # the same parameters, written differently: the cache answers
    again = client.get("/api/v1/hotspots", params={"cell_size": 250.0, "band": "500"})
    assert again.content == first.content and pool.computed == 1
    # another format is another answer
    assert client.get("/api/v1/hotspots", params={**params, "format": "csv"}).status_code == 200
    assert pool.computed == 2
    # a new appeal is a new data version: computed again, and counted
    well = a_yard_well(conn, city_id)
    make_appeal(conn, city_id, "open_manhole", well["lon"], well["lat"])
    after = client.get("/api/v1/hotspots", params=params)
    assert after.status_code == 200 and pool.computed == 3
    total = sum(c["count"] for c in after.json()["cells"])
    assert total == sum(c["count"] for c in first.json()["cells"]) + 1


def test_identical_concurrent_requests_wait_for_the_same_computation(client, city_id):
    pool = client.app.state.analyses
    from geo.appeals.actors import Actor
    from geo.staff.scope import Scope

    scope = Scope(city_id, Actor(name="public", role="public"))
    analysis = Analysis("hotspots", HotspotQuery(cell_size=250, band=500))
    key = ("test", analysis.parameters())
    one = pool.submit(key, scope, analysis, 1e9)
    two = pool.submit(key, scope, analysis, 1e9)  # the worker is still starting
    assert two is one and pool.computed == 1
    assert json.loads(one.result(timeout=120).body)["cells"]


def test_a_full_queue_answers_503_with_retry_after_and_cached_answers_still_flow(client):
    pool = client.app.state.analyses
    params = {"cell_size": 250, "band": 500}
    assert client.get("/api/v1/hotspots", params=params).status_code == 200
    held = [Future() for _ in range(pool.workers + pool.queue)]
    for i, f in enumerate(held):  # as many computations as the pool takes, none finishing
        pool._running[("held", i)] = f
    try:
        r = client.get("/api/v1/hotspots", params={**params, "band": 750})
        assert r.status_code == 503, r.text
        assert int(r.headers["Retry-After"]) >= 1
        assert "QALA_ANALYSIS_WORKERS" in r.json()["detail"]
        # an answer already computed does not wait for a worker
        assert client.get("/api/v1/hotspots", params=params).status_code == 200
    finally:
        for i, f in enumerate(held):
            pool._running.pop(("held", i))
            f.set_result(None)


def test_two_readers_of_the_same_analysis_do_not_compute_twice(client):
    """Two readers at once (threads through the same app): one computation."""
    pool = client.app.state.analyses
    answers = []

    def read():
        answers.append(client.get("/api/v1/hotspots/emerging", params={"cell_size": 400}))

    readers = [threading.Thread(target=read) for _ in range(2)]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].content == answers[1].content and pool.computed == 1


@pytest.mark.parametrize(
    "path", ["/api/v1/hotspots", "/api/v1/hotspots/emerging", "/api/v1/clusters"]
)
def test_the_openapi_documents_the_refusal_and_the_full_queue(app, path):
    document = app.openapi()
    answers = document["paths"][path]["get"]["responses"]
    assert "QALA_ANALYSIS_MAX_WORK" in answers["422"]["description"]
    assert (
        "analyses" in answers["503"]["description"] and "Retry-After" in answers["503"]["headers"]
    )
    assert "change" in document["components"]["schemas"]["InvalidInput"]["properties"]


def test_an_executor_never_gets_the_answer_cached_for_the_public(client, conn, city_id):
    """An executor sees only its organisation's appeals (row-level security): an answer
    computed for the public must not be served to it, nor the other way round."""
    org = conn.execute(
        text(
            "SELECT organisation_id FROM appeals WHERE city_id = :c AND organisation_id "
            "IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
        ),
        {"c": city_id},
    ).scalar_one()
    params = {"cell_size": 250, "band": 500, "study_area": "incidents"}
    public = client.get("/api/v1/hotspots", params=params)
    executor = client.get("/api/v1/hotspots", params=params, headers=staff(conn, "executor", org))
    assert public.status_code == executor.status_code == 200, executor.text
    seen = conn.execute(
        text(
            "SELECT count(*) FROM appeals WHERE city_id = :c AND organisation_id = :o "
            "AND NOT placeholder_geocode"
        ),
        {"c": city_id, "o": org},
    ).scalar_one()
    assert sum(c["count"] for c in executor.json()["cells"]) == seen
    assert sum(c["count"] for c in public.json()["cells"]) > seen
    assert client.app.state.analyses.computed == 2
