"""A streaming hot standby of the project's own cluster (``qala db up --standby``).

The standby is PostgreSQL's own physical replication, nothing home-made: ``pg_basebackup -R``
copies the primary (``data_dir/pg``) into ``data_dir/pg-standby`` as the replication role
``qala_replicator`` (``LOGIN REPLICATION``, nothing else; its password generated into the
data folder like the others, handed to libpq in a passfile owned by the cluster's OS user),
and the copy starts on its own port in recovery, streaming the primary's WAL and answering
reads (``hot_standby``). ``pg_hba.conf`` admits replication connections of that role only,
over TCP with SCRAM (:data:`geo.infra.localdb.HBA`).

Synchronous replication is a setting of ``qala db up`` (``--synchronous``,
``QALA_DB_SYNCHRONOUS``): ``on`` makes the primary wait, before it acknowledges a commit,
until the standby has flushed the commit's WAL to disk; ``remote_apply`` until the standby
has also applied it (a read on the standby right after sees it). Either way an appeal the
API acknowledged survives losing the primary. The price: every commit waits for a round trip
to the standby, and while the standby is away the primary's commits wait for it (``qala db
down --standby`` turns synchronous replication off before it stops the standby). ``off``
(the default) is asynchronous: the standby trails by milliseconds, and an acknowledged
commit not yet streamed is lost with the primary.

The standby is written with ``synchronous_standby_names = ''`` of its own, so that once
promoted it does not wait for a standby it does not have.
"""

from __future__ import annotations

import os
import pwd
from dataclasses import replace
from pathlib import Path
from typing import Literal

from geo.infra.localdb import (
    PG_BIN,
    LocalCluster,
    LocalDbError,
    _role_sql,
    ensure_password,
    port_is_free,
    scram_verifier,
)

REPLICATION_ROLE = "qala_replicator"
#: the standby's application_name: what ``synchronous_standby_names`` names and what
#: ``pg_stat_replication`` shows on the primary
STANDBY_NAME = "qala_standby"
Synchronous = Literal["off", "on", "remote_apply"]
SYNC_MODES: tuple[str, ...] = ("off", "on", "remote_apply")


def standby_of(primary: LocalCluster, port: int, name: str = "pg-standby") -> LocalCluster:
    """The standby's :class:`LocalCluster`: the primary's data folder, its own cluster
    folder (``name``), socket folder and port."""
    return replace(primary, port=port, name=name, extra_conf={})


def passfile(primary: LocalCluster) -> Path:
    """The libpq password file of the replication role (mode 0600, the cluster's owner)."""
    return primary.root / f"{REPLICATION_ROLE}.pgpass"


def ensure_replication_role(primary: LocalCluster) -> Path:
    """The role ``qala_replicator`` (``LOGIN REPLICATION`` only) with the data folder's
    password, and the passfile libpq reads it from; returns the passfile."""
    password = ensure_password(primary.root, REPLICATION_ROLE)
    primary.psql(
        _role_sql(
            REPLICATION_ROLE,
            scram_verifier(password),
            "LOGIN REPLICATION NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE",
        )
    )
    path = passfile(primary)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"127.0.0.1:*:*:{REPLICATION_ROLE}:{password}\n")
    os.chmod(path, 0o600)
    owner = primary._owner()
    if owner:
        pw = pwd.getpwnam(owner)
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return path


def primary_conninfo(primary: LocalCluster, application_name: str = STANDBY_NAME) -> str:
    return (
        f"host=127.0.0.1 port={primary.port} user={REPLICATION_ROLE} "
        f"passfile={passfile(primary)} application_name={application_name}"
    )


