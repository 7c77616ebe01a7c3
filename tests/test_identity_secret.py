"""The token secret, the account commands and migration 0009 (issue 10, 2 and 6).

Production refuses to start with a short, low-entropy or placeholder secret; development
makes a random one, owner-only, in the data folder and keeps it. The ``qala user`` and
``qala apikey`` commands revoke from the shell, with one-line errors.
"""

from __future__ import annotations

import secrets
import stat

import pytest
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from geo.infra.secret_key import WeakSecret
from geo.infra.settings import Settings

WEAK = [
    "",
    " ",
    "x",
    "change-me-in-production",
    "change-me-in-production ",
    "CHANGE-ME-IN-PRODUCTION",
    " " + secrets.token_urlsafe(48),
    "a" * 64,
    "ab" * 32,
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    secrets.token_urlsafe(48)[:31],
]


@pytest.mark.parametrize("secret", WEAK, ids=repr)
def test_production_refuses_a_weak_secret(secret):
    with pytest.raises(WeakSecret, match="refusing to start: QALA_SECRET_KEY"):
        Settings(environment="production", secret_key=secret)


def test_production_refuses_no_secret(monkeypatch):
    monkeypatch.delenv("QALA_SECRET_KEY", raising=False)
    with pytest.raises(WeakSecret, match="not set"):
        Settings(environment="production")


def test_production_accepts_a_random_secret():
    for _ in range(200):  # every draw, not a lucky one
        value = secrets.token_urlsafe(48)
        assert Settings(environment="production", secret_key=value).signing_key == value


def test_production_refusal_is_one_line_from_the_cli(monkeypatch):
    from api.cli import app

    monkeypatch.delenv("QALA_DATABASE_URL", raising=False)
    result = CliRunner().invoke(
        app,
        ["apikey", "list"],
        env={"QALA_ENVIRONMENT": "production", "QALA_SECRET_KEY": "change-me-in-production"},
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qala: error: refusing to start:"), lines


def test_development_makes_an_owner_only_secret_and_keeps_it(tmp_path, monkeypatch):
    monkeypatch.delenv("QALA_SECRET_KEY", raising=False)
    folder = tmp_path / "data" / "local"
    first = Settings(environment="development", data_dir=folder)
    assert first.secret_file == folder / "secret_key"
    key = first.signing_key
    assert len(key) >= 64 and key != "change-me-in-production"
    assert stat.S_IMODE((folder / "secret_key").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    again = Settings(environment="development", data_dir=folder)  # a restart
    assert again.signing_key == key
    other = Settings(environment="development", data_dir=tmp_path / "elsewhere")
    assert other.signing_key != key


def test_a_loose_secret_file_is_made_owner_only(tmp_path):
    path = tmp_path / "secret_key"
    path.write_text(secrets.token_urlsafe(48))
    path.chmod(0o644)
    Settings(environment="development", data_dir=tmp_path).signing_key  # noqa: B018
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_given_secret_writes_no_file(tmp_path):
    s = Settings(environment="development", data_dir=tmp_path, secret_key="given-" + "k" * 40)
    assert s.signing_key == "given-" + "k" * 40 and s.secret_file is None
    assert not (tmp_path / "secret_key").exists()


# --- the commands ---------------------------------------------------------------------------


@pytest.fixture
def cli_db(make_database):
    """A fresh database of our own (the commands commit) with one city and one
    organisation."""
    from geo.infra.migrate import upgrade
    from tests.factories import make_city, make_org

    url = make_database()
    upgrade(url)
    engine = create_engine(url)
    with engine.begin() as c:
        cid = make_city(c, "PET")
        make_city(c, "HEL", lon=24.9, lat=60.2)
        org = make_org(c, cid)
    yield url, engine, org
    engine.dispose()


def _qala(url: str, *args: str):
    from api.cli import app

    return CliRunner().invoke(
        app, list(args), env={"QALA_DATABASE_URL": url, "QALA_SECRET_KEY": "k" * 40}
    )


def _one_line_error(result, words: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qala: error:") and words in lines[0], lines


def test_user_commands_disable_enable_logout_and_grant(cli_db):
    url, engine, org = cli_db
    ok = _qala(url, "user", "add", "aliya", "operator", "--password", "long-enough-1")
    assert ok.exit_code == 0, ok.stderr

    def row():
        with engine.connect() as c:
            return c.execute(
                text("SELECT active, token_version FROM users WHERE username = 'aliya'")
            ).one()

    assert tuple(row()) == (True, 0)
    assert _qala(url, "user", "disable", "aliya").exit_code == 0
    assert tuple(row()) == (False, 1)
    assert _qala(url, "user", "enable", "aliya").exit_code == 0
    assert tuple(row()) == (True, 1)
    done = _qala(url, "user", "logout", "aliya")
    assert done.exit_code == 0 and "logged out everywhere" in done.stderr
    assert tuple(row()) == (True, 2)
    granted = _qala(
        url, "user", "grant", "aliya", "executor", "--city", "PET", "--organisation", str(org)
    )
    assert granted.exit_code == 0, granted.stderr
    assert _qala(url, "user", "grant", "aliya", "planner", "--city", "hel").exit_code == 0
    with engine.connect() as c:
        roles = c.execute(
            text(
                "SELECT c.code, r.role, r.organisation_id FROM staff_roles r "
                "JOIN cities c ON c.id = r.city_id JOIN users u ON u.id = r.user_id "
                "WHERE u.username = 'aliya' ORDER BY c.code"
            )
        ).all()
    assert [tuple(r) for r in roles] == [("HEL", "planner", None), ("PET", "executor", org)]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("user", "disable", "nobody"), "no user 'nobody'"),
        (("user", "enable", "nobody"), "no user 'nobody'"),
        (("user", "logout", "nobody"), "no user 'nobody'"),
        (("user", "grant", "nobody", "planner", "--city", "PET"), "no user 'nobody'"),
        (("user", "grant", "aliya", "boss", "--city", "PET"), "unknown role 'boss'"),
        (("user", "grant", "aliya", "planner", "--city", "AST"), "no city with code 'AST'"),
        (("user", "grant", "aliya", "executor", "--city", "HEL"), "organisation"),
        (("user", "add", "aliya", "operator", "--password", "long-enough-2"), "already exists"),
        (("apikey", "revoke", "no-such-bot"), "no API key 'no-such-bot'"),
        (("apikey", "revoke", "987654"), "no API key '987654'"),
    ],
)
def test_commands_name_what_is_unknown_in_one_line(cli_db, args, words):
    url, *_ = cli_db
    assert (
        _qala(url, "user", "add", "aliya", "operator", "--password", "long-enough-1").exit_code == 0
    )
    _one_line_error(_qala(url, *args), words)


