"""Synthetic appeals for the demo city and the benchmarks, with hotspots planted on purpose.

Appeals are generated on the city's real objects (a well for well categories, a building for
housing ones, a yard for yard ones, a street point otherwise), so the object, the district and
the responsible organisation are known without a spatial query per row, and the whole set is
written with one ``COPY``. Months follow the seasons of the 109 articles (ice and snow in
winter, flooding in spring, mosquitoes in summer, heating in autumn). ``hotspots`` plants
dense clusters at known places so that detection can be verified.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyproj import Transformer
from sqlalchemy import Connection, text

from geo.appeals.bulk import advance_sequences, link_repeats, numbers_taken, refresh_object_repeats
from geo.infra.cells import cell_keys

SEASONAL = {  # category -> relative weight per month 1..12
    "snow_removal": [5, 5, 3, 1, 0, 0, 0, 0, 0, 0, 2, 5],
    "ice": [4, 4, 3, 1, 0, 0, 0, 0, 0, 1, 3, 4],
    "street_flooding": [0, 0, 3, 5, 2, 1, 1, 1, 1, 0, 0, 0],
    "yard_flooding": [0, 0, 3, 5, 2, 1, 1, 1, 1, 0, 0, 0],
    "mosquitoes": [0, 0, 0, 0, 2, 5, 5, 3, 1, 0, 0, 0],
    "no_heating": [3, 2, 1, 0, 0, 0, 0, 0, 1, 5, 4, 3],
    "tree_trimming": [0, 0, 1, 3, 3, 2, 2, 2, 2, 1, 0, 0],
}
MIX = {  # share of appeals by category (housing and utilities ~ 80%, as the articles say)
    "lift_broken": 9,
    "no_heating": 7,
    "no_water": 6,
    "roof_leak": 5,
    "entrance_cleaning": 4,
    "open_manhole": 5,
    "sewer_overflow": 6,
    "water_leak": 4,
    "power_outage": 4,
    "yard_asphalt": 6,
    "yard_flooding": 3,
    "playground": 2,
    "road_damage": 6,
    "sidewalk_damage": 3,
    "street_flooding": 3,
    "snow_removal": 5,
    "ice": 3,
    "street_lighting": 4,
    "tree_trimming": 2,
    "garbage": 4,
    "stray_dogs": 3,
    "mosquitoes": 2,
    "scooter_parking": 1,
    "ground_restoration": 1,
    "public_transport": 2,
    "public_order": 1,
    "other": 2,
}
CHANNEL_MIX = {
    "phone_109": 0.62,
    "telegram": 0.1,
    "website": 0.05,
    "mobile_app": 0.1,
    "facebook": 0.02,
    "instagram": 0.04,
    "email": 0.02,
    "whatsapp": 0.05,
}
COLUMNS = [
    "city_id",
    "reg_number",
    "channel",
    "category_code",
    "description",
    "located_by",
    "object_kind",
    "object_id",
    "address_text",
    "district_id",
    "organisation_id",
    "status",
    "created_at",
    "deadline_at",
    "resolved_at",
    "closed_at",
    "first_call_resolved",
    "repeat_of_id",
    "source_type",
    "geom",
]
# filled by the loader when it can (vectorised); otherwise the database trigger computes them
PLACE_COLUMNS = ["x_m", "y_m", "cell", "yard_id"]


@dataclass
class Hotspot:
    """A planted cluster: ``share`` of all appeals within ``radius_m`` of (lon, lat)."""

    lon: float
    lat: float
    radius_m: float = 150.0
    share: float = 0.02


@dataclass
class CityObjects:
    """What the generator needs to know of a city, read once from the database."""

    city_id: int
    code: str
    metric_srid: int
    categories: pd.DataFrame
    buildings: pd.DataFrame
    yards: pd.DataFrame
    wells: pd.DataFrame
    street_points: pd.DataFrame
    orgs_by_kind_district: dict = field(default_factory=dict)


def read_city(conn: Connection, city_id: int) -> CityObjects:
    def df(sql: str) -> pd.DataFrame:
        res = conn.execute(text(sql), {"c": city_id})
        return pd.DataFrame(res.fetchall(), columns=list(res.keys()))

    code, srid = conn.execute(
        text("SELECT code, metric_srid FROM cities WHERE id = :c"), {"c": city_id}
    ).one()
    cats = df(
        "SELECT code, object_kind, well_kind, responsible_kind, deadline_hours FROM categories"
    )
    district_of = """(SELECT d.id FROM districts d WHERE d.city_id = :c
                      AND ST_Intersects(d.geom, {g}) ORDER BY d.id LIMIT 1) AS district_id"""
    buildings = df(f"""SELECT b.id, ST_X(p) AS lon, ST_Y(p) AS lat, b.housing_org_id,
                       b.address_ru, {district_of.format(g="p")},
                       (SELECT min(yb.yard_id) FROM yard_buildings yb
                        WHERE yb.city_id = b.city_id AND yb.building_id = b.id) AS yard_id
                       FROM (SELECT *, ST_PointOnSurface(geom) p FROM buildings
                             WHERE city_id = :c) b""")
    yards = df(f"""SELECT y.id, ST_X(p) AS lon, ST_Y(p) AS lat, y.name AS address_ru,
                   y.id AS yard_id,
                   {district_of.format(g="p")}
                   FROM (SELECT *, ST_PointOnSurface(geom) p FROM yards WHERE city_id = :c) y""")
    wells = df(f"""SELECT w.id, ST_X(w.geom) AS lon, ST_Y(w.geom) AS lat, w.kind, w.owner_id,
                   w.yard_id,
                   {district_of.format(g="w.geom")}
                   FROM wells w WHERE w.city_id = :c""")
    streets = df(f"""SELECT s.id, ST_X(p) AS lon, ST_Y(p) AS lat, s.name_ru AS address_ru,
                     {district_of.format(g="p")}
                     FROM (SELECT s.*, (ST_DumpPoints(ST_Segmentize(ST_Transform(s.geom,
                            c.metric_srid), 100))).geom AS pm
                           FROM streets s JOIN cities c ON c.id = s.city_id
                           WHERE s.city_id = :c) s,
                          LATERAL ST_Transform(s.pm, 4326) p""")
    orgs = df("""SELECT o.id, o.kind, d.id AS district_id, ST_Area(o.service_area) AS area
                 FROM organisations o LEFT JOIN districts d ON d.city_id = o.city_id
                   AND ST_Covers(o.service_area, ST_PointOnSurface(d.geom))
                 WHERE o.city_id = :c AND o.service_area IS NOT NULL
                 ORDER BY area""")
    by = {}
    for r in orgs.itertuples():
        by.setdefault((r.kind, r.district_id), r.id)  # smallest area first: most specific
    return CityObjects(city_id, code, srid, cats, buildings, yards, wells, streets, by)


def generate_appeals(
    objs: CityObjects,
    n: int,
    seed: int = 1,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    hotspots: list[Hotspot] | None = None,
    now: dt.datetime | None = None,
    taken: dict[int, int] | None = None,
) -> pd.DataFrame:
    """``n`` appeals between ``start`` and ``end`` as a DataFrame of the ``appeals`` columns.

    ``taken`` maps a year to the last registration number already used in it, so a second
    batch continues the numbering instead of colliding with the first. The steps draw from
    one random generator in this order: the same seed gives the same appeals.
    """
    rng = np.random.default_rng(seed)
    now = now or dt.datetime.now(dt.UTC)
    end = end or now
    start = start or end - dt.timedelta(days=365)
    cats = objs.categories.set_index("code")
    created, category = _draw_times_and_categories(rng, cats, n, start, end)
    places = _place_on_objects(rng, objs, cats, category)
    _plant_hotspots(rng, places, hotspots or [])
    places.jitter(rng)
    _route_the_rest(objs, cats, category, places)
    life = _draw_lifecycle(rng, cats, category, created, now)
    channel = rng.choice(list(CHANNEL_MIX), n, p=np.array(list(CHANNEL_MIX.values())))
    first_call = life.closed & (rng.random(n) < 0.3)
    year, seq = _numbers(created, taken)
    return _frame(objs, created, category, places, life, channel, first_call, year, seq)


@dataclass
class Places:
    """Where each generated appeal is: its point, object, district, organisation (-1 where
    not yet known), free-text address and yard."""

    lon: np.ndarray
    lat: np.ndarray
    obj_kind: np.ndarray
    obj_id: np.ndarray
    org: np.ndarray
    district: np.ndarray
    address: np.ndarray
    yard: np.ndarray

    @classmethod
    def empty(cls, n: int) -> Places:
        return cls(
            lon=np.full(n, np.nan),
            lat=np.full(n, np.nan),
            obj_kind=np.array(["none"] * n, dtype=object),
            obj_id=np.full(n, -1, dtype=np.int64),
            org=np.full(n, -1, dtype=np.int64),
            district=np.full(n, -1, dtype=np.int64),
            address=np.array([None] * n, dtype=object),
            yard=np.full(n, -1, dtype=np.int64),
        )

    def pick(
        self, rng: np.random.Generator, table: pd.DataFrame, mask: np.ndarray, kind: str
    ) -> tuple[np.ndarray, pd.DataFrame | None]:
        """Put the appeals of ``mask`` on random rows of ``table`` (objects of ``kind``, or
        bare points for ``none``); returns their positions and the rows drawn."""
        idx = np.flatnonzero(mask)
        if not len(idx) or table.empty:
            return idx, None
        rows = table.iloc[rng.integers(0, len(table), len(idx))]
        self.lon[idx] = rows.lon.to_numpy()
        self.lat[idx] = rows.lat.to_numpy()
        self.district[idx] = rows.district_id.fillna(-1).to_numpy()
        if kind != "none":
            self.obj_kind[idx] = kind
            self.obj_id[idx] = rows.id.to_numpy()
        if "address_ru" in rows:
            self.address[idx] = rows.address_ru.to_numpy()
        if "yard_id" in rows:
            self.yard[idx] = rows.yard_id.fillna(-1).to_numpy()
        return idx, rows

    def jitter(self, rng: np.random.Generator) -> None:
        """A few metres of noise, so repeated appeals on one object do not sit on one point."""
        n = len(self.lon)
        self.lon, self.lat = _metric_offsets(
            self.lon, self.lat, rng.normal(0, 4, n), rng.normal(0, 4, n)
        )


def _draw_times_and_categories(
    rng: np.random.Generator, cats: pd.DataFrame, n: int, start: dt.datetime, end: dt.datetime
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """``created_at`` uniform over the window, then each appeal's category drawn with its
    month's seasonal weights (:data:`MIX`, :data:`SEASONAL`)."""
    codes = np.array([c for c in MIX if c in cats.index])
    span = (end - start).total_seconds()
    t = np.sort(rng.uniform(0, span, n))
    created = pd.to_datetime(start) + pd.to_timedelta(t, unit="s")
    month = created.month.to_numpy()
    weights = np.array(
        [
            [MIX[c] * (SEASONAL[c][m - 1] + 0.2 if c in SEASONAL else 1.0) for c in codes]
            for m in range(1, 13)
        ]
    )
    weights /= weights.sum(axis=1, keepdims=True)
    cum = weights.cumsum(axis=1)
    u = rng.random(n)
    cat_idx = np.minimum((u[:, None] > cum[month - 1]).sum(axis=1), len(codes) - 1)
    return created, codes[cat_idx]


