"""Bulk repeat linking (geo.appeals.bulk.link_repeats) by the rule of live intake: same
category, within the category's window before, on the same object or within its radius; the
same object first, then the nearest, then the earliest; the link goes to the root."""

from __future__ import annotations

from sqlalchemy import text

from geo.appeals import bulk
from geo.appeals.bulk import link_repeats
from tests.factories import RADIUS_EDGES, insert_appeal, make_city

X, Y = 69.40, 54.95
M = 1 / 111_320 / 0.5750  # one metre of longitude at 54.95° N (cos 54.95° = 0.5750)


def _at(day: int) -> str:
    return f"2026-03-{day:02d} 10:00:00+00"


def _links(conn, ids: dict[str, int]) -> dict[str, str | None]:
    names = {v: k for k, v in ids.items()}
    rows = conn.execute(
        text("SELECT id, repeat_of_id FROM appeals WHERE id = ANY(:ids)"),
        {"ids": list(ids.values())},
    ).all()
    return {names[i]: names.get(r) for i, r in rows}


def test_bulk_linking_follows_the_live_rule(conn):
    """garbage: radius 150 m, window 14 days; open_manhole on a well: 50 m, 14 days."""
    cid = make_city(conn, "RPT")
    well = conn.execute(
        text(
            "INSERT INTO wells (city_id, kind, geom) VALUES "
            "(:c, 'sewer', ST_SetSRID(ST_MakePoint(:x, :y), 4326)) RETURNING id"
        ),
        {"c": cid, "x": X + 0.01, "y": Y},
    ).scalar_one()
    ids = {
        "first": insert_appeal(conn, cid, X, Y, created_at=_at(1)),
        # 100 m away, 3 days later: a repeat of first
        "near": insert_appeal(conn, cid, X + 100 * M, Y, created_at=_at(4)),
        # 100 m from near but 200 m from first, 2 days later: near is its candidate, and the
        # link goes to near's root, first
        "chain": insert_appeal(conn, cid, X + 200 * M, Y, created_at=_at(6)),
        # 400 m away: no candidate within 150 m
        "far": insert_appeal(conn, cid, X + 600 * M, Y, created_at=_at(6)),
        # another category at the same point: not a repeat
        "other_cat": insert_appeal(conn, cid, X, Y, category="stray_dogs", created_at=_at(2)),
        # same point, 20 days after every earlier garbage appeal: outside the window
        "late": insert_appeal(conn, cid, X, Y, created_at=_at(26)),
        # a rejected appeal is nobody's original
        "rejected": insert_appeal(conn, cid, X - 0.02, Y, created_at=_at(1), status="rejected"),
        "after_rejected": insert_appeal(conn, cid, X - 0.02, Y, created_at=_at(2)),
        # on the same well, 300 m apart (beyond the 50 m radius): the same object links them
        "well_a": insert_appeal(
            conn,
            cid,
            X + 0.01,
            Y,
            category="open_manhole",
            created_at=_at(1),
            object_kind="well",
            object_id=well,
        ),
        "well_b": insert_appeal(
            conn,
            cid,
            X + 0.01 + 300 * M,
            Y,
            category="open_manhole",
            created_at=_at(3),
            object_kind="well",
            object_id=well,
        ),
    }
    assert link_repeats(conn, cid) == 3
    assert _links(conn, ids) == {
        "first": None,
        "near": "first",
        "chain": "first",
        "far": None,
        "other_cat": None,
        "late": None,
        "rejected": None,
        "after_rejected": None,
        "well_a": None,
        "well_b": "well_a",
    }
    assert link_repeats(conn, cid) == 0  # linked appeals keep their link


def test_the_nearest_candidate_wins_over_the_earliest(conn):
    cid = make_city(conn, "RPN")
    ids = {
        "old_far": insert_appeal(conn, cid, X + 120 * M, Y, created_at=_at(1)),
        "new_near": insert_appeal(conn, cid, X - 130 * M, Y, created_at=_at(2)),
        "probe": insert_appeal(conn, cid, X - 100 * M, Y, created_at=_at(3)),
    }
    # old_far and new_near are 250 m apart: neither repeats the other
    link_repeats(conn, cid)
    assert _links(conn, ids) == {"old_far": None, "new_near": None, "probe": "new_near"}


