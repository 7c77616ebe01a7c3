"""The ``qala`` command: database, demo city, imports, users, and the service itself.

Every failure ends with one line on stderr that says what is wrong, and a non-zero exit.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from pathlib import Path

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from geo.infra.errors import QalaError
from geo.infra.localdb import LocalDbError, cluster_from_settings, port_is_free
from geo.infra.settings import Settings

#: seconds a stopping server waits for open requests: the staff pages' event streams never
#: end by themselves (their pages reconnect to the next server)
GRACE_S = 5

app = typer.Typer(
    help="Qala Map: the city issue map of a 109 contact centre.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The project's own PostGIS (or QALA_DATABASE_URL).", no_args_is_help=True)
import_app = typer.Typer(help="Import map data and appeal history.", no_args_is_help=True)
demo_app = typer.Typer(help="The synthetic demo city.", no_args_is_help=True)
user_app = typer.Typer(
    help="Staff accounts: add, roles per city, disable, log out everywhere.", no_args_is_help=True
)
apikey_app = typer.Typer(help="Channel API keys: list, revoke.", no_args_is_help=True)
outbox_app = typer.Typer(
    help="Messages to applicants: send what is due, queue failed ones again.",
    no_args_is_help=True,
)
org_app = typer.Typer(
    help="Organisations that execute appeals (import areas with `qala import organisations`).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(import_app, name="import")
app.add_typer(demo_app, name="demo")
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(outbox_app, name="outbox")
app.add_typer(org_app, name="org")


def say(msg: str) -> None:
    typer.echo(msg, err=True)


def database_problem(exc: DBAPIError) -> str:
    """What a database error means for the person at the terminal, in one line."""
    where = _where(exc)
    reason = str(getattr(exc, "orig", exc)).strip().splitlines()
    first = reason[0] if reason else exc.__class__.__name__
    code = getattr(getattr(exc, "orig", None), "pgcode", None)
    if isinstance(exc, OperationalError) and code is None:
        return (
            f"cannot reach the database{where} ({first}): run `qala db up`, or check "
            "QALA_DATABASE_URL / QALA_ADMIN_DATABASE_URL"
        )
    if code == "42P01":  # undefined_table
        return f"the database{where} has no Qala schema ({first}): run `qala db migrate`"
    if code == "25006":  # read_only_sql_transaction
        return (
            f"the database{where} is read-only (a standby, or default_transaction_read_only): "
            "point QALA_ADMIN_DATABASE_URL at the primary"
        )
    return f"the database{where} refused: {first}"


def _where(exc: DBAPIError) -> str:
    try:
        url = Settings().admin_url
    except Exception:  # noqa: BLE001 (only for the message)
        return ""
    u = make_url(url)
    return f" at {u.host}:{u.port}/{u.database}"


def fail_in_one_line(fn):
    """Turn the errors users cause (or meet) into one line and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (QalaError, LocalDbError, FileNotFoundError, ValueError) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            typer.echo(f"qala: error: {msg}", err=True)
            sys.exit(1)
        except DBAPIError as exc:
            typer.echo(f"qala: error: {database_problem(exc)}", err=True)
            sys.exit(1)

    return wrapper


def db_url(settings: Settings, start: bool = False) -> str:
    """The admin's database URL (migrations, imports, users). With no QALA_DATABASE_URL it
    is the project's own cluster: brought up first when ``start`` (``qala run``, ``qala db
    migrate``), else it must be running already: a command that only uses the database
    never creates or starts one as a side effect."""
    if settings.database_url or settings.admin_database_url:
        return settings.admin_url
    cluster = cluster_from_settings(settings)
    if start:
        return cluster.up(echo=say, quiet_if_running=True)
    if not cluster.running():
        raise LocalDbError(
            f"the project's database is not running (port {cluster.port}, data in "
            f"{cluster.root}): run `qala db up`, or set QALA_DATABASE_URL"
        )
    return cluster.url()


