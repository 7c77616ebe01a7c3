"""Automatic failover by pg_auto_failover (Debian: ``postgresql-15-auto-failover``,
``pg-auto-failover-cli``): a monitor and two PostgreSQL nodes, a primary and its hot standby.

The engine decides, not this module: the *monitor* is a PostgreSQL of its own (database
``pg_auto_failover``) that holds the formation's state machine and checks every node; a
*keeper* (``pg_autoctl run``) beside each node reports to it and carries out what it
assigns. When the primary stops answering the monitor, the standby is promoted: it leaves
recovery at once, waits until the old primary is known to be gone (``stop_replication``,
read-only for at most ``pgautofailover.primary_demote_timeout``, so that two primaries never
take writes at the same time) and then takes writes (``wait_primary``). With both nodes up
the primary commits synchronously to the standby (pg_auto_failover sets
``synchronous_standby_names`` itself), so an acknowledged commit survives the primary.

The service follows the promoted node by itself: its connection string names both nodes with
``target_session_attrs=read-write`` (:func:`geo.infra.db.asyncpg_dsn` for asyncpg), so a new
connection lands on whichever node takes writes; the read-only one during
``stop_replication`` is passed over.

Security as in ``geo.infra.localdb``: nobody is trusted for being local. The nodes and the
monitor are made with ``--auth scram-sha-256 --skip-pg-hba`` and this module writes their
``pg_hba.conf`` (the OS owner on the unix socket by peer, SCRAM passwords over TCP on
127.0.0.1). The engine's roles get generated passwords (``autoctl_node`` on the monitor,
``pgautofailover_replicator`` on the nodes); the monitor's health checks need none (a
refused login still tells it the server is up).

Used by the failover test and benchmark with throwaway ports and folders; running it as a
service (systemd units, a monitor on a third machine) is pg_auto_failover's documented setup.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from geo.infra.localdb import (
    ADMIN_ROLE,
    APP_GROUP,
    PG_BIN,
    SERVICE_ROLE,
    SERVICE_USER,
    LocalDbError,
    _role_sql,
    ensure_password,
    scram_verifier,
)

AUTOCTL = Path("/usr/bin/pg_autoctl")
OS_PACKAGES = ["postgresql-15-auto-failover", "pg-auto-failover-cli"]
REPLICATOR = "pgautofailover_replicator"
HBA = """\
# Written by Qala Map (geo/infra/autofailover.py): no trust anywhere.
local   all           all                  peer
host    all           all   127.0.0.1/32   scram-sha-256
host    replication   all   127.0.0.1/32   scram-sha-256
"""
#: how quickly the monitor acts (milliseconds): its defaults wait 20 s before it calls a
#: node unhealthy and 30 s for a lost primary to demote itself; a local formation checks
#: every second and waits 10 s for the demotion (the split-brain guard: the old primary's
#: keeper demotes it once it has lost the monitor for as long)
MONITOR_SETTINGS = {
    "pgautofailover.health_check_period": 1000,
    "pgautofailover.health_check_timeout": 1000,
    "pgautofailover.health_check_max_retries": 1,
    "pgautofailover.health_check_retry_delay": 500,
    "pgautofailover.node_considered_unhealthy_timeout": 3000,
    "pgautofailover.primary_demote_timeout": 10000,
}


def engine_installed() -> bool:
    return AUTOCTL.exists() and (PG_BIN / "pg_ctl").exists()


@dataclass
class Node:
    name: str
    pgdata: Path
    port: int
    keeper: subprocess.Popen | None = None


@dataclass
class Formation:
    """A pg_auto_failover monitor and two nodes under ``root`` (ports on 127.0.0.1).

    ``up()`` makes and starts all three, the database with PostGIS and the project's roles
    (``qala`` the owner, ``qala_service`` under row-level security, passwords generated into
    ``root`` like ``qala db up`` does); ``url()``/``service_url()`` name both nodes.
    """

    root: Path
    monitor_port: int
    ports: tuple[int, int]
    db_name: str = "qala"
    monitor: Node = field(init=False)
    nodes: list[Node] = field(init=False)

    def __post_init__(self) -> None:
        self.monitor = Node("monitor", self.root / "monitor", self.monitor_port)
        self.nodes = [
            Node(f"node{i + 1}", self.root / f"node{i + 1}", p) for i, p in enumerate(self.ports)
        ]

    # -- running as the clusters' OS owner -------------------------------------------------
    def _owner(self) -> str | None:
        return SERVICE_USER if os.geteuid() == 0 else None

    def _cmd(self, args: list[str]) -> list[str]:
        owner = self._owner()
        return ["runuser", "-u", owner, "--", *args] if owner else args

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{PG_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            # the engine's own connections (a standby's pg_basebackup and streaming as the
            # replicator) find their password here, never on a command line
            "PGPASSFILE": str(self.passfile),
        }

    @property
    def passfile(self) -> Path:
        return self.root / "engine.pgpass"

    def _write_passfile(self) -> None:
        lines = "".join(
            f"127.0.0.1:*:*:{role}:{ensure_password(self.root, role)}\n"
            for role in (REPLICATOR, "autoctl_node")
        )
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(lines)
        owner = self._owner()
        if owner:
            pw = pwd.getpwnam(owner)
            os.chown(self.passfile, pw.pw_uid, pw.pw_gid)

    def _run(self, args: list[str], input: str | None = None) -> str:
        done = subprocess.run(
            self._cmd(args), capture_output=True, text=True, cwd="/", env=self._env(), input=input
        )
        if done.returncode != 0:
            msg = (done.stderr or done.stdout).strip().splitlines()
            raise LocalDbError(f"`{' '.join(args[:3])}` failed: {msg[-1] if msg else 'no output'}")
        return done.stdout.strip()

    def psql(self, node: Node, sql: str, db: str = "postgres") -> str:
        """``sql`` on ``node`` over its unix socket as the OS owner (peer)."""
        return self._run(
            [
                str(PG_BIN / "psql"),
                "-X",
                "-h",
                "/var/run/postgresql",
                "-p",
                str(node.port),
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                "-f",
                "-",
            ],
            input=sql,
        )

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        owner = self._owner()
        if owner:
            pw = pwd.getpwnam(owner)
            os.chown(self.root, pw.pw_uid, pw.pw_gid)

    def _write_hba(self, node: Node) -> None:
        (node.pgdata / "pg_hba.conf").write_text(HBA)
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(node.pgdata), "reload"]) if self._pg_running(
            node
        ) else None

    def _pg_running(self, node: Node) -> bool:
        done = subprocess.run(
            self._cmd([str(PG_BIN / "pg_ctl"), "-D", str(node.pgdata), "status"]),
            capture_output=True,
            cwd="/",
        )
        return done.returncode == 0

    def start_keeper(self, node: Node) -> None:
        """``pg_autoctl run`` for ``node``, in a process group of its own."""
        with open(self.root / f"{node.name}.keeper.log", "ab") as log:
            node.keeper = subprocess.Popen(
                self._cmd([str(AUTOCTL), "run", "--pgdata", str(node.pgdata)]),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd="/",
                env=self._env(),
                start_new_session=True,
            )

    def _wait(self, what: str, check, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except LocalDbError:
                pass
            time.sleep(0.5)
        raise LocalDbError(f"pg_auto_failover: {what} did not happen in {timeout:.0f} s")

    # -- the formation ---------------------------------------------------------------------
    def monitor_uri(self) -> str:
        password = ensure_password(self.root, "autoctl_node")
        return (
            f"postgres://autoctl_node:{quote(password, safe='')}@127.0.0.1:"
            f"{self.monitor.port}/pg_auto_failover?sslmode=disable"
        )

    def states(self) -> dict[str, str]:
        """Each node's state as the monitor has it (``primary``, ``secondary``,
        ``wait_primary``, ``stop_replication`` …)."""
        rows = self.psql(
            self.monitor,
            "SELECT nodename || '=' || reportedstate FROM pgautofailover.node ORDER BY nodeid",
            db="pg_auto_failover",
        )
        return dict(line.split("=", 1) for line in rows.splitlines() if "=" in line)

    def _create_node(self, node: Node) -> None:
        self._run(
            [
                str(AUTOCTL),
                "create",
                "postgres",
                "--pgdata",
                str(node.pgdata),
                "--pgport",
                str(node.port),
                "--hostname",
                "127.0.0.1",
                "--listen",
                "127.0.0.1",
                "--monitor",
                self.monitor_uri(),
                "--skip-pg-hba",
                "--no-ssl",
                "--dbname",
                self.db_name,
                "--name",
                node.name,
            ]
        )
        password = ensure_password(self.root, REPLICATOR)
        self._run(
            [
                str(AUTOCTL),
                "config",
                "set",
                "--pgdata",
                str(node.pgdata),
                "replication.password",
                password,
            ]
        )

    def up(self) -> None:
        if not engine_installed():
            raise LocalDbError(
                f"pg_auto_failover is not installed: `apt-get install -y {' '.join(OS_PACKAGES)}`"
            )
        self._prepare()
        self._write_passfile()
        self._run(
            [
                str(AUTOCTL),
                "create",
                "monitor",
                "--pgdata",
                str(self.monitor.pgdata),
                "--pgport",
                str(self.monitor.port),
                "--hostname",
                "127.0.0.1",
                "--skip-pg-hba",
                "--no-ssl",
            ]
        )
        # `create monitor` has no --listen (it listens on every address): 127.0.0.1 only
        self._run(
            [
                str(AUTOCTL),
                "config",
                "set",
                "--pgdata",
                str(self.monitor.pgdata),
                "postgresql.listen_addresses",
                "127.0.0.1",
            ]
        )
        if self._pg_running(self.monitor):
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.monitor.pgdata), "-w", "stop"])
        self._write_hba(self.monitor)
        self.start_keeper(self.monitor)
        self._wait("the monitor starting", lambda: self.psql(self.monitor, "SELECT 1") == "1")
        node_pw = ensure_password(self.root, "autoctl_node")
        self.psql(
            self.monitor,
            f"ALTER ROLE autoctl_node PASSWORD '{scram_verifier(node_pw)}';\n"
            + "".join(f"ALTER SYSTEM SET {k} = {v};\n" for k, v in MONITOR_SETTINGS.items())
            + "SELECT pg_reload_conf();",
        )
        first, second = self.nodes
        self._create_node(first)
        self._write_hba(first)
        self.start_keeper(first)
        self._wait(
            "the first node becoming the primary", lambda: self.states().get(first.name) == "single"
        )
        self._wait(
            "the first node accepting connections", lambda: self.psql(first, "SELECT 1") == "1"
        )
        self._roles(first)
        self._create_node(second)
        self.start_keeper(second)
        self._wait(
            "the second node becoming its standby",
            lambda: self.states() == {first.name: "primary", second.name: "secondary"},
        )

    def _roles(self, primary: Node) -> None:
        """The project's roles and the replicator's password on the primary (streamed to
        the standby), PostGIS in the database."""
        admin = ensure_password(self.root, ADMIN_ROLE)
        service = ensure_password(self.root, SERVICE_ROLE)
        replicator = ensure_password(self.root, REPLICATOR)
        self.psql(
            primary,
            _role_sql(ADMIN_ROLE, scram_verifier(admin), "LOGIN SUPERUSER")
            + f"ALTER ROLE {REPLICATOR} PASSWORD '{scram_verifier(replicator)}';\n"
            + f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_GROUP}') "
            f"THEN CREATE ROLE {APP_GROUP} NOLOGIN; END IF; END $$;\n"
            + _role_sql(
                SERVICE_ROLE,
                scram_verifier(service),
                "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION INHERIT",
            )
            + f"GRANT {APP_GROUP} TO {SERVICE_ROLE};\n"
            + f'ALTER DATABASE "{self.db_name}" OWNER TO {ADMIN_ROLE};\n',
        )
        self.psql(
            primary,
            "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pg_trgm;",
            db=self.db_name,
        )

    def _url(self, role: str, only: Node | None = None) -> str:
        password = ensure_password(self.root, role)
        hosts = "&".join(f"host=127.0.0.1:{n.port}" for n in ([only] if only else self.nodes))
        tail = "" if only else "&target_session_attrs=read-write"
        return (
            f"postgresql+psycopg2://{role}:{quote(password, safe='')}@/{self.db_name}?{hosts}{tail}"
        )

    def url(self, node: Node | None = None) -> str:
        """The admin's URL: both nodes, the one that takes writes (or ``node`` only)."""
        return self._url(ADMIN_ROLE, node)

    def service_url(self, node: Node | None = None) -> str:
        """The service role's URL: both nodes with ``target_session_attrs=read-write``."""
        return self._url(SERVICE_ROLE, node)

    def primary(self) -> Node:
        """The node that takes writes: the monitor assigned it a primary's state and it
        reported being in it (a dead primary still shows its last report, not the goal)."""
        rows = self.psql(
            self.monitor,
            "SELECT nodename FROM pgautofailover.node WHERE reportedstate = goalstate "
            "AND goalstate IN ('primary', 'wait_primary', 'single') ORDER BY nodeid",
            db="pg_auto_failover",
        ).splitlines()
        found = [n for n in self.nodes if n.name in rows]
        if len(found) != 1:
            raise LocalDbError(f"not one primary: {self.states()}")
        return found[0]

    def kill(self, node: Node) -> None:
        """``kill -9`` the node: its keeper's process group and its postmaster, as if its
        machine had died (killing only the postmaster, the keeper would restart it)."""
        pids = []
        pidfile = node.pgdata / "postmaster.pid"
        if pidfile.exists():
            pids.append(int(pidfile.read_text().split()[0]))
        if node.keeper is not None:
            with suppress(ProcessLookupError):
                os.killpg(node.keeper.pid, signal.SIGKILL)
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if node.keeper is not None:
            node.keeper.wait(timeout=10)

    def destroy(self) -> None:
        """Stop everything (keepers first, then any postgres left) and remove ``root``."""
        for node in [*self.nodes, self.monitor]:
            if node.keeper is not None and node.keeper.poll() is None:
                try:
                    os.killpg(node.keeper.pid, signal.SIGTERM)
                    node.keeper.wait(timeout=30)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    with suppress(ProcessLookupError):
                        os.killpg(node.keeper.pid, signal.SIGKILL)
            if (node.pgdata / "postmaster.pid").exists():
                subprocess.run(
                    self._cmd(
                        [str(PG_BIN / "pg_ctl"), "-D", str(node.pgdata), "-m", "immediate", "stop"]
                    ),
                    capture_output=True,
                    cwd="/",
                )
        shutil.rmtree(self.root, ignore_errors=True)
