"""``import_osm``: a new city from an OpenStreetMap extract, in steps that read top-down:
check the code, read the extract, create the city, write its streets, buildings and yards.
What becomes what is said in :mod:`geo.imports.osm`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from shapely import box
from shapely.geometry import MultiLineString, MultiPolygon
from sqlalchemy import Connection, insert, select

from geo.city.address import search_text
from geo.imports.osm.derived import write_districts, write_wells
from geo.imports.osm.extract import Extract, first_number, read_extract, tag, tags_of
from geo.imports.report import ImportReport
from geo.imports.write import StreetBook, link_yards, name_yards, write_rows
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
    code = _new_city_code(conn, path, city_code)
    name = (name or path.name.split(".")[0]).strip() or code

    extract = read_extract(path)
    city = create_city(conn, extract, code, name, path.name)
    echo(f"city {code} (id {city.id}) {name!r}, metric CRS EPSG:{city.srid}, time zone {city.tz}")
    streets = write_streets(conn, city, extract.streets)
    buildings = write_buildings(conn, city, extract.buildings, streets)
    yards = write_yards(conn, city, extract.yards)
    districts = write_districts(conn, city.id, extract.boundaries, city.bounds)
    wells = write_wells(conn, city.id, extract.manholes)

    counts = {
        "streets": len(streets.ids) + streets.book.created,
        "buildings": buildings.written,
        "yards": yards.written,
        "yard links": yards.links,
        "districts": districts,
        "wells": wells.written,
    }
    notes = [f"city {code} in EPSG:{city.srid}", *buildings.notes(), *wells.notes()]
    if not districts:
        notes.append("no districts: the extract has no two administrative boundaries in the city")
    notes.append("yards are landuse=residential blocks, not real yards")
    if extract.unnamed:
        notes.append(f"{extract.unnamed} unnamed road ways left out")
    if extract.skipped:
        notes.append(f"{extract.skipped} unusable polygons skipped")
    if yards.slivers:
        notes.append(f"{yards.slivers} residential areas under {MIN_YARD_M2:g} m² skipped")
    return ImportReport(source=path.name, city=code, counts=counts, notes=notes)


# --- the steps of an import, in order -------------------------------------------------------


def _new_city_code(conn: Connection, path: Path, city_code: str) -> str:
    """The code upper-cased, once it is a code, the file is there and no city has it."""
    code = city_code.strip().upper()
    if not code or len(code) > 8:
        raise InvalidInput(f"city code {city_code!r}: give 1 to 8 characters, e.g. HEL")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if conn.execute(select(City.id).where(City.code == code)).scalar() is not None:
        raise Conflict(f"a city with code {code} exists already: choose another --city")
    return code


@dataclass(frozen=True)
class NewCity:
    """The city an import creates: its id, metric CRS and time zone."""

    id: int
    srid: int
    tz: str
    bounds: MultiPolygon


def create_city(conn: Connection, extract: Extract, code: str, name: str, source: str) -> NewCity:
    """The city row: bounds around everything imported, the UTM zone and the time zone of
    their centre."""
    extents = [
        shapely.bounds(np.array([g for _, g in extract.buildings], dtype=object)),
        shapely.bounds(np.array([g for _, g in extract.yards], dtype=object)),
        shapely.bounds(np.array([ln for s in extract.streets for ln in s["lines"]], dtype=object)),
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
            note=f"Imported from the OpenStreetMap extract {source} "
            "(© OpenStreetMap contributors, ODbL).",
        )
        .returning(City.id)
    ).scalar_one()
    return NewCity(cid, srid, tz, bounds)


@dataclass
class CityStreets:
    """The streets written from the extract, by OSM name, and the book that finds (or
    creates) any street by name."""

    streets: list[dict]
    ids: list[int]
    named: dict[str, tuple[int, str, str]]
    book: StreetBook


def write_streets(conn: Connection, city: NewCity, streets: list[dict]) -> CityStreets:
    """One street per name, all its ways in one MultiLineString."""
    rows = [
        {
            "city_id": city.id,
            "name_ru": s["name_ru"] or s["name"],
            "name_kk": s["name_kk"] or s["name"],
            "kind": "street",
            "geom": from_shape(MultiLineString(s["lines"]), srid=4326),
        }
        for s in streets
    ]
    ids = write_rows(conn, Street, rows, "streets")
    named = {
        s["name"]: (sid, row["name_ru"], row["name_kk"])
        for s, sid, row in zip(streets, ids, rows, strict=True)
    }
    return CityStreets(streets, ids, named, StreetBook(conn, city.id))


@dataclass
class BuildingTally:
    """How the buildings' apartments, levels and addresses were found."""

    written: int = 0
    estimated: int = 0
    flats_tagged: int = 0
    levels: int = 0
    addressed: int = 0
    near_street: int = 0

    def notes(self) -> list[str]:
        without = self.written - self.addressed - self.near_street
        return [
            f"apartments estimated for {self.estimated} buildings (footprint x levels / "
            f"{M2_PER_FLAT:g} m² for multi-flat types, 1 per house; apartments_estimated=true)",
            f"{self.levels} buildings with building:levels, {self.flats_tagged} with "
            "building:flats",
            f"addresses: {self.addressed} from addr:* tags, {self.near_street} named after the "
            f"nearest street (no number), {without} without",
        ]


