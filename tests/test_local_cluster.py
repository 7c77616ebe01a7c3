"""The project's own cluster trusts nobody for being local (``geo.infra.localdb``).

One throwaway cluster is made as an earlier version of ``qala db up`` left its clusters
(``initdb --auth=trust``: every local connection trusted, no service role, data in it), then
brought up by today's ``up``: it must be upgraded in place.
"""

from __future__ import annotations

import os
import stat

import psycopg2
import pytest

from geo.infra.localdb import (
    LocalCluster,
    free_port,
    password_file,
    read_password,
    scram_verifier,
)
from tests.conftest import cluster_root

# what `initdb --auth=trust` wrote into pg_hba.conf (its non-comment lines)
OLD_HBA = """\
local   all             all                                     trust
host    all             all             127.0.0.1/32            trust
host    all             all             ::1/128                 trust
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            trust
host    replication     all             ::1/128                 trust
"""


def connect(cluster: LocalCluster, user: str, password: str | None = None, db: str = "qala"):
    return psycopg2.connect(
        host="127.0.0.1",
        port=cluster.port,
        user=user,
        password=password,
        dbname=db,
        connect_timeout=5,
    )


@pytest.fixture(scope="module")
def upgraded():
    """(cluster, what could be done before the upgrade)."""
    root = cluster_root("old-cluster")
    cluster = LocalCluster(root=root, port=free_port(), durable=False)
    cluster.init()
    (cluster.pgdata / "pg_hba.conf").write_text(OLD_HBA)  # as the earlier version left it
    try:
        cluster.start()
        cluster.psql("CREATE DATABASE qala")
        cluster.psql("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)", db="qala")
        with connect(cluster, "qala") as before:  # no password: trusted
            trusted = before.cursor()
            trusted.execute("SELECT x FROM kept")
            before_rows = trusted.fetchall()
        before.close()
        cluster.up(echo=lambda *_: None)
        yield cluster, before_rows
    finally:
        cluster.destroy()


def test_the_old_cluster_trusted_tcp_and_the_upgrade_kept_its_data(upgraded):
    cluster, before_rows = upgraded
    assert before_rows == [(42,)]  # before: anyone on this machine got in without a password
    with connect(cluster, "qala", read_password(cluster.root, "qala")) as c:
        cur = c.cursor()
        cur.execute("SELECT x FROM kept")
        assert cur.fetchall() == [(42,)]
    c.close()


def test_pg_hba_has_no_trust_line_and_tcp_needs_a_scram_password(upgraded):
    cluster, _ = upgraded
    lines = [
        line.split()
        for line in (cluster.pgdata / "pg_hba.conf").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines, "pg_hba.conf has no rule"
    assert not [line for line in lines if "trust" in line]
    assert [line for line in lines if line[0] == "host"], "pg_hba.conf has no host rule"
    assert all(line[-1] == "scram-sha-256" for line in lines if line[0] == "host")
    assert [line for line in lines if line[0] == "local"] == [
        ["local", "all", "all", "peer", "map=owner"]
    ]
    for user, password in (("qala", None), ("qala", "wrong"), ("qala_service", None)):
        with pytest.raises(psycopg2.OperationalError, match="password"):
            connect(cluster, user, password)


def test_only_the_clusters_os_owner_may_use_the_socket(upgraded):
    cluster, _ = upgraded
    ident = (cluster.pgdata / "pg_ident.conf").read_text().split("\n")
    mapped = [line.split() for line in ident if line.strip() and not line.startswith("#")]
    owner = "postgres" if os.geteuid() == 0 else None
    assert len(mapped) == 1 and mapped[0][0] == "owner" and mapped[0][2] == "qala"
    if owner:  # as root: root itself is not the owner and is refused on the socket
        assert mapped[0][1] == owner
        with pytest.raises(psycopg2.OperationalError, match="[Pp]eer"):
            psycopg2.connect(
                host=str(cluster.sockdir), port=cluster.port, user="qala", dbname="qala"
            )


def test_the_generated_passwords_are_owner_only_and_work(upgraded):
    cluster, _ = upgraded
    for role in ("qala", "qala_service"):
        path = password_file(cluster.root, role)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, role
        assert len(read_password(cluster.root, role)) >= 40
        connect(cluster, role, read_password(cluster.root, role)).close()


def test_the_service_role_is_not_privileged(upgraded):
    cluster, _ = upgraded
    with connect(cluster, "qala_service", read_password(cluster.root, "qala_service")) as c:
        cur = c.cursor()
        cur.execute(
            "SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, "
            "pg_has_role('qala_service', 'qala_app', 'MEMBER') FROM pg_roles "
            "WHERE rolname = current_user"
        )
        assert cur.fetchone() == (False, False, False, False, True)
    c.close()


def test_up_again_changes_nothing_and_keeps_the_passwords(upgraded):
    cluster, _ = upgraded
    before = {r: read_password(cluster.root, r) for r in ("qala", "qala_service")}
    hba = (cluster.pgdata / "pg_hba.conf").read_text()
    said = []
    cluster.up(echo=said.append)
    assert {r: read_password(cluster.root, r) for r in ("qala", "qala_service")} == before
    assert (cluster.pgdata / "pg_hba.conf").read_text() == hba
    assert not any("password" in line for line in said)  # nothing about (or of) passwords
    assert not any(before["qala"] in line for line in said)


def test_a_password_set_as_our_scram_verifier_is_the_password(upgraded):
    """The server checks logins against the verifier we compute: the password it was made
    from gets in, a near miss does not."""
    cluster, _ = upgraded
    cluster.psql(f"CREATE ROLE verifier_check LOGIN PASSWORD '{scram_verifier('pa55-word')}'")
    connect(cluster, "verifier_check", "pa55-word", db="postgres").close()
    with pytest.raises(psycopg2.OperationalError, match="password"):
        connect(cluster, "verifier_check", "pa55-wore", db="postgres")
