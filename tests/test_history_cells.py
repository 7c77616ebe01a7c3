"""Appeal counts per map cell after a history import (geo.imports.history.deferral): a first load
counts them in one statement after the COPY, with the insert trigger disabled; they must be
what the triggers and ``refresh_appeal_cells`` count, and the trigger must be back on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from geo.infra.settings import PROJECT_ROOT
from tests.factories import categories_database

MAPPING = PROJECT_ROOT / "data" / "mappings" / "boston311.yaml"
HEADER = (
    "CASE_ENQUIRY_ID,OPEN_DT,TARGET_DT,CLOSED_DT,OnTime_Status,CASE_STATUS,CASE_TITLE,"
    "TYPE,Department,Location,LATITUDE,LONGITUDE,Source"
)
TYPES = ("Street Light Outages", "Graffiti Removal", "Request for Pothole Repair", "Alien Landing")
SNAPSHOT = text("""
    SELECT level, category_code, month, cell, n, n_registered, n_assigned, n_in_progress,
           n_resolved, n_closed, n_rejected, n_deferred, n_duplicate, n_reopened, sx, sy
    FROM appeal_cells WHERE city_id = :c ORDER BY level, category_code, month, cell""")


def history_csv(path: Path, n: int, prefix: str, seed: int) -> Path:
    """``n`` cases in a few blocks of Boston over half a year: open (with and without a
    department) and closed, several categories; many share a point, a cell or a month."""
    rng = np.random.default_rng(seed)
    start = dt.datetime(2015, 1, 1)
    lines = [HEADER]
    for i in range(n):
        opened = start + dt.timedelta(minutes=int(rng.integers(0, 180 * 24 * 60)))
        closed = rng.random() < 0.5
        lat = 42.35 + 0.0004 * int(rng.integers(0, 40))  # a grid of shared points
        lon = -71.06 + 0.0004 * int(rng.integers(0, 40))
        dep = "PWDx" if rng.random() < 0.7 else "No Q"
        closed_at = f"{opened + dt.timedelta(days=2):%Y-%m-%d %H:%M:%S}" if closed else ""
        kind = TYPES[int(rng.integers(0, len(TYPES)))]
        lines.append(
            f"{prefix}{i},{opened:%Y-%m-%d %H:%M:%S},,{closed_at},ONTIME,"
            f"{'Closed' if closed else 'Open'},case {i},{kind},{dep},{i} Main St,"
            f"{lat:.4f},{lon:.4f},Constituent Call"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def empty_url(make_database) -> str:
    """An empty database, migrated, with the categories: the first import into a copy of it
    defers its upkeep. Nobody stays connected (it is copied)."""
    return categories_database(make_database)


@pytest.fixture(scope="module")
def first_load(make_database, empty_url, tmp_path_factory):
    """A copy of the empty database after a first (deferred) load of 3,000 cases into the
    city BOS: (its URL, the import's report). Copied again for each test that needs it."""
    from geo.imports.history import import_history

    url = make_database(template=empty_url)
    engine = create_engine(url)
    report = import_history(
        engine,
        history_csv(tmp_path_factory.mktemp("first") / "a.csv", 3000, "A", 2),
        MAPPING,
        echo=lambda *_: None,
        progress=False,
    )
    engine.dispose()
    return url, report


def _engine_on_copy(make_database, template: str):
    url = make_database(template=template)
    engine = create_engine(url)
    yield engine
    engine.dispose()
    make_database.drop(url)


@pytest.fixture
def engine(make_database, empty_url):
    """A copy of the empty database for one test."""
    yield from _engine_on_copy(make_database, empty_url)


@pytest.fixture
def loaded(make_database, first_load):
    """A copy of the database after the first load, for one test."""
    yield from _engine_on_copy(make_database, first_load[0])


def cells_and_recount(engine, city_id: int) -> tuple[list, list]:
    """The city's cells as kept, and as ``refresh_appeal_cells`` recounts them (rolled back)."""
    from layers import refresh_appeal_cells

    with engine.connect() as conn:
        kept = conn.execute(SNAPSHOT, {"c": city_id}).all()
        refresh_appeal_cells(conn, city_id)
        again = conn.execute(SNAPSHOT, {"c": city_id}).all()
        conn.rollback()
    return kept, again


def assert_same_cells(kept: list, again: list) -> None:
    assert kept and len(kept) == len(again)
    assert [r[:14] for r in kept] == [r[:14] for r in again]  # every count exactly
    # sums of coordinates: the same values added in another order
    assert [r[14:] for r in kept] == [pytest.approx(r[14:], rel=1e-9) for r in again]


def triggers_on(engine) -> bool:
    """Whether the insert triggers the deferral drops are back, enabled."""
    with engine.connect() as conn:
        on = conn.execute(
            text(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'appeals'::regclass "
                "AND tgenabled = 'O'"
            )
        ).scalars()
        return {"appeal_cells_insert", "appeal_place_insert"} <= set(on)


def foreign_keys(engine) -> set[tuple[str, str]]:
    """The foreign keys of ``appeals`` and ``appeal_cells`` (the deferral drops them)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f' "
                "AND conrelid IN ('appeals'::regclass, 'appeal_cells'::regclass)"
            )
        ).all()
    return {tuple(r) for r in rows}


def test_a_failed_first_load_leaves_the_triggers_on(engine, tmp_path, monkeypatch):
    import geo.imports.history.binary
    from geo.imports.history import import_history

    def broken(*_args, **_kw):
        raise RuntimeError("disk on fire")

    keys = foreign_keys(engine)
    assert ("appeal_cells", "fk_appeal_cells_city_id_cities") in keys
    monkeypatch.setattr(geo.imports.history.binary, "binary_chunk", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_history(
            engine,
            history_csv(tmp_path / "f.csv", 50, "F", 1),
            MAPPING,
            echo=lambda *_: None,
            progress=False,
        )
    assert triggers_on(engine) and foreign_keys(engine) == keys
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM appeals")).scalar() == 0


def test_a_first_load_counts_its_cells_as_the_triggers_would(loaded, first_load):
    engine, r = loaded, first_load[1]
    assert r.deferred_indexes and r.imported == 3000 and "cells" in r.timings
    assert triggers_on(engine)
    assert ("appeal_cells", "fk_appeal_cells_city_id_cities") in foreign_keys(engine)
    kept, again = cells_and_recount(engine, r.city_id)
    assert_same_cells(kept, again)
    with engine.connect() as conn:
        total = conn.execute(
            text(
                "SELECT sum(n) FROM appeal_cells WHERE city_id = :c AND level = 20 "
                "AND category_code = '' AND month = '-infinity'"
            ),
            {"c": r.city_id},
        ).scalar()
        unplaced = conn.execute(
            text(
                "SELECT count(*) FROM appeals WHERE city_id = :c AND (x_m IS NULL OR y_m IS NULL)"
            ),
            {"c": r.city_id},
        ).scalar()
    assert total == 3000
    assert unplaced == 0  # the place trigger was dropped for the COPY: the importer placed them


def test_a_deferred_load_into_counted_cells_adds_to_them(loaded, tmp_path):
    """A second deferred load into the same city and cells: only the new appeals are
    counted, added to the counts already there (the upsert's update branch)."""
    from geo.imports.history import import_history

    engine = loaded

    r = import_history(
        engine,
        history_csv(tmp_path / "b.csv", 1000, "B", 3),
        MAPPING,
        echo=lambda *_: None,
        defer_indexes=True,
        progress=False,
    )
    assert r.deferred_indexes and r.imported == 1000
    kept, again = cells_and_recount(engine, r.city_id)
    assert_same_cells(kept, again)


def test_a_load_into_a_live_table_is_counted_by_the_trigger(loaded, tmp_path):
    from geo.imports.history import import_history

    engine = loaded

    r = import_history(
        engine,
        history_csv(tmp_path / "c.csv", 500, "C", 4),
        MAPPING,
        echo=lambda *_: None,
        progress=False,
    )
    assert not r.deferred_indexes and "cells" not in r.timings
    kept, again = cells_and_recount(engine, r.city_id)
    assert_same_cells(kept, again)


def test_the_cell_count_must_find_every_row_written(loaded):
    from geo.imports.history import defer_appeal_upkeep, restore_appeal_upkeep

    engine = loaded

    with engine.connect() as conn:
        cid = conn.execute(text("SELECT id FROM cities WHERE code = 'BOS'")).scalar_one()
        deferred = defer_appeal_upkeep(conn, cid)
        with pytest.raises(RuntimeError, match="counted 0 new appeals"):
            restore_appeal_upkeep(conn, deferred, rows=1)
        conn.rollback()
    assert triggers_on(engine)


def test_without_counts_from_the_load_the_new_rows_are_counted_in_sql(loaded):
    """A deferred load that brings no counts of its own (no ``cell`` in its rows) has its new
    appeals counted by one SQL pass, as the triggers would."""
    from geo.imports.history import defer_appeal_upkeep, restore_appeal_upkeep
    from layers import refresh_appeal_cells

    engine = loaded

    with engine.connect() as conn:
        cid = conn.execute(text("SELECT id FROM cities WHERE code = 'BOS'")).scalar_one()
        deferred = defer_appeal_upkeep(conn, cid)
        conn.execute(
            text("""
            INSERT INTO appeals (city_id, reg_number, channel, category_code, located_by,
                                 deadline_at, geom)
            SELECT :c, 'SQL-' || i, 'phone_109', 'garbage', 'click', now() + interval '1 day',
                   ST_SetSRID(ST_MakePoint(-71.06 + i * 0.0003, 42.35), 4326)
            FROM generate_series(1, 40) AS i"""),
            {"c": cid},
        )
        restore_appeal_upkeep(conn, deferred, rows=40)
        kept = conn.execute(SNAPSHOT, {"c": cid}).all()
        refresh_appeal_cells(conn, cid)
        again = conn.execute(SNAPSHOT, {"c": cid}).all()
        conn.rollback()
    assert_same_cells(kept, again)
    assert triggers_on(engine)
