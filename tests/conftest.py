"""A throwaway PostGIS per test session, migrated once, with the demo city loaded.

Each test runs inside an outer transaction that is rolled back at the end (SQLAlchemy's
"joining a Session into an external transaction" recipe), so tests do not see each other.
Set QALA_TEST_DATABASE_URL to run against a server of your own instead (it must be a
database the tests may fill; they create sibling databases for migration tests).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from geo.infra.localdb import LocalCluster, free_port
from geo.infra.settings import Settings

DEMO_SEED = 2026
DEMO_APPEALS = 600


@pytest.fixture(scope="session")
def cluster_url(tmp_path_factory) -> Iterator[str]:
    given = os.environ.get("QALA_TEST_DATABASE_URL")
    if given:
        yield given
        return
    root = Path(tmp_path_factory.mktemp("pg", numbered=True))
    cluster = LocalCluster(root=root, port=free_port(), durable=False)
    cluster.up(echo=lambda *_: None)
    yield cluster.url()
    cluster.destroy()


@pytest.fixture(scope="session")
def make_database(cluster_url):
    """Create an empty PostGIS database next to the main one; returns its URL."""
    made: list[str] = []
    admin = create_engine(
        make_url(cluster_url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )

    def make() -> str:
        name = f"qala_t_{uuid.uuid4().hex[:10]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(cluster_url).set(database=name)
        e = create_engine(url)
        with e.begin() as c:
            c.execute(
                text(
                    "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pg_trgm"
                )
            )
        e.dispose()
        made.append(name)
        return url.render_as_string(hide_password=False)

    yield make
    with admin.connect() as c:
        for name in made:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def db_url(make_database) -> str:
    """A database migrated to head with the demo city (and some appeals) loaded."""
    from geo.demo.appeals import load_demo_appeals
    from geo.demo.load import load_demo_city
    from geo.infra.migrate import upgrade

    url = make_database()
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as conn:
        counts = load_demo_city(conn, seed=DEMO_SEED)
        load_demo_appeals(conn, counts["city_id"], n=DEMO_APPEALS, seed=DEMO_SEED)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def engine(db_url):
    e = create_engine(db_url, pool_size=5)
    yield e
    e.dispose()


@pytest.fixture
def conn(engine):
    """A connection inside an outer transaction, rolled back after the test."""
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
def settings(db_url) -> Settings:
    return Settings(
        database_url=db_url, environment="test", secret_key="test-secret-key-of-at-least-32-bytes!"
    )


@pytest.fixture
def app(settings, conn):
    """The app with its sessions bound to the test's rolled-back transaction."""
    from fastapi import Depends

    from api.app import create_app
    from api.deps import Db, bind_scope, get_db, get_scope, get_session

    application = create_app(settings)

    # (a default, not an annotation: this module's annotations are strings)
    def session_in_test_tx(scope=Depends(get_scope)):
        with Session(bind=conn, join_transaction_mode="create_savepoint") as s:
            yield bind_scope(s, scope)

    class DbInTestTx(Db):
        @contextmanager
        def connect(self):
            with conn.begin_nested():
                yield conn

        async def create_appeal(self, city_id, new, actor):
            from geo.appeals.intake import create_appeal

            with self.connect() as c:
                return create_appeal(c, city_id, new, actor)

    async def db_in_test_tx():
        return DbInTestTx(conn.engine)

    application.dependency_overrides[get_session] = session_in_test_tx
    application.dependency_overrides[get_db] = db_in_test_tx
    return application


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c
