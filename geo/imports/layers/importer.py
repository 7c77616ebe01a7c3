"""``import_layer``: one map layer of a city from a GIS file, all or nothing.

The steps, in order: read the mapping, the city and the file (:mod:`.source`), decide the
CRS and where each field comes from (:mod:`.fields`), check every row (:func:`check_rows`:
geometries, values, well owners; one bad row refuses the file), then write the layer and
what follows it (:data:`WRITERS`, through :mod:`geo.imports.write`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from geoalchemy2.shape import from_shape
from pyproj import CRS
from sqlalchemy import Connection, select

from geo.city.address import search_text
from geo.city.catalog import city_id
from geo.imports.layers.fields import (
    FIELDS,
    KINDS,
    Source,
    load_mapping,
    org_key,
    read_value,
    resolve_mapping,
)
from geo.imports.layers.source import check_geometries, decide_crs, is_wgs84, read_layer
from geo.imports.report import ImportReport, RowProblem, refuse
from geo.imports.write import StreetBook, link_yards, name_yards, place_wells, write_rows
from geo.infra.errors import InvalidInput
from geo.models import Building, City, District, Organisation, Well, Yard


@dataclass(frozen=True)
class CityFrame:
    """The city a layer goes into: its id, its code (upper case) and its bounds (WGS 84)."""

    id: int
    code: str
    bounds: Any


@dataclass
class CheckedRows:
    """A layer's rows after every check: geometries in WGS 84, our values, well owners."""

    geoms: np.ndarray
    values: dict[str, list]
    owners: list[int | None]

    def __len__(self) -> int:
        return len(self.geoms)

    def has(self, ours: str) -> bool:
        """Whether the file gave the field (a column or a default)."""
        return ours in self.values

    def get(self, ours: str, i: int, default=None):
        """Row ``i``'s value of our field, or ``default`` when the file gave none."""
        v = self.values.get(ours)
        return default if v is None or v[i] is None else v[i]

    def geom(self, i: int):
        return from_shape(self.geoms[i], srid=4326)


def import_layer(
    conn: Connection,
    kind: str,
    path: str | Path,
    city_code: str,
    mapping: str | Path | dict | None = None,
    source_crs: str | None = None,
    echo: Callable[[str], Any] = print,
    layer: str | None = None,
) -> ImportReport:
    """Import a map layer of a city from a GIS file, all or nothing.

    Parameters
    ----------
    conn : Connection
        A connection in the caller's transaction; nothing is committed here.
    kind : {"buildings", "yards", "wells", "districts", "organisations"}
        The layer.
    path : str or Path
        A GeoJSON, GeoPackage or Shapefile (or another file GDAL reads).
    city_code : str
        The city the layer belongs to, e.g. ``"PET"``.
    mapping : str, Path or dict, optional
        Our field -> the file's column (see :mod:`geo.imports.layers`); without one, columns
        named like our fields are used.
    source_crs : str, optional
        The file's CRS when it declares none (``"EPSG:32642"``); overrides a declared one.
    echo : callable
        Where progress lines go (nothing is said before the file has passed its checks).
    layer : str, optional
        The layer of a file that holds several (a GeoPackage); by default the first, and
        the report says which it read and which others there are.

    Returns
    -------
    ImportReport
        Counts of what was written.

    Raises
    ------
    ImportRejected
        Some rows are bad (geometry or values); nothing was written; ``.rows`` lists them.
    InvalidInput
        Unknown layer, unreadable file, no CRS, a mapping that does not fit the file.
    NotFound
        No such city.
    FileNotFoundError
        No such file.
    """
    if kind not in KINDS:
        raise InvalidInput(f"unknown layer {kind!r}: {', '.join(KINDS)}")
    path = Path(path)
    spec = load_mapping(mapping)
    city = _city(conn, city_code)
    notes: list[str] = []
    gdf = read_layer(path, notes, layer)
    crs = decide_crs(gdf, source_crs, path.name, notes)
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    sources = resolve_mapping(kind, spec, columns, path.name)
    if len(gdf) == 0:
        raise InvalidInput(f"{path.name} has no rows")

    rows = check_rows(conn, kind, gdf, crs, sources, city, path.name)

    if not is_wgs84(crs):
        notes.insert(0, f"reprojected from {crs.to_string()} to EPSG:4326")
    echo(f"{path.name}: {len(gdf)} {kind} checked, writing to {city.code}")
    counts = WRITERS[kind](conn, city.id, rows, notes)
    return ImportReport(source=path.name, city=city.code, counts=counts, notes=notes)


