"""Dependencies as ``Annotated`` aliases: ``SessionDep``, ``ScopeDep``, ``StaffScopeDep`` …

The request's :class:`~geo.staff.scope.Scope` (its city and who asks) is made in one place,
:func:`get_scope`, from the caller's credentials; routes hand ``scope.city_id`` and
``scope.actor`` to ``geo`` and never take a city from anywhere else. Every database access
of the request runs in it: the session applies it at the start of each transaction
(``info={"scope": ...}`` read by :func:`geo.staff.scope.scope_sessions`), the appeal write
passes it to ``qala_create_appeal_as``, and row-level security (migration 0011) holds the
queries to it whatever they forget to filter. The lookups made before a scope exists (the
account behind a token, an API key, a login) go through narrow SECURITY DEFINER functions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection, Engine, event, text
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from api.reads import read_engine
from geo.appeals import intake
from geo.appeals.actors import Actor
from geo.city.catalog import city_id
from geo.infra.db import asyncpg_dsn
from geo.infra.errors import (
    MAYBE_SAVED,
    READ_ONLY,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    Unavailable,
)
from geo.infra.settings import Settings
from geo.residents import codes as resident_codes
from geo.staff.accounts import current_actor
from geo.staff.auth import actor_from_api_key
from geo.staff.scope import Scope, apply_scope
from geo.staff.tokens import read_token

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
LOG_IN = "log in as staff: POST /api/v1/auth/token, then send 'Authorization: Bearer <token>'"
log = logging.getLogger("qala.api")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


# what an outage looks like to asyncpg: no server, a lost connection, a shutting-down or
# starting-up server, no connection slot left, a broken protocol stream (InternalClientError:
# "unexpected message" from a connection cut mid-answer), an I/O error of the server
ASYNCPG_OUTAGE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.PostgresSystemError,
)


class Db:
    """Database access that needs no ORM session; each statement is a transaction of its
    own (autocommit), so a write is committed when its statement returns and no BEGIN or
    COMMIT round trips are spent.

    * ``create_appeal``: the appeal write, the API's busiest path, through an asyncpg pool
      (no thread hand-off; the statement is prepared once per connection);
    * ``connect``/``read``: lookups behind the async dependencies (city, API key, the
      account behind a token, a login) on a psycopg2 engine in autocommit, run in the thread
      pool; they need no scope (cities are public; keys, accounts and logins are looked up
      through SECURITY DEFINER functions, migration 0011). ``read_scoped`` runs a function
      in a transaction of its own with the request's scope.

    Both pools are small (``db_write_pool_size`` per process): a burst of appeals queues in
    the process instead of crowding the database's cores.
    """

    def __init__(self, engine: Engine):
        self.engine = engine  # made with isolation_level="AUTOCOMMIT"
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Make the asyncpg pool; it connects on first use, so a database that is down
        when the API starts does not stop it from starting."""
        self._pool = await asyncpg.create_pool(
            asyncpg_dsn(self.engine.url),  # several hosts: the one that takes writes
            min_size=0,
            max_size=self.engine.pool.size(),  # as many as the lookups' engine
            timeout=3,
            server_settings={"application_name": "qala"},
        )

    @property
    def pool(self) -> asyncpg.Pool | None:
        """The asyncpg pool of the appeal write (None before :meth:`open`)."""
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        self.engine.dispose()

    async def create_appeal(self, scope: Scope, new: intake.NewAppeal) -> tuple[dict, bool]:
        """``geo.appeals.intake.create_appeal`` as one asyncpg call in ``scope``: the same
        checks, function and answer. ``qala_create_appeal_as`` sets the scope inside the
        statement's own transaction (autocommit), so scoping costs no round trip.

        An outage is a 503 that says what the service knows: no connection could be had
        (nothing was sent, nothing saved), or the statement was sent and the answer lost (in
        autocommit its commit may have happened: retry with the same Idempotency-Key)."""
        args = intake.create_params(scope.city_id, new, scope.actor)
        scoped = scope.settings()
        args["org"], args["user"] = scoped["org"], scoped["user"]
        try:
            conn = await self._pool.acquire(timeout=5)
        except ASYNCPG_OUTAGE as exc:
            raise Unavailable() from exc
        try:
            row = await conn.fetchrow(
                intake.CREATE_AS_SQL_POSITIONAL, *(args[a] for a in intake.CREATE_AS_ARGS)
            )
        except ASYNCPG_OUTAGE as exc:
            raise Unavailable(MAYBE_SAVED) from exc
        except asyncpg.exceptions.ReadOnlySQLTransactionError as exc:  # a standby: not written
            raise Unavailable(READ_ONLY) from exc
        finally:
            try:
                await self._pool.release(conn)
            except ASYNCPG_OUTAGE as exc:  # the pool drops the connection; the answer stands
                log.warning("appeal connection not reusable: %r", exc)
        return intake.created_card(dict(row))

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def read(self, fn, *args):
        """``fn(conn, *args)`` on a connection of its own, unscoped (see the class)."""
        with self.connect() as conn:
            return fn(conn, *args)

    def read_scoped(self, scope: Scope, fn, *args):
        """``fn(conn, *args)`` in a transaction of its own that starts with ``scope``."""
        with self.connect() as conn:
            conn.execution_options(isolation_level="READ COMMITTED")  # back to autocommit after
            with conn.begin():
                apply_scope(conn, scope)
                return fn(conn, *args)