@db_app.command("up")
@fail_in_one_line
def db_up(
    standby: bool = typer.Option(
        False,
        "--standby",
        help="also start a streaming hot standby (pg_basebackup -R) in data_dir/pg-standby "
        "on QALA_DB_STANDBY_PORT (54330): a read replica, and what a failover promotes",
    ),
    synchronous: str = typer.Option(
        None,
        help="with --standby: off (default, QALA_DB_SYNCHRONOUS), on (a commit is "
        "acknowledged once on the standby's disk) or remote_apply (once applied there): "
        "an acknowledged appeal then survives losing the primary",
    ),
) -> None:
    """Install (as root), create and start the local PostGIS; idempotent."""
    from geo.infra.standby import SYNC_MODES, up_standby

    settings = Settings()
    if settings.database_url:
        say("QALA_DATABASE_URL is set: using that server, no local cluster")
        return
    mode = synchronous or settings.db_synchronous
    if mode not in SYNC_MODES:
        raise LocalDbError(f"--synchronous must be one of {', '.join(SYNC_MODES)}, not {mode}")
    if synchronous and not standby:
        raise LocalDbError("--synchronous needs --standby (a standby to wait for)")
    cluster = cluster_from_settings(settings)
    cluster.up(echo=say)
    say(
        f"roles: {cluster.superuser} (admin: migrations, imports) and {cluster.service_role} "
        f"(the API); passwords in {cluster.root}/*.password (mode 0600)"
    )
    if standby:
        replica = up_standby(cluster, settings.db_standby_port, mode, echo=say)
        say(
            "read replica URL: the service role on port "
            f"{replica.port} (set QALA_READ_DATABASE_URLS to use it)"
        )


@db_app.command("down")
@fail_in_one_line
def db_down(
    standby: bool = typer.Option(
        False, "--standby", help="stop only the standby (the primary stops waiting for it)"
    ),
) -> None:
    """Stop the local PostGIS (and its standby, if there is one)."""
    from geo.infra.standby import down_standby

    settings = Settings()
    cluster = cluster_from_settings(settings)
    if down_standby(cluster, settings.db_standby_port):
        say(f"standby on port {settings.db_standby_port} stopped")
    if standby:
        return
    cluster.stop()
    say(f"PostGIS on port {cluster.port} stopped")


@db_app.command("migrate")
@fail_in_one_line
def db_migrate(revision: str = typer.Argument("head")) -> None:
    """Apply the Alembic migrations up to REVISION."""
    from geo.infra.migrate import upgrade

    upgrade(db_url(Settings(), start=True), revision)
    say(f"schema at {revision}")


@db_app.command("backup")
@fail_in_one_line
def db_backup(
    file: Path = typer.Argument(
        None, help="the archive to write (default data_dir/backups/qala-<UTC time>.dump)"
    ),
) -> None:
    """Back the database up to one file (pg_dump's custom format); see docs/operations.md."""
    import datetime as dt

    from geo.infra.backup import backup

    settings = Settings()
    url = db_url(settings, start=False)
    if file is None:
        folder = settings.data_dir / "backups"
        folder.mkdir(parents=True, exist_ok=True)
        file = folder / f"qala-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.dump"
    size = backup(url, file)
    say(f"backup written: {file} ({size / 1024 / 1024:.1f} MiB)")


@db_app.command("restore")
@fail_in_one_line
def db_restore(
    file: Path = typer.Argument(..., help="an archive written by `qala db backup`"),
    yes: bool = typer.Option(False, "--yes", help="do not ask before replacing the database"),
) -> None:
    """Replace the database by a backup. The current one is kept under another name until
    you drop it; its connections are ended (stop the service first)."""
    from geo.infra.backup import check_archive, restore

    settings = Settings()
    url = db_url(settings, start=False)
    entries = check_archive(file)
    if not yes and not sys.stdin.isatty():
        raise ValueError("not restored: no terminal to confirm on (pass --yes)")
    if not yes and not typer.confirm(
        f"replace the database with {file} ({entries} entries)?", err=True
    ):
        raise ValueError("not restored: not confirmed (--yes to skip the question)")
    kept = restore(url, file)
    say(f"restored from {file}" + (f"; the previous database is kept as {kept}" if kept else ""))


@db_app.command("downgrade")
@fail_in_one_line
def db_downgrade(revision: str = typer.Argument(...)) -> None:
    """Revert the Alembic migrations down to REVISION (``base`` drops everything)."""
    from geo.infra.migrate import downgrade

    downgrade(db_url(Settings()), revision)
    say(f"schema at {revision}")


