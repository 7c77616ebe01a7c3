"""Engines and sessions. Nothing connects at import time: callers build an engine from settings.

Two kinds of engine: the service's (``settings.url``, the role row-level security applies
to: the API) and the admin's (``settings.admin_url``, the owner: migrations, imports, the
CLI). :func:`service_role_problems` says whether the service's role would bypass the
row-level security of migration 0011; the API refuses to start on it in production.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from sqlalchemy import URL, Connection, Engine, Row, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from geo.infra.settings import Settings


def make_engine(
    settings: Settings, admin: bool = False, url: str | None = None, name: str = "qala", **kw
) -> Engine:
    """An engine for the service's role, or with ``admin=True`` for the owner's, or for
    ``url`` (a read replica's). ``name``: the connections' ``application_name`` (what
    ``pg_stat_activity`` shows)."""
    options = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_pool_size,
        "pool_pre_ping": True,
        "pool_timeout": 5,
        "connect_args": {"connect_timeout": 3, "application_name": name},
    }
    url = url or (settings.admin_url if admin else settings.url)
    return create_engine(url, **{**options, **kw})


def make_read_engines(settings: Settings) -> list[Engine]:
    """One engine per read replica of ``QALA_READ_DATABASE_URLS`` (``qala-read``)."""
    return [make_engine(settings, url=u, name="qala-read") for u in settings.read_urls]


def asyncpg_dsn(url: str | URL) -> str:
    """The DSN asyncpg takes for a SQLAlchemy URL, several hosts included.

    libpq's way of naming a primary and its standbys, so that the service follows a promoted
    standby without a restart, is written in a SQLAlchemy URL as repeated ``host``
    parameters; asyncpg wants them in the address:

    >>> asyncpg_dsn("postgresql+psycopg2://qala:p%40ss@/qala?host=10.0.0.1:5432"
    ...             "&host=10.0.0.2:5432&target_session_attrs=read-write")
    'postgresql://qala:p%40ss@10.0.0.1:5432,10.0.0.2:5432/qala?target_session_attrs=read-write'
    >>> asyncpg_dsn("postgresql+psycopg2://qala:pw@127.0.0.1:54329/qala")
    'postgresql://qala:pw@127.0.0.1:54329/qala'
    """
    url = make_url(url)
    hosts = url.query.get("host")
    if hosts:
        where = ",".join([hosts] if isinstance(hosts, str) else hosts)
    else:
        where = f"{url.host or ''}{f':{url.port}' if url.port else ''}"
    auth = quote(url.username or "", safe="")
    if url.password is not None:
        auth += ":" + quote(str(url.password), safe="")
    query = {k: v for k, v in url.query.items() if k != "host"}
    tail = f"?{urlencode(query, doseq=True)}" if query else ""
    return f"postgresql://{auth}{'@' if auth else ''}{where}/{url.database or ''}{tail}"


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


def hash_grouped(conn: Connection, sql: str, params: dict) -> list[Row]:
    """The rows of ``sql``, a GROUP BY over many appeals into few groups, grouped in a hash.

    Under row-level security (the service role) the planner estimates some ten thousand
    appeals whatever the filters select (the policies' clauses multiply their
    selectivities), and so sorts every row to group them: 2.6 s for the 250 m cells of
    2.3 million appeals, the sort spilling to disk, where a hash of the few hundred groups
    takes 0.8 s (two parallel workers beside the leader: migration 0024; 0.36 s when each
    worker groups its share, as the hot spot count does: migration 0025). ``enable_sort``
    is off for this statement only, in the caller's transaction (``set_config(..., true)``),
    and put back after it; not in a ``finally``: a failed statement has aborted the
    transaction, the setting goes with it, and a statement sent after it would hide the
    statement's error.
    """
    was = conn.execute(
        text("SELECT current_setting('enable_sort'), set_config('enable_sort', 'off', true)")
    ).scalar()
    rows = conn.execute(text(sql), params).all()
    conn.execute(text("SELECT set_config('enable_sort', :was, true)"), {"was": was})
    return rows
