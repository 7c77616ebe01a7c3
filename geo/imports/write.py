"""Writing rows of the city map, and what follows them: yards linked to the buildings they
serve and named after the biggest one, wells placed in the yards that hold them, streets found
by name (or created). Used by every import of map data (GIS files, OpenStreetMap); all in the
caller's transaction.
"""

from __future__ import annotations

import sys
from typing import Any

from geoalchemy2.shape import from_shape
from sqlalchemy import Connection, select, text
from tqdm import tqdm

from geo.city.address import normalize
from geo.city.catalog import _insert
from geo.models import Street

YARD_REACH_M = 15.0
"""A yard serves the buildings whose footprint is within this many metres of it."""
BATCH = 500


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
