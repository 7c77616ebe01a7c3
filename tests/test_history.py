"""Appeal history import (geo.imports.history): the Boston 311 file end to end, a hand-made CSV with
every kind of bad row, all-or-nothing, idempotence, and the ``qala import appeals`` command.

The Boston file is imported once per session into a database of its own (module fixture).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from geo.infra.settings import PROJECT_ROOT
from tests.factories import categories_database, repeat_links

BOSTON = PROJECT_ROOT.parent / "shared" / "data" / "boston311_2015.parquet"
MAPPING = PROJECT_ROOT / "data" / "mappings" / "boston311.yaml"
CITY_HALL = (42.3594, -71.0587)
UTC = dt.UTC

HEADER = (
    "CASE_ENQUIRY_ID,OPEN_DT,TARGET_DT,CLOSED_DT,OnTime_Status,CASE_STATUS,CASE_TITLE,"
    "TYPE,Department,Location,LATITUDE,LONGITUDE,Source"
)
# one row per case; the comment says what the importer must make of it
SMALL_ROWS = [
    # imported: open, assigned to PWDx, phone
    "T1,2015-03-01 10:00:00,2015-03-03 10:00:00,,ONTIME,Open,Light out,Street Light Outages,"
    "PWDx,1 Main St,42.3500,-71.0600,Constituent Call",
    # imported: closed on time without a target -> deadline from the category, raised
    "T2,2015-03-02 09:00:00,,2015-03-20 09:00:00,ONTIME,Closed,Bulk pickup,"
    "Schedule a Bulk Item Pickup SS,PWDx,2 Main St,42.3510,-71.0610,Self Service",
    # rejected: no coordinates
    "T3,2015-03-03 09:00:00,,,ONTIME,Open,x,Graffiti Removal,PROP,3 Main St,,,Twitter",
    # rejected: outside the city
    "T4,2015-03-04 09:00:00,,,ONTIME,Open,x,Graffiti Removal,PROP,Worcester,42.2626,-71.8023,"
    "Twitter",
    # rejected: garbage opening date
    "T5,not a date,,,ONTIME,Open,x,Graffiti Removal,PROP,5 Main St,42.3520,-71.0620,Twitter",
    # imported: a type the mapping does not know -> other; DST-ambiguous time -> standard
    'T6,2015-11-01 01:30:00,,,OVERDUE,Open,"Says ""hi"", twice",Alien Landing,INFO,,'
    "42.3530,-71.0630,Citizens Connect App",
    # rejected: garbage coordinates
    "T7,2015-03-07 09:00:00,,,ONTIME,Open,x,Graffiti Removal,PROP,7 Main St,abc,-71.06,Twitter",
    # rejected: the id of the first row again
    "T1,2015-03-08 09:00:00,,,ONTIME,Open,x,Graffiti Removal,PROP,8 Main St,42.35,-71.06,Twitter",
    # rejected: a status the mapping does not know
    "T9,2015-03-09 09:00:00,,,ONTIME,Pending,x,Graffiti Removal,PROP,9 Main St,42.35,-71.06,"
    "Twitter",
    # rejected: closed with a garbage closing date
    "T10,2015-03-10 09:00:00,,yesterday,ONTIME,Closed,x,Graffiti Removal,PROP,10 Main St,"
    "42.35,-71.06,Twitter",
    # imported: open with no department -> registered; an unknown channel -> import
    "T11,2015-03-11 09:00:00,,,ONTIME,Open,x,Graffiti Removal,No Q,11 Main St,42.3540,-71.0640,"
    "Carrier Pigeon",
]
SMALL_REJECTED = {
    "no_coordinates": 1,
    "outside_city": 1,
    "bad_opened": 1,
    "bad_coordinates": 1,
    "duplicate_id": 1,
    "unknown_status": 1,
    "bad_closed": 1,
}


@pytest.fixture(scope="module")
def hist_url(make_database) -> str:
    """An empty database, migrated, with the categories loaded."""
    return categories_database(make_database)


@pytest.fixture(scope="module")
def hist_engine(hist_url):
    engine = create_engine(hist_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    if not BOSTON.exists():
        pytest.fail(
            f"the Boston 311 file is missing: {BOSTON} (the shared folder `../shared` beside "
            "the clone, which CI checks out next to it; copy or link it there)",
            pytrace=False,
        )
    return pd.read_parquet(BOSTON)


@pytest.fixture(scope="module")
def boston(hist_engine, source):
    """The Boston file imported once: (report, city id)."""
    from geo.imports.history import import_history

    report = import_history(hist_engine, BOSTON, MAPPING, echo=lambda *_: None, progress=False)
    return report


@pytest.fixture(scope="module")
def bos_rows(hist_engine, boston) -> pd.DataFrame:
    """The imported BOS appeals with what the checks need, one row per appeal."""
    with hist_engine.connect() as conn:
        res = conn.execute(
            text("""
            SELECT a.external_id, a.reg_number, a.status, a.channel, a.category_code,
                   a.source_type, a.created_at, a.deadline_at, a.closed_at, a.resolved_at,
                   a.placeholder_geocode, ST_Y(a.geom) AS lat, ST_X(a.geom) AS lon,
                   o.name_ru AS organisation, o.kind AS org_kind
            FROM appeals a JOIN cities c ON c.id = a.city_id
            LEFT JOIN organisations o ON o.city_id = a.city_id AND o.id = a.organisation_id
            WHERE c.code = 'BOS'""")
        )
        return pd.DataFrame(res.fetchall(), columns=list(res.keys()))


def _local_to_utc(s: pd.Series) -> pd.Series:
    return s.dt.tz_localize(
        "America/New_York", ambiguous=np.zeros(len(s), bool), nonexistent="shift_forward"
    ).dt.tz_convert("UTC")


# --- the Boston file -------------------------------------------------------------------------


def test_boston_every_row_is_accounted_for(boston, bos_rows):
    assert boston.rows_read == 121_145
    assert boston.imported + boston.rejected_total + boston.already_imported == 121_145
    assert boston.accounted()
    assert boston.already_imported == 0
    assert len(bos_rows) == boston.imported
    assert boston.city_code == "BOS" and boston.city_created
    assert bos_rows.external_id.is_unique and bos_rows.reg_number.is_unique


def test_boston_city_is_its_own(hist_engine, boston):
    with hist_engine.connect() as conn:
        row = conn.execute(
            text("""
            SELECT metric_srid, timezone, name_en, ST_Contains(bounds,
                   ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
            FROM cities WHERE code = 'BOS'"""),
            {"lat": CITY_HALL[0], "lon": CITY_HALL[1]},
        ).one()
    assert tuple(row) == (26986, "America/New_York", "Boston", True)


def test_boston_open_and_closed_counts(boston, bos_rows, source):
    closed_src = int((source.CASE_STATUS == "Closed").sum())
    open_src = int((source.CASE_STATUS == "Open").sum())
    assert (closed_src, open_src) == (101_272, 19_873)
    rejected = source[~source.CASE_ENQUIRY_ID.isin(bos_rows.external_id)]
    assert len(rejected) == boston.rejected_total
    assert (bos_rows.status == "closed").sum() == closed_src - (
        rejected.CASE_STATUS == "Closed"
    ).sum()
    open_rows = bos_rows[bos_rows.status != "closed"]
    assert len(open_rows) > 0
    assert len(open_rows) == open_src - (rejected.CASE_STATUS == "Open").sum()
    assert boston.closed + boston.open_assigned + boston.open_registered == boston.imported
    # open with a department -> assigned, without -> registered
    assert (
        open_rows.status == np.where(open_rows.organisation.notna(), "assigned", "registered")
    ).all()
    closed = bos_rows[bos_rows.status == "closed"]
    assert len(closed) > 0
    assert closed.closed_at.notna().all() and (closed.closed_at == closed.resolved_at).all()
    assert open_rows.closed_at.isna().all()


def test_boston_timestamps_are_local_times_made_utc(bos_rows, source):
    merged = bos_rows.merge(source, left_on="external_id", right_on="CASE_ENQUIRY_ID")
    assert (merged.created_at == _local_to_utc(merged.OPEN_DT)).all()
    closed = merged[merged.CASE_STATUS == "Closed"]
    assert (closed.closed_at == _local_to_utc(closed.CLOSED_DT)).all()
    row = merged.set_index("external_id").loc["101001242404"]
    assert row.created_at == dt.datetime(2015, 1, 5, 17, 40, 41, tzinfo=UTC)  # 12:40:41 EST


def test_boston_deadlines(boston, bos_rows, source):
    merged = bos_rows.merge(source, left_on="external_id", right_on="CASE_ENQUIRY_ID")
    given = merged[merged.TARGET_DT.notna()]
    assert len(given) > 0
    assert (given.deadline_at == _local_to_utc(given.TARGET_DT)).all()
    assert boston.deadline_from_source == len(given)
    assert boston.deadline_from_category == int(merged.TARGET_DT.isna().sum()) == 26_991
    assert (merged.deadline_at.notna()).all()


def test_boston_on_time_agrees_with_the_source(boston, bos_rows, source):
    merged = bos_rows.merge(source, left_on="external_id", right_on="CASE_ENQUIRY_ID")
    closed = merged[(merged.status == "closed") & merged.OnTime_Status.notna()]
    assert len(closed) > 0
    derived = closed.closed_at <= closed.deadline_at
    assert (derived == (closed.OnTime_Status == "ONTIME")).all()
    # the agreement is measured only where the source gives the deadline too: the rows
    # without one got a deadline made to agree, and are counted apart
    both = closed[closed.TARGET_DT.notna()]
    assert 0 < len(both) < len(closed)
    assert boston.on_time_checked == len(both)
    assert boston.on_time_agree == len(both)
    assert boston.on_time_derived == len(closed) - len(both)
    assert boston.on_time_rate == 1.0
    assert boston.on_time_disagree_source_deadline == 0
    # the closed rows the source gives no status: late by their target, left out of the rate
    unknown = merged[(merged.status == "closed") & merged.OnTime_Status.isna()]
    assert boston.on_time_unknown == len(unknown) == 82
    assert "100.00%" in boston.summary()


def test_boston_city_hall_is_a_placeholder(boston, bos_rows, source):
    at_hall = (CITY_HALL[0] == source.LATITUDE) & (CITY_HALL[1] == source.LONGITUDE)
    assert int(at_hall.sum()) == 17_070
    lat, lon, count, how = boston.placeholder_points[0]
    assert (round(lat, 4), round(lon, 4), count) == (*CITY_HALL, 17_070)
    assert "listed" in how and "rule" in how
    flagged = bos_rows[bos_rows.placeholder_geocode]
    assert len(flagged) == boston.placeholder_rows == sum(p[2] for p in boston.placeholder_points)
    assert (
        (flagged.lat.round(4) == CITY_HALL[0]) & (flagged.lon.round(4) == CITY_HALL[1])
    ).sum() == 17_070
    assert "17,070" in boston.summary()


def test_boston_one_organisation_per_department(hist_engine, bos_rows, source):
    with hist_engine.connect() as conn:
        orgs = conn.execute(
            text("""
            SELECT o.name_ru, o.kind FROM organisations o JOIN cities c ON c.id = o.city_id
            WHERE c.code = 'BOS'""")
        ).all()
    deps = set(source.Department.unique()) - {"No Q"}
    assert len(orgs) == len(deps) == 16
    assert {k for _, k in orgs} == {"city_department"}
    merged = bos_rows.merge(source, left_on="external_id", right_on="CASE_ENQUIRY_ID")
    has = merged.Department != "No Q"
    assert has.any() and (~has).any()
    # the organisation's name carries the department's code: "Public Works Department (PWDx)"
    code_of = merged.organisation[has].str.extract(r"\(([^)]+)\)$")[0]
    assert (code_of == merged.Department[has]).all()
    assert merged.organisation[~has].isna().all()


def test_boston_channels_categories_and_types(boston, bos_rows, source):
    merged = bos_rows.merge(source, left_on="external_id", right_on="CASE_ENQUIRY_ID")
    expect = merged.Source.map(
        {
            "Constituent Call": "phone_109",
            "Citizens Connect App": "mobile_app",
            "Self Service": "website",
        }
    ).fillna("import")
    assert (merged.channel == expect).all()
    assert (merged.source_type == merged.TYPE).all()
    assert boston.other_unknown == 0  # the mapping names all 158 types
    assert boston.other_rows == (merged.category_code == "other").sum()
    light = merged[merged.TYPE == "Street Light Outages"]
    assert len(light) > 0
    assert (light.category_code == "street_lighting").all()


def test_boston_numbers_and_after_steps(hist_engine, boston, bos_rows):
    from geo.appeals.bulk import advance_sequences, link_repeats, refresh_object_repeats
    from geo.appeals.intake import sequence_name

    # numbered per UTC year of opening, in the order of opening, as the service numbers
    year = bos_rows.created_at.dt.year
    assert set(year) == {2015, 2016}  # New Year's Eve after 19:00 in Boston is 2016 in UTC
    expect = {}
    for y, part in bos_rows.assign(year=year).sort_values("reg_number").groupby("year"):
        assert list(part.reg_number) == [f"BOS-{y}-{i:06d}" for i in range(1, len(part) + 1)]
        assert part.created_at.is_monotonic_increasing  # (non-strictly) in order of opening
        expect[y] = len(part)
    # imported appeals are on no map object: their repeats are those within the radius
    assert boston.repeats_linked > 0
    with hist_engine.connect() as conn:
        tx = conn.begin()
        cid = conn.execute(text("SELECT id FROM cities WHERE code = 'BOS'")).scalar_one()

        def last(y):
            return conn.execute(text(f"SELECT last_value FROM {sequence_name(cid, y)}")).scalar()

        assert {y: last(y) for y in expect} == expect
        assert link_repeats(conn, cid) == 0  # linked appeals keep their link
        refresh_object_repeats(conn, cid)
        advance_sequences(conn, cid)  # appeal_gen's own step agrees with what was set
        assert {y: last(y) for y in expect} == expect
        assert (
            conn.execute(text(f"SELECT nextval('{sequence_name(cid, 2015)}')")).scalar()
            == expect[2015] + 1
        )
        tx.rollback()


def test_boston_links_written_with_the_rows_are_those_of_the_bulk_pass(hist_engine, boston):
    """The first import into an empty table links before its COPY, from the rows in memory:
    the rows are written once, with their links (every row version made by the COPY's one
    command: no UPDATE), and the bulk pass over the table, every link cleared, finds exactly
    those links."""
    from geo.appeals.bulk import find_links

    assert boston.deferred_indexes and "defer" in boston.timings
    with hist_engine.connect() as conn:
        tx = conn.begin()
        cid = conn.execute(text("SELECT id FROM cities WHERE code = 'BOS'")).scalar_one()
        commands = conn.execute(
            text("SELECT count(DISTINCT cmin::text) FROM appeals WHERE city_id = :c"), {"c": cid}
        ).scalar_one()
        assert commands == 1, "every appeal as the COPY wrote it"
        written = repeat_links(conn, cid)
        assert len(written) == boston.repeats_linked > 10_000
        conn.execute(text("UPDATE appeals SET repeat_of_id = NULL WHERE city_id = :c"), {"c": cid})
        ids, root = find_links(conn, cid)
        assert dict(zip(ids.tolist(), root.tolist(), strict=True)) == written
        tx.rollback()


def test_boston_indexes_and_keys_are_back(hist_engine, boston):
    with hist_engine.connect() as conn:
        idx = set(
            conn.execute(
                text("SELECT indexname FROM pg_indexes WHERE tablename = 'appeals'")
            ).scalars()
        )
        fks = conn.execute(
            text(
                "SELECT count(*) FROM pg_constraint WHERE conrelid = "
                "'appeals'::regclass AND contype = 'f'"
            )
        ).scalar()
    assert {
        "ix_appeals_geom",
        "ix_appeals_object",
        "ix_appeals_org_status",
        "ix_appeals_created",
        "pk_appeals",
        "uq_appeals_city_id_reg_number",
    } <= idx
    assert fks == 4


def test_boston_reimport_adds_nothing(hist_engine, boston):
    from geo.imports.history import import_history

    again = import_history(hist_engine, BOSTON, MAPPING, echo=lambda *_: None, progress=False)
    assert again.imported == 0
    assert again.already_imported == boston.imported
    assert again.rejected_total == boston.rejected_total
    assert again.accounted()
    assert not again.city_created and again.organisations_created == 0
    with hist_engine.connect() as conn:
        n = conn.execute(
            text(
                "SELECT count(*) FROM appeals a JOIN cities c ON c.id = a.city_id"
                " WHERE c.code = 'BOS'"
            )
        ).scalar()
    assert n == boston.imported
    assert "already imported 121,145" in again.summary()


def test_boston_summary_has_every_part(boston):
    s = boston.summary()
    for part in (
        "rows read: 121,145",
        "rejected by reason",
        "mapped to 'other'",
        "placeholder geocodes",
        "on time",
        "rows/s",
        "status:",
    ):
        assert part in s, part
    assert len(s.splitlines()) >= 8


# --- a hand-made CSV -------------------------------------------------------------------------


def test_on_time_agreement_counts_only_rows_with_the_sources_deadline(hist_engine, tmp_path):
    """The on-time agreement is over the closed rows whose source gives both the deadline and
    the status; a row without a deadline gets one made to agree and is counted apart."""
    from geo.imports.history import import_history

    rows = [
        # source deadline, closed before it, ONTIME: agrees
        "O1,2015-04-01 09:00:00,2015-04-03 09:00:00,2015-04-02 09:00:00,ONTIME,Closed,x,"
        "Graffiti Removal,PROP,1 Main St,42.3500,-71.0600,Twitter",
        # source deadline, closed after it, yet ONTIME: disagrees (the deadline is kept)
        "O2,2015-04-01 09:00:00,2015-04-03 09:00:00,2015-04-05 09:00:00,ONTIME,Closed,x,"
        "Graffiti Removal,PROP,2 Main St,42.3510,-71.0610,Twitter",
        # no source deadline, OVERDUE: the derived deadline is lowered, not compared
        "O3,2015-04-01 09:00:00,,2015-04-01 10:00:00,OVERDUE,Closed,x,"
        "Graffiti Removal,PROP,3 Main St,42.3520,-71.0620,Twitter",
        # no source deadline, ONTIME, closed late by the category: raised, not compared
        "O4,2015-04-01 09:00:00,,2015-06-01 09:00:00,ONTIME,Closed,x,"
        "Graffiti Removal,PROP,4 Main St,42.3530,-71.0630,Twitter",
        # no source status: neither
        "O5,2015-04-01 09:00:00,2015-04-03 09:00:00,2015-04-02 09:00:00,,Closed,x,"
        "Graffiti Removal,PROP,5 Main St,42.3540,-71.0640,Twitter",
    ]
    path = tmp_path / "on_time.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    r = import_history(hist_engine, path, MAPPING, city="TSO", echo=lambda *_: None, progress=False)
    assert r.imported == 5
    assert (r.deadline_lowered, r.deadline_raised) == (1, 1)
    assert (r.on_time_checked, r.on_time_agree, r.on_time_disagree_source_deadline) == (2, 1, 1)
    assert (r.on_time_derived, r.on_time_unknown) == (2, 1)
    assert r.on_time_rate == 0.5
    assert "1 of 2 agree (50.00%)" in r.summary()


@pytest.fixture
def small_csv(tmp_path) -> Path:
    path = tmp_path / "small.csv"
    path.write_text("\n".join([HEADER, *SMALL_ROWS]) + "\n", encoding="utf-8")
    return path


def test_small_csv_exact_counts(hist_engine, small_csv):
    from geo.imports.history import import_history

    r = import_history(
        hist_engine, small_csv, MAPPING, city="TSA", echo=lambda *_: None, progress=False
    )
    assert r.rows_read == 11
    assert r.imported == 4
    assert {k: v for k, v in r.rejected.items() if v} == SMALL_REJECTED
    assert r.rejected_total == 7 and r.accounted()
    assert r.other_unknown == 1 and r.unknown_types == {"Alien Landing": 1}
    assert r.unmapped_channels == {"Carrier Pigeon": 1}
    assert (r.closed, r.open_assigned, r.open_registered) == (1, 2, 1)
    assert r.deadline_from_category == 3 and r.deadline_raised == 1
    # T2's deadline is derived from its status: not an agreement
    assert (r.on_time_checked, r.on_time_agree, r.on_time_derived) == (0, 0, 1)
    assert r.placeholder_points == []  # a 4-row file has no placeholder by share
    with hist_engine.connect() as conn:
        got = {
            row.external_id: row
            for row in conn.execute(
                text("""
            SELECT a.external_id, a.status, a.category_code, a.channel, a.source_type,
                   a.description, a.address_text, a.created_at, a.deadline_at, a.closed_at,
                   a.located_by, a.object_kind, a.reg_number, o.name_ru AS org
            FROM appeals a JOIN cities c ON c.id = a.city_id
            LEFT JOIN organisations o ON o.city_id = a.city_id AND o.id = a.organisation_id
            WHERE c.code = 'TSA'""")
            )
        }
    assert set(got) == {"T1", "T2", "T6", "T11"}
    assert got["T1"].status == "assigned" and got["T1"].org.endswith("(PWDx)")
    assert got["T1"].deadline_at == dt.datetime(2015, 3, 3, 15, tzinfo=UTC)
    assert got["T2"].status == "closed" and got["T2"].channel == "website"
    # no target, closed after the category's 48 h but on time per the source: deadline = closing
    assert got["T2"].deadline_at == got["T2"].closed_at == dt.datetime(2015, 3, 20, 13, tzinfo=UTC)
    assert got["T6"].category_code == "other" and got["T6"].source_type == "Alien Landing"
    assert got["T6"].description == 'Says "hi", twice' and got["T6"].address_text is None
    assert got["T6"].created_at == dt.datetime(2015, 11, 1, 6, 30, tzinfo=UTC)  # EST
    assert got["T11"].status == "registered" and got["T11"].org is None
    assert got["T11"].channel == "import"
    assert {g.located_by for g in got.values()} == {"import"}
    assert {g.object_kind for g in got.values()} == {"none"}
    assert sorted(g.reg_number for g in got.values()) == [f"TSA-2015-{i:06d}" for i in range(1, 5)]


def test_text_edge_cases_survive_the_binary_copy(hist_engine, tmp_path):
    from geo.imports.history import import_history

    long = "ж" * 5000
    path = tmp_path / "edge.csv"
    frame = pd.DataFrame(
        {
            "CASE_ENQUIRY_ID": ["E1", "E2", "E3"],
            "OPEN_DT": ["1999-12-31 23:59:59.250", "2015-06-01T12:00:00Z", "2015-06-02 08:00:00"],
            "TARGET_DT": ["", "", ""],
            "CLOSED_DT": ["", "", ""],
            "OnTime_Status": ["", "", ""],
            "CASE_STATUS": ["Open", "Open", "Open"],
            "CASE_TITLE": ['line one\nline "two", \\N, tab\t', long, "nul\x00byte"],
            "TYPE": ["Street Light Outages"] * 3,
            "Department": ["PWDx"] * 3,
            "Location": ["Ақсу, «дом» 5", "", "  padded  "],
            "LATITUDE": ["42.35", "42.36", "42.37"],
            "LONGITUDE": ["-71.06", "-71.07", "-71.08"],
            "Source": ["Constituent Call"] * 3,
        }
    )
    frame.to_csv(path, index=False)
    r = import_history(hist_engine, path, MAPPING, city="TSE", echo=lambda *_: None, progress=False)
    assert r.imported == 3 and r.rejected_total == 0
    with hist_engine.connect() as conn:
        got = {
            row.external_id: row
            for row in conn.execute(
                text("""
            SELECT a.external_id, a.description, a.address_text, a.created_at,
                   ST_X(a.geom) AS lon, ST_Y(a.geom) AS lat, ST_SRID(a.geom) AS srid
            FROM appeals a JOIN cities c ON c.id = a.city_id WHERE c.code = 'TSE'""")
            )
        }
    assert got["E1"].description == 'line one\nline "two", \\N, tab'
    assert got["E1"].address_text == "Ақсу, «дом» 5"
    assert got["E1"].created_at == dt.datetime(2000, 1, 1, 4, 59, 59, 250_000, tzinfo=UTC)
    assert got["E2"].description == "ж" * 4000  # cut to the CHECK's 4000 characters
    assert got["E2"].created_at == dt.datetime(2015, 6, 1, 12, tzinfo=UTC)  # zone given: kept
    assert got["E2"].address_text is None
    assert got["E3"].description == "nulbyte" and got["E3"].address_text == "padded"
    assert (got["E3"].lon, got["E3"].lat, got["E3"].srid) == (-71.08, 42.37, 4326)


def test_a_failure_writes_nothing(hist_engine, small_csv, monkeypatch):
    import geo.imports.history as history
    import geo.imports.history.binary

    def broken(*_args, **_kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(geo.imports.history.binary, "binary_chunk", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        history.import_history(
            hist_engine, small_csv, MAPPING, city="TSF", echo=lambda *_: None, progress=False
        )
    with hist_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cities WHERE code = 'TSF'")).scalar() == 0


def test_bad_mapping_and_file_say_what_is_wrong(hist_engine, small_csv, tmp_path):
    from geo.imports.history import import_history
    from geo.infra.errors import InvalidInput

    with pytest.raises(FileNotFoundError, match="mapping file not found"):
        import_history(hist_engine, small_csv, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(MAPPING.read_text().replace("lat: LATITUDE", "lat: NO_SUCH_COLUMN"))
    with pytest.raises(InvalidInput, match="NO_SUCH_COLUMN"):
        import_history(hist_engine, small_csv, bad, city="TSB", echo=lambda *_: None)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        MAPPING.read_text().replace(
            "Street Light Outages: street_lighting", "Street Light Outages: lights"
        )
    )
    with pytest.raises(InvalidInput, match="lights"):
        import_history(hist_engine, small_csv, wrong, city="TSB", echo=lambda *_: None)
    with hist_engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM cities WHERE code = 'TSB'")).scalar() == 0


# --- the command line ------------------------------------------------------------------------


def test_cli_import_prints_the_summary(hist_url, small_csv, tmp_path):
    from typer.testing import CliRunner

    from api.cli import app

    runner = CliRunner()
    env = {"QALA_DATABASE_URL": hist_url}
    ok = runner.invoke(
        app,
        ["import", "appeals", str(small_csv), "--mapping", str(MAPPING), "--city", "TSC"],
        env=env,
    )
    assert ok.exit_code == 0, ok.output
    assert "rows read: 11 = imported 4 + rejected 7 + already imported 0" in ok.stdout
    assert "city TSC" in ok.stdout
    missing = runner.invoke(
        app,
        ["import", "appeals", str(small_csv), "--mapping", str(tmp_path / "missing.yaml")],
        env=env,
    )
    assert missing.exit_code != 0
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "mapping file not found" in lines[0]


def test_place_columns_agree_with_the_trigger(hist_engine, tmp_path):
    """x_m/y_m/yard_id (migration 0004) and cell (0006) are computed by the importer as the
    trigger would."""
    from geo.imports.history import (
        PLACE_COLUMNS,
        appeal_columns,
        ensure_city,
        import_history,
        load_mapping,
    )

    with hist_engine.begin() as conn:
        assert set(PLACE_COLUMNS) <= appeal_columns(conn), "migrations 0004/0006 are at head"
        city, _ = ensure_city(conn, load_mapping(MAPPING), "TSY")
        for lon0, lat0 in ((-71.0620, 42.3500), (-71.0600, 42.3580)):  # a yard; City Hall's
            conn.execute(
                text("""
                INSERT INTO yards (city_id, name, geom) VALUES (:c, 'test yard',
                  ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)))"""),
                {"c": city.id, "x0": lon0, "y0": lat0, "x1": lon0 + 0.004, "y1": lat0 + 0.003},
            )
    path = tmp_path / "place.csv"
    path.write_text(
        "\n".join(
            [HEADER]
            + [
                f"P{i},2015-03-0{i} 10:00:00,,,ONTIME,Open,x,Street Light Outages,PWDx,,"
                f"{lat},{lon},Constituent Call"
                for i, (lat, lon) in enumerate(
                    [(42.3510, -71.0600), (42.3300, -71.1000), CITY_HALL], start=1
                )
            ]
        )
        + "\n"
    )
    r = import_history(hist_engine, path, MAPPING, city="TSY", echo=lambda *_: None, progress=False)
    assert r.imported == 3 and r.placeholder_rows == 1
    with hist_engine.connect() as conn:
        got = {
            row.external_id: row
            for row in conn.execute(
                text("""
            SELECT a.external_id, a.yard_id, a.placeholder_geocode,
                   abs(a.x_m - ST_X(ST_Transform(a.geom, c.metric_srid))) AS dx,
                   abs(a.y_m - ST_Y(ST_Transform(a.geom, c.metric_srid))) AS dy,
                   a.cell = appeal_cell(a.geom) AS cell_agrees,
                   (SELECT y.id FROM yards y WHERE y.city_id = a.city_id
                      AND ST_Intersects(y.geom, a.geom) ORDER BY y.id LIMIT 1) AS trigger_yard
            FROM appeals a JOIN cities c ON c.id = a.city_id WHERE c.code = 'TSY'""")
            )
        }
    assert got
    assert all(g.dx < 1e-6 and g.dy < 1e-6 and g.cell_agrees for g in got.values())
    assert got["P1"].yard_id == got["P1"].trigger_yard is not None
    assert got["P2"].yard_id is None and got["P2"].trigger_yard is None
    # City Hall lies in a yard, but a placeholder point is no place: no yard
    assert got["P3"].placeholder_geocode and got["P3"].trigger_yard is not None
    assert got["P3"].yard_id is None


@pytest.mark.parametrize("dictionary", [False, True])
def test_distinct_texts_are_cleaned_once_each_with_the_same_result(dictionary):
    import pyarrow as pa

    from geo.imports.history.parse import encode, encode_text, text_column

    col = pa.array([" Open", "Open", "", None, "Closed ", "Open\t", "  "], pa.large_string())
    if dictionary:
        col = col.dictionary_encode()
    codes, values = encode_text(col)
    expect_codes, expect_values = encode(text_column(col))
    as_text = [values[c] if c >= 0 else None for c in codes]
    assert as_text == [expect_values[c] if c >= 0 else None for c in expect_codes]
    assert as_text == ["Open", "Open", None, None, "Closed", "Open", None]


def test_imported_appeals_are_placed_as_live_intake_places_them(hist_engine, tmp_path):
    """Each imported row gets the object qala_locate would snap it to for its category and
    that object's yard (a building's linked yard though the point is outside it), so a yard
    appeal counts in the yard queue; a point near nothing stays on no object."""
    import yaml

    from geo.imports.history import ensure_city, import_history, load_mapping
    from geo.planning.repair_queue import QueueRules, compute_queue

    lon0, lat0 = -71.0800, 42.3400

    def at(dx: float, dy: float) -> tuple[float, float]:
        return lon0 + dx / 82_270.0, lat0 + dy / 110_540.0

    def box(x0, y0, x1, y1) -> str:
        (a, b), (c, d) = at(x0, y0), at(x1, y1)
        return f"MULTIPOLYGON((({a} {b},{c} {b},{c} {d},{a} {d},{a} {b})))"

    with hist_engine.begin() as conn:
        city, _ = ensure_city(conn, load_mapping(MAPPING), "TPL")
        c = {"c": city.id}
        bid = conn.execute(
            text(
                "INSERT INTO buildings (city_id, address_ru, address_kk, house_number, "
                "search_text, kind, apartments, floors, geom) VALUES (:c, 'B', 'B', '1', 'b 1', "
                "'apartment', 40, 5, ST_GeomFromText(:g, 4326)) RETURNING id"
            ),
            {**c, "g": box(0, 0, 20, 20)},
        ).scalar_one()
        yid = conn.execute(
            text(
                "INSERT INTO yards (city_id, name, geom) VALUES (:c, 'Y', "
                "ST_GeomFromText(:g, 4326)) RETURNING id"
            ),
            {**c, "g": box(30, 0, 80, 50)},
        ).scalar_one()
        conn.execute(
            text("INSERT INTO yard_buildings (city_id, yard_id, building_id) VALUES (:c, :y, :b)"),
            {**c, "y": yid, "b": bid},
        )
        wid = conn.execute(
            text(
                "INSERT INTO wells (city_id, kind, yard_id, geom) VALUES (:c, 'water', :y, "
                "ST_SetSRID(ST_MakePoint(:x, :yy), 4326)) RETURNING id"
            ),
            {**c, "y": yid, "x": at(200, 0)[0], "yy": at(200, 0)[1]},
        ).scalar_one()
        (sx0, sy0), (sx1, sy1) = at(0, -300), at(400, -300)
        sid = conn.execute(
            text(
                "INSERT INTO streets (city_id, name_ru, name_kk, geom) VALUES (:c, 'S', 'S', "
                "ST_Multi(ST_MakeLine(ST_SetSRID(ST_MakePoint(:a, :b), 4326), "
                "ST_SetSRID(ST_MakePoint(:d, :e), 4326)))) RETURNING id"
            ),
            {**c, "a": sx0, "b": sy0, "d": sx1, "e": sy1},
        ).scalar_one()
    spec = yaml.safe_load(MAPPING.read_text())
    spec["categories"]["map"]["Yard Paving"] = "yard_asphalt"
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(spec))
    cases = {  # id: (type, metres east, north of the corner, expected object, expected yard)
        "Q1": ("Heat - Excessive  Insufficient", 25, 10, ("building", bid), yid),
        "Q2": ("Watermain Break", 200, 30, ("well", wid), yid),
        "Q3": ("Yard Paving", -25, 10, ("yard", yid), yid),
        "Q4": ("Street Light Outages", 100, -250, ("street", sid), None),
        "Q5": ("Street Light Outages", 400, 400, ("none", None), None),
    }
    path = tmp_path / "placed.csv"
    lines = [HEADER]
    for i, (key, (kind, dx, dy, _, _)) in enumerate(cases.items(), start=1):
        lon, lat = at(dx, dy)
        lines.append(
            f"{key},2015-03-0{i} 10:00:00,,,ONTIME,Open,x,{kind},PWDx,,{lat},{lon},Twitter"
        )
    path.write_text("\n".join(lines) + "\n")
    r = import_history(hist_engine, path, mapping, city="TPL", echo=lambda *_: None, progress=False)
    assert r.imported == 5
    with hist_engine.connect() as conn:
        got = {
            row.external_id: row
            for row in conn.execute(
                text("""
            SELECT a.external_id, a.object_kind, a.object_id, a.yard_id,
                   l.object_kind AS live_kind, l.object_id AS live_id
            FROM appeals a
            CROSS JOIN LATERAL qala_locate(a.city_id, a.category_code, ST_X(a.geom), ST_Y(a.geom)) l
            WHERE a.city_id = :c"""),
                {"c": city.id},
            )
        }
        queue = compute_queue(
            conn,
            city.id,
            QueueRules(
                since=dt.datetime(2015, 1, 1, tzinfo=UTC), until=dt.datetime(2016, 1, 1, tzinfo=UTC)
            ),
        )
    for key, (_, _, _, obj, yard) in cases.items():
        row = got[key]
        assert (row.object_kind, row.object_id) == obj == (row.live_kind, row.live_id), key
        assert row.yard_id == yard, key
    assert {q["yard_id"]: q["appeals"] for q in queue}[yid] == 1
