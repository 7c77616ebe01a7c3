"""Reading a GIS file's layer, deciding its CRS, and checking and reprojecting its
geometries to WGS 84 (the bad rows named, none dropped in silence)."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import CRS
from pyproj.exceptions import CRSError
from shapely.geometry import MultiPolygon

from geo.imports.report import RowProblem
from geo.infra.errors import InvalidInput

WGS84 = CRS.from_epsg(4326)


def read_layer(path: Path, notes: list[str], layer: str | None = None) -> gpd.GeoDataFrame:
    """The file's layer ``layer`` (by default its first, with a note naming the others)."""
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


def is_wgs84(crs: CRS) -> bool:
    """Whether ``crs`` is WGS 84 lon/lat (axis order aside): no reprojection needed."""
    return crs.equals(WGS84, ignore_axis_order=True)


def decide_crs(gdf: gpd.GeoDataFrame, given_crs: str | None, name: str, notes: list[str]) -> CRS:
    """The CRS the rows are read in: ``given_crs`` (``--crs``) over the file's own; none is an
    error."""
    given = None
    if given_crs is not None:
        try:
            given = CRS.from_user_input(given_crs)
        except CRSError as exc:
            raise InvalidInput(
                f"--crs {given_crs!r} is not a CRS pyproj knows (try EPSG:4326 or EPSG:32642)"
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
    if not is_wgs84(crs):
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