async def get_db(request: Request) -> Db:
    return request.app.state.db


DbDep = Annotated[Db, Depends(get_db)]


class ApiKeys:
    """Channel API keys known to be valid, remembered for ``ttl`` seconds per process.

    A bot or the website sends its key with every appeal; looking it up once per request is
    a round trip on the hottest path. A key revoked through this process's API is forgotten
    at once (:meth:`clear`); one revoked elsewhere (another process, ``qala apikey revoke``)
    stops working here within ``ttl`` seconds. Unknown keys are never remembered (each is
    looked up again).
    """

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._known: dict[str, tuple[float, tuple[Actor, int, str]]] = {}

    def get(self, key: str) -> tuple[Actor, int, str] | None:
        hit = self._known.get(key)
        if hit and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        self._known.pop(key, None)
        return None

    def put(self, key: str, found: tuple[Actor, int, str]) -> None:
        if len(self._known) > 10_000:  # keys are few; never grow without bound
            self._known.clear()
        self._known[key] = (time.monotonic(), found)

    def clear(self) -> None:
        self._known.clear()


CityQuery = Annotated[
    str | None,
    Query(
        description="city code, e.g. PET. Without it: the city of the caller's token or API "
        "key, or the service's default city for the public. Naming another city than the "
        "credentials' is a 403 (a token is for one city: POST /api/v1/auth/switch?city=…).",
        max_length=8,
    ),
]


async def _city_id(request: Request, db: Db, code: str) -> int:
    known = request.app.state.city_ids  # a city's id never changes: asked once per process
    if "\x00" in code:  # the driver would refuse it with a bare ValueError
        raise InvalidInput("city: text must not contain NUL (\\x00) characters")
    code = code.strip().upper()
    if code not in known:
        known[code] = await run_in_threadpool(db.read, city_id, code)
    return known[code]


def _city_code(conn: Connection, cid: int) -> str:
    return conn.execute(text("SELECT code FROM cities WHERE id = :c"), {"c": cid}).scalar_one()


async def _credentials(
    request: Request, db: Db, settings: Settings, token: str | None, x_api_key: str | None
) -> tuple[Scope, str] | None:
    """The scope the credentials give (with their city's code), ``None`` without any."""
    if token and resident_codes.is_resident_token(token):
        # a resident's session: the public of its city, narrowed to its contact's appeals
        cid, contact = resident_codes.read_token(token, settings.signing_key)
        return Scope(cid, Actor(name="resident", role="resident"), contact=contact), ""
    if token:
        claims = read_token(token, settings.signing_key)
        # the account as it is now: active, token not revoked, its role in the city
        actor, code = await run_in_threadpool(db.read, current_actor, claims)
        return Scope(claims.city_id, actor), code
    if x_api_key:
        keys: ApiKeys = request.app.state.api_keys
        found = keys.get(x_api_key)
        if found is None:
            found = await run_in_threadpool(db.read, actor_from_api_key, x_api_key)
            if found is None:
                raise Forbidden("unknown or revoked API key")
            keys.put(x_api_key, found)
        actor, cid, channel = found
        return Scope(cid, actor, channel), ""
    return None


