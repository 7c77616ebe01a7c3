"""What the import reads and writes besides the COPY: the city, categories, departments,
already-imported ids, registration-number starts and sequences, and the place columns."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import shapely
from shapely import wkb
from sqlalchemy import Connection, text

from geo.imports.history.mapping import Mapping
from geo.imports.history.rows import CityTarget
from geo.infra.cells import cell_keys
from geo.infra.errors import InvalidInput


def _bounds_sql(bounds) -> tuple[str, dict]:
    if isinstance(bounds, list | tuple) and len(bounds) == 4:
        x0, y0, x1, y1 = (float(v) for v in bounds)
        if not (x0 < x1 and y0 < y1):
            raise InvalidInput("city.bounds: expected [minlon, minlat, maxlon, maxlat]")
        return (
            "ST_Multi(ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326))",
            {"x0": x0, "y0": y0, "x1": x1, "y1": y1},
        )
    if isinstance(bounds, dict) and bounds.get("type") in ("Polygon", "MultiPolygon"):
        import json

        return ("ST_Multi(ST_SetSRID(ST_GeomFromGeoJSON(:gj), 4326))", {"gj": json.dumps(bounds)})
    raise InvalidInput(
        "city.bounds: expected [minlon, minlat, maxlon, maxlat] or a GeoJSON Polygon/MultiPolygon"
    )


def ensure_city(
    conn: Connection, mapping: Mapping, code: str | None, echo=lambda *_: None
) -> tuple[CityTarget, bool]:
    """The city by code (the mapping's unless given); created from the mapping if missing."""
    spec = mapping.city
    code = (code or spec["code"]).upper()
    row = conn.execute(
        text("SELECT id, timezone, ST_AsBinary(bounds), metric_srid FROM cities WHERE code = :c"),
        {"c": code},
    ).first()
    created = False
    if row is None:
        for key in ("name_ru", "name_en", "metric_srid", "bounds"):
            if spec.get(key) in (None, ""):
                raise InvalidInput(
                    f"city {code} does not exist and the mapping has no city.{key} to create it"
                )
        srid = int(spec["metric_srid"])
        if not conn.execute(
            text("SELECT 1 FROM spatial_ref_sys WHERE srid = :s"), {"s": srid}
        ).first():
            raise InvalidInput(f"city.metric_srid: EPSG:{srid} is not known to PostGIS")
        geom_sql, params = _bounds_sql(spec["bounds"])
        cid = conn.execute(
            text(f"""
            INSERT INTO cities (code, name_ru, name_kk, name_en, metric_srid, timezone,
                                bounds, synthetic, note)
            VALUES (:code, :ru, :kk, :en, :srid, :tz, {geom_sql}, false, :note)
            RETURNING id"""),
            {
                "code": code,
                "ru": spec["name_ru"],
                "kk": spec.get("name_kk") or spec["name_ru"],
                "en": spec["name_en"],
                "srid": srid,
                "tz": spec.get("timezone") or mapping.timezone or "UTC",
                "note": spec.get("note"),
                **params,
            },
        ).scalar_one()
        row = conn.execute(
            text("SELECT id, timezone, ST_AsBinary(bounds), metric_srid FROM cities WHERE id = :c"),
            {"c": cid},
        ).one()
        created = True
        echo(f"city {code} created (id {cid}, EPSG:{srid})")
    bounds = wkb.loads(bytes(row[2]))
    shapely.prepare(bounds)
    return CityTarget(
        id=row[0], code=code, timezone=row[1], bounds=bounds, metric_srid=row[3]
    ), created


def category_hours(conn: Connection, mapping: Mapping, echo=lambda *_: None) -> dict[str, int]:
    """Our categories' deadline hours; every code the mapping names must exist."""
    hours = dict(conn.execute(text("SELECT code, deadline_hours FROM categories")).all())
    if not hours:
        from geo.city.catalog import load_categories

        echo(
            f"no categories in the database: loaded {load_categories(conn)} from "
            "geo/city/categories.yaml"
        )
        hours = dict(conn.execute(text("SELECT code, deadline_hours FROM categories")).all())
    named = set(mapping.category_map.values()) | {mapping.category_default}
    missing = sorted(named - set(hours))
    if missing:
        raise InvalidInput(
            f"mapping {mapping.path.name}: category code(s) not in the "
            f"categories table: {', '.join(missing)}"
        )
    return hours


def existing_external_ids(conn: Connection, city_id: int) -> pa.Array:
    """The source ids the city already holds (read with COPY: fast for millions)."""
    buf = io.BytesIO()
    with conn.connection.dbapi_connection.cursor() as cur:
        cur.copy_expert(
            f"COPY (SELECT external_id FROM appeals WHERE city_id = {int(city_id)} "
            "AND external_id IS NOT NULL) TO STDOUT WITH (FORMAT csv)",
            buf,
        )
    if not buf.tell():
        return pa.array([], pa.string())
    buf.seek(0)
    table = pacsv.read_csv(
        buf,
        read_options=pacsv.ReadOptions(column_names=["id"]),
        convert_options=pacsv.ConvertOptions(
            column_types={"id": pa.string()}, strings_can_be_null=False
        ),
    )
    return table.column("id").combine_chunks()


def reg_number_start(conn: Connection, city_id: int, code: str) -> dict[int, int]:
    """Per year, the highest number taken: in ``appeals`` or by the year's sequence."""
    start = dict(
        conn.execute(
            text("""
        SELECT split_part(reg_number, '-', 2)::int, max(split_part(reg_number, '-', 3)::bigint)
        FROM appeals WHERE city_id = :c AND reg_number LIKE :p
          AND reg_number ~ '^[A-Z]+-[0-9]{4}-[0-9]+$'
        GROUP BY 1"""),
            {"c": city_id, "p": f"{code}-%"},
        ).all()
    )
    seqs = (
        conn.execute(
            text("SELECT relname FROM pg_class WHERE relkind = 'S' AND relname ~ :p"),
            {"p": f"^appeal_seq_{int(city_id)}_[0-9]{{4}}$"},
        )
        .scalars()
        .all()
    )
    for name in seqs:
        year = int(name.rsplit("_", 1)[1])
        last, called = conn.execute(text(f"SELECT last_value, is_called FROM {name}")).one()
        start[year] = max(start.get(year, 0), int(last) if called else int(last) - 1)
    return start


def ensure_departments(
    conn: Connection, city_id: int, names: list[str], labels: dict[str, dict[str, str]]
) -> tuple[dict[str, int], int]:
    """Organisations of kind ``city_department`` per department (by name); created if
    missing. Returns the ids by the source's department value, and how many were created."""
    want = {raw: labels.get(raw, {"ru": raw, "kk": raw}) for raw in names}
    have = dict(
        conn.execute(
            text(
                "SELECT name_ru, id FROM organisations "
                "WHERE city_id = :c AND kind = 'city_department'"
            ),
            {"c": city_id},
        ).all()
    )
    created = 0
    ids = {}
    for raw, name in sorted(want.items()):
        if name["ru"] not in have:
            have[name["ru"]] = conn.execute(
                text("""
                INSERT INTO organisations (city_id, kind, name_ru, name_kk)
                VALUES (:c, 'city_department', :ru, :kk) RETURNING id"""),
                {"c": city_id, "ru": name["ru"], "kk": name.get("kk") or name["ru"]},
            ).scalar_one()
            created += 1
        ids[raw] = have[name["ru"]]
    return ids, created


def appeal_columns(conn: Connection) -> set[str]:
    return set(
        conn.execute(
            text(
                "SELECT attname FROM pg_attribute WHERE attrelid = 'appeals'::regclass "
                "AND attnum > 0 AND NOT attisdropped"
            )
        ).scalars()
    )


def add_place(conn: Connection, rows: pa.Table, city: CityTarget) -> pa.Table:
    """``object_kind``, ``object_id``, ``x_m``, ``y_m``, ``cell`` and ``yard_id`` of each row,
    as live intake and the ``appeals`` place trigger would set them, computed here for all rows
    at once so that the trigger does not fire.

    The object is the one ``qala_locate`` would snap the point to for the row's category
    (:func:`geo.imports.history.place.snap_rows`); ``x_m``/``y_m`` are the point in the
    city's metric CRS (pyproj); ``cell`` the key of its level-20 Web Mercator cell
    (:func:`geo.infra.cells.cell_keys`); ``yard_id`` is the object's yard, else the
    lowest-numbered yard whose polygon intersects the point, and NULL on a placeholder
    geocode: a default point is not a place, and counting it for the yard under it would skew
    the yard repair queue.
    """
    from pyproj import Transformer

    lon, lat = rows["lon"].to_numpy(), rows["lat"].to_numpy()
    x, y = Transformer.from_crs(4326, city.metric_srid, always_xy=True).transform(lon, lat)
    yard = np.full(len(lon), -1, np.int64)
    yards = conn.execute(
        text("SELECT id, ST_AsBinary(geom) FROM yards WHERE city_id = :c ORDER BY id"),
        {"c": city.id},
    ).all()
    if yards and len(lon):
        ids = np.array([r[0] for r in yards], np.int64)
        tree = shapely.STRtree([wkb.loads(bytes(r[1])) for r in yards])
        point, hit = tree.query(shapely.points(lon, lat), predicate="intersects")
        order = np.lexsort((ids[hit], point))  # per point, the lowest yard id first
        point, hit = point[order], hit[order]
        if len(point):  # (no point in any yard: nothing to take)
            first = np.r_[True, point[1:] != point[:-1]]
            yard[point[first]] = ids[hit[first]]
        yard[rows["placeholder_geocode"].to_numpy()] = -1
    from geo.imports.history.place import snap_rows

    kind, oid, object_yard = snap_rows(
        conn,
        city.id,
        city.metric_srid,
        rows["category_code"].combine_chunks(),
        np.asarray(x, float),
        np.asarray(y, float),
        rows["placeholder_geocode"].to_numpy(),
    )
    yard = np.where(object_yard >= 0, object_yard, yard)
    return (
        rows.append_column("object_kind", kind)
        .append_column("object_id", oid)
        .append_column("x_m", pa.array(np.asarray(x, float)))
        .append_column("y_m", pa.array(np.asarray(y, float)))
        .append_column("cell", pa.array(cell_keys(lon, lat)))
        .append_column("yard_id", pa.array(yard, mask=yard < 0))
    )


def last_numbers(year: np.ndarray, start: dict[int, int]) -> dict[int, int]:
    """Per year, the last registration number :func:`~geo.imports.history.rows.assign_reg_numbers`
    gives rows opened in these (UTC) years, numbered after ``start``."""
    years, counts = np.unique(year, return_counts=True)
    return {int(y): start.get(int(y), 0) + int(k) for y, k in zip(years, counts, strict=True)}


def advance_sequences(conn: Connection, city_id: int, last: dict[int, int]) -> None:
    """Move each imported year's registration-number sequence past the numbers just taken.

    The same as ``geo.appeals.bulk.advance_sequences`` for the years of the import, from the
    last number given per year (:func:`last_numbers`) rather than a scan of the city's
    appeals (3-4 s at 2.3M rows).
    """
    from geo.appeals.intake import ensure_sequence

    for y, n in sorted(last.items()):
        name = ensure_sequence(conn, city_id, y)
        conn.execute(
            text(
                f"SELECT setval(CAST(:s AS regclass), greatest(:n, "
                f"(SELECT last_value FROM {name})))"
            ),
            {"s": name, "n": n},
        )