def test_apikey_list_and_revoke(cli_db):
    url, engine, _ = cli_db
    key = _qala(url, "user", "apikey", "tg-bot", "--channel", "telegram").stdout.strip()
    assert key.startswith("qk_")
    listed = _qala(url, "apikey", "list")
    assert listed.exit_code == 0 and "tg-bot\ttelegram\tactive" in listed.stdout
    assert key not in listed.stdout
    revoked = _qala(url, "apikey", "revoke", "tg-bot")
    assert revoked.exit_code == 0 and "revoked" in revoked.stderr
    assert "within 10 s" in revoked.stderr
    assert "tg-bot\ttelegram\trevoked" in _qala(url, "apikey", "list").stdout
    from geo.staff.auth import actor_from_api_key

    with engine.connect() as c:
        assert actor_from_api_key(c, key) is None


def test_commands_have_help():
    from api.cli import app

    for group in ("user", "apikey"):
        result = CliRunner().invoke(app, [group, "--help"])
        assert result.exit_code == 0
    for cmd in (("user", "disable"), ("user", "grant"), ("user", "logout"), ("apikey", "revoke")):
        result = CliRunner().invoke(app, [*cmd, "--help"])
        assert result.exit_code == 0 and len(result.stdout) > 100


# --- migration 0009 -------------------------------------------------------------------------


def test_migration_0009_moves_roles_into_staff_roles_and_back(make_database):
    from geo.infra.migrate import downgrade, upgrade
    from tests.factories import make_city, make_org

    url = make_database()
    upgrade(url, "0008")
    engine = create_engine(url)
    with engine.begin() as c:
        cid = make_city(c, "PET")
        org = make_org(c, cid)
        c.execute(
            text("""
            INSERT INTO users (city_id, username, password_hash, role, organisation_id)
            VALUES (:c, 'op', 'h', 'operator', NULL), (:c, 'ex', 'h', 'executor', :o)"""),
            {"c": cid, "o": org},
        )
    upgrade(url, "0009")
    with engine.connect() as c:
        roles = c.execute(
            text(
                "SELECT u.username, r.city_id, r.role, r.organisation_id, u.token_version "
                "FROM staff_roles r JOIN users u ON u.id = r.user_id ORDER BY 1"
            )
        ).all()
    assert [tuple(r) for r in roles] == [
        ("ex", cid, "executor", org, 0),
        ("op", cid, "operator", None, 0),
    ]
    downgrade(url, "0008")
    with engine.connect() as c:
        back = c.execute(text("SELECT username, role, organisation_id FROM users ORDER BY 1")).all()
    assert [tuple(r) for r in back] == [("ex", "executor", org), ("op", "operator", None)]
    engine.dispose()


def test_an_unusable_data_folder_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(WeakSecret, match="cannot keep the token secret in"):
        Settings(environment="development", data_dir=blocker / "local").signing_key  # noqa: B018
