"""The map object and the yard of each imported appeal, by the place rules of live intake.

An appeal registered through the API is snapped by ``qala_locate`` (migration 0005) to an
object of its category's kind: a well of the category's well kind within 50 m, a building
within 40 m, a yard within 30 m (else the yard of the building within 40 m), a street within
120 m; the place trigger (migrations 0004/0006) then sets its yard: the object's yard (a
yard itself, the lowest yard linked to the building, the well's yard), else the
lowest-numbered yard whose polygon holds the point. :func:`snap_rows` does the same for all
rows of an import at once, with STR-trees over the city's objects in its metric CRS, so that
imported appeals count in the yard queue and per object as live ones do.

Two differences, both at the level of ties: distances are measured in the city's metric CRS
(``qala_locate`` filters on the spheroid, a few centimetres apart at these ranges, and orders
candidates by planar distance in degrees), and equally near candidates go to the lowest id
(as ``qala_locate``'s ``ORDER BY …, id``). A placeholder geocode is no place: no object, no
yard.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import shapely
from shapely import wkb
from sqlalchemy import Connection, text

SNAP_M = {"well": 50.0, "building": 40.0, "yard": 30.0, "street": 120.0}
"""The snapping radii of ``qala_locate`` (frozen in migration 0005)."""


@dataclass
class Objects:
    """One kind of map object of the city: ids, metric geometries, and each one's yard."""

    ids: np.ndarray
    tree: shapely.STRtree | None
    yard: np.ndarray  # the object's yard id (-1: none), aligned with ids

    def nearest(self, points: np.ndarray, radius: float) -> np.ndarray:
        """Per point, the position (in ``ids``) of the nearest object within ``radius``
        metres, the lowest id among equally near ones; -1 where there is none."""
        out = np.full(len(points), -1, np.int64)
        if self.tree is None or not len(points):
            return out
        (pi, oi), _ = self.tree.query_nearest(
            points, max_distance=radius, return_distance=True, all_matches=True
        )
        if len(pi):
            order = np.lexsort((self.ids[oi], pi))
            pi, oi = pi[order], oi[order]
            first = np.r_[True, pi[1:] != pi[:-1]]
            out[pi[first]] = oi[first]
        return out


def _objects(conn: Connection, sql: str, params: dict) -> Objects:
    rows = conn.execute(text(sql), params).all()
    if not rows:
        return Objects(np.empty(0, np.int64), None, np.empty(0, np.int64))
    ids = np.array([r[0] for r in rows], np.int64)
    tree = shapely.STRtree([wkb.loads(bytes(r[1])) for r in rows])
    yard = np.array([-1 if r[2] is None else r[2] for r in rows], np.int64)
    return Objects(ids, tree, yard)


def _city_objects(conn: Connection, city_id: int, srid: int) -> dict[str, Objects]:
    p = {"c": city_id, "s": srid}
    metric = "ST_AsBinary(ST_Transform({g}, CAST(:s AS integer)))"
    return {
        "building": _objects(
            conn,
            f"SELECT b.id, {metric.format(g='b.geom')}, (SELECT min(yb.yard_id) FROM "
            "yard_buildings yb WHERE yb.city_id = b.city_id AND yb.building_id = b.id) "
            "FROM buildings b WHERE b.city_id = :c ORDER BY b.id",
            p,
        ),
        "yard": _objects(
            conn,
            f"SELECT id, {metric.format(g='geom')}, id FROM yards WHERE city_id = :c ORDER BY id",
            p,
        ),
        "street": _objects(
            conn,
            f"SELECT id, {metric.format(g='geom')}, NULL FROM streets "
            "WHERE city_id = :c AND geom IS NOT NULL ORDER BY id",
            p,
        ),
    }


def _wells(conn: Connection, city_id: int, srid: int, kind: str | None) -> Objects:
    return _objects(
        conn,
        "SELECT id, ST_AsBinary(ST_Transform(geom, CAST(:s AS integer))), yard_id FROM wells "
        "WHERE city_id = :c AND (CAST(:k AS text) IS NULL OR kind = :k) ORDER BY id",
        {"c": city_id, "s": srid, "k": kind},
    )


def snap_rows(
    conn: Connection,
    city_id: int,
    srid: int,
    category: pa.Array,
    x: np.ndarray,
    y: np.ndarray,
    placeholder: np.ndarray,
) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Each row's object (kind and id) and the yard of its object, as live intake sets them.

    Parameters
    ----------
    conn : Connection
    city_id, srid : int
        The city and its metric CRS.
    category : pyarrow.Array
        The rows' category codes (plain or dictionary-encoded).
    x, y : numpy.ndarray
        The points in the metric CRS.
    placeholder : numpy.ndarray of bool
        Default geocodes: left on no object.

    Returns
    -------
    object_kind : pyarrow.Array of str
        ``building``, ``yard``, ``well``, ``street`` or ``none``.
    object_id : pyarrow.Array of int64
        Null where ``none``.
    yard : numpy.ndarray of int64
        The object's yard, -1 where the object gives none (the caller then takes the yard
        under the point, as the trigger does).
    """
    n = len(x)
    kind = np.full(n, "none", dtype=object)
    oid = np.full(n, -1, np.int64)
    yard = np.full(n, -1, np.int64)
    if isinstance(category.type, pa.DictionaryType):
        codes = category.dictionary.to_pylist()
        index = category.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    else:
        codes, index = np.unique(
            np.asarray(category.to_pylist(), dtype=object), return_inverse=True
        )
        codes = list(codes)
    cats = {
        r.code: r
        for r in conn.execute(text("SELECT code, object_kind, well_kind FROM categories")).all()
    }
    objects = _city_objects(conn, city_id, srid)
    points = shapely.points(x, y)
    live = ~placeholder
    for k, code in enumerate(codes):
        cat = cats.get(code)
        rows = np.flatnonzero((index == k) & live)
        if cat is None or not len(rows) or cat.object_kind not in SNAP_M:
            continue
        pts = points[rows]
        if cat.object_kind == "well":
            wells = _wells(conn, city_id, srid, cat.well_kind)
            _take(wells.nearest(pts, SNAP_M["well"]), wells, "well", rows, kind, oid, yard)
        elif cat.object_kind == "building":
            buildings = objects["building"]
            _take(
                buildings.nearest(pts, SNAP_M["building"]),
                buildings,
                "building",
                rows,
                kind,
                oid,
                yard,
            )
        elif cat.object_kind == "yard":
            yards = objects["yard"]
            hit = yards.nearest(pts, SNAP_M["yard"])
            _take(hit, yards, "yard", rows, kind, oid, yard)
            rest = hit < 0
            if rest.any() and len(objects["building"].ids):  # the yard of its building
                buildings = objects["building"]
                b = buildings.nearest(pts[rest], SNAP_M["building"])
                by = np.where(b >= 0, buildings.yard[np.maximum(b, 0)], -1)
                at = rows[rest][by >= 0]
                kind[at], oid[at], yard[at] = "yard", by[by >= 0], by[by >= 0]
        else:
            streets = objects["street"]
            _take(streets.nearest(pts, SNAP_M["street"]), streets, "street", rows, kind, oid, yard)
    return (
        pa.array(kind.astype(str), pa.string()),
        pa.array(oid, mask=oid < 0),
        yard,
    )


def _take(hit, objects: Objects, name: str, rows, kind, oid, yard) -> None:
    found = hit >= 0
    at = rows[found]
    kind[at] = name
    oid[at] = objects.ids[hit[found]]
    yard[at] = objects.yard[hit[found]]
