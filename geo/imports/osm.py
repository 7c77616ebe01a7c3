"""A new city from an OpenStreetMap extract (``.osm.pbf``, read with pyrosm).

What becomes what (everything with ``source='osm'`` where the table has a source):

* the city: its ``metric_srid`` is the UTM zone of the extract's centre (EPSG:326xx north of
  the equator, 327xx south; the Norway/Svalbard exceptions of the UTM grid are ignored), its
  ``bounds`` the bounding box of everything imported, padded by :data:`BOUNDS_PAD_M`;
  ``timezone`` the IANA zone holding the centre (timezonefinder's polygons of the
  timezone-boundary-builder data), so that deadlines and dates read in local time;
* roads (``highway=*`` ways, without corridors, steps, lifts and the like) with a ``name``
  become streets, one per name, all its ways in one MultiLineString; ``name:ru`` and
  ``name:kk`` are used for ``name_ru``/``name_kk`` where present, else ``name``. Unnamed
  roads are left out: a street without a name is no use for an address;
* buildings (``building=*``):

  - ``building:levels`` -> ``floors`` (a fractional level counts as a floor; none -> 1);
  - apartments: ``building:flats`` when tagged (not estimated); otherwise, for the
    multi-flat types of :data:`MULTI_FLAT`, footprint area in the metric CRS x floors /
    :data:`M2_PER_FLAT` (at least 1), and 1 for the single-home types of
    :data:`SINGLE_HOME`, both with ``apartments_estimated=true``; other buildings 0;
  - ``kind``: ``apartment`` for multi-flat types, ``private`` for single homes, else the
    OSM value (``other`` for ``building=yes``);
  - address: ``addr:street`` (or ``addr:place``) + ``addr:housenumber`` where both are
    tagged, the street matched by name to the streets above (created without geometry if
    there is no such road). A building without them is **not** given a made-up number: it
    is linked to the nearest named street within :data:`NEAREST_STREET_M` (``street_id``,
    and the address is the street's name alone, ``house_number`` empty), so a search by
    street finds it but a search by number never lands on a guessed address; farther from
    any named street it has no address at all;
* ``landuse=residential`` areas become yards, linked to the buildings within
  :data:`geo.imports.layers.YARD_REACH_M` of them. These are whole residential blocks (often
  several hectares), not yards in the 109 sense of a court between a few buildings: useful
  to group buildings, but real yards should be drawn or imported later (``qala import yards``).
  Areas under :data:`MIN_YARD_M2` are left out: they are slivers of blocks cut by the
  extract's edge.

Invalid OSM polygons are repaired with ``shapely.make_valid`` (the polygonal part kept);
what cannot be repaired is skipped and counted in the report. pyrosm reads the whole extract
into memory: use a city-sized extract, not a country.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from geoalchemy2.shape import from_shape
from shapely import box
from shapely.geometry import MultiLineString, MultiPolygon
from sqlalchemy import Connection, insert, select

from geo.city.address import search_text
from geo.imports.layers import (
    ImportReport,
    StreetBook,
    link_yards,
    name_yards,
    write_rows,
)
from geo.infra.errors import Conflict, InvalidInput
from geo.models import Building, City, Street, Yard

M2_PER_FLAT = 70.0
"""Gross floor area per flat (m²) for estimating the flats of a multi-flat building."""
MULTI_FLAT = frozenset({"apartments", "residential", "terrace"})
"""OSM ``building`` values counted as multi-flat: apartments = area x floors / 70 m²."""
SINGLE_HOME = frozenset(
    {
        "house",
        "detached",
        "semidetached_house",
        "bungalow",
        "farm",
        "cabin",
        "static_caravan",
        "houseboat",
    }
)
"""OSM ``building`` values counted as one home each."""
NEAREST_STREET_M = 100.0
"""A building without an address is linked to the nearest named street within this range."""
MIN_YARD_M2 = 100.0
"""Smaller ``landuse=residential`` polygons are slivers (an extract cut at its edge): skipped."""
BOUNDS_PAD_M = 50.0
"""The city's bounds are the extent of the imported objects padded by this many metres."""
NOT_STREETS = frozenset(
    {
        "corridor",
        "elevator",
        "escalator",
        "steps",
        "platform",
        "bus_stop",
        "proposed",
        "construction",
        "abandoned",
        "razed",
        "raceway",
        "via_ferrata",
        "emergency_access_point",
    }
)


def city_timezone(lon: float, lat: float) -> str:
    """The IANA time zone at a point, e.g. ``Europe/Helsinki`` (``Etc/GMT±n`` at sea).

    >>> city_timezone(24.94, 60.17), city_timezone(-71.06, 42.36)
    ('Europe/Helsinki', 'America/New_York')
    """
    from timezonefinder import TimezoneFinder

    return TimezoneFinder().timezone_at(lng=lon, lat=lat) or "UTC"