@demo_app.command("load")
@fail_in_one_line
def demo_load(
    seed: int = typer.Option(2026, help="the generator's seed"),
    appeals: int = typer.Option(3000, help="synthetic appeals to add"),
) -> None:
    """Generate the demo city (and its appeals) and load it into an empty database."""
    from geo.city.catalog import database_is_empty
    from geo.demo.appeals import load_demo_appeals
    from geo.demo.city import CITY_CODE
    from geo.demo.load import load_demo_city
    from geo.infra.db import make_engine
    from geo.infra.migrate import upgrade
    from geo.staff.auth import DEMO_PASSWORD, add_demo_users

    settings = Settings()
    url = db_url(settings, start=True)
    upgrade(url)
    engine = make_engine(settings, admin=True)
    with engine.begin() as conn:
        if not database_is_empty(conn):
            raise QalaError("the database already holds a city: `qala demo load` wants it empty")
        counts = load_demo_city(conn, seed=seed, echo=say)
        if appeals:
            load_demo_appeals(conn, counts["city_id"], n=appeals, seed=seed, echo=say)
        users = add_demo_users(conn, CITY_CODE)
        say(f"demo staff users {', '.join(users)}; password {DEMO_PASSWORD!r} (demo only)")


@demo_app.command("appeals")
@fail_in_one_line
def demo_appeals(
    n: int = typer.Argument(..., help="how many synthetic appeals to add"),
    city: str = typer.Option(None, help="the city's code (default QALA_DEFAULT_CITY)"),
    seed: int = typer.Option(2026, help="the generator's seed"),
) -> None:
    """Add N synthetic appeals over the last year to any city (an imported one too), placed
    on its buildings, yards, wells and streets and routed as live intake does."""
    from geo.city.catalog import city_id
    from geo.demo.appeals import load_city_appeals

    if n < 1:
        raise QalaError("N: give at least 1 appeal")
    settings, engine = _engine()
    with engine.begin() as conn:
        load_city_appeals(conn, city_id(conn, city or settings.default_city), n, seed, echo=say)


def say_secret(settings: Settings) -> None:
    """Where the token-signing secret comes from (never the secret itself); made now when
    it is the generated one, so a bad data folder is an error before serving."""
    settings.signing_key  # noqa: B018 (made on first use)
    where = settings.secret_file
    if where is None:
        say("tokens are signed with QALA_SECRET_KEY")
    else:
        say(
            f"tokens are signed with the secret in {where} (owner-only; set QALA_SECRET_KEY "
            "to use your own)"
        )


@app.command("serve")
@fail_in_one_line
def serve(
    host: str = typer.Option(None, help="address to listen on (default QALA_HOST, 127.0.0.1)"),
    port: int = typer.Option(None, help="port to listen on (default QALA_PORT, 8000)"),
    workers: int = typer.Option(
        None, min=1, max=64, help="worker processes (default QALA_WORKERS, 1); about one per core"
    ),
) -> None:
    """Serve the API and pages with uvicorn (the database must be up).

    With several workers each is a process of its own with its own pools; /metrics sums
    them (prometheus-client's multiprocess mode, in data_dir/run/metrics)."""
    import uvicorn

    from api.observe import configure_logging, log_config

    settings = Settings()
    say_secret(settings)
    configure_logging(settings)
    workers = workers or settings.workers
    host, port = host or settings.host, port or settings.port
    if workers == 1:
        from api.app import create_app

        uvicorn.run(
            create_app(settings),
            host=host,
            port=port,
            log_config=log_config(settings),
            timeout_graceful_shutdown=GRACE_S,
        )
        return
    metrics = settings.data_dir / "run" / "metrics"
    shutil.rmtree(metrics, ignore_errors=True)  # the figures of an earlier run's workers
    metrics.mkdir(parents=True)
    # read by prometheus-client when each worker imports it
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics)
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config(settings),
        timeout_graceful_shutdown=GRACE_S,
    )


