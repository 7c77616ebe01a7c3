"""A throwaway PostGIS per test session, migrated once, with the demo city loaded.

The cluster is made by ``geo.infra.localdb`` as ``qala db up`` makes it: passwords, an admin
role that owns everything, a service role under row-level security. A template database is
migrated and loaded once; every database the tests use is a copy of it
(``CREATE DATABASE … TEMPLATE``, a fraction of a second):

* tests of the domain code run inside an outer transaction on a shared copy, rolled back at
  the end (SQLAlchemy's "joining a Session into an external transaction" recipe), as the
  admin;
* API tests (those using ``app``/``client``) run the app as in production: its own engines
  and asyncpg pool, connected as the **service role** (row-level security applies), appeal
  creation through the asyncpg write path. The app cannot see another connection's
  uncommitted rows, so such a test gets a copy of its own and its ``conn`` commits (the
  admin's, autocommit); the copy is dropped afterwards.

Set QALA_TEST_DATABASE_URL to run against a server of your own instead (an admin URL of a
database the tests may fill and copy; they create sibling databases and a service role).
"""

from __future__ import annotations

import os
import secrets
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from geo.infra.localdb import APP_GROUP, LocalCluster, free_port, read_password
from geo.infra.settings import Settings

# the browser tests' database, server and Chromium
pytest_plugins = ["tests.browser_fixtures"]

DEMO_SEED = 2026
DEMO_APPEALS = 600
SECRET = "test-secret-key-of-at-least-32-bytes!"


@dataclass(frozen=True)
class Database:
    """One test database: the admin's URL and the service role's."""

    admin: str
    service: str


def cluster_root(name: str) -> Path:
    """A folder for a throwaway cluster, outside pytest's temporary folders: a starting pytest
    session makes its base folder (``/tmp/pytest-of-<user>``) owner-only again, which would
    shut the cluster's OS user (``postgres``) out of the cluster of a session already
    running. ``LocalCluster.destroy`` removes it."""
    return Path(tempfile.mkdtemp(prefix=f"qala-test-{name}-"))


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster | None]:
    if os.environ.get("QALA_TEST_DATABASE_URL"):
        yield None
        return
    root = cluster_root("pg")
    made = LocalCluster(root=root, port=free_port(), durable=False)
    made.up(echo=lambda *_: None)
    yield made
    made.destroy()


@pytest.fixture(scope="session")
def cluster_url(cluster) -> str:
    """The admin's URL of the cluster's main database."""
    return os.environ.get("QALA_TEST_DATABASE_URL") or cluster.url()


@pytest.fixture(scope="session")
def service_login(cluster, cluster_url) -> tuple[str, str]:
    """The service role's name and password: the cluster's own, or on a given server a
    role made here (a member of ``qala_app``, like the cluster's)."""
    if cluster is not None:
        return cluster.service_role, read_password(cluster.root, cluster.service_role)
    name, password = "qala_test_service", secrets.token_urlsafe(24)
    admin = create_engine(cluster_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as c:
        for group_or_login in (APP_GROUP, name):
            c.execute(
                text(
                    f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                    f"'{group_or_login}') THEN CREATE ROLE {group_or_login}; END IF; END $$"
                )
            )
        c.execute(text(f"ALTER ROLE {name} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{password}'"))
        c.execute(text(f"GRANT {APP_GROUP} TO {name}"))
    admin.dispose()
    return name, password


@pytest.fixture(scope="session")
def as_service(service_login):
    """``as_service(admin_url)``: the same database's URL for the service role."""
    name, password = service_login

    def convert(admin_url: str) -> str:
        url = make_url(admin_url).set(username=name, password=password)
        return url.render_as_string(hide_password=False)

    return convert


@pytest.fixture(scope="session")
def make_database(cluster_url):
    """``make_database()``: an empty PostGIS database next to the main one;
    ``make_database(template=url)``: a copy of the database at ``url``. Returns the admin's
    URL; every database made is dropped at the end of the session."""
    made: list[str] = []
    admin = create_engine(
        make_url(cluster_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )

    def make(template: str | None = None) -> str:
        name = f"qala_t_{uuid.uuid4().hex[:10]}"
        source = f' TEMPLATE "{make_url(template).database}"' if template else ""
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"{source}'))
        made.append(name)
        url = make_url(cluster_url).set(database=name)
        if not template:
            e = create_engine(url, poolclass=NullPool)
            with e.begin() as c:
                c.execute(
                    text(
                        "CREATE EXTENSION IF NOT EXISTS postgis; "
                        "CREATE EXTENSION IF NOT EXISTS pg_trgm"
                    )
                )
            e.dispose()
        return url.render_as_string(hide_password=False)

    def drop(url: str) -> None:
        name = make_url(url).database
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        made.remove(name)

    make.drop = drop
    yield make
    with admin.connect() as c:
        for name in made:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def template_url(make_database) -> str:
    """The database every test database is copied from: migrated to head, the demo city
    (and some appeals) loaded. Nobody stays connected to it (a copy needs that)."""
    from geo.demo.appeals import load_demo_appeals
    from geo.demo.load import load_demo_city
    from geo.infra.migrate import upgrade

    url = make_database()
    upgrade(url)
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        counts = load_demo_city(conn, seed=DEMO_SEED)
        load_demo_appeals(conn, counts["city_id"], n=DEMO_APPEALS, seed=DEMO_SEED)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def db_url(make_database, template_url) -> str:
    """The shared database of the rolled-back tests (admin)."""
    return make_database(template=template_url)


@pytest.fixture(scope="session")
def engine(db_url):
    e = create_engine(db_url, pool_size=5)
    yield e
    e.dispose()


@pytest.fixture
def api_database(make_database, template_url, as_service) -> Iterator[Database]:
    """A copy of the template for one API test, dropped after it."""
    url = make_database(template=template_url)
    yield Database(admin=url, service=as_service(url))
    make_database.drop(url)


def _is_api_test(request) -> bool:
    return "app" in request.fixturenames


@pytest.fixture
def conn(request, engine):
    """The test's connection, as the admin. A test of the domain code: inside an outer
    transaction, rolled back after the test. An API test: on its own database, autocommit,
    so that the app (other connections) sees what the test writes."""
    if _is_api_test(request):
        own = create_engine(
            request.getfixturevalue("api_database").admin,
            isolation_level="AUTOCOMMIT",
            poolclass=NullPool,
        )
        with own.connect() as connection:
            yield connection
        own.dispose()
        return
    with engine.connect() as connection:
        outer = connection.begin()
        yield connection
        outer.rollback()


@pytest.fixture
def session(conn) -> Iterator[Session]:
    with Session(bind=conn, join_transaction_mode="create_savepoint") as s:
        yield s


@pytest.fixture
def city_id(conn) -> int:
    return conn.execute(text("SELECT id FROM cities WHERE code = 'PET'")).scalar_one()


@pytest.fixture
def settings(request, db_url) -> Settings:
    """The service's settings: the service role on the test's database (an API test's
    own), the admin for migrations."""
    if _is_api_test(request):
        db = request.getfixturevalue("api_database")
    else:
        db = Database(admin=db_url, service=request.getfixturevalue("as_service")(db_url))
    return Settings(
        database_url=db.service,
        admin_database_url=db.admin,
        environment="test",
        secret_key=SECRET,
        data_dir=request.getfixturevalue("tmp_path") / "data",  # photos land here
    )


@pytest.fixture
def app(settings):
    """The app as in production, on the test's own database, as the service role."""
    from api.app import create_app

    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