async def get_scope(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2)] = None,
    x_api_key: Annotated[str | None, Header(description="a channel's API key")] = None,
    city: CityQuery = None,
) -> Scope:
    """The request's scope: a staff token gives its city and the account's role there, a
    channel API key its city, no credentials the public of the city named (``?city=``, else
    the default one). A ``?city=`` other than the credentials' city is refused (403)."""
    given = await _credentials(request, db, settings, token, x_api_key)
    if given is None:
        cid = await _city_id(request, db, city or settings.default_city)
        return Scope(cid, Actor(name="public", role="public"))
    scope, code = given
    if city and await _city_id(request, db, city) != scope.city_id:
        asked = city.strip().upper()
        code = code or await run_in_threadpool(db.read, _city_code, scope.city_id)
        if scope.is_resident:
            raise Forbidden(f"you are signed in for {code}, not {asked}: sign in there again")
        if scope.is_staff:
            raise Forbidden(
                f"your token is for {code}, not {asked}: to work in {asked}, get a token for "
                f"it with POST /api/v1/auth/switch?city={asked}"
            )
        raise Forbidden(f"this API key is for {code}, not {asked}")
    return scope


ScopeDep = Annotated[Scope, Depends(get_scope)]


async def get_staff_scope(scope: ScopeDep) -> Scope:
    """The scope of a staff member's request; 401 for anybody else."""
    if not scope.is_staff:
        raise NotAuthenticated(LOG_IN)
    return scope


StaffScopeDep = Annotated[Scope, Depends(get_staff_scope)]


async def get_token_scope(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2)] = None,
) -> Scope:
    """A staff token's scope whatever city the request names (to leave that city:
    ``/auth/switch``); 401 without a valid token."""
    if not token:
        raise NotAuthenticated(LOG_IN)
    given = await _credentials(request, db, settings, token, None)
    if not given[0].is_staff:
        raise NotAuthenticated(LOG_IN)
    return given[0]


TokenScopeDep = Annotated[Scope, Depends(get_token_scope)]


async def get_resident_scope(scope: ScopeDep) -> Scope:
    """The scope of a signed-in resident's request (``/me``); 401 for anybody else."""
    if not scope.is_resident:
        raise NotAuthenticated(
            "sign in as a resident: POST /api/v1/resident/code, then /api/v1/resident/token "
            "with the code sent to you, and send 'Authorization: Bearer <token>'"
        )
    return scope


ResidentScopeDep = Annotated[Scope, Depends(get_resident_scope)]


def get_session(request: Request, scope: ScopeDep) -> Iterator[Session]:
    """A session whose every transaction begins with the request's scope
    (:func:`geo.staff.scope.scope_sessions`): on a read replica for a read that one may
    answer (:func:`api.reads.read_engine`), else on the primary."""
    maker = request.app.state.sessionmaker
    standby = read_engine(request)
    if standby is not None:
        maker = request.app.state.read_sessionmakers[standby]
    with maker(info={"scope": scope}) as session:
        # an outage from here on may have lost a commit's acknowledgement: the 503 then
        # says the change may have been saved (api.errors.outage_message)
        event.listen(session, "before_commit", lambda _: setattr(request.state, "commit_sent", 1))
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def rescope(session: Session, scope: Scope) -> None:
    """Give ``session`` another scope, from its current transaction on: for a route that
    learns its city from its own parameters (Open311's ``jurisdiction_id``, a key in a form)."""
    session.info["scope"] = scope
    if session.in_transaction():
        apply_scope(session.connection(), scope)