@app.command("run")
@fail_in_one_line
def run(
    host: str = typer.Option(None, help="address to listen on (default QALA_HOST, 127.0.0.1)"),
    port: int = typer.Option(None, help="port to listen on (default QALA_PORT, 8000)"),
    seed: int = typer.Option(2026, help="the demo city's random seed (first run only)"),
    appeals: int = typer.Option(3000, help="demo appeals to generate (first run only)"),
) -> None:
    """Everything: db up, migrate, load the demo city if the database is empty, serve."""
    from geo.city.catalog import database_is_empty
    from geo.infra.db import make_engine
    from geo.infra.migrate import upgrade

    settings = Settings()
    if not port_is_free(port or settings.port):
        raise LocalDbError(
            f"port {port or settings.port} is taken (an earlier `qala run` still serving?): "
            "stop it, or choose another with --port / QALA_PORT"
        )
    url = db_url(settings, start=True)
    upgrade(url)
    say("schema up to date")
    engine = make_engine(settings, admin=True)
    with engine.connect() as conn:
        empty = database_is_empty(conn)
    engine.dispose()
    if empty:
        demo_load(seed=seed, appeals=appeals)
    from geo.notify.worker import start_in_thread

    thread, stop = start_in_thread(settings)  # word back to applicants, beside the service
    say(f"outbox worker started (SMTP {settings.smtp_host}:{settings.smtp_port})")
    try:
        serve(host=host, port=port, workers=None)
    finally:
        stop.set()
        thread.join(timeout=settings.smtp_timeout_s + 5)


def _import_map(
    kind: str, file: Path, city: str | None, mapping: Path | None, source_crs, layer=None
):
    from geo.imports.layers import import_layer
    from geo.infra.db import make_engine

    settings = Settings()
    db_url(settings)
    engine = make_engine(settings, admin=True)
    with engine.begin() as conn:
        report = import_layer(
            conn,
            kind,
            file,
            city or settings.default_city,
            mapping=mapping,
            source_crs=source_crs,
            echo=say,
            layer=layer,
        )
    say(report.summary())


def _map_command(kind: str):
    def command(
        file: Path = typer.Argument(..., help="GeoJSON, GeoPackage or Shapefile"),
        city: str = typer.Option(None, help="city code (default QALA_DEFAULT_CITY)"),
        mapping: Path = typer.Option(None, help="YAML: our column -> the file's column"),
        crs: str = typer.Option(None, help="the file's CRS when it declares none"),
        layer: str = typer.Option(None, help="the layer of a GeoPackage (default: its first)"),
    ):
        _import_map(kind, file, city, mapping, crs, layer)

    command.__doc__ = f"Import {kind} (all or nothing: one bad row and nothing is written)."
    return fail_in_one_line(command)


for _kind in ("buildings", "yards", "wells", "districts", "organisations"):
    import_app.command(_kind)(_map_command(_kind))


@import_app.command("osm")
@fail_in_one_line
def import_osm(
    file: Path = typer.Argument(..., help="an OpenStreetMap .osm.pbf extract"),
    city: str = typer.Option(..., help="code of the new city, e.g. HEL"),
    name: str = typer.Option(None, help="the city's name"),
) -> None:
    """Import buildings, residential yards and streets from an OSM extract as a new city."""
    from geo.imports.osm import import_osm as run_import
    from geo.infra.db import make_engine

    settings = Settings()
    db_url(settings)
    engine = make_engine(settings, admin=True)
    with engine.begin() as conn:
        report = run_import(conn, file, city, name=name, echo=say)
    say(report.summary())


@import_app.command("appeals")
@fail_in_one_line
def import_appeals(
    file: Path = typer.Argument(..., help="CSV or Parquet"),
    mapping: Path = typer.Option(..., help="YAML mapping file (see data/mappings)"),
    city: str = typer.Option(None, help="city code (default: from the mapping)"),
    defer_indexes: bool = typer.Option(
        None,
        "--defer-indexes/--keep-indexes",
        help="drop and rebuild the appeals indexes around the COPY (faster; "
        "locks the table); default: only when the table is empty",
    ),
) -> None:
    """Import appeal history through COPY, with a report of what was imported and rejected."""
    from geo.imports.history import import_history
    from geo.infra.db import make_engine

    settings = Settings()
    db_url(settings)
    engine = make_engine(settings, admin=True)
    report = import_history(engine, file, mapping, city=city, echo=say, defer_indexes=defer_indexes)
    typer.echo(report.summary())


