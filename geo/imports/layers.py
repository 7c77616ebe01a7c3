"""Importing a city's map layers (buildings, yards, wells, districts) from GIS files.

A layer comes as GeoJSON, GeoPackage or Shapefile (read with geopandas/pyogrio). Its columns
are matched to ours by a mapping (a YAML file, see ``data/mappings/map_*.yaml``)::

    house_number: HOUSENUMBE     # our field: the file's column
    street: STREET
    floors: {column: LEVELS, default: 5}
    kind: {column: TYPE, values: {"Ж": apartment, "Ч": private}}

A field given as a plain string names a column; as a mapping it may also translate values
(``values``) and give a ``default`` used for empty cells (or for every row, without
``column``). Without a mapping, a field is read from the column of the same name (compared
case-insensitively) when the file has one.

The import is all or nothing. Every row is checked first: its geometry (missing, of the wrong
type for the layer, invalid by shapely with the reason, not reprojectable, outside the city's
``bounds``) and its values (a number that is not one, an unknown well owner ...). One bad row
and nothing is written: :class:`~geo.infra.errors.ImportRejected` lists the rows (numbered from 1
in file order). Only then are the rows written, in the caller's transaction (the caller
commits), with a progress bar on stderr.

What else is written with a layer:

* buildings: the street is matched to the city's streets by name (``ул. Абая``, ``Абая`` and
  ``улица Абая`` are one street, see :func:`geo.city.address.normalize`) or created (without
  geometry); ``address_ru``/``address_kk`` are "street, number" in each language and
  ``search_text`` is filled for address search; new buildings are linked to the yards
  within :data:`YARD_REACH_M`;
* yards: ``area_m2`` comes from the database trigger; the yard is linked to every building
  within :data:`YARD_REACH_M` of it (``yard_buildings``), named after its biggest building
  when the file gives no name, and wells without a yard that stand in it are placed in it;
* wells: ``owner`` is an organisation of the city matched by ``name_ru`` or ``name_kk``
  (quotes, case and spacing ignored), an unknown owner is a bad row; ``yard_id`` is the
  (smallest) yard that contains the well;
* districts: ``name_kk`` defaults to ``name_ru``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
import yaml
from geoalchemy2.shape import from_shape
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon
from sqlalchemy import Connection, select, text
from tqdm import tqdm

from geo.city.address import normalize, search_text
from geo.city.catalog import _insert, city_id
from geo.infra.errors import ImportRejected, InvalidInput
from geo.models import (
    REPAIR_STATES,
    WELL_KINDS,
    Building,
    City,
    District,
    Organisation,
    Street,
    Well,
    Yard,
)

KINDS = ("buildings", "yards", "wells", "districts")
YARD_REACH_M = 15.0
"""A yard serves the buildings whose footprint is within this many metres of it."""
MESSAGE_ROWS = 20
"""How many bad rows the message of :class:`ImportRejected` names (``.rows`` has all)."""
BATCH = 500
WGS84 = CRS.from_epsg(4326)


@dataclass(frozen=True)
class Field:
    """One of our fields: how to read it and what it must be."""

    type: str = "text"  # text | int
    required: bool = False
    max_len: int | None = None
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] | None = None


FIELDS: dict[str, dict[str, Field]] = {
    "buildings": {
        "house_number": Field(required=True, max_len=16),
        "street": Field(required=True),
        "street_kk": Field(),
        "kind": Field(max_len=16),
        "apartments": Field("int", min=0, max=100_000),
        "floors": Field("int", min=1, max=100),
        "year_built": Field("int", min=1000, max=2100),
    },
    "yards": {
        "name": Field(),
        "surface": Field(max_len=16),
        "last_repair_year": Field("int", min=1000, max=2100),
        "repair_status": Field(choices=REPAIR_STATES),
    },
    "wells": {
        "kind": Field(required=True, choices=WELL_KINDS),
        "owner": Field(),
        "code": Field(max_len=32),
    },
    "districts": {
        "name_ru": Field(required=True),
        "name_kk": Field(),
    },
}


class RowProblem(NamedTuple):
    """A bad row: its number in the file (from 1) and what is wrong with it."""

    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass
class ImportReport:
    """What an import wrote: counts by what was written, and notes worth reading.

    Parameters
    ----------
    source : str
        The file imported (its name).
    city : str
        The city code.
    counts : dict of str to int
        How many of each thing were written, e.g. ``{"buildings": 120, "new streets": 3}``.
    notes : list of str
        Things the user should know (reprojection, estimates, caveats).
    """

    source: str
    city: str
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: the file, the city, the counts and the notes.

        Returns
        -------
        str
            E.g. ``"b.geojson -> PET: 3 buildings, 1 new streets written; ..."``.
        """
        counts = ", ".join(f"{v} {k}" for k, v in self.counts.items()) or "nothing"
        line = f"{self.source} -> {self.city}: {counts} written"
        if self.notes:
            line += "; " + "; ".join(self.notes)
        return line


