"""Engines and sessions. Nothing connects at import time: callers build an engine from settings.

Two kinds of engine: the service's (``settings.url``, the role row-level security applies
to: the API) and the admin's (``settings.admin_url``, the owner: migrations, imports, the
CLI). :func:`service_role_problems` says whether the service's role would bypass the
row-level security of migration 0011; the API refuses to start on it in production.
"""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import sessionmaker

from geo.infra.settings import Settings


def make_engine(settings: Settings, admin: bool = False, **kw) -> Engine:
    """An engine for the service's role, or with ``admin=True`` for the owner's."""
    options = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_pool_size,
        "pool_pre_ping": True,
        "pool_timeout": 5,
        "connect_args": {"connect_timeout": 3, "application_name": "qala"},
    }
    return create_engine(settings.admin_url if admin else settings.url, **{**options, **kw})


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)


# what makes a role see past the row-level security policies: superuser, BYPASSRLS, or
# owning the table (directly or through a role it belongs to)
ROLE_SQL = """
SELECT r.rolname, r.rolsuper, r.rolbypassrls,
       pg_has_role(current_user, c.relowner, 'USAGE') AS owns_appeals
FROM pg_roles r
LEFT JOIN pg_class c ON c.oid = to_regclass('appeals')
WHERE r.rolname = current_user
"""


def service_role_problems(dbapi_connection) -> list[str]:
    """Why the role of a DBAPI connection would not be held by row-level security (empty:
    it is). A DBAPI connection, so that an engine's ``first_connect`` event can ask.

    Returns
    -------
    list of str
        One sentence per problem: superuser, ``BYPASSRLS``, owner of ``appeals``.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(ROLE_SQL)
        name, superuser, bypass, owner = cursor.fetchone()
    finally:
        cursor.close()
    problems = []
    if superuser:
        problems.append(f"the database role {name!r} is a superuser")
    if bypass:
        problems.append(f"the database role {name!r} has BYPASSRLS")
    if owner:
        problems.append(f"the database role {name!r} owns the appeals table")
    return problems
