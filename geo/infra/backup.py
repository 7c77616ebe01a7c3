"""Backups of the service's database with PostgreSQL's own tools (``pg_dump``/``pg_restore``).

A backup is one file in ``pg_dump``'s custom format (compressed, restorable table by table,
readable by any ``pg_restore`` of the same or a newer PostgreSQL). It is written beside its
final name and renamed into place when ``pg_dump`` has succeeded, so a failed backup never
leaves a file that looks whole.

A restore never touches the live database until the copy is complete: the archive is
restored in one transaction into a new database; only then are the names swapped (the live
database's connections are ended, it is renamed ``<name>_before_<time>`` and kept until the
operator drops it, the new one takes its name). A damaged archive or a failing statement
leaves everything as it was.

This is a logical backup: it restores the data as of the moment ``pg_dump`` started (one
snapshot), not the moment before a failure. Point-in-time recovery needs WAL archiving
(pgBackRest); ``docs/operations.md`` says how often to take which.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import subprocess
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from geo.infra.errors import QalaError
from geo.infra.localdb import PG_BIN
from geo.infra.migrate import migrations_dir


class BackupError(QalaError):
    """A backup or restore could not be made; the message says why."""


def _libpq(url: str | URL) -> tuple[list[str], dict[str, str]]:
    """Connection options for the PostgreSQL tools: the password in the environment, never
    on the command line (where ``ps`` would show it)."""
    u = make_url(url)
    args = ["--host", u.host or "localhost", "--port", str(u.port or 5432)]
    if u.username:
        args += ["--username", u.username]
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return args, env


def _tool(name: str) -> str:
    local = PG_BIN / name
    return str(local) if local.exists() else name


def _run(cmd: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(f"{cmd[0]} is not installed (Debian: postgresql-client-15)") from exc
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise BackupError(
            f"{what} failed: {(lines[0] if lines else 'exit ' + str(done.returncode))}"
            + ("\n" + "\n".join(lines[1:6]) if len(lines) > 1 else "")
        )
    return done


def backup(admin_url: str, path: Path) -> int:
    """Write the database at ``admin_url`` to ``path`` (custom format); returns its size.

    Parameters
    ----------
    admin_url : str
        The owner's URL (the service role may not read every table).
    path : Path
        Where the archive goes; its folder must exist. An existing file is replaced only
        once the new backup is complete.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise BackupError(f"the folder {path.parent} does not exist")
    partial = path.with_name(path.name + ".partial")
    args, env = _libpq(admin_url)
    database = make_url(admin_url).database
    try:
        _run(
            [_tool("pg_dump"), *args, "--format=custom", "--file", str(partial), database],
            env,
            "pg_dump",
        )
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path.stat().st_size


def check_archive(path: Path) -> int:
    """The number of entries of a custom-format archive; a :class:`BackupError` when
    ``path`` is not one."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    done = _run([_tool("pg_restore"), "--list", str(path)], dict(os.environ), "reading the backup")
    return sum(1 for line in done.stdout.splitlines() if line and not line.startswith(";"))


def _leakproof_sql() -> str:
    """Migration 0011's LEAKPROOF marks on extension operators: ``pg_dump`` does not keep
    changes to an extension's own functions, so a restore sets them again."""
    file = migrations_dir() / "versions" / "0011_row_security.py"
    spec = importlib.util.spec_from_file_location("qala_migration_0011", file)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.LEAKPROOF_SQL


def restore(admin_url: str, path: Path, now: dt.datetime | None = None) -> str:
    """Restore ``path`` as the database of ``admin_url``; returns the name the previous
    database was kept under ('' if there was none).

    The archive goes into a new database in one transaction; the names are swapped only when
    it is complete (see the module). The previous database's connections are ended.
    """
    check_archive(path)
    target = make_url(admin_url)
    name = target.database
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d%H%M%S")
    fresh, kept = f"{name}_restoring", f"{name}_before_{stamp}"
    server = create_engine(
        target.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        with server.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{fresh}" TEMPLATE template0'))
        args, env = _libpq(admin_url)
        try:
            _run(
                [
                    _tool("pg_restore"),
                    *args,
                    "--exit-on-error",
                    "--single-transaction",
                    "--dbname",
                    fresh,
                    str(path),
                ],
                env,
                "pg_restore",
            )
            restored = create_engine(target.set(database=fresh), poolclass=NullPool)
            with restored.begin() as c:
                c.execute(text(_leakproof_sql()))
            restored.dispose()
        except Exception:
            with server.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)'))
            raise
        with server.connect() as c:
            exists = c.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if exists:
                c.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                    ),
                    {"n": name},
                )
                c.execute(text(f'ALTER DATABASE "{name}" RENAME TO "{kept}"'))
            c.execute(text(f'ALTER DATABASE "{fresh}" RENAME TO "{name}"'))
        return kept if exists else ""
    finally:
        server.dispose()
