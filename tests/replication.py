"""A primary with the demo city and a streaming hot standby, made by the project's own code
(``geo.infra.localdb`` + ``geo.infra.standby``, as ``qala db up --standby`` makes them), for
the read-replica and failover tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from geo.infra.localdb import LocalCluster, free_port
from geo.infra.settings import Settings
from tests.conftest import SECRET, cluster_root

DEMO_SEED = 2026


@dataclass
class Pair:
    primary: LocalCluster
    standby: LocalCluster

    def destroy(self) -> None:
        self.standby.stop("immediate")
        self.primary.destroy()  # the standby's folder is inside the primary's root


def demo_primary(name: str, appeals: int = 60) -> LocalCluster:
    """A throwaway primary, migrated, with the demo city and ``appeals`` appeals."""
    from geo.demo.appeals import load_demo_appeals
    from geo.demo.load import load_demo_city
    from geo.infra.migrate import upgrade

    primary = LocalCluster(root=cluster_root(name), port=free_port(), durable=False)
    primary.up(echo=lambda *_: None)
    upgrade(primary.url())
    engine = create_engine(primary.url(), poolclass=NullPool)
    with engine.begin() as conn:
        counts = load_demo_city(conn, seed=DEMO_SEED)
        load_demo_appeals(conn, counts["city_id"], n=appeals, seed=DEMO_SEED)
    engine.dispose()
    return primary


def admin_engine(cluster: LocalCluster):
    return create_engine(cluster.url(), isolation_level="AUTOCOMMIT", poolclass=NullPool)


def settings_for(primary_url: str, admin_url: str, tmp, **kw) -> Settings:
    return Settings(
        database_url=primary_url,
        admin_database_url=admin_url,
        environment="test",
        secret_key=SECRET,
        data_dir=tmp / "data",
        **kw,
    )


def standby_sessions(standby: LocalCluster, application_name: str = "qala-read") -> int:
    """Connections of the service's read engines open on ``standby`` (server side)."""
    return int(
        standby.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
            f"'{application_name}' AND usename = 'qala_service'"
        )
    )


def in_recovery(cluster: LocalCluster) -> bool:
    return cluster.psql("SELECT pg_is_in_recovery()") == "t"


def wait_replayed(primary: LocalCluster, standby: LocalCluster) -> None:
    """Until the standby has replayed everything the primary has written so far."""
    import time

    target = primary.psql("SELECT pg_current_wal_lsn()")
    for _ in range(600):
        if standby.psql(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn") == "t":
            return
        time.sleep(0.05)
    raise AssertionError("the standby did not catch up in 30 s")


def count_appeals(engine, where: str = "true", **params) -> int:
    with engine.connect() as c:
        return c.execute(text(f"SELECT count(*) FROM appeals WHERE {where}"), params).scalar_one()