def _place_on_objects(
    rng: np.random.Generator, objs: CityObjects, cats: pd.DataFrame, category: np.ndarray
) -> Places:
    """Each appeal on an object of its category's kind: a well (its owner responsible), a
    building with a housing organisation, a yard, or a point on a street."""
    places = Places.empty(len(category))
    for code in np.unique(category):
        mask = category == code
        c = cats.loc[code]
        if c.object_kind == "well":
            wells = (
                objs.wells if pd.isna(c.well_kind) else objs.wells[objs.wells.kind == c.well_kind]
            )
            idx, rows = places.pick(rng, wells, mask, "well")
            if rows is not None:
                places.org[idx] = rows.owner_id.fillna(-1).to_numpy()
        elif c.object_kind == "building":
            buildings = objs.buildings[objs.buildings.housing_org_id.notna()]
            if buildings.empty:  # a city without housing organisations (OpenStreetMap)
                buildings = objs.buildings
            idx, rows = places.pick(rng, buildings, mask, "building")
            if rows is not None and c.responsible_kind == "housing_org":
                places.org[idx] = rows.housing_org_id.fillna(-1).to_numpy()
        elif c.object_kind == "yard":
            places.pick(rng, objs.yards, mask, "yard")
        else:
            places.pick(rng, objs.street_points, mask, "none")
    # a city without objects of some kind (no wells, no yards): those appeals at a street
    # point, else at a building (draws nothing when every appeal found its kind of object)
    left = np.isnan(places.lon)
    for table in (objs.street_points, objs.buildings):
        if left.any() and not table.empty:
            places.pick(rng, table, left, "none")
            left = np.isnan(places.lon)
    return places