@dataclass(frozen=True)
class Source:
    """Where a field's value comes from: a column (maybe), value translation, a default."""

    column: str | None
    values: dict | None = None
    default: Any = None


# --- mapping --------------------------------------------------------------------------------


def load_mapping(mapping: str | Path | dict | None) -> dict[str, Any]:
    """Read a column mapping: a YAML file (our field -> the file's column) or a dict.

    Parameters
    ----------
    mapping : str, Path, dict or None
        The YAML file, or the mapping itself; ``None`` is the empty mapping.

    Returns
    -------
    dict
        Our field -> a column name, or a dict with ``column``, ``values``, ``default``.

    Raises
    ------
    InvalidInput
        The file is not a YAML mapping.
    FileNotFoundError
        The file does not exist.
    """
    if mapping is None:
        return {}
    if isinstance(mapping, dict):
        return dict(mapping)
    path = Path(mapping)
    if not path.exists():
        raise FileNotFoundError(f"no such mapping file: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(
            f"mapping {path.name} is not valid YAML: {str(exc).splitlines()[0]}"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput(f"mapping {path.name} must be 'our field: the file's column' lines")
    return data


def resolve_mapping(
    kind: str, mapping: dict[str, Any], columns: Sequence[str], source: str = "the file"
) -> dict[str, Source]:
    """Decide where each of our fields is read from, and refuse a mapping that cannot work.

    Parameters
    ----------
    kind : str
        The layer: buildings, yards, wells or districts.
    mapping : dict
        From :func:`load_mapping`.
    columns : sequence of str
        The file's columns (without the geometry).
    source : str
        The file's name, for messages.

    Returns
    -------
    dict of str to Source
        One entry per field that has a column or a default.

    Raises
    ------
    InvalidInput
        An unknown field, a mapped column the file does not have, or a required field with
        no column.
    """
    fields = FIELDS[kind]
    have = ", ".join(columns) or "no columns"
    by_lower = {c.lower(): c for c in columns}
    out: dict[str, Source] = {}
    for ours, spec in mapping.items():
        if ours not in fields:
            raise InvalidInput(
                f"mapping: {kind} have no field {ours!r}; the fields are {', '.join(fields)}"
            )
        if isinstance(spec, dict):
            unknown = set(spec) - {"column", "values", "default"}
            if unknown:
                raise InvalidInput(
                    f"mapping: {ours}: unknown key(s) {', '.join(sorted(unknown))}"
                    "; use column, values, default"
                )
            column, values, default = spec.get("column"), spec.get("values"), spec.get("default")
        elif spec is None or isinstance(spec, str | int | float):
            column, values, default = (str(spec) if spec is not None else None), None, None
        else:
            raise InvalidInput(
                f"mapping: {ours}: give a column name or {{column: ..., values: ..., default: ...}}"
            )
        if column is not None and column not in columns:
            raise InvalidInput(
                f"mapping: column {column!r} (for {ours}) is not in {source}; it has: {have}"
            )
        if column is None and default is None:
            continue
        out[ours] = Source(column, values, default)
    for ours, spec in fields.items():
        if ours in out or ours in mapping:
            continue
        if ours.lower() in by_lower:
            out[ours] = Source(by_lower[ours.lower()])
        elif spec.required:
            raise InvalidInput(
                f"{kind} need a {ours!r} column and {source} has none "
                f"(it has: {have}); map one with --mapping, "
                f"e.g. '{ours}: YOUR_COLUMN'"
            )
    return out


# --- values ---------------------------------------------------------------------------------


def _blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return not v.strip()
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _as_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, np.integer):
        return str(int(v))
    return str(v).strip()


