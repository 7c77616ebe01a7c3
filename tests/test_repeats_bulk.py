"""Bulk repeat linking (geo.appeals.bulk.link_repeats) by the rule of live intake: same
category, within the category's window before, on the same object or within its radius; the
same object first, then the nearest, then the earliest; the link goes to the root."""

from __future__ import annotations

from sqlalchemy import text

from geo.appeals.bulk import link_repeats
from tests.factories import insert_appeal, make_city

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