def read_password(given: str | None, from_stdin: bool) -> str:
    """The new account's password: given, one line of stdin, or asked on the terminal."""
    if from_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise ValueError("--password-stdin: standard input had no password")
        return line
    if given:
        return given
    if not sys.stdin.isatty():
        raise ValueError(
            "no password: run in a terminal to be asked, or pipe it with --password-stdin"
        )
    return typer.prompt("password", hide_input=True, confirmation_prompt=True, err=True)


def _engine():
    """The admin's engine of the configured database (the local cluster brought up first):
    accounts and keys are managed as the owner, past row-level security."""
    from geo.infra.db import make_engine

    settings = Settings()
    db_url(settings)
    return settings, make_engine(settings, admin=True)


@user_app.command("add")
@fail_in_one_line
def user_add(
    username: str = typer.Argument(..., help="the new account's user name"),
    role: str = typer.Argument(
        ..., help="operator, inspector, executor, controller, planner or admin"
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from standard input (one line)"
    ),
    password: str = typer.Option(
        None,
        help="the password (visible to other users in the process list: prefer "
        "the prompt or --password-stdin)",
    ),
    city: str = typer.Option(None, help="its home city's code (default QALA_DEFAULT_CITY)"),
    organisation: int = typer.Option(None, help="an executor's organisation id"),
    full_name: str = typer.Option("", help="the person's full name, shown to other staff"),
) -> None:
    """Add a staff account with a role in its home city. The password is asked for on a
    terminal (twice), or read from standard input with --password-stdin."""
    from geo.staff.auth import add_user

    password = read_password(password, password_stdin)
    settings, engine = _engine()
    with engine.begin() as conn:
        add_user(
            conn,
            city or settings.default_city,
            username,
            password,
            role,
            organisation_id=organisation,
            full_name=full_name,
        )
    say(f"user {username} ({role}) added")


@user_app.command("grant")
@fail_in_one_line
def user_grant(
    username: str = typer.Argument(..., help="an existing account"),
    role: str = typer.Argument(
        ..., help="operator, inspector, executor, controller, planner or admin"
    ),
    city: str = typer.Option(..., help="the city's code"),
    organisation: int = typer.Option(None, help="an executor's organisation id (in that city)"),
) -> None:
    """Give an account a role in a city (replacing the role it had there)."""
    from geo.staff.accounts import grant_role

    _, engine = _engine()
    with engine.begin() as conn:
        grant_role(conn, username, city, role, organisation)
    say(f"user {username} is {role} in {city.upper()}")


def _account_change(username: str, what: str) -> None:
    from geo.staff.accounts import account, log_out_everywhere, set_active

    _, engine = _engine()
    with engine.begin() as conn:
        user = account(conn, username)
        if what == "logout":
            log_out_everywhere(conn, user["id"])
        else:
            set_active(conn, user["id"], what == "enable")


@user_app.command("disable")
@fail_in_one_line
def user_disable(username: str = typer.Argument(..., help="the account to disable")) -> None:
    """Disable an account: it cannot log in, and its tokens stop working at once (also
    after it is enabled again)."""
    _account_change(username, "disable")
    say(f"user {username} disabled; its tokens no longer work")


@user_app.command("enable")
@fail_in_one_line
def user_enable(username: str = typer.Argument(..., help="the account to enable")) -> None:
    """Enable a disabled account again (it logs in anew)."""
    _account_change(username, "enable")
    say(f"user {username} enabled")


@user_app.command("logout")
@fail_in_one_line
def user_logout(username: str = typer.Argument(..., help="the account to log out")) -> None:
    """Log an account out everywhere: every token issued to it stops working at once."""
    _account_change(username, "logout")
    say(f"user {username} logged out everywhere")