def _value(name: str, spec: Field, src: Source, raw: Any) -> tuple[Any, str | None]:
    """Our value for one cell (or ``None``), or a reason the cell is wrong."""
    v = None if _blank(raw) else raw
    if v is not None and src.values is not None:
        key = _as_text(v)
        if key in src.values:
            v = src.values[key]
        elif v in src.values:
            v = src.values[v]
    if v is None or _blank(v):
        v = src.default
    if v is None or _blank(v):
        return None, (f"{name} is empty" if spec.required else None)
    if spec.type == "int":
        try:
            f = float(_as_text(v).replace(",", "."))
        except ValueError:
            return None, f"{name} {_as_text(v)!r} is not a number"
        if not f.is_integer():
            return None, f"{name} {_as_text(v)!r} is not a whole number"
        n = int(f)
        if (spec.min is not None and n < spec.min) or (spec.max is not None and n > spec.max):
            return None, f"{name} {n} is out of range {spec.min}..{spec.max}"
        return n, None
    s = _as_text(v)
    if spec.choices is not None:
        s = s.lower()
        if s not in spec.choices:
            return None, f"{name} {s!r} is not one of {', '.join(spec.choices)}"
    if spec.max_len is not None and len(s) > spec.max_len:
        return None, f"{name} {s!r} is longer than {spec.max_len} characters"
    return s, None


def _org_key(name: str) -> str:
    s = re.sub(r"[«»\"“”„'`]", " ", name.casefold().replace("ё", "е"))
    return " ".join(s.split())


# --- geometry -------------------------------------------------------------------------------