def write_buildings(
    conn: Connection,
    city: NewCity,
    buildings: list[tuple[dict, MultiPolygon]],
    streets: CityStreets,
) -> BuildingTally:
    """Buildings with floors, apartments (tagged or estimated) and an address: from their
    ``addr:*`` tags, else the nearest named street's name alone."""
    geoms = gpd.GeoSeries([g for _, g in buildings], crs=4326)
    metric = geoms.to_crs(city.srid)
    areas = metric.area.to_numpy()
    nearest = _nearest_streets(metric, streets.streets, city.srid)
    tally = BuildingTally()
    rows = []
    for j, (r, _) in enumerate(buildings):
        row = _building_row(r, float(areas[j]), nearest.get(j), streets, tally)
        rows.append({"city_id": city.id, **row, "geom": from_shape(geoms.iloc[j], srid=4326)})
    tally.written = len(write_rows(conn, Building, rows, "buildings"))
    return tally


def _nearest_streets(metric: gpd.GeoSeries, streets: list[dict], srid: int) -> dict[int, int]:
    """For each building (by position), the named street within :data:`NEAREST_STREET_M`."""
    nearest: dict[int, int] = {}
    if len(metric) and streets:
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
    return nearest


def _building_row(
    r: dict, area_m2: float, nearest: int | None, streets: CityStreets, tally: BuildingTally
) -> dict:
    """One building's columns (without city and geometry) from its tags; counts in ``tally``."""
    tags = tags_of(r.get("tags"))
    btype = _building_type(tag(r, tags, "building"))
    levels = first_number(tag(r, tags, "building:levels"))
    floors = min(100, max(1, math.ceil(levels))) if levels else 1
    tally.levels += levels is not None and levels > 0
    flats = first_number(tag(r, tags, "building:flats"))
    if flats is not None:
        apartments, estimated = int(flats), False
        tally.flats_tagged += 1
    else:
        apartments, estimated = estimate_apartments(btype, area_m2, floors)
    tally.estimated += estimated
    street = tag(r, tags, "addr:street") or tag(r, tags, "addr:place")
    number = tag(r, tags, "addr:housenumber")
    sid, num = None, ""
    address_ru = address_kk = ""
    if street and number:
        sid, st_ru, st_kk = streets.named.get(street) or streets.book.get(street)
        num = number[:16]
        address_ru, address_kk = f"{st_ru}, {num}", f"{st_kk}, {num}"
        tally.addressed += 1
    elif nearest is not None:
        sid, address_ru, address_kk = streets.named[streets.streets[nearest]["name"]]
        tally.near_street += 1
    return {
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
    }


@dataclass(frozen=True)
class YardTally:
    written: int
    links: int
    slivers: int


def write_yards(
    conn: Connection, city: NewCity, yards: list[tuple[dict, MultiPolygon]]
) -> YardTally:
    """Residential areas of at least :data:`MIN_YARD_M2` as yards, linked to the buildings
    around them and named after the biggest."""
    areas = gpd.GeoSeries([g for _, g in yards], crs=4326).to_crs(city.srid).area
    rows = []
    for (r, g), area in zip(yards, areas, strict=True):
        if area < MIN_YARD_M2:
            continue
        rows.append(
            {
                "city_id": city.id,
                "name": tag(r, tags_of(r.get("tags")), "name"),
                "source": "osm",
                "geom": from_shape(g, srid=4326),
            }
        )
    ids = write_rows(conn, Yard, rows, "yards")
    links = link_yards(conn, city.id, yard_ids=ids) if ids else 0
    if ids:
        name_yards(conn, city.id, ids)
    return YardTally(len(ids), links, len(yards) - len(ids))
