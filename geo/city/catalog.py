"""The city's reference data: the categories (``categories.yaml`` beside this module, package
data read with :mod:`importlib.resources`), a city by its code, and writing rows of the map.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import yaml
from sqlalchemy import Connection, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from geo.infra.errors import InvalidInput, NotFound
from geo.models import ORG_KINDS, Category, City

#: the categories every city shares: names, groups, deadlines, routing
CATEGORIES_FILE = files("geo.city") / "categories.yaml"


def load_categories(conn: Connection, path: Path | Traversable = CATEGORIES_FILE) -> int:
    """Insert or update the category list (a reference table shared by all cities)."""
    rows = [
        {
            "code": c["code"],
            "name_ru": c["ru"],
            "name_kk": c["kk"],
            "name_en": c["en"],
            "group_code": c["group"],
            "criticality": c["criticality"],
            "deadline_hours": c["hours"],
            "responsible_kind": c["kind"],
            "object_kind": c["object"],
            "well_kind": c.get("well_kind"),
            "repeat_radius_m": c.get("radius", 250),
            "repeat_window_days": c.get("window", 30),
            "needs_budget": c.get("budget", False),
            "counts_for_yard_queue": c.get("queue", False),
            "dispute_days": c.get("dispute", 14),
        }
        for c in yaml.safe_load(path.read_text(encoding="utf-8"))
    ]
    # only the columns the table has: a database at an older revision (a migration's test,
    # a restore before ``qala db migrate``) takes the list as its schema holds it
    have = set(
        conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = 'categories'"
            )
        ).scalars()
    )
    rows = [{k: v for k, v in r.items() if k in have} for r in rows]
    stmt = pg_insert(Category).values(rows)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Category.code], set_={k: stmt.excluded[k] for k in rows[0] if k != "code"}
    )
    conn.execute(stmt)
    return len(rows)


def list_categories(conn: Connection) -> list[dict]:
    """Every category with its names, group, criticality, deadline and routing, by group
    and code."""
    rows = conn.execute(text("SELECT * FROM categories ORDER BY group_code, code")).mappings()
    return [dict(r) for r in rows]


def category_names(conn: Connection, lang: str) -> dict[str, str]:
    """Each category's code and its name in ``lang`` (``kk``, ``en``, else Russian), by code.

    Parameters
    ----------
    lang
        A page's language; anything but ``kk`` and ``en`` reads Russian.
    """
    column = {"kk": "name_kk", "en": "name_en"}.get(lang, "name_ru")
    rows = conn.execute(text(f"SELECT code, {column} FROM categories ORDER BY code"))
    return {code: name for code, name in rows}


def city_id(conn: Connection, code: str) -> int:
    found = conn.execute(select(City.id).where(City.code == code.upper())).scalar()
    if found is None:
        raise NotFound(f"no city with code {code!r}")
    return found


def add_organisation(
    conn: Connection,
    city_code: str,
    kind: str,
    name_ru: str,
    name_kk: str | None = None,
    phone: str | None = None,
    manager: str | None = None,
) -> int:
    """Add an organisation that serves the whole city (its service area is the city's
    bounds), so that routing finds a body of its kind anywhere in the city.

    Parameters
    ----------
    city_code : the city's code.
    kind : one of :data:`geo.models.ORG_KINDS` (which categories route to it).
    name_ru, name_kk : its names (the Kazakh one defaults to the Russian one).
    phone, manager : its contacts, shown to staff.

    Returns
    -------
    int
        The new organisation's id. Organisations with areas of their own are imported from
        a GIS file (``qala import organisations``).
    """
    if kind not in ORG_KINDS:
        raise InvalidInput(f"kind {kind!r} is not one of {', '.join(ORG_KINDS)}")
    if not name_ru.strip():
        raise InvalidInput("the organisation needs a name")
    return conn.execute(
        text(
            "INSERT INTO organisations (city_id, kind, name_ru, name_kk, phone, manager, "
            "service_area) SELECT id, :kind, :ru, :kk, :phone, :manager, bounds "
            "FROM cities WHERE id = :c RETURNING id"
        ),
        {
            "c": city_id(conn, city_code),
            "kind": kind,
            "ru": name_ru.strip(),
            "kk": (name_kk or name_ru).strip(),
            "phone": phone,
            "manager": manager,
        },
    ).scalar_one()


def _insert(conn: Connection, model, rows: list[dict]) -> list[int]:
    if not rows:
        return []
    result = conn.execute(insert(model).returning(model.id, sort_by_parameter_order=True), rows)
    return [r[0] for r in result]


def database_is_empty(conn: Connection) -> bool:
    return conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM cities)")).scalar()