@user_app.command("apikey")
@fail_in_one_line
def apikey_add(
    name: str = typer.Argument(..., help="a name for the integration, e.g. telegram-bot"),
    channel: str = typer.Option(
        "website", help="the channel its appeals are recorded under (website, telegram, app, …)"
    ),
    city: str = typer.Option(None, help="the city's code (default QALA_DEFAULT_CITY)"),
) -> None:
    """Create an API key for a channel integration; the key is printed once."""
    from geo.staff.auth import add_api_key

    settings, engine = _engine()
    with engine.begin() as conn:
        key = add_api_key(conn, city or settings.default_city, name, channel)
    typer.echo(key)


@apikey_app.command("list")
@fail_in_one_line
def apikey_list(city: str = typer.Option(None, help="only this city's keys")) -> None:
    """The channel API keys: id, city, name, channel, active (never the keys themselves)."""
    from geo.city.catalog import city_id
    from geo.staff.auth import api_keys

    _, engine = _engine()
    with engine.connect() as conn:
        rows = api_keys(conn, city_id(conn, city) if city else None)
    for k in rows:
        state = "active" if k["active"] else "revoked"
        typer.echo(f"{k['id']}\t{k['city']}\t{k['name']}\t{k['channel']}\t{state}")


@apikey_app.command("revoke")
@fail_in_one_line
def apikey_revoke(
    key: str = typer.Argument(..., help="the key's id, or its name (every key of that name)"),
    city: str = typer.Option(None, help="only among this city's keys"),
) -> None:
    """Revoke a channel API key. The database refuses it at once; a running service that
    remembered it as valid accepts it for at most QALA_API_KEY_CACHE_S more seconds."""
    from geo.city.catalog import city_id
    from geo.staff.auth import revoke_api_key

    settings, engine = _engine()
    with engine.begin() as conn:
        revoked = revoke_api_key(conn, key, city_id(conn, city) if city else None)
    for k in revoked:
        say(f"API key {k['id']} ({k['name']}, {k['city']}) revoked")
    say(f"running services stop accepting it within {settings.api_key_cache_s:g} s")


@outbox_app.command("work")
@fail_in_one_line
def outbox_work(
    loop: bool = typer.Option(False, "--loop", help="keep working until interrupted"),
) -> None:
    """Send the messages that are due (one pass), or keep doing so (--loop)."""
    import threading

    from geo.notify.worker import Worker

    settings, engine = _engine()
    worker = Worker(engine, settings)
    if loop:
        stop = threading.Event()
        try:
            worker.run(stop)
        except KeyboardInterrupt:
            stop.set()
        return
    try:
        done = worker.work_once()
    finally:
        worker.close()
    say(f"outbox: {done.sent} sent, {done.retried} to retry, {done.failed} failed")
    if done.server_down:
        raise QalaError(f"the server is unreachable: {done.errors[-1]}")


@outbox_app.command("retry")
@fail_in_one_line
def outbox_retry(city: str = typer.Option(None, help="only this city's messages")) -> None:
    """Queue failed messages again and make every waiting one due now."""
    from geo.city.catalog import city_id
    from geo.notify.worker import retry_failed

    _, engine = _engine()
    with engine.connect() as conn:
        cid = city_id(conn, city) if city else None
    say(f"outbox: {retry_failed(engine, cid)} messages due now")


@org_app.command("add")
@fail_in_one_line
def org_add(
    name: str = typer.Argument(..., help="its name in Russian"),
    kind: str = typer.Option(
        ...,
        help="city_department, district_akimat, utility, lift_company, housing_org or "
        "contractor: which categories route to it",
    ),
    city: str = typer.Option(None, help="the city's code (default QALA_DEFAULT_CITY)"),
    name_kk: str = typer.Option(None, help="its name in Kazakh (default: the Russian one)"),
    phone: str = typer.Option(None, help="its phone, shown to staff"),
    manager: str = typer.Option(None, help="its manager's name, shown to staff"),
) -> None:
    """Add an organisation serving the whole city (its service area: the city's bounds)."""
    from geo.city.catalog import add_organisation

    settings, engine = _engine()
    with engine.begin() as conn:
        oid = add_organisation(
            conn, city or settings.default_city, kind, name, name_kk, phone, manager
        )
    say(f"organisation {oid} ({kind}) added: {name}")


if __name__ == "__main__":
    app()