# --- reading and checking -------------------------------------------------------------------


def _city(conn: Connection, code: str) -> CityFrame:
    cid = city_id(conn, code)
    wkb = conn.execute(select(City.bounds.ST_AsBinary()).where(City.id == cid)).scalar_one()
    return CityFrame(cid, code.upper(), shapely.from_wkb(bytes(wkb)))


def check_rows(
    conn: Connection,
    kind: str,
    gdf: gpd.GeoDataFrame,
    crs: CRS,
    sources: dict[str, Source],
    city: CityFrame,
    name: str,
) -> CheckedRows:
    """Every row checked: its geometry, each field's value, a well's owner.

    Raises
    ------
    ImportRejected
        Any row is bad; the error names them all, in file order.
    """
    geoms, problems = check_geometries(
        np.asarray(gdf.geometry.array, dtype=object), kind, crs, city.bounds, city.code
    )
    values = _read_values(kind, gdf, sources, problems)
    owners: list[int | None] = [None] * len(gdf)
    if kind == "wells" and "owner" in values:
        owners = _match_owners(conn, city, values["owner"], problems)
    if problems:
        raise refuse(name, len(gdf), problems)
    return CheckedRows(geoms, values, owners)


def _read_values(
    kind: str, gdf: gpd.GeoDataFrame, sources: dict[str, Source], problems: list[RowProblem]
) -> dict[str, list]:
    """Our value of every field in every row; the cells that are wrong go to ``problems``."""
    fields = FIELDS[kind]
    values: dict[str, list] = {}
    for ours, src in sources.items():
        col = gdf[src.column].tolist() if src.column is not None else [None] * len(gdf)
        out = []
        for i, raw in enumerate(col):
            v, why = read_value(ours, fields[ours], src, raw)
            if why:
                problems.append(RowProblem(i + 1, why))
            out.append(v)
        values[ours] = out
    return values


def _match_owners(
    conn: Connection, city: CityFrame, names: list, problems: list[RowProblem]
) -> list[int | None]:
    """Each well's owner, an organisation of the city matched by name; an unknown or
    ambiguous name goes to ``problems``."""
    orgs = _organisations(conn, city.id)
    owners: list[int | None] = [None] * len(names)
    for i, owner in enumerate(names):
        if owner is None:
            continue
        found = orgs.get(org_key(owner), [])
        if len(found) == 1:
            owners[i] = found[0]
        else:
            what = "no organisation" if not found else f"{len(found)} organisations"
            problems.append(
                RowProblem(i + 1, f"owner {owner!r}: {what} of {city.code} has this name")
            )
    return owners


def _organisations(conn: Connection, cid: int) -> dict[str, list[int]]:
    orgs: dict[str, list[int]] = {}
    for oid, ru, kk in conn.execute(
        select(Organisation.id, Organisation.name_ru, Organisation.name_kk).where(
            Organisation.city_id == cid
        )
    ):
        for name in {org_key(ru), org_key(kk)}:
            orgs.setdefault(name, []).append(oid)
    return orgs


# --- writing, one function per layer --------------------------------------------------------