def _plant_hotspots(rng: np.random.Generator, places: Places, hotspots: list[Hotspot]) -> None:
    """Each hot spot takes over its share of the appeals: object-less, within its radius."""
    n = len(places.lon)
    for k, h in enumerate(hotspots):
        m = int(round(h.share * n))
        idx = rng.choice(n, m, replace=False)
        r = h.radius_m * np.sqrt(rng.random(m))
        a = rng.uniform(0, 2 * np.pi, m)
        places.lon[idx], places.lat[idx] = _metric_offsets(
            h.lon, h.lat, r * np.cos(a), r * np.sin(a)
        )
        places.obj_kind[idx], places.obj_id[idx], places.address[idx] = (
            "none",
            -1,
            f"hotspot {k + 1}",
        )
        places.yard[idx] = -1


def _route_the_rest(
    objs: CityObjects, cats: pd.DataFrame, category: np.ndarray, places: Places
) -> None:
    """The responsible organisation where the object did not set one: the body of the
    category's kind for the district, else the city-wide one, else the district akimat."""
    resp = cats.loc[category, "responsible_kind"].to_numpy()
    org, district = places.org, places.district
    for i in np.flatnonzero(org < 0):
        org[i] = (
            objs.orgs_by_kind_district.get((resp[i], district[i]))
            or objs.orgs_by_kind_district.get((resp[i], None))
            or objs.orgs_by_kind_district.get(("district_akimat", district[i]), -1)
        )


