"""The project's own PostGIS: a PostgreSQL cluster under the project's data folder.

No Docker, no hand-made database: ``qala db up`` installs PostgreSQL 15 + PostGIS 3 from the
OS packages when it runs as root (otherwise it says exactly what to install), creates a
cluster under ``data_dir/pg`` owned by an unprivileged user (``initdb`` refuses root), starts
it on its own port so that another PostgreSQL on 5432 does not matter, and creates the
database with the ``postgis`` and ``pg_trgm`` extensions. Every step is idempotent.

Nobody is trusted for being local. ``pg_hba.conf`` (rewritten on every ``up``) asks every TCP
connection for a password (SCRAM-SHA-256); the unix socket admits only the cluster's OS owner
(``postgres`` when run as root), by peer authentication, as the admin role. Two login roles:

* ``qala``, the bootstrap superuser: owns the database and every schema object, runs the
  migrations, imports and the CLI's admin commands. A superuser because migrations create
  extensions (PostGIS is not a trusted extension) and mark the bounding-box operator
  ``LEAKPROOF`` (migration 0011), which only a superuser may do.
* ``qala_service``, the API's role: ``LOGIN NOSUPERUSER NOBYPASSRLS``, owns nothing, and gets
  its table rights (DML only) from the group ``qala_app`` that migration 0011 grants to; the
  row-level security policies of 0011 apply to it.

Their passwords are generated on the first ``up`` into the data folder (``<role>.password``,
mode 0600, never printed) and sent to the server as SCRAM verifiers, so the clear text never
leaves this machine's files. A cluster made by an earlier version (``trust`` for everyone, no
service role) is upgraded in place by ``up``: new ``pg_hba.conf``, roles, passwords, reload.

The tests use the same :class:`LocalCluster` with a throwaway folder and port.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pwd
import secrets
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

PG_VERSION = "15"
PG_BIN = Path(f"/usr/lib/postgresql/{PG_VERSION}/bin")
POSTGIS_CONTROL = Path(f"/usr/share/postgresql/{PG_VERSION}/extension/postgis.control")
OS_PACKAGES = [
    f"postgresql-{PG_VERSION}",
    f"postgresql-{PG_VERSION}-postgis-3",
    "postgresql-contrib",
]
SERVICE_USER = "postgres"
ADMIN_ROLE = "qala"
SERVICE_ROLE = "qala_service"
APP_GROUP = "qala_app"  # NOLOGIN: holds the service's table rights (migration 0011)
SCRAM_ITERATIONS = 4096  # PostgreSQL's default for scram_iterations


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


def password_file(root: Path, role: str) -> Path:
    """Where the generated password of ``role`` lives (``<data folder>/<role>.password``)."""
    return Path(root) / f"{role}.password"


def read_password(root: Path, role: str) -> str | None:
    """The generated password of ``role``, or None before the first ``qala db up``."""
    try:
        return password_file(root, role).read_text().strip() or None
    except FileNotFoundError:
        return None


def ensure_password(root: Path, role: str) -> str:
    """The password of ``role``: read, or generated into a new file of mode 0600."""
    found = read_password(root, role)
    if found:
        return found
    path = password_file(root, role)
    path.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    os.chmod(path, 0o600)  # also when the file existed with wider rights
    return password


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802/7677).

    ``ALTER ROLE ... PASSWORD '<verifier>'`` sets the password without the clear text ever
    reaching the server (nor its log, should the statement fail). The password must be ASCII
    without control characters (SASLprep leaves it unchanged), as the generated ones are.
    """
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


HBA = """\
# Written by Qala Map (geo/infra/localdb.py) on every `qala db up`: edits here are replaced.
# The unix socket: only the cluster's OS owner, as the admin role (peer, map "owner").
local   all   all                  peer map=owner
# TCP (listen_addresses is 127.0.0.1): a password for every role, SCRAM-SHA-256.
host    all   all   127.0.0.1/32   scram-sha-256
host    all   all   ::1/128        scram-sha-256
# Streaming replication (a standby: `qala db up --standby`): the replication role only.
host    replication   qala_replicator   127.0.0.1/32   scram-sha-256
"""