def write_buildings(
    conn: Connection, cid: int, rows: CheckedRows, notes: list[str]
) -> dict[str, int]:
    """Buildings with their street (found by name or created) and address in both
    languages, linked to the yards around them."""
    book = StreetBook(conn, cid)
    out = []
    for i in range(len(rows)):
        sid, st_ru, st_kk = book.get(rows.get("street", i), rows.get("street_kk", i))
        num = rows.get("house_number", i)
        address_ru, address_kk = f"{st_ru}, {num}", f"{st_kk}, {num}"
        kind_i = rows.get("kind", i, "apartment")
        out.append(
            {
                "city_id": cid,
                "street_id": sid,
                "house_number": num,
                "address_ru": address_ru,
                "address_kk": address_kk,
                "search_text": search_text(address_ru, address_kk, num),
                "kind": kind_i,
                "apartments": rows.get("apartments", i, 1 if kind_i == "private" else 0),
                "floors": rows.get("floors", i, 1),
                "year_built": rows.get("year_built", i),
                "source": "import",
                "geom": rows.geom(i),
            }
        )
    ids = write_rows(conn, Building, out, "buildings")
    counts = {
        "buildings": len(ids),
        "new streets": book.created,
        "yard links": link_yards(conn, cid, building_ids=ids),
    }
    if not rows.has("apartments"):
        notes.append("no apartments column: 0 apartments (1 for private houses)")
    if not rows.has("floors"):
        notes.append("no floors column: 1 floor")
    return counts


def write_yards(conn: Connection, cid: int, rows: CheckedRows, notes: list[str]) -> dict[str, int]:
    """Yards linked to the buildings they serve, named after the biggest, and the wells
    without a yard that stand in them placed in them."""
    out = [
        {
            "city_id": cid,
            "name": rows.get("name", i),
            "surface": rows.get("surface", i),
            "last_repair_year": rows.get("last_repair_year", i),
            "repair_status": rows.get("repair_status", i, "queued"),
            "source": "import",
            "geom": rows.geom(i),
        }
        for i in range(len(rows))
    ]
    ids = write_rows(conn, Yard, out, "yards")
    counts = {"yards": len(ids), "yard links": link_yards(conn, cid, yard_ids=ids)}
    name_yards(conn, cid, ids)
    placed = place_wells(conn, cid, yard_ids=ids)
    if placed:
        counts["wells placed in yards"] = placed
    return counts


def write_wells(conn: Connection, cid: int, rows: CheckedRows, notes: list[str]) -> dict[str, int]:
    """Wells with their owners, each placed in the smallest yard holding it."""
    out = [
        {
            "city_id": cid,
            "code": rows.get("code", i),
            "kind": rows.get("kind", i),
            "owner_id": rows.owners[i],
            "source": "import",
            "geom": rows.geom(i),
        }
        for i in range(len(rows))
    ]
    ids = write_rows(conn, Well, out, "wells")
    return {"wells": len(ids), "in yards": place_wells(conn, cid, well_ids=ids)}


def write_districts(
    conn: Connection, cid: int, rows: CheckedRows, notes: list[str]
) -> dict[str, int]:
    """Districts; the Kazakh name defaults to the Russian one."""
    out = [
        {
            "city_id": cid,
            "name_ru": rows.get("name_ru", i),
            "name_kk": rows.get("name_kk", i, rows.get("name_ru", i)),
            "geom": rows.geom(i),
        }
        for i in range(len(rows))
    ]
    return {"districts": len(write_rows(conn, District, out, "districts"))}


def write_organisations(
    conn: Connection, cid: int, rows: CheckedRows, notes: list[str]
) -> dict[str, int]:
    """Organisations with their service areas (what routing matches an appeal's point
    against); the Kazakh name defaults to the Russian one."""
    out = [
        {
            "city_id": cid,
            "kind": rows.get("kind", i),
            "name_ru": rows.get("name_ru", i),
            "name_kk": rows.get("name_kk", i, rows.get("name_ru", i)),
            "phone": rows.get("phone", i),
            "manager": rows.get("manager", i),
            "service_area": rows.geom(i),
        }
        for i in range(len(rows))
    ]
    return {"organisations": len(write_rows(conn, Organisation, out, "organisations"))}


WRITERS: dict[str, Callable[[Connection, int, CheckedRows, list[str]], dict[str, int]]] = {
    "buildings": write_buildings,
    "yards": write_yards,
    "wells": write_wells,
    "districts": write_districts,
    "organisations": write_organisations,
}