@dataclass
class Lifecycle:
    """Each appeal's deadline, resolution (``NaT`` while open) and state."""

    deadline: pd.DatetimeIndex
    resolved_at: pd.DatetimeIndex
    closed: np.ndarray
    status: np.ndarray


def _draw_lifecycle(
    rng: np.random.Generator,
    cats: pd.DataFrame,
    category: np.ndarray,
    created: pd.DatetimeIndex,
    now: dt.datetime,
) -> Lifecycle:
    """Deadlines from the categories; older appeals closed, mostly on time (15 % late);
    recent ones open, assigned or in progress."""
    hours = cats.loc[category, "deadline_hours"].to_numpy()
    n = len(category)
    deadline = created + pd.to_timedelta(hours, unit="h")
    age_days = (pd.Timestamp(now) - created).total_seconds().to_numpy() / 86400
    p_closed = np.clip(age_days / 14, 0.05, 0.97)
    closed = rng.random(n) < p_closed
    late = rng.random(n) < 0.15
    dur_h = np.where(late, hours * rng.uniform(1.05, 3.0, n), hours * rng.uniform(0.05, 0.95, n))
    resolved_at = created + pd.to_timedelta(dur_h, unit="h")
    resolved_at = resolved_at.where(closed & (resolved_at < pd.Timestamp(now)))
    closed = ~resolved_at.isna()
    status = np.where(closed, "closed", np.where(rng.random(n) < 0.5, "assigned", "in_progress"))
    return Lifecycle(deadline, resolved_at, closed, status)