def utm_srid(lon: float, lat: float) -> int:
    """The EPSG code of the UTM zone of a point (WGS 84).

    Parameters
    ----------
    lon, lat : float
        Degrees.

    Returns
    -------
    int
        ``32600 + zone`` north of the equator, ``32700 + zone`` south of it.

    Examples
    --------
    >>> utm_srid(69.15, 54.87), utm_srid(24.94, 60.17), utm_srid(-58.38, -34.60)
    (32642, 32635, 32721)
    """
    zone = min(60, max(1, int(math.floor((lon + 180.0) / 6.0)) + 1))
    return (32600 if lat >= 0 else 32700) + zone


def _tags(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value:
        try:
            out = json.loads(value)
        except ValueError:
            return {}
        return out if isinstance(out, dict) else {}
    return {}


def _tag(row: dict, tags: dict, key: str) -> str | None:
    """A tag's value, from pyrosm's own column or from its ``tags`` JSON."""
    v = row.get(key)
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        v = tags.get(key)
    if v is None:
        return None
    v = str(v).strip()
    return v or None


def _number(value: str | None) -> float | None:
    """The first number of a tag value ("5", "3.5", "5;9", "4-6", "5,5")."""
    if not value:
        return None
    m = re.search(r"\d+(?:[.,]\d+)?", value)
    return float(m.group().replace(",", ".")) if m else None


def _polygonal(g) -> MultiPolygon | None:
    if g is None or g.is_empty:
        return None
    if not g.is_valid:
        g = shapely.make_valid(g)
    parts = [p for p in shapely.get_parts(g) if p.geom_type in ("Polygon", "MultiPolygon")]
    polys = [q for p in parts for q in shapely.get_parts(p)]
    polys = [p for p in polys if not p.is_empty and p.area > 0]
    if not polys:
        return None
    out = MultiPolygon(polys)
    return out if out.is_valid else None


def _lines(g) -> list:
    if g is None or g.is_empty:
        return []
    return [p for p in shapely.get_parts(g) if p.geom_type == "LineString" and not p.is_empty]


def _read(path: Path):
    from pyrosm import OSM

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            osm = OSM(str(path))
            buildings = osm.get_buildings()
            landuse = osm.get_landuse(custom_filter={"landuse": ["residential"]})
            roads = osm.get_network(network_type="all")
    except Exception as exc:  # pyrosm/protobuf errors: one line for the user
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InvalidInput(f"cannot read {path.name} as an OSM .pbf extract: {msg}") from exc
    return buildings, landuse, roads


def _records(gdf) -> list[dict]:
    if gdf is None or len(gdf) == 0:
        return []
    return gdf.to_dict("records")


def _streets(roads) -> tuple[list[dict], int]:
    """Named roads grouped by name: ``[{name, name_ru, name_kk, lines}]``, unnamed count."""
    by_name: dict[str, dict] = {}
    unnamed = 0
    for r in _records(roads):
        if r.get("highway") in NOT_STREETS:
            continue
        tags = _tags(r.get("tags"))
        name = _tag(r, tags, "name")
        lines = _lines(r.get("geometry"))
        if not lines:
            continue
        if name is None:
            unnamed += 1
            continue
        st = by_name.setdefault(name, {"name": name, "name_ru": None, "name_kk": None, "lines": []})
        st["name_ru"] = st["name_ru"] or _tag(r, tags, "name:ru")
        st["name_kk"] = st["name_kk"] or _tag(r, tags, "name:kk")
        st["lines"] += lines
    return list(by_name.values()), unnamed


def _building_type(value: str | None) -> str:
    return (value or "yes").strip().lower()


def estimate_apartments(building: str, area_m2: float, floors: int) -> tuple[int, bool]:
    """Apartments of an OSM building without ``building:flats``, and whether estimated.

    Parameters
    ----------
    building : str
        The OSM ``building`` value.
    area_m2 : float
        Footprint area in m² (metric CRS).
    floors : int
        ``building:levels`` (1 when untagged).

    Returns
    -------
    apartments : int
        area x floors / :data:`M2_PER_FLAT` (at least 1) for :data:`MULTI_FLAT`, 1 for
        :data:`SINGLE_HOME`, 0 otherwise.
    estimated : bool
        True for the first two.

    Examples
    --------
    >>> estimate_apartments("apartments", 700.0, 5)
    (50, True)
    >>> estimate_apartments("house", 120.0, 2), estimate_apartments("school", 900.0, 3)
    ((1, True), (0, False))
    """
    if building in MULTI_FLAT:
        return max(1, round(area_m2 * floors / M2_PER_FLAT)), True
    if building in SINGLE_HOME:
        return 1, True
    return 0, False


def _kind(building: str) -> str:
    if building in MULTI_FLAT:
        return "apartment"
    if building in SINGLE_HOME:
        return "private"
    if building == "yes":
        return "other"
    return building[:16]


def _city_bounds(extents: list[np.ndarray]) -> tuple[MultiPolygon, float, float]:
    e = np.vstack(extents)
    x0, y0 = e[:, 0].min(), e[:, 1].min()
    x1, y1 = e[:, 2].max(), e[:, 3].max()
    lat = (y0 + y1) / 2
    dlat = BOUNDS_PAD_M / 110_540.0
    dlon = BOUNDS_PAD_M / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
    b = box(x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat)
    return MultiPolygon([b]), (x0 + x1) / 2, lat


def import_osm(
    conn: Connection,
    path: str | Path,
    city_code: str,
    name: str | None = None,
    echo: Callable[[str], Any] = print,
) -> ImportReport:
    """Create a city from an OpenStreetMap extract: buildings, residential yards, streets.

    See the module docstring for what becomes what (the apartment estimate, addresses, why
    ``landuse=residential`` areas are blocks rather than yards).

    Parameters
    ----------
    conn : Connection
        A connection in the caller's transaction; nothing is committed here.
    path : str or Path
        An ``.osm.pbf`` extract of about a city.
    city_code : str
        The new city's code (at most 8 characters, stored upper-case), e.g. ``"HEL"``.
    name : str, optional
        The city's name (all three languages); by default the file's name up to the first dot.
    echo : callable
        Where progress lines go.

    Returns
    -------
    ImportReport
        Counts, and notes: how many apartments were estimated, that yards are blocks.

    Raises
    ------
    Conflict
        A city with this code exists.
    InvalidInput
        A bad code, an unreadable file, or an extract without buildings or roads.
    FileNotFoundError
        No such file.
    """
    path = Path(path)
    code = city_code.strip().upper()
    if not code or len(code) > 8:
        raise InvalidInput(f"city code {city_code!r}: give 1 to 8 characters, e.g. HEL")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if conn.execute(select(City.id).where(City.code == code)).scalar() is not None:
        raise Conflict(f"a city with code {code} exists already: choose another --city")
    name = (name or path.name.split(".")[0]).strip() or code

    b_gdf, l_gdf, r_gdf = _read(path)
    streets, unnamed = _streets(r_gdf)
    b_recs = _records(b_gdf)
    b_geoms = [_polygonal(r.get("geometry")) for r in b_recs]
    y_recs = _records(l_gdf)
    y_geoms = [_polygonal(r.get("geometry")) for r in y_recs]
    skipped = sum(g is None for g in b_geoms) + sum(g is None for g in y_geoms)
    b_keep = [i for i, g in enumerate(b_geoms) if g is not None]
    y_keep = [i for i, g in enumerate(y_geoms) if g is not None]
    if not b_keep and not streets:
        raise InvalidInput(f"{path.name} has no buildings and no named roads to import")

    extents = [
        shapely.bounds(np.array([b_geoms[i] for i in b_keep], dtype=object)),
        shapely.bounds(np.array([y_geoms[i] for i in y_keep], dtype=object)),
        shapely.bounds(np.array([ln for s in streets for ln in s["lines"]], dtype=object)),
    ]
    extents = [e.reshape(-1, 4) for e in extents if len(e)]
    bounds, lon, lat = _city_bounds(extents)
    srid = utm_srid(lon, lat)
    tz = city_timezone(lon, lat)
    cid = conn.execute(
        insert(City)
        .values(
            code=code,
            name_ru=name,
            name_kk=name,
            name_en=name,
            metric_srid=srid,
            timezone=tz,
            bounds=from_shape(bounds, srid=4326),
            synthetic=False,
            note=f"Imported from the OpenStreetMap extract {path.name} "
            "(© OpenStreetMap contributors, ODbL).",
        )
        .returning(City.id)
    ).scalar_one()
    echo(f"city {code} (id {cid}) {name!r}, metric CRS EPSG:{srid}, time zone {tz}")

    # streets
    street_rows = [
        {
            "city_id": cid,
            "name_ru": s["name_ru"] or s["name"],
            "name_kk": s["name_kk"] or s["name"],
            "kind": "street",
            "geom": from_shape(MultiLineString(s["lines"]), srid=4326),
        }
        for s in streets
    ]
    street_ids = write_rows(conn, Street, street_rows, "streets")
    book = StreetBook(conn, cid)
    named = {
        s["name"]: (sid, row["name_ru"], row["name_kk"])
        for s, sid, row in zip(streets, street_ids, street_rows, strict=True)
    }

    # buildings
    geoms = gpd.GeoSeries([b_geoms[i] for i in b_keep], crs=4326)
    metric = geoms.to_crs(srid)
    areas = metric.area.to_numpy()
    nearest: dict[int, int] = {}
    if len(b_keep) and streets:
        lines = gpd.GeoDataFrame(
            {"k": range(len(streets))},
            geometry=[MultiLineString(s["lines"]) for s in streets],
            crs=4326,
        ).to_crs(srid)
        hits = gpd.GeoDataFrame(geometry=metric.reset_index(drop=True)).sjoin_nearest(
            lines, how="inner", max_distance=NEAREST_STREET_M
        )
        for j, k in zip(hits.index, hits["k"], strict=True):
            nearest.setdefault(int(j), int(k))
    rows = []
    n_estimated = n_flats_tagged = n_levels = n_address = n_near = 0
    for j, i in enumerate(b_keep):
        r = b_recs[i]
        tags = _tags(r.get("tags"))
        btype = _building_type(_tag(r, tags, "building"))
        levels = _number(_tag(r, tags, "building:levels"))
        floors = min(100, max(1, math.ceil(levels))) if levels else 1
        n_levels += levels is not None and levels > 0
        flats = _number(_tag(r, tags, "building:flats"))
        if flats is not None:
            apartments, estimated = int(flats), False
            n_flats_tagged += 1
        else:
            apartments, estimated = estimate_apartments(btype, float(areas[j]), floors)
        n_estimated += estimated
        street = _tag(r, tags, "addr:street") or _tag(r, tags, "addr:place")
        number = _tag(r, tags, "addr:housenumber")
        sid, num = None, ""
        address_ru = address_kk = ""
        if street and number:
            sid, st_ru, st_kk = named.get(street) or book.get(street)
            num = number[:16]
            address_ru, address_kk = f"{st_ru}, {num}", f"{st_kk}, {num}"
            n_address += 1
        elif j in nearest:
            s = streets[nearest[j]]
            sid, address_ru, address_kk = named[s["name"]]
            n_near += 1
        rows.append(
            {
                "city_id": cid,
                "street_id": sid,
                "house_number": num,
                "address_ru": address_ru,
                "address_kk": address_kk,
                "search_text": search_text(address_ru, address_kk, num).strip(),
                "kind": _kind(btype),
                "apartments": apartments,
                "apartments_estimated": estimated,
                "floors": floors,
                "source": "osm",
                "geom": from_shape(geoms.iloc[j], srid=4326),
            }
        )
    building_ids = write_rows(conn, Building, rows, "buildings")

    # yards
    yard_rows = []
    y_areas = gpd.GeoSeries([y_geoms[i] for i in y_keep], crs=4326).to_crs(srid).area
    for i, area in zip(y_keep, y_areas, strict=True):
        if area < MIN_YARD_M2:
            continue
        r = y_recs[i]
        yard_rows.append(
            {
                "city_id": cid,
                "name": _tag(r, _tags(r.get("tags")), "name"),
                "source": "osm",
                "geom": from_shape(y_geoms[i], srid=4326),
            }
        )
    yard_ids = write_rows(conn, Yard, yard_rows, "yards")
    links = link_yards(conn, cid, yard_ids=yard_ids) if yard_ids else 0
    slivers = len(y_keep) - len(yard_ids)
    if yard_ids:
        name_yards(conn, cid, yard_ids)

    counts = {
        "streets": len(street_ids) + book.created,
        "buildings": len(building_ids),
        "yards": len(yard_ids),
        "yard links": links,
    }
    notes = [
        f"city {code} in EPSG:{srid}",
        f"apartments estimated for {n_estimated} buildings (footprint x levels / "
        f"{M2_PER_FLAT:g} m² for multi-flat types, 1 per house; apartments_estimated=true)",
        f"{n_levels} buildings with building:levels, {n_flats_tagged} with building:flats",
        f"addresses: {n_address} from addr:* tags, {n_near} named after the nearest street "
        f"(no number), {len(building_ids) - n_address - n_near} without",
        "yards are landuse=residential blocks, not real yards",
    ]
    if unnamed:
        notes.append(f"{unnamed} unnamed road ways left out")
    if skipped:
        notes.append(f"{skipped} unusable polygons skipped")
    if slivers:
        notes.append(f"{slivers} residential areas under {MIN_YARD_M2:g} m² skipped")
    return ImportReport(source=path.name, city=code, counts=counts, notes=notes)
