"""The project's own PostGIS: a PostgreSQL cluster under the project's data folder.

No Docker, no hand-made database: ``qala db up`` installs PostgreSQL 15 + PostGIS 3 from the
OS packages when it runs as root (otherwise it says exactly what to install), creates a
cluster under ``data_dir/pg`` owned by an unprivileged user (``initdb`` refuses root), starts
it on its own port so that another PostgreSQL on 5432 does not matter, and creates the
database with the ``postgis`` and ``pg_trgm`` extensions. Every step is idempotent.

The tests use the same :class:`LocalCluster` with a throwaway folder and port.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

PG_VERSION = "15"
PG_BIN = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
POSTGIS_CONTROL = Path(f"/usr/share/postgresql/{PG_VERSION}/extension/postgis.control")
OS_PACKAGES = [
    f"postgresql-{PG_VERSION}",
    f"postgresql-{PG_VERSION}-postgis-3",
    "postgresql-contrib",
]
SERVICE_USER = "postgres"


class LocalDbError(RuntimeError):
    """A step of bringing up the local database failed; the message says which and why."""


def postgis_installed() -> bool:
    return (PG_BIN / "initdb").exists() and POSTGIS_CONTROL.exists()


def ensure_packages(echo=print) -> None:
    """Install PostgreSQL + PostGIS from the OS packages if missing (root only)."""
    if postgis_installed():
        return
    if os.geteuid() != 0:
        raise LocalDbError(
            "PostgreSQL 15 with PostGIS 3 is not installed: run "
            f"`sudo apt-get install -y {' '.join(OS_PACKAGES)}` (or set QALA_DATABASE_URL)"
        )
    echo(f"installing {' '.join(OS_PACKAGES)} from the OS packages ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *OS_PACKAGES]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise LocalDbError(f"`{' '.join(cmd)}` failed: {tail[0]}")
    if not postgis_installed():
        raise LocalDbError("apt-get finished but PostGIS 3 for PostgreSQL 15 is still missing")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocalCluster:
    """A PostgreSQL cluster in ``root`` listening on 127.0.0.1:``port``.

    Parameters
    ----------
    root : folder holding ``pg/`` (the cluster), ``run/`` (socket) and ``pg.log``.
    port : TCP port on 127.0.0.1.
    durable : keep ``fsync`` on (the service); throwaway test clusters turn it off.
    """

    root: Path
    port: int
    durable: bool = True
    db_name: str = "qala"
    superuser: str = "qala"
    extra_conf: dict[str, str] = field(default_factory=dict)

    @property
    def pgdata(self) -> Path:
        return self.root / "pg"

    @property
    def sockdir(self) -> Path:
        return self.root / "run"

    @property
    def logfile(self) -> Path:
        return self.root / "pg.log"

    def url(self, db: str | None = None) -> str:
        return f"postgresql+psycopg2://{self.superuser}@127.0.0.1:{self.port}/{db or self.db_name}"

    # -- running commands as the unprivileged owner ---------------------------------------
    def _owner(self) -> str | None:
        return SERVICE_USER if os.geteuid() == 0 else None

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess:
        owner = self._owner()
        cmd = ["runuser", "-u", owner, "--", *args] if owner else args
        done = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
        if check and done.returncode != 0:
            msg = (done.stderr or done.stdout).strip().splitlines()
            raise LocalDbError(f"`{Path(args[0]).name}` failed: {msg[-1] if msg else 'no output'}")
        return done

    def _prepare_dirs(self) -> None:
        for d in (self.root, self.sockdir):
            d.mkdir(parents=True, exist_ok=True)
        owner = self._owner()
        if owner:
            pw = pwd.getpwnam(owner)
            for d in (self.root, self.sockdir):
                os.chown(d, pw.pw_uid, pw.pw_gid)
            # the owner must be able to reach the folder through its parents
            parent = self.root.parent
            while parent != parent.parent:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
                parent = parent.parent

    # -- lifecycle -------------------------------------------------------------------------
    def initialised(self) -> bool:
        return (self.pgdata / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialised():
            return False
        return (
            self._run(
                [str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "status"], check=False
            ).returncode
            == 0
        )

    def init(self) -> None:
        if self.initialised():
            return
        self._prepare_dirs()
        self._run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                self.superuser,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.sockdir}'",
            "max_connections": "200",
            "shared_buffers": "512MB" if self.durable else "256MB",
            "work_mem": "64MB",
            "maintenance_work_mem": "512MB",
            "max_wal_size": "4GB",
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            "jit": "off",
            **self.extra_conf,
        }
        with open(self.pgdata / "postgresql.auto.conf", "a") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")

    def start(self) -> None:
        if self.running():
            return
        if not port_is_free(self.port):
            raise LocalDbError(
                f"port {self.port} on 127.0.0.1 is taken by another program: "
                "set QALA_DB_PORT to a free port"
            )
        self._run(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.pgdata),
                "-l",
                str(self.logfile),
                "-o",
                f"-p {self.port}",
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w", "stop"])

    def psql(self, sql: str, db: str = "postgres") -> str:
        done = subprocess.run(
            [
                str(PG_BIN.parent / "bin" / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.superuser,
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtc",
                sql,
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise LocalDbError(f"psql failed: {done.stderr.strip()}")
        return done.stdout.strip()

    def ensure_database(self, name: str | None = None) -> None:
        name = name or self.db_name
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
            self.psql(f'CREATE DATABASE "{name}"')
        self.psql(
            "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pg_trgm;",
            db=name,
        )

    def up(self, echo=print) -> str:
        """Install if needed, init, start, create the database; return its URL."""
        ensure_packages(echo)
        fresh = not self.initialised()
        self.init()
        was_running = self.running()
        self.start()
        self.ensure_database()
        state = "created" if fresh else ("already running" if was_running else "started")
        echo(f"PostGIS {state} on 127.0.0.1:{self.port} (data in {self.pgdata})")
        return self.url()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def cluster_from_settings(settings) -> LocalCluster:
    return LocalCluster(
        root=Path(settings.data_dir), port=settings.db_port, db_name=settings.db_name
    )