def _numbers(
    created: pd.DatetimeIndex, taken: dict[int, int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Each appeal's year and its number in that year, after the numbers already ``taken``."""
    year = created.year.to_numpy()
    seq = np.zeros(len(year), dtype=np.int64)
    for y in np.unique(year):
        m = year == y
        first = (taken or {}).get(int(y), 0) + 1
        seq[m] = np.arange(first, first + m.sum())
    return year, seq


def _frame(
    objs: CityObjects,
    created: pd.DatetimeIndex,
    category: np.ndarray,
    places: Places,
    life: Lifecycle,
    channel: np.ndarray,
    first_call: np.ndarray,
    year: np.ndarray,
    seq: np.ndarray,
) -> pd.DataFrame:
    """The appeals as rows of the ``appeals`` table (and the place columns)."""
    out = pd.DataFrame({"category_code": category, "created_at": created})
    out["reg_number"] = [f"{objs.code}-{y}-{s:06d}" for y, s in zip(year, seq, strict=True)]
    out["seq"] = seq
    out["year"] = year
    out["city_id"] = objs.city_id
    out["channel"] = channel
    out["description"] = ""
    out["located_by"] = np.where(places.obj_kind == "none", "click", "object")
    out["object_kind"] = places.obj_kind
    out["object_id"] = np.where(places.obj_id >= 0, places.obj_id, None)
    out["address_text"] = places.address
    out["district_id"] = np.where(places.district >= 0, places.district, None)
    out["organisation_id"] = np.where(places.org >= 0, places.org, None)
    out["status"] = life.status
    out["deadline_at"] = life.deadline
    out["resolved_at"] = life.resolved_at
    out["closed_at"] = life.resolved_at
    out["first_call_resolved"] = first_call
    out["repeat_of_id"] = None
    out["source_type"] = "synthetic"
    out["lon"], out["lat"] = places.lon, places.lat
    x, y = Transformer.from_crs(4326, objs.metric_srid, always_xy=True).transform(
        places.lon, places.lat
    )
    # the place columns are given only where the object gives the yard (the first rule of the
    # place trigger, migration 0006); elsewhere they stay empty and the trigger sets them as
    # for a live appeal: the yard holding the point (the planted hot spots sit on yards)
    known = places.yard >= 0
    out["x_m"], out["y_m"] = np.where(known, x, np.nan), np.where(known, y, np.nan)
    out["yard_id"] = np.where(known, places.yard, None)
    return out


def _metric_offsets(lon, lat, dx, dy):
    """Move lon/lat points by dx, dy metres (local equirectangular step; fine for < 1 km)."""
    lat_r = np.radians(lat)
    return lon + dx / (111_320.0 * np.cos(lat_r)), lat + dy / 110_540.0


def copy_appeals(conn: Connection, df: pd.DataFrame) -> int:
    """Write generated or imported appeals with one COPY in the caller's transaction."""
    buf = io.StringIO()
    frame = df.copy()
    lon, lat = frame["lon"].map("{:.7f}".format), frame["lat"].map("{:.7f}".format)
    frame["geom"] = "SRID=4326;POINT(" + lon + " " + lat + ")"
    # the cell of the point as written (rounded), as appeal_cell(geom) would number it
    frame["cell"] = cell_keys(lon.astype(float), lat.astype(float))
    for col in ("created_at", "deadline_at", "resolved_at", "closed_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S+00")
    columns = COLUMNS + [c for c in PLACE_COLUMNS if c in frame]
    if "yard_id" in frame:
        frame["yard_id"] = frame["yard_id"].astype("Int64")
    frame[columns].to_csv(buf, index=False, header=False, na_rep="\\N")
    buf.seek(0)
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cur:
        cur.copy_expert(
            f"COPY appeals ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf
        )
    return len(frame)


def default_hotspots(objs: CityObjects, k: int = 3, seed: int = 7) -> list[Hotspot]:
    """``k`` planted hotspots at yards of the city, chosen by the seed."""
    rng = np.random.default_rng(seed)
    rows = objs.yards.iloc[rng.choice(len(objs.yards), k, replace=False)]
    return [Hotspot(float(r.lon), float(r.lat)) for r in rows.itertuples()]


LOCATE_ROWS = text("""
SELECT l.object_kind, l.object_id, l.district_id, l.organisation_id
FROM unnest(CAST(:cats AS text[]), CAST(:lons AS float8[]), CAST(:lats AS float8[]))
     WITH ORDINALITY AS u(category, lon, lat, i)
CROSS JOIN LATERAL qala_locate(:c, u.category, u.lon, u.lat) AS l
ORDER BY u.i
""")


def locate_rows(conn: Connection, city_id: int, df: pd.DataFrame) -> pd.DataFrame:
    """The generated appeals placed and routed by the rules of live intake (``qala_locate``:
    the object the point snaps to for its category, the district, the responsible body);
    the place columns are left to the ``appeals`` place trigger (the object's yard, else the
    yard under the point), as for an appeal registered through the API."""
    got = conn.execute(
        LOCATE_ROWS,
        {
            "c": city_id,
            "cats": df["category_code"].tolist(),
            "lons": df["lon"].round(7).tolist(),
            "lats": df["lat"].round(7).tolist(),
        },
    ).all()
    out = df.drop(columns=[c for c in PLACE_COLUMNS if c in df])
    kind = np.array([r.object_kind or "none" for r in got], dtype=object)
    out["object_kind"] = kind
    for col in ("object_id", "district_id", "organisation_id"):
        out[col] = pd.array([getattr(r, col) for r in got], dtype="Int64")
    out["located_by"] = np.where(kind == "none", "click", "object")
    return out


def load_city_appeals(
    conn: Connection, city_id: int, n: int, seed: int = 2026, echo=lambda *_: None
) -> dict:
    """``n`` synthetic appeals over the last year for any city (one imported from
    OpenStreetMap or GIS files): points drawn on its objects as for the demo city, then
    placed and routed by :func:`locate_rows`, repeats linked, numbers after the city's own.
    No hot spots are planted."""
    if not conn.execute(text("SELECT EXISTS (SELECT 1 FROM categories)")).scalar():
        from geo.city.catalog import load_categories

        echo(f"categories: {load_categories(conn)} loaded from geo/city/categories.yaml")
    objs = read_city(conn, city_id)
    if objs.buildings.empty and objs.street_points.empty:
        from geo.infra.errors import InvalidInput

        raise InvalidInput(f"city {objs.code} has no buildings and no streets to place appeals on")
    df = generate_appeals(objs, n, seed=seed, hotspots=[], taken=numbers_taken(conn, city_id))
    df = locate_rows(conn, city_id, df)
    copy_appeals(conn, df)
    repeats = link_repeats(conn, city_id)
    refresh_object_repeats(conn, city_id)
    advance_sequences(conn, city_id)
    _first_events(conn, city_id)
    routed = int(df["organisation_id"].notna().sum())
    echo(f"appeals: {n} synthetic in {objs.code} ({repeats} repeats, {routed} with a body)")
    return {"appeals": n, "repeats": repeats, "routed": routed}


def _first_events(conn: Connection, city_id: int) -> None:
    """The registration (and closing) events of the city's synthetic appeals without any."""
    conn.execute(
        text("""
        INSERT INTO appeal_events (city_id, appeal_id, at, actor, actor_role, from_status,
                                   to_status, organisation_id, comment)
        SELECT city_id, id, created_at, 'generator', 'operator', NULL, 'registered',
               organisation_id, 'synthetic appeal'
        FROM appeals a WHERE city_id = :c AND source_type = 'synthetic'
          AND NOT EXISTS (SELECT 1 FROM appeal_events e
                          WHERE e.city_id = a.city_id AND e.appeal_id = a.id)
        UNION ALL
        SELECT city_id, id, closed_at, 'generator', 'executor', 'registered', 'closed',
               organisation_id, NULL
        FROM appeals a WHERE city_id = :c AND source_type = 'synthetic' AND closed_at IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM appeal_events e
                          WHERE e.city_id = a.city_id AND e.appeal_id = a.id)
        """),
        {"c": city_id},
    )


def load_demo_appeals(
    conn: Connection,
    city_id: int,
    n: int = 3000,
    seed: int = 2026,
    hotspots: list[Hotspot] | None = None,
    events: bool = True,
    echo=lambda *_: None,
) -> dict:
    """Generate and write ``n`` appeals over the last year, with planted hotspots."""
    objs = read_city(conn, city_id)
    spots = hotspots if hotspots is not None else default_hotspots(objs)
    df = generate_appeals(objs, n, seed=seed, hotspots=spots, taken=numbers_taken(conn, city_id))
    copy_appeals(conn, df)
    # by the object alone: the radius rule does not scale to millions of generated appeals
    # yet (geo.appeals.bulk.link_repeats)
    repeats = link_repeats(conn, city_id, within_radius=False)
    refresh_object_repeats(conn, city_id)
    advance_sequences(conn, city_id)
    if events:
        conn.execute(
            text("""
            INSERT INTO appeal_events (city_id, appeal_id, at, actor, actor_role, from_status,
                                       to_status, organisation_id, comment)
            SELECT city_id, id, created_at, 'generator', 'operator', NULL, 'registered',
                   organisation_id, 'synthetic appeal'
            FROM appeals WHERE city_id = :c AND source_type = 'synthetic'
            UNION ALL
            SELECT city_id, id, closed_at, 'generator', 'executor', 'registered', 'closed',
                   organisation_id, NULL
            FROM appeals WHERE city_id = :c AND source_type = 'synthetic' AND closed_at IS NOT NULL
            """),
            {"c": city_id},
        )
    echo(f"appeals: {n} synthetic ({repeats} repeats), hotspots planted: {len(spots)}")
    return {"appeals": n, "repeats": repeats, "hotspots": spots}