def _live_link(conn, cid: int, row: dict, placeholders: set[int]) -> int | None:
    """The link live intake would give ``row`` when it arrives, with every earlier appeal
    already there: ``qala_repeat_candidates`` as ``qala_create_appeal`` calls it, a placeholder
    geocode being no radius neighbour, equal times broken by id as the bulk pass breaks them."""
    rows = conn.execute(
        text(
            "SELECT id, root_id, same_object, distance_m, created_at "
            "FROM qala_repeat_candidates(:c, :cat, :kind, :oid, :x, :y, CAST(:at AS timestamptz))"
        ),
        {
            "c": cid,
            "cat": row["category"],
            "kind": row.get("object_kind", "none"),
            "oid": row.get("object_id") or -1,
            "x": row["lon"],
            "y": row["lat"],
            "at": row["created_at"],
        },
    ).all()
    assert len(rows) < 10, "the live function shows 10 candidates: keep the test city sparser"
    ok = [
        r
        for r in rows
        if r.same_object or (row["id"] not in placeholders and r.id not in placeholders)
    ]
    ok.sort(key=lambda r: (not r.same_object, r.distance_m, r.created_at, r.id))
    return ok[0].root_id if ok else None


def test_bulk_linking_equals_live_intake_on_edge_cases(conn, monkeypatch):
    """Appeals arrive one by one and live intake links each (the expected links); then the
    bulk pass links the same appeals, unlinked, at once. Radius boundaries (r +- 1 cm and
    +- 0.2 micrometre on the ellipsoid, which only PostGIS can settle), tenths that round
    apart by a micrometre, equal distances and equal times, the window's first microsecond,
    placeholders, rejected and duplicate candidates, an object beyond the radius against a
    nearer appeal, chains and an appeal linked by hand."""
    import random
    from datetime import UTC, datetime, timedelta

    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    cid = make_city(conn, "RPE")
    rnd = random.Random(14)
    t0 = datetime(2026, 2, 25, 10, tzinfo=UTC)
    rows: list[dict] = []

    def add(lon, lat, seconds, category="garbage", **cols):
        rows.append({"lon": lon, "lat": lat, "s": seconds, "category": category, **cols})

    def away(lon, lat, metres, azimuth=90.0):
        x, y, _ = geod.fwd(lon, lat, azimuth, metres)
        return x, y

    # garbage: 150 m, 14 days
    for k, (off, az) in enumerate(RADIUS_EDGES):
        x0, y0 = X - 0.02 + 0.004 * k, Y + 0.02
        add(x0, y0, 0)
        add(*away(x0, y0, 150 + off, az), 3600)
    # tenths: 40.05 m +- 1 micrometre from the probe, and two at equal distances
    x0, y0 = X - 0.02, Y - 0.02
    add(*away(x0, y0, 40.05 + 1e-6, 10), 0)
    add(*away(x0, y0, 40.05 - 1e-6, 190), 10)
    add(x0, y0, 20)
    add(*away(x0 + 0.005, y0, 40.05, 10), 0)  # 40.05 to the nanometre: which tenth?
    add(*away(x0 + 0.005, y0, 40.1, 190), 10)
    add(x0 + 0.005, y0, 20)
    x1, y1 = X - 0.01, Y - 0.02
    add(*away(x1, y1, 30, 0), 0)
    add(*away(x1, y1, 30, 180), 5)  # as near, later: the earlier wins
    add(*away(x1, y1, 30, 90), 5)  # the same time: the smaller id wins
    add(x1, y1, 60)
    # the window: exactly 14 days before is in, a microsecond more is out
    x2, y2 = X, Y - 0.02
    add(x2, y2, 0.000001)
    add(x2 + 0.01, y2, 0)
    add(*away(x2, y2, 5), 14 * 86400 + 0.000001)
    add(*away(x2 + 0.01, y2, 5), 14 * 86400 + 0.000002)
    # placeholders: nobody's neighbour, but on an object they still count
    x3, y3 = X + 0.01, Y - 0.02
    add(x3, y3, 0, placeholder_geocode=True)
    add(x3, y3, 10)
    add(x3, y3, 20, placeholder_geocode=True)
    add(
        x3,
        y3 + 0.003,
        0,
        category="open_manhole",
        object_kind="well",
        object_id=7,
        placeholder_geocode=True,
    )
    add(
        x3,
        y3 + 0.003,
        30,
        category="open_manhole",
        object_kind="well",
        object_id=7,
        placeholder_geocode=True,
    )
    # rejected and duplicate appeals are nobody's original
    x4, y4 = X + 0.02, Y - 0.02
    add(x4, y4, 0, status="rejected")
    add(x4, y4, 10, status="duplicate")
    add(x4, y4, 20)
    add(x4, y4, 30)
    # open_manhole: 50 m; the same well 300 m away beats a nearer appeal off the well
    x5, y5 = X + 0.02, Y + 0.02
    add(x5, y5, 0, category="open_manhole", object_kind="well", object_id=8)
    add(*away(x5, y5, 300), 10, category="open_manhole")
    add(*away(x5, y5, 310), 20, category="open_manhole", object_kind="well", object_id=8)
    # chains: 100 m steps, each within 150 m of the one before only
    for k in range(5):
        add(*away(X + 0.03, Y, 100 * k), 100 * k)
    # an appeal linked by hand to an unrelated one: appeals repeating it get that root
    add(X - 0.03, Y, 0, manual="first")
    add(*away(X - 0.03, Y, 40), 10)
    # and a crowd: random points within 700 m, random times over 30 days
    for _ in range(100):
        add(
            *away(X, Y, 700 * rnd.random() ** 0.5, rnd.uniform(0, 360)),
            rnd.randrange(0, 30 * 86400),
            category=rnd.choice(["garbage", "garbage", "scooter_parking"]),
            status=rnd.choice(["registered"] * 8 + ["rejected", "closed"]),
            placeholder_geocode=rnd.random() < 0.05,
        )

    rows.sort(key=lambda r: r["s"])
    first = None
    placeholders: set[int] = set()
    expected: dict[int, int | None] = {}
    for row in rows:
        row["created_at"] = (t0 + timedelta(seconds=row["s"])).isoformat()
        cols = {
            k: row[k]
            for k in ("status", "object_kind", "object_id", "placeholder_geocode")
            if k in row
        }
        if row.get("manual"):
            cols["repeat_of_id"] = first
        live = None if row.get("manual") else "pending"
        row["id"] = insert_appeal(
            conn, cid, row["lon"], row["lat"], row["category"], created_at=row["created_at"], **cols
        )
        first = first or row["id"]
        if row.get("placeholder_geocode"):
            placeholders.add(row["id"])
        if live == "pending":
            # as live sees it: every appeal before it, with the links live gave them
            conn.execute(text("SAVEPOINT probe"))
            conn.execute(text("DELETE FROM appeals WHERE id = :i"), {"i": row["id"]})
            live = _live_link(conn, cid, row, placeholders)
            conn.execute(text("ROLLBACK TO SAVEPOINT probe"))
            conn.execute(
                text("UPDATE appeals SET repeat_of_id = :l WHERE id = :i"),
                {"l": live, "i": row["id"]},
            )
        expected[row["id"]] = live if not row.get("manual") else first
    assert len(set(expected.values()) - {None}) > 10, "the city has repeats"
    settled: list[int] = []

    def settle(*args):
        settled.append(int(args[-1].sum()))
        return real_settle(*args)

    real_settle = bulk._settle
    monkeypatch.setattr(bulk, "_settle", settle)
    manual = [r["id"] for r in rows if r.get("manual")]
    conn.execute(
        text("UPDATE appeals SET repeat_of_id = NULL WHERE city_id = :c AND NOT (id = ANY(:m))"),
        {"c": cid, "m": manual},
    )
    linked = link_repeats(conn, cid)
    got = dict(
        conn.execute(
            text("SELECT id, repeat_of_id FROM appeals WHERE city_id = :c"), {"c": cid}
        ).all()
    )
    assert got == expected
    assert settled and settled[0] > 0, "PostGIS settled the appeals the tolerance left open"
    assert linked == sum(v is not None for v in expected.values()) - len(manual)