def set_synchronous(primary: LocalCluster, mode: Synchronous, names: str = STANDBY_NAME) -> None:
    """Make the primary's commits wait for the standby (``on``: its disk; ``remote_apply``:
    applied there) or not (``off``); takes effect at once (a reload)."""
    if mode not in SYNC_MODES:
        raise LocalDbError(f"synchronous must be one of {', '.join(SYNC_MODES)}, not {mode!r}")
    if mode == "off":
        local = "on" if primary.durable else "off"
        sql = (
            "ALTER SYSTEM SET synchronous_standby_names = '';\n"
            f"ALTER SYSTEM SET synchronous_commit = '{local}';\n"
        )
    else:
        sql = (
            f"ALTER SYSTEM SET synchronous_standby_names = '{names}';\n"
            f"ALTER SYSTEM SET synchronous_commit = '{mode}';\n"
        )
    primary.psql(sql + "SELECT pg_reload_conf();")


def synchronous_state(primary: LocalCluster) -> tuple[str, str]:
    """(``synchronous_standby_names``, ``synchronous_commit``) as the primary runs them."""
    names, commit = primary.psql(
        "SELECT current_setting('synchronous_standby_names') || '|' || "
        "current_setting('synchronous_commit')"
    ).split("|")
    return names, commit


def up_standby(
    primary: LocalCluster,
    port: int,
    synchronous: Synchronous = "off",
    echo=print,
    name: str = "pg-standby",
    application_name: str = STANDBY_NAME,
) -> LocalCluster:
    """Bring the primary up, copy it into a standby with ``pg_basebackup -R`` (first time
    only), start the standby on ``port`` and set synchronous replication; idempotent.

    Returns the standby's :class:`LocalCluster` (its ``service_url()`` is a read URL for
    ``QALA_READ_DATABASE_URLS``: the roles and passwords are the primary's)."""
    primary.up(echo=echo, quiet_if_running=True)
    standby = standby_of(primary, port, name)
    fresh = not standby.initialised()
    if fresh:
        if not port_is_free(port):
            raise LocalDbError(
                f"port {port} on 127.0.0.1 is taken by another program: set "
                "QALA_DB_STANDBY_PORT to a free port"
            )
        ensure_replication_role(primary)
        if primary.write_auth_files():  # a cluster of an earlier version: no replication line
            primary.reload()
        standby._prepare_dirs()
        conninfo = primary_conninfo(primary, application_name)
        standby._run(
            [
                str(PG_BIN / "pg_basebackup"),
                "-D",
                str(standby.pgdata),
                "-d",
                conninfo,
                "-R",  # standby.signal + primary_conninfo
                "-X",
                "stream",
                "-c",
                "fast",
            ]
        )
        conf = {
            "port": str(port),
            "unix_socket_directories": f"'{standby.sockdir}'",
            "primary_conninfo": f"'{conninfo}'",
            "hot_standby": "on",
            # the primary keeps rows a long read on the standby still needs, so that reads
            # are not cancelled by the cleanup the primary replays
            "hot_standby_feedback": "on",
            # promoted, it must not wait for a standby of its own
            "synchronous_standby_names": "''",
            "shared_buffers": "256MB",
        }
        with open(standby.pgdata / "postgresql.auto.conf", "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")
    standby.write_auth_files()
    was_running = standby.running()
    standby.start()
    set_synchronous(primary, synchronous)
    state = "created" if fresh else ("already running" if was_running else "started")
    echo(
        f"standby {state} on 127.0.0.1:{port} (data in {standby.pgdata}), streaming from "
        f"127.0.0.1:{primary.port}; synchronous: {synchronous}"
    )
    return standby


def down_standby(primary: LocalCluster, port: int, name: str = "pg-standby") -> bool:
    """Stop the standby; the primary stops waiting for it first. False: there is none."""
    standby = standby_of(primary, port, name)
    if not standby.initialised():
        return False
    if primary.running():
        set_synchronous(primary, "off")
    standby.stop()
    return True


def promote(standby: LocalCluster) -> None:
    """``pg_ctl promote``: the standby leaves recovery and takes writes (by hand; the
    failover engine does it on its own, ``geo.infra.autofailover``)."""
    standby._run([str(PG_BIN / "pg_ctl"), "-D", str(standby.pgdata), "-w", "promote"])
