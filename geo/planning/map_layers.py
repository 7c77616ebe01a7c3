"""The planner's map layers as features: hot spots, emerging hot spots, failing objects,
clusters and the repair queue; as Mapbox vector tiles made by PostGIS, and as GeoPackage.

An analysis answer (:mod:`geo.hotspots.workers`, cached per parameters and data version)
becomes a list of :class:`Feature` once, kept with its bounding boxes (:class:`LayerData`);
a tile is then the features whose box meets the tile, handed to PostGIS as JSON and encoded
with ``ST_AsMVTGeom`` / ``ST_AsMVT`` (the same encoder as the basemap's tiles,
``layers/``), in the pane above the basemap on the page. The attributes carry what a
tooltip says: the class, z to two decimals, counts.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, text

LAYERS = ("hotspots", "emerging", "failing", "clusters", "queue")
HOT_CLASSES = ("hot_99", "hot_95", "hot_90", "cold_90", "cold_95", "cold_99")


@dataclass
class Feature:
    """A GeoJSON geometry (lon/lat), its attributes and its bounding box."""

    geometry: dict
    properties: dict
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


@dataclass
class LayerData:
    """A layer's features, the legend's counts per class and why it may be empty."""

    layer: str
    features: list[Feature] = field(default_factory=list)
    legend: dict[str, int] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    note: str | None = None

    def summary(self) -> dict:
        return {
            "layer": self.layer,
            "features": len(self.features),
            "legend": self.legend,
            "params": self.params,
            "note": self.note,
            "bounds": bounds(self.features),
        }


def _bbox(coords) -> tuple[float, float, float, float]:
    xs, ys = [], []

    def walk(c):
        if isinstance(c[0], (int, float)):
            xs.append(c[0])
            ys.append(c[1])
        else:
            for part in c:
                walk(part)

    walk(coords)
    return min(xs), min(ys), max(xs), max(ys)


def feature(geometry: dict, properties: dict) -> Feature:
    return Feature(geometry, properties, _bbox(geometry["coordinates"]))


def bounds(features: list[Feature]) -> list[float] | None:
    """[west, south, east, north] of all features, or None."""
    if not features:
        return None
    return [
        min(f.bbox[0] for f in features),
        min(f.bbox[1] for f in features),
        max(f.bbox[2] for f in features),
        max(f.bbox[3] for f in features),
    ]


def _r(v, digits: int = 2):
    return (
        None if v is None or (isinstance(v, float) and not math.isfinite(v)) else round(v, digits)
    )


def hotspot_layer(result: dict) -> LayerData:
    """The significant cells of a Gi* answer (``run_hotspots``' JSON)."""
    feats = []
    for c in result.get("cells", []):
        if c.get("class") not in HOT_CLASSES:
            continue
        props = {
            "class": c["class"],
            "z": _r(c.get("z")),
            "p": _r(c.get("p"), 4),
            "count": c["count"],
        }
        feats.append(feature({"type": "Polygon", "coordinates": [c["ring"]]}, props))
    legend = {k: int(result.get("summary", {}).get(k, 0)) for k in HOT_CLASSES}
    params = {k: v for k, v in result.get("params", {}).items() if k != "query"}
    params["n_cells"] = len(result.get("cells", []))
    return LayerData("hotspots", feats, legend, params, result.get("note"))


def emerging_layer(result: dict) -> LayerData:
    """The cells of an emerging hot spot answer that show a pattern."""
    feats = []
    for c in result.get("cells", []):
        if c.get("category", "no_pattern") == "no_pattern":
            continue
        props = {"class": c["category"], "z": _r(c.get("trend_z")), "count": c["count"]}
        feats.append(feature({"type": "Polygon", "coordinates": [c["ring"]]}, props))
    legend = {k: int(v) for k, v in result.get("summary", {}).items() if k != "no_pattern"}
    params = dict(result.get("params", {}))
    params.pop("query", None)
    params["n_cells"] = len(result.get("cells", []))
    return LayerData("emerging", feats, legend, params, result.get("note"))


def failing_layer(rows: list[dict]) -> LayerData:
    """Objects that keep failing (``failing_objects``), as points classed by kind."""
    feats, legend = [], {}
    for r in rows:
        if r.get("lon") is None:
            continue
        kind = r["object_kind"]
        legend[kind] = legend.get(kind, 0) + 1
        props = {
            "class": kind,
            "object_id": r["object_id"],
            "label": r["label"],
            "responsible": r.get("responsible"),
            "count": r["appeals"],
            "repeats": r["repeats"],
        }
        feats.append(feature({"type": "Point", "coordinates": [r["lon"], r["lat"]]}, props))
    return LayerData("failing", feats, legend, {"objects": len(rows)})


def cluster_layer(rows: list[dict]) -> LayerData:
    """Density clusters (``density_clusters``): their convex hulls (a point or a line when
    the cluster's appeals are on one spot or one line)."""
    feats = []
    for r in rows:
        hull = r["hull"]
        if isinstance(hull, str):
            hull = json.loads(hull)
        props = {
            "class": "cluster",
            "cluster": r["cluster"],
            "count": r["appeals"],
            "category": r["top_category"],
            "radius_m": float(r["radius_m"]) if r["radius_m"] is not None else None,
        }
        feats.append(feature(hull, props))
    return LayerData("clusters", feats, {"cluster": len(feats)}, {"clusters": len(feats)})


YARD_SHAPES = text(
    "SELECT id, ST_AsGeoJSON(geom, 6) AS g FROM yards WHERE city_id = :c AND id = ANY(:ids)"
)


def queue_layer(conn: Connection, city_id: int, plan: dict) -> LayerData:
    """The yards of a repair plan (:func:`geo.planning.repair_plan.repair_plan`), classed
    by the year their repair is funded (``later``: beyond the plan's years)."""
    yards = plan["yards"]
    shapes = {
        r.id: json.loads(r.g)
        for r in conn.execute(YARD_SHAPES, {"c": city_id, "ids": [y["yard_id"] for y in yards]})
    }
    feats, legend = [], {}
    for y in yards:
        g = shapes.get(y["yard_id"])
        if g is None:
            continue
        cls = str(y["year"]) if y["year"] is not None else "later"
        legend[cls] = legend.get(cls, 0) + 1
        props = {
            "class": cls,
            "rank": y["rank"],
            "label": y["address"],
            "count": y["appeals"],
            "apartments": y["apartments"],
            "cost": y["cost"],
        }
        feats.append(feature(g, props))
    return LayerData(
        "queue", feats, legend, {"yards": len(yards), "first_year": plan["first_year"]}
    )


# -- vector tiles --------------------------------------------------------------------------

MVT_SQL = text("""
WITH f AS (
  SELECT ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(e->>'g'), 4326), 3857) AS g,
         (e->'p')::jsonb AS props
  FROM json_array_elements(CAST(:f AS json)) e),
env AS (SELECT ST_TileEnvelope(:z, :x, :y) AS e)
SELECT ST_AsMVT(m, :layer, 4096, 'geom') FROM (
  SELECT ST_AsMVTGeom(f.g, env.e, 4096, 64, true) AS geom, f.props
  FROM f, env
) m WHERE m.geom IS NOT NULL
""")


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """The tile's [west, south, east, north] in degrees (web mercator tiling)."""
    n = 2.0**z

    def lat(row: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * row / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


def in_tile(data: LayerData, z: int, x: int, y: int) -> list[Feature]:
    """The features whose bounding box meets tile z/x/y (with a 1/64 buffer)."""
    w, s, e, n = tile_bounds(z, x, y)
    pad_x, pad_y = (e - w) / 64, (n - s) / 64
    w, s, e, n = w - pad_x, s - pad_y, e + pad_x, n + pad_y
    return [
        f
        for f in data.features
        if f.bbox[0] <= e and f.bbox[2] >= w and f.bbox[1] <= n and f.bbox[3] >= s
    ]


def tile(conn: Connection, data: LayerData, z: int, x: int, y: int) -> bytes:
    """The layer's features on tile z/x/y as a Mapbox vector tile (empty bytes: none)."""
    feats = in_tile(data, z, x, y)
    if not feats:
        return b""
    payload = json.dumps(
        [{"g": f.geometry, "p": f.properties} for f in feats], ensure_ascii=False, default=str
    )
    out = conn.execute(
        MVT_SQL, {"f": payload, "z": z, "x": x, "y": y, "layer": data.layer}
    ).scalar()
    return bytes(out or b"")


# -- exports -------------------------------------------------------------------------------


def to_geojson(data: LayerData) -> dict:
    """The layer as a GeoJSON FeatureCollection (lon/lat, RFC 7946)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": f.geometry, "properties": f.properties}
            for f in data.features
        ],
    }


def rows(data: LayerData) -> list[dict]:
    """The layer as flat rows for a CSV (a point's lon/lat, else the centre of its box)."""
    out = []
    for f in data.features:
        lon = (f.bbox[0] + f.bbox[2]) / 2
        lat = (f.bbox[1] + f.bbox[3]) / 2
        out.append({**f.properties, "lon": round(lon, 6), "lat": round(lat, 6)})
    return out


def geopackage(records: list[dict], geometries: list[dict], layer: str) -> bytes:
    """Rows with GeoJSON geometries (lon/lat) as a GeoPackage file (EPSG:4326), written by
    GDAL through pyogrio."""
    import geopandas as gpd
    from shapely.geometry import shape

    frame = gpd.GeoDataFrame(records, geometry=[shape(g) for g in geometries], crs="EPSG:4326")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{layer}.gpkg"
        frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
        return path.read_bytes()


def layer_geopackage(data: LayerData) -> bytes:
    return geopackage(
        [dict(f.properties) for f in data.features], [f.geometry for f in data.features], data.layer
    )