def test_window_starts_subtract_days_as_the_session_time_zone_does(conn):
    """``created_at`` minus the window as PostgreSQL subtracts ``make_interval(days => w)`` in
    the session's time zone (the read path's ``POINTS_SQL``, the live function): across
    changes of the clocks (a gap, an overlap, half an hour on Lord Howe) as in a fixed zone."""
    import numpy as np

    rng = np.random.default_rng(3)
    us = 1_000_000
    starts = conn.execute(
        text(
            "SELECT (extract(epoch FROM CAST(t AS timestamptz)) * 1000000)::bigint "
            "- 946684800000000 FROM unnest(CAST(:ts AS text[])) AS t"
        ),
        {"ts": ["2015-03-08 07:00+00", "2015-11-01 06:00+00", "2015-10-04 15:30+00"]},
    ).scalars()
    # every 10 minutes (and a random microsecond) over two days around each change
    t = np.concatenate([s + np.arange(-86_400, 86_400, 600) * us for s in starts])
    t = t + rng.integers(0, 600 * us, len(t))
    days = rng.choice([1, 3, 7, 14, 30, 365], len(t))
    for zone in ("UTC", "Etc/GMT-5", "America/New_York", "Europe/London", "Australia/Lord_Howe"):
        conn.execute(text("SELECT set_config('TimeZone', :z, true)"), {"z": zone})
        expected = conn.execute(
            text(
                "SELECT (extract(epoch FROM timestamptz '2000-01-01 00:00+00' "
                "+ t * interval '1 microsecond' - make_interval(days => d)) * 1000000)::bigint "
                "- 946684800000000 FROM unnest(CAST(:t AS bigint[]), CAST(:d AS int[])) AS x (t, d)"
            ),
            {"t": t.tolist(), "d": days.tolist()},
        ).scalars()
        got = bulk.window_starts(conn, t, days)
        assert got.tolist() == list(expected), zone
        if zone == "America/New_York":  # days of 23 and 25 hours: not arithmetic
            assert (got != t - days * 86_400 * us).any()