def _role_sql(name: str, verifier: str, options: str) -> str:
    return (
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') "
        f"THEN CREATE ROLE {name}; END IF; END $$;\n"
        f"ALTER ROLE {name} {options} PASSWORD '{verifier}';\n"
    )


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
    superuser: str = ADMIN_ROLE
    service_role: str = SERVICE_ROLE
    extra_conf: dict[str, str] = field(default_factory=dict)
    name: str = "pg"  # the cluster's folder in root; a standby's is "pg-standby"

    @property
    def pgdata(self) -> Path:
        return self.root / self.name

    @property
    def sockdir(self) -> Path:
        return self.root / ("run" if self.name == "pg" else f"run-{self.name}")

    @property
    def logfile(self) -> Path:
        return self.root / f"{self.name}.log"

    def _url(self, role: str, db: str | None) -> str:
        password = read_password(self.root, role)
        auth = f"{role}:{quote(password, safe='')}" if password else role
        return f"postgresql+psycopg2://{auth}@127.0.0.1:{self.port}/{db or self.db_name}"

    def url(self, db: str | None = None) -> str:
        """The admin role's URL (migrations, imports, the CLI's admin commands)."""
        return self._url(self.superuser, db)

    def service_url(self, db: str | None = None) -> str:
        """The service role's URL: what the API connects with."""
        return self._url(self.service_role, db)

    # -- running commands as the unprivileged owner ---------------------------------------
    def _owner(self) -> str | None:
        return SERVICE_USER if os.geteuid() == 0 else None

    def _run(
        self, args: list[str], check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess:
        owner = self._owner()
        cmd = ["runuser", "-u", owner, "--", *args] if owner else args
        done = subprocess.run(cmd, capture_output=True, text=True, cwd="/", input=input)
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
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
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
            "password_encryption": "'scram-sha-256'",
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
        """Run ``sql`` as the admin role over the unix socket (peer: as the cluster's OS
        owner, so no password is needed). The SQL goes through stdin, never the command
        line, which other users could read while it runs."""
        done = self._run(
            [
                str(PG_BIN / "psql"),
                "-X",
                "-h",
                str(self.sockdir),
                "-p",
                str(self.port),
                "-U",
                self.superuser,
                "-d",
                db,
                "-v",
                "ON_ERROR_STOP=1",
                "-qAt",
                "-f",
                "-",
            ],
            check=False,
            input=sql,
        )
        if done.returncode != 0:
            msg = done.stderr.strip().splitlines()
            raise LocalDbError(f"psql failed: {msg[-1] if msg else 'no output'}")
        return done.stdout.strip()

    # -- authentication --------------------------------------------------------------------
    def _os_owner(self) -> str:
        return self._owner() or pwd.getpwuid(os.geteuid()).pw_name

    def write_auth_files(self) -> bool:
        """Write ``pg_hba.conf`` (no ``trust`` anywhere) and ``pg_ident.conf`` (the OS owner
        may be the admin role over the socket); True when either changed."""
        ident = (
            "# Written by Qala Map (geo/infra/localdb.py): the cluster's OS owner may log in\n"
            "# over the unix socket as the admin role, and nobody else.\n"
            f"owner   {self._os_owner()}   {self.superuser}\n"
        )
        changed = False
        for name, content in (("pg_hba.conf", HBA), ("pg_ident.conf", ident)):
            path = self.pgdata / name
            if path.exists() and path.read_text() == content:
                continue
            path.write_text(content)
            owner = self._owner()
            if owner:
                pw = pwd.getpwnam(owner)
                os.chown(path, pw.pw_uid, pw.pw_gid)
            os.chmod(path, 0o600)
            changed = True
        return changed

    def ensure_roles(self) -> None:
        """The admin's password and the service role (``NOSUPERUSER NOBYPASSRLS``, member
        of ``qala_app``), with the passwords of the data folder; idempotent."""
        admin = ensure_password(self.root, self.superuser)
        service = ensure_password(self.root, self.service_role)
        sql = (
            f"ALTER ROLE {self.superuser} PASSWORD '{scram_verifier(admin)}';\n"
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_GROUP}') "
            f"THEN CREATE ROLE {APP_GROUP} NOLOGIN; END IF; END $$;\n"
            + _role_sql(
                self.service_role,
                scram_verifier(service),
                "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOREPLICATION INHERIT",
            )
            + f"GRANT {APP_GROUP} TO {self.service_role};\n"
        )
        self.psql(sql)

    def reload(self) -> None:
        self._run([str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "reload"])

    def ensure_database(self, name: str | None = None) -> None:
        name = name or self.db_name
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
            self.psql(f'CREATE DATABASE "{name}"')
        self.psql(
            "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS pg_trgm;",
            db=name,
        )

    def up(self, echo=print, quiet_if_running: bool = False) -> str:
        """Install if needed, init, secure, start, create the database; return the admin
        role's URL (:meth:`service_url` is the API's). ``quiet_if_running``: say nothing
        when there was nothing to do (the commands that bring the cluster up on the way)."""
        ensure_packages(echo)
        fresh = not self.initialised()
        self.init()
        was_running = self.running()
        auth_changed = self.write_auth_files()
        self.start()
        if auth_changed and was_running:
            self.reload()  # a cluster of an earlier version: trust is gone from now on
        self.ensure_roles()
        self.ensure_database()
        state = "created" if fresh else ("already running" if was_running else "started")
        if not (quiet_if_running and was_running and not auth_changed):
            echo(f"PostGIS {state} on 127.0.0.1:{self.port} (data in {self.pgdata})")
        if auth_changed and not fresh:
            echo("local connections now need a password (pg_hba.conf rewritten, no trust)")
        return self.url()

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def cluster_from_settings(settings) -> LocalCluster:
    return LocalCluster(
        root=Path(settings.data_dir), port=settings.db_port, db_name=settings.db_name
    )
