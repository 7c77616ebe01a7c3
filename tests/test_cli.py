"""The ``qala`` command as a city's IT department meets it: every failure one line and exit
code 1, no cluster started by a command that only uses the database, passwords from a
prompt or stdin, help on every option.

Each case was a traceback (78–148 lines) or a side effect before: a command run without the
same ``QALA_*`` settings created and started a new empty cluster and died on
``relation "cities" does not exist``.
"""

from __future__ import annotations

import pytest
import typer
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from typer.testing import CliRunner

from api.cli import app
from geo.infra.localdb import free_port

SECRET = "cli-test-secret-key-of-at-least-32-bytes!"


def qala(*args: str, env: dict | None = None, input: str | None = None):
    return CliRunner().invoke(
        app, list(args), env={"QALA_SECRET_KEY": SECRET, **(env or {})}, input=input
    )


def one_line_error(result, *words: str) -> str:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qala: error: "), lines
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_a_command_that_uses_the_database_starts_no_cluster(tmp_path):
    data = tmp_path / "data"
    env = {"QALA_DATA_DIR": str(data), "QALA_DB_PORT": str(free_port())}
    for args in (
        ["user", "add", "aliya", "operator", "--password-stdin"],
        ["apikey", "list"],
        ["import", "buildings", str(tmp_path / "none.geojson")],
        ["db", "backup"],
    ):
        one_line_error(qala(*args, env=env, input="pw-long-enough\n"), "not running", "qala db up")
    assert not (data / "pg").exists()  # nothing was created


def test_an_unreachable_database_is_one_line(tmp_path):
    url = f"postgresql+psycopg2://qala:x@127.0.0.1:{free_port()}/qala"
    line = one_line_error(qala("apikey", "list", env={"QALA_DATABASE_URL": url}), "cannot reach")
    assert "qala db up" in line


def test_a_database_without_the_schema_says_migrate(make_database):
    url = make_database()  # PostGIS, no tables
    one_line_error(
        qala("apikey", "list", env={"QALA_DATABASE_URL": url}), "no Qala schema", "qala db migrate"
    )


def test_a_read_only_database_is_one_line(make_database, template_url):
    url = make_database(template=template_url)
    server = create_engine(
        make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    with server.connect() as c:
        c.execute(
            text(
                f'ALTER DATABASE "{make_url(url).database}" SET default_transaction_read_only = on'
            )
        )
    server.dispose()
    result = qala(
        "user",
        "add",
        "ro",
        "operator",
        "--password-stdin",
        env={"QALA_DATABASE_URL": url},
        input="pw-long-enough\n",
    )
    one_line_error(result, "read-only")


@pytest.fixture
def migrated(make_database, template_url) -> str:
    return make_database(template=template_url)


def test_a_password_from_stdin_or_a_clear_refusal(migrated):
    env = {"QALA_DATABASE_URL": migrated}
    # CliRunner's stdin is not a terminal: no prompt to wait on, one line instead
    one_line_error(qala("user", "add", "nur", "operator", env=env), "--password-stdin")
    one_line_error(
        qala("user", "add", "nur", "operator", "--password-stdin", env=env, input=""),
        "no password",
    )
    done = qala(
        "user", "add", "nur", "operator", "--password-stdin", env=env, input="pw-long-enough\n"
    )
    assert done.exit_code == 0, done.output
    e = create_engine(migrated, poolclass=NullPool)
    with e.connect() as c:
        assert (
            c.execute(text("SELECT count(*) FROM users WHERE username = 'nur'")).scalar_one() == 1
        )
    e.dispose()


def _commands(group, prefix: str = ""):
    for name, cmd in group.commands.items():
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", cmd


def test_every_command_and_option_has_help():
    root = typer.main.get_command(app)
    commands = list(_commands(root))
    assert len(commands) >= 20
    missing = [
        f"qala {name} {opt.opts[0]}"
        for name, cmd in commands
        for opt in cmd.params
        if getattr(opt, "param_type_name", "") == "option" and not opt.help
    ]
    assert missing == []
    assert [name for name, cmd in commands if not (cmd.help or "").strip()] == []