def _read(path: Path, notes: list[str], layer: str | None = None) -> gpd.GeoDataFrame:
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        names = [str(n) for n, _ in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio's DataSourceError and friends
        raise _unreadable(path, exc) from exc
    if layer is not None and layer not in names:
        raise InvalidInput(
            f"{path.name} has no layer {layer!r}; its layers: {', '.join(map(repr, names))}"
        )
    if layer is None and names:
        layer = names[0]
        if len(names) > 1:
            others = ", ".join(map(repr, names[1:]))
            notes.append(f"read the first of {len(names)} layers, {layer!r} (--layer for {others})")
    try:
        return gpd.read_file(path, engine="pyogrio", layer=layer)
    except Exception as exc:
        raise _unreadable(path, exc) from exc


def _unreadable(path: Path, exc: Exception) -> InvalidInput:
    """GDAL's complaint about a file, in one line."""
    msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    return InvalidInput(f"cannot read {path.name} as a GIS file: {msg}")


def _is_wgs84(crs: CRS) -> bool:
    return crs.equals(WGS84, ignore_axis_order=True)


def _source_crs(gdf: gpd.GeoDataFrame, source_crs: str | None, name: str, notes: list[str]) -> CRS:
    given = None
    if source_crs is not None:
        try:
            given = CRS.from_user_input(source_crs)
        except CRSError as exc:
            raise InvalidInput(
                f"--crs {source_crs!r} is not a CRS pyproj knows (try EPSG:4326 or EPSG:32642)"
            ) from exc
    if gdf.crs is None:
        if given is None:
            raise InvalidInput(
                f"{name} declares no CRS: say which with --crs "
                "(e.g. --crs EPSG:4326 or --crs EPSG:32642)"
            )
        return given
    if given is not None and not given.equals(gdf.crs):
        notes.append(
            f"the file says {gdf.crs.to_string()}, read as {given.to_string()} as --crs asked"
        )
        return given
    return gdf.crs


def check_geometries(
    geoms: np.ndarray, kind: str, crs: CRS, bounds, city_code: str
) -> tuple[np.ndarray, list[RowProblem]]:
    """Check and reproject a layer's geometries to WGS 84.

    Parameters
    ----------
    geoms : ndarray of shapely geometries (or None)
        The file's geometries in file order.
    kind : str
        The layer: points are wanted for wells, polygons for the others.
    crs : pyproj.CRS
        The geometries' CRS.
    bounds : shapely geometry
        The city's bounds in WGS 84.
    city_code : str
        For messages.

    Returns
    -------
    geoms : ndarray
        In WGS 84, 2D, polygons promoted to MultiPolygon (None where the row is bad).
    problems : list of RowProblem
        The bad rows.
    """
    n = len(geoms)
    reasons: list[str | None] = [None] * n
    geoms = np.asarray(geoms, dtype=object)
    missing = shapely.is_missing(geoms)
    geoms = np.where(missing, None, geoms)
    empty = ~missing & shapely.is_empty(geoms)
    for i in np.flatnonzero(missing | empty):
        reasons[i] = "no geometry" if missing[i] else "empty geometry"
    ok = ~(missing | empty)
    geoms = np.where(ok, shapely.force_2d(np.where(ok, geoms, None)), None)

    types = shapely.get_type_id(geoms)
    if kind == "wells":
        one_point = (types == 4) & (shapely.get_num_geometries(geoms) == 1)
        geoms = np.where(one_point, shapely.get_geometry(geoms, 0), geoms)
        good_type = (types == 0) | one_point
        want = "a point"
    else:
        good_type = (types == 3) | (types == 6)
        want = "a polygon"
    for i in np.flatnonzero(ok & ~good_type):
        reasons[i] = f"{geoms[i].geom_type} where {kind} need {want}"
    ok &= good_type

    def invalid(where: str) -> None:
        nonlocal ok
        valid = shapely.is_valid(geoms)
        for i in np.flatnonzero(ok & ~valid):
            reasons[i] = f"invalid geometry{where}: {shapely.is_valid_reason(geoms[i])}"
        ok &= valid

    invalid("")
    if not _is_wgs84(crs):
        series = gpd.GeoSeries(np.where(ok, geoms, None), crs=crs).to_crs(4326)
        geoms = np.asarray(series.array, dtype=object)
        finite = np.zeros(n, dtype=bool)
        finite[ok] = np.isfinite(shapely.bounds(geoms[ok])).all(axis=1)
        for i in np.flatnonzero(ok & ~finite):
            reasons[i] = f"cannot be reprojected from {crs.to_string()} to EPSG:4326"
        ok &= finite
        invalid(" after reprojection to EPSG:4326")

    shapely.prepare(bounds)
    inside = np.zeros(n, dtype=bool)
    inside[ok] = shapely.covers(bounds, geoms[ok])
    for i in np.flatnonzero(ok & ~inside):
        part = "partly " if shapely.intersects(bounds, geoms[i]) else ""
        x, y = shapely.get_coordinates(geoms[i])[0]
        reasons[i] = f"{part}outside the city {city_code} (at {x:.6f}, {y:.6f})"
    ok &= inside

    if kind != "wells":
        poly = ok & (shapely.get_type_id(geoms) == 3)
        for i in np.flatnonzero(poly):
            geoms[i] = MultiPolygon([geoms[i]])
    problems = [RowProblem(i + 1, r) for i, r in enumerate(reasons) if r is not None]
    return np.where(ok, geoms, None), problems


def refuse(source: str, total: int, problems: list[RowProblem]) -> ImportRejected:
    """The error for a refused import: one line naming the first bad rows, all in ``.rows``.

    Parameters
    ----------
    source : str
        The file's name.
    total : int
        How many rows the file has.
    problems : list of RowProblem
        All the bad rows, in file order.

    Returns
    -------
    ImportRejected
        To be raised by the caller.
    """
    problems = sorted(problems)
    shown = "; ".join(str(p) for p in problems[:MESSAGE_ROWS])
    more = len(problems) - MESSAGE_ROWS
    tail = f"; and {more} more" if more > 0 else ""
    bad = len({p.row for p in problems})
    msg = f"{source}: nothing imported, {bad} of {total} rows refused: {shown}{tail}"
    return ImportRejected(msg, problems)


# --- writing --------------------------------------------------------------------------------


def write_rows(conn: Connection, model, rows: list[dict], desc: str) -> list[int]:
    """Insert rows in batches with a progress bar on stderr; returns the new ids in order.

    Parameters
    ----------
    conn : Connection
        In the caller's transaction.
    model : type
        The mapped class (``Building``, ``Yard`` ...).
    rows : list of dict
        Column values.
    desc : str
        The progress bar's label.

    Returns
    -------
    list of int
        The ids of the new rows, in the order of ``rows``.
    """
    ids: list[int] = []
    with tqdm(
        total=len(rows), desc=desc, unit=" rows", file=sys.stderr, disable=None, leave=False
    ) as bar:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            ids += _insert(conn, model, chunk)
            bar.update(len(chunk))
    return ids


def link_yards(
    conn: Connection,
    city: int,
    yard_ids: list[int] | None = None,
    building_ids: list[int] | None = None,
    reach_m: float = YARD_REACH_M,
) -> int:
    """Link yards to the buildings within ``reach_m`` metres of them (``yard_buildings``).

    Distances are measured on the geography (metres on the spheroid); a bounding box
    in the city's metric CRS lets the spatial index find the candidates.

    Parameters
    ----------
    conn : Connection
        In the caller's transaction.
    city : int
        The city's id.
    yard_ids, building_ids : list of int, optional
        Link only these yards (to any building) or only these buildings (to any yard).
    reach_m : float
        The distance in metres.

    Returns
    -------
    int
        How many new links were made.
    """
    where = []
    params: dict[str, Any] = {"c": city, "d": reach_m, "pad": reach_m + 5}
    if yard_ids is not None:
        where.append("y.id = ANY(:yids)")
        params["yids"] = yard_ids
    if building_ids is not None:
        where.append("b.id = ANY(:bids)")
        params["bids"] = building_ids
    cond = "".join(f" AND {w}" for w in where)
    stmt = text(f"""
        INSERT INTO yard_buildings (city_id, yard_id, building_id)
        SELECT y.city_id, y.id, b.id
        FROM yards y
        JOIN cities c ON c.id = y.city_id
        JOIN buildings b ON b.city_id = y.city_id
          AND b.geom && ST_Transform(ST_Expand(ST_Transform(y.geom, c.metric_srid), :pad), 4326)
          AND ST_DWithin(y.geom::geography, b.geom::geography, :d)
        WHERE y.city_id = :c{cond}
        ON CONFLICT DO NOTHING""")
    return conn.execute(stmt, params).rowcount


def name_yards(conn: Connection, city: int, yard_ids: list[int]) -> None:
    """Name the unnamed yards after the biggest building they serve (as the demo city does).

    Parameters
    ----------
    conn : Connection
        In the caller's transaction.
    city : int
        The city's id.
    yard_ids : list of int
        The yards to name (those with a name are left alone).
    """
    conn.execute(
        text("""
        UPDATE yards y SET name = 'Двор: ' || b.address_ru
        FROM (SELECT DISTINCT ON (yb.yard_id) yb.yard_id, b.address_ru
              FROM yard_buildings yb JOIN buildings b
                ON b.city_id = yb.city_id AND b.id = yb.building_id
              WHERE yb.city_id = :c AND yb.yard_id = ANY(:ids) AND b.address_ru <> ''
              ORDER BY yb.yard_id, b.apartments DESC, b.id) b
        WHERE y.city_id = :c AND y.id = b.yard_id AND y.name IS NULL
        """),
        {"c": city, "ids": yard_ids},
    )


def place_wells(
    conn: Connection,
    city: int,
    well_ids: list[int] | None = None,
    yard_ids: list[int] | None = None,
) -> int:
    """Set ``wells.yard_id`` to the smallest yard containing the well.

    Parameters
    ----------
    conn : Connection
        In the caller's transaction.
    city : int
        The city's id.
    well_ids : list of int, optional
        Place these wells (whatever their yard was).
    yard_ids : list of int, optional
        Place the wells without a yard that stand in these yards.

    Returns
    -------
    int
        How many wells got a yard.
    """
    if well_ids is not None:
        stmt = text("""
            UPDATE wells w SET yard_id = (
                SELECT y.id FROM yards y WHERE y.city_id = w.city_id AND ST_Covers(y.geom, w.geom)
                ORDER BY y.area_m2, y.id LIMIT 1)
            WHERE w.city_id = :c AND w.id = ANY(:ids)
            RETURNING w.yard_id""")
        ids = well_ids
    else:
        stmt = text("""
            UPDATE wells w SET yard_id = (
                SELECT y.id FROM yards y WHERE y.city_id = w.city_id AND ST_Covers(y.geom, w.geom)
                ORDER BY y.area_m2, y.id LIMIT 1)
            WHERE w.city_id = :c AND w.yard_id IS NULL AND EXISTS (
                SELECT 1 FROM yards y WHERE y.city_id = w.city_id AND y.id = ANY(:ids)
                  AND ST_Covers(y.geom, w.geom))
            RETURNING w.yard_id""")
        ids = yard_ids or []
    return sum(r[0] is not None for r in conn.execute(stmt, {"c": city, "ids": ids}))


class StreetBook:
    """The city's streets by name, creating (without geometry) the ones not yet known.

    A name matches a street when it equals its Russian or Kazakh name (case aside) or, failing
    that, when the two are the same after :func:`geo.city.address.normalize` (``ул. Абая`` and
    ``Абая``).

    Parameters
    ----------
    conn : Connection
        In the caller's transaction (new streets are written there).
    city : int
        The city's id.
    """

    def __init__(self, conn: Connection, city: int):
        self.conn, self.city = conn, city
        self.by_name: dict[str, tuple[int, str, str]] = {}
        self.by_words: dict[str, tuple[int, str, str]] = {}
        self.created = 0
        rows = conn.execute(
            select(Street.id, Street.name_ru, Street.name_kk)
            .where(Street.city_id == city)
            .order_by(Street.id)
        ).all()
        for r in rows:
            self._remember((r.id, r.name_ru, r.name_kk))

    def _remember(self, st: tuple[int, str, str]) -> None:
        for name in (st[1], st[2]):
            self.by_name.setdefault(name.casefold().strip(), st)
            words = normalize(name)
            if words:
                self.by_words.setdefault(words, st)

    def find(self, name: str) -> tuple[int, str, str] | None:
        """The street called ``name`` in either language.

        Parameters
        ----------
        name : str
            As written in a file or a tag.

        Returns
        -------
        tuple of (int, str, str) or None
            ``(id, name_ru, name_kk)``, or None when the city has no such street.
        """
        hit = self.by_name.get(name.casefold().strip())
        if hit is None:
            words = normalize(name)
            hit = self.by_words.get(words) if words else None
        return hit

    def get(
        self, name_ru: str, name_kk: str | None = None, kind: str = "street", geom=None
    ) -> tuple[int, str, str]:
        """Find the street by either name, or create it.

        Parameters
        ----------
        name_ru : str
            The name (taken as the Russian one for a new street).
        name_kk : str, optional
            The Kazakh name of a new street (default: ``name_ru``).
        kind : str
            The kind of a new street.
        geom : shapely geometry, optional
            The geometry of a new street (WGS 84).

        Returns
        -------
        tuple of (int, str, str)
            ``(id, name_ru, name_kk)`` of the street found or created.
        """
        hit = self.find(name_ru) or (self.find(name_kk) if name_kk else None)
        if hit is not None:
            return hit
        name_kk = name_kk or name_ru
        row = {
            "city_id": self.city,
            "name_ru": name_ru,
            "name_kk": name_kk,
            "kind": kind,
            "geom": from_shape(geom, srid=4326) if geom is not None else None,
        }
        sid = _insert(self.conn, Street, [row])[0]
        st = (sid, name_ru, name_kk)
        self._remember(st)
        self.created += 1
        return st


# --- the import -----------------------------------------------------------------------------


def _city(conn: Connection, code: str):
    cid = city_id(conn, code)
    wkb = conn.execute(select(City.bounds.ST_AsBinary()).where(City.id == cid)).scalar_one()
    return cid, shapely.from_wkb(bytes(wkb))


def _organisations(conn: Connection, cid: int) -> dict[str, list[int]]:
    orgs: dict[str, list[int]] = {}
    for oid, ru, kk in conn.execute(
        select(Organisation.id, Organisation.name_ru, Organisation.name_kk).where(
            Organisation.city_id == cid
        )
    ):
        for name in {_org_key(ru), _org_key(kk)}:
            orgs.setdefault(name, []).append(oid)
    return orgs


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
    kind : {"buildings", "yards", "wells", "districts"}
        The layer.
    path : str or Path
        A GeoJSON, GeoPackage or Shapefile (or another file GDAL reads).
    city_code : str
        The city the layer belongs to, e.g. ``"PET"``.
    mapping : str, Path or dict, optional
        Our field -> the file's column (see the module docstring); without one, columns
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
    cid, bounds = _city(conn, city_code)
    city_code = city_code.upper()
    notes: list[str] = []
    gdf = _read(path, notes, layer)
    name = path.name
    crs = _source_crs(gdf, source_crs, name, notes)
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    sources = resolve_mapping(kind, spec, columns, name)
    if len(gdf) == 0:
        raise InvalidInput(f"{name} has no rows")

    geoms, problems = check_geometries(
        np.asarray(gdf.geometry.array, dtype=object), kind, crs, bounds, city_code
    )
    fields = FIELDS[kind]
    values: dict[str, list] = {}
    for ours, src in sources.items():
        col = gdf[src.column].tolist() if src.column is not None else [None] * len(gdf)
        out = []
        for i, raw in enumerate(col):
            v, why = _value(ours, fields[ours], src, raw)
            if why:
                problems.append(RowProblem(i + 1, why))
            out.append(v)
        values[ours] = out
    owners: list[int | None] = [None] * len(gdf)
    if kind == "wells" and "owner" in values:
        orgs = _organisations(conn, cid)
        for i, owner in enumerate(values["owner"]):
            if owner is None:
                continue
            found = orgs.get(_org_key(owner), [])
            if len(found) == 1:
                owners[i] = found[0]
            else:
                what = "no organisation" if not found else f"{len(found)} organisations"
                problems.append(
                    RowProblem(i + 1, f"owner {owner!r}: {what} of {city_code} has this name")
                )
    if problems:
        raise refuse(name, len(gdf), problems)

    if not _is_wgs84(crs):
        notes.insert(0, f"reprojected from {crs.to_string()} to EPSG:4326")
    echo(f"{name}: {len(gdf)} {kind} checked, writing to {city_code}")

    def col(ours: str, i: int, default=None):
        v = values.get(ours)
        return default if v is None or v[i] is None else v[i]

    n = len(gdf)
    counts: dict[str, int] = {}
    if kind == "buildings":
        book = StreetBook(conn, cid)
        rows = []
        for i in range(n):
            sid, st_ru, st_kk = book.get(col("street", i), col("street_kk", i))
            num = col("house_number", i)
            address_ru, address_kk = f"{st_ru}, {num}", f"{st_kk}, {num}"
            kind_i = col("kind", i, "apartment")
            rows.append(
                {
                    "city_id": cid,
                    "street_id": sid,
                    "house_number": num,
                    "address_ru": address_ru,
                    "address_kk": address_kk,
                    "search_text": search_text(address_ru, address_kk, num),
                    "kind": kind_i,
                    "apartments": col("apartments", i, 1 if kind_i == "private" else 0),
                    "floors": col("floors", i, 1),
                    "year_built": col("year_built", i),
                    "source": "import",
                    "geom": from_shape(geoms[i], srid=4326),
                }
            )
        ids = write_rows(conn, Building, rows, "buildings")
        counts["buildings"] = len(ids)
        counts["new streets"] = book.created
        counts["yard links"] = link_yards(conn, cid, building_ids=ids)
        if "apartments" not in values:
            notes.append("no apartments column: 0 apartments (1 for private houses)")
        if "floors" not in values:
            notes.append("no floors column: 1 floor")
    elif kind == "yards":
        rows = [
            {
                "city_id": cid,
                "name": col("name", i),
                "surface": col("surface", i),
                "last_repair_year": col("last_repair_year", i),
                "repair_status": col("repair_status", i, "queued"),
                "source": "import",
                "geom": from_shape(geoms[i], srid=4326),
            }
            for i in range(n)
        ]
        ids = write_rows(conn, Yard, rows, "yards")
        counts["yards"] = len(ids)
        counts["yard links"] = link_yards(conn, cid, yard_ids=ids)
        name_yards(conn, cid, ids)
        placed = place_wells(conn, cid, yard_ids=ids)
        if placed:
            counts["wells placed in yards"] = placed
    elif kind == "wells":
        rows = [
            {
                "city_id": cid,
                "code": col("code", i),
                "kind": col("kind", i),
                "owner_id": owners[i],
                "source": "import",
                "geom": from_shape(geoms[i], srid=4326),
            }
            for i in range(n)
        ]
        ids = write_rows(conn, Well, rows, "wells")
        counts["wells"] = len(ids)
        counts["in yards"] = place_wells(conn, cid, well_ids=ids)
    else:
        rows = [
            {
                "city_id": cid,
                "name_ru": col("name_ru", i),
                "name_kk": col("name_kk", i, col("name_ru", i)),
                "geom": from_shape(geoms[i], srid=4326),
            }
            for i in range(n)
        ]
        counts["districts"] = len(write_rows(conn, District, rows, "districts"))
    return ImportReport(source=name, city=city_code, counts=counts, notes=notes)
