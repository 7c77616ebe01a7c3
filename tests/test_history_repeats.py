"""The repeat links a first history import writes with its rows (found before the COPY, from
the rows in memory: geo.imports.history.repeats) are those of the bulk pass over the imported
table (geo.appeals.bulk.find_links), itself checked against live intake in
tests/test_repeats_bulk.py: radius boundaries that only PostGIS settles, tenths that round
apart by a micrometre, equal distances and equal times, the window's first second (also across
a change of the clocks, in a session whose time zone has one), placeholders, chains, and a
crowd. Each import goes into a fresh database whose ``appeals`` table is empty (the deferred
path)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from geo.appeals import bulk
from geo.infra.settings import PROJECT_ROOT
from tests.factories import RADIUS_EDGES, categories_database, repeat_links

MAPPING = PROJECT_ROOT / "data" / "mappings" / "boston311.yaml"
HEADER = (
    "CASE_ENQUIRY_ID,OPEN_DT,TARGET_DT,CLOSED_DT,OnTime_Status,CASE_STATUS,CASE_TITLE,"
    "TYPE,Department,Location,LATITUDE,LONGITUDE,Source"
)
BOSTON_TZ = ZoneInfo("America/New_York")
X, Y = -71.07, 42.34
CITY_HALL = (-71.0587, 42.3594)  # listed as a placeholder by the mapping
#: Boston types and what they become: public_order 250 m / 14 days, street_lighting 150 m /
#: 30 days, tree_trimming 100 m / 90 days
GRAFFITI, LIGHT, TREE = "Graffiti Removal", "Street Light Outages", "Tree Maintenance Requests"


@pytest.fixture(scope="module")
def blank_url(make_database) -> str:
    """A migrated database with the categories and no appeals, to copy for each import."""
    return categories_database(make_database)


def _edge_rows() -> tuple[list[tuple[float, float, datetime, str]], dict[str, list[int]]]:
    """(lon, lat, local opening time, type) of the edge cases, in no particular order, and
    the positions of some of them by name."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    t0 = datetime(2015, 2, 20, 10, tzinfo=BOSTON_TZ)
    rows: list[tuple[float, float, datetime, str]] = []
    named: dict[str, list[int]] = {}

    def add(lon, lat, seconds, kind=GRAFFITI, at=None, name=None):
        if name:
            named.setdefault(name, []).append(len(rows))
        rows.append((lon, lat, at or t0 + timedelta(seconds=seconds), kind))

    def away(lon, lat, metres, azimuth=90.0):
        x, y, _ = geod.fwd(lon, lat, azimuth, metres)
        return x, y

    # radius boundaries of public_order (250 m): +- 1 cm, +- 0.2 micrometre, a nanometre
    for k, (off, az) in enumerate(RADIUS_EDGES):
        x0, y0 = X - 0.04 + 0.006 * k, Y + 0.03
        add(x0, y0, 0)
        add(*away(x0, y0, 250 + off, az), 3600)
    # tenths: 40.05 m +- 1 micrometre, and at 40.05 to the nanometre against 40.1
    x0, y0 = X - 0.04, Y - 0.01
    add(*away(x0, y0, 40.05 + 1e-6, 10), 0)
    add(*away(x0, y0, 40.05 - 1e-6, 190), 10)
    add(x0, y0, 20)
    add(*away(x0 + 0.008, y0, 40.05, 10), 0)
    add(*away(x0 + 0.008, y0, 40.1, 190), 10)
    add(x0 + 0.008, y0, 20)
    # as near and later, or as near at the same second: the earlier, then the smaller id
    x1, y1 = X - 0.02, Y - 0.01
    add(*away(x1, y1, 30, 0), 0)
    add(*away(x1, y1, 30, 180), 5)
    add(*away(x1, y1, 30, 90), 5)
    add(x1, y1, 60)
    # the window: exactly 14 days before is in, a second more is out
    x2, y2 = X, Y - 0.01
    add(x2, y2, 1, name="window_in")
    add(*away(x2, y2, 5), 14 * 86400 + 1, name="window_in")
    add(x2 + 0.01, y2, 0, name="window_out")
    add(*away(x2 + 0.01, y2, 5), 14 * 86400 + 1, name="window_out")
    # across the change of the clocks (8 March 2015, 2:00 in Boston): 14 local days before
    # 15 March 10:00 EDT is 1 March 10:00 EST, 13 days 23 hours on the clock of UTC; the
    # earlier appeal at 9:30 EST is in the window by UTC's days, out of it by Boston's
    x3, y3 = X + 0.02, Y - 0.01
    add(x3, y3, 0, at=datetime(2015, 3, 1, 9, 30, tzinfo=BOSTON_TZ), name="dst")
    add(*away(x3, y3, 5), 0, at=datetime(2015, 3, 15, 10, 0, tzinfo=BOSTON_TZ), name="dst")
    # placeholders (City Hall): nobody's neighbour, not even at the same point
    add(*CITY_HALL, 0, name="hall")
    add(*away(*CITY_HALL, 20), 10)
    add(*CITY_HALL, 20, name="hall")
    # chains: 100 m steps of street lighting (150 m), each near the one before only
    for k in range(5):
        add(*away(X + 0.04, Y, 100 * k), 100 * k, kind=LIGHT)
    # a crowd: random points within 700 m, random times over 40 days, three categories
    rnd = random.Random(14)
    for _ in range(150):
        add(
            *away(X, Y + 0.02, 700 * rnd.random() ** 0.5, rnd.uniform(0, 360)),
            rnd.randrange(0, 40 * 86400),
            kind=rnd.choice([GRAFFITI, GRAFFITI, LIGHT, TREE]),
        )
    return rows, named


def _write_csv(path, rows) -> None:
    lines = [HEADER]
    for i, (lon, lat, at, kind) in enumerate(rows):
        local = at.astimezone(BOSTON_TZ).strftime("%Y-%m-%d %H:%M:%S")
        lines.append(
            f"E{i},{local},,,ONTIME,Open,x,{kind},PWDx,{i} Main St,{lat!r},{lon!r},Self Service"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_links_written_with_the_rows_equal_the_bulk_pass(
    make_database, blank_url, tmp_path, monkeypatch, zone
):
    from geo.imports.history import import_history

    rows, named = _edge_rows()
    path = tmp_path / "edges.csv"
    _write_csv(path, rows)
    settled: list[int] = []
    real_settle = bulk._settle

    def settle(*args):
        settled.append(int(args[-1].sum()))
        return real_settle(*args)

    monkeypatch.setattr(bulk, "_settle", settle)
    url = make_database(template=blank_url)
    engine = create_engine(url, connect_args={"options": f"-c TimeZone={zone}"})
    try:
        report = import_history(engine, path, MAPPING, echo=lambda *_: None, progress=False)
        assert report.imported == len(rows) and report.deferred_indexes
        assert "defer" in report.timings
        assert settled and settled[0] > 0, "PostGIS settled the pairs the tolerance left open"
        with engine.connect() as conn:
            tx = conn.begin()
            cid = conn.execute(text("SELECT id FROM cities WHERE code = 'BOS'")).scalar_one()
            written = repeat_links(conn, cid)
            # the ids reserved from the sequence never used before: 1 to n, then n + 1
            span = conn.execute(text("SELECT min(id), max(id) FROM appeals")).one()
            assert tuple(span) == (1, len(rows))
            assert (
                conn.execute(
                    text("SELECT nextval(pg_get_serial_sequence('appeals', 'id'))")
                ).scalar()
                == len(rows) + 1
            )
            assert len(written) == report.repeats_linked > 40
            by_id = dict(
                conn.execute(
                    text("SELECT external_id, id FROM appeals WHERE city_id = :c"), {"c": cid}
                ).all()
            )
            # the change of the clocks: a repeat by UTC's days, not by Boston's
            dst_first, dst_then = (by_id[f"E{i}"] for i in named["dst"])
            assert written.get(dst_then) == (dst_first if zone == "UTC" else None)
            # the window's first second
            first, then = (by_id[f"E{i}"] for i in named["window_in"])
            assert written.get(then) == first
            assert by_id[f"E{named['window_out'][1]}"] not in written
            # the placeholders at City Hall link to nobody and nobody links to them
            hall = {by_id[f"E{i}"] for i in named["hall"]}
            assert not hall & (set(written) | set(written.values()))
            conn.execute(
                text("UPDATE appeals SET repeat_of_id = NULL WHERE city_id = :c"), {"c": cid}
            )
            ids, root = bulk.find_links(conn, cid)
            assert dict(zip(ids.tolist(), root.tolist(), strict=True)) == written
            tx.rollback()
    finally:
        engine.dispose()


def test_reserved_ids_are_the_sequences_next_and_nobody_elses(conn, engine):
    """reserve_ids takes n ids at once from the id sequence of appeals: above every id given
    before, the sequence going on after them at its own increment, and no other session
    taking an id until the reserving transaction ends."""
    from sqlalchemy.exc import OperationalError

    from geo.imports.history.repeats import reserve_ids
    from tests.factories import insert_appeal, make_city

    cid = make_city(conn, "RSV")
    before = insert_appeal(conn, cid, 69.40, 54.95)
    ids = reserve_ids(conn, 1000)
    assert ids.tolist() == list(range(before + 1, before + 1001))
    assert reserve_ids(conn, 1).tolist() == [before + 1001]
    with engine.connect() as other:
        other.execute(text("SET lock_timeout = '200ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            other.execute(text("SELECT nextval(pg_get_serial_sequence('appeals', 'id'))"))
    assert insert_appeal(conn, cid, 69.40, 54.95) == before + 1002
    increment = conn.execute(
        text(
            "SELECT seqincrement FROM pg_sequence "
            "WHERE seqrelid = CAST(pg_get_serial_sequence('appeals', 'id') AS regclass)"
        )
    ).scalar_one()
    assert increment == 1
