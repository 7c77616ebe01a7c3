"""Dependencies as ``Annotated`` aliases: ``SessionDep``, ``CityDep``, ``StaffDep`` …"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from geo.appeals import intake
from geo.appeals.actors import Actor
from geo.city.catalog import city_id
from geo.infra.errors import MAYBE_SAVED, Forbidden, NotAuthenticated, Unavailable
from geo.infra.settings import Settings
from geo.staff.auth import actor_from_api_key, actor_from_token

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
log = logging.getLogger("qala.api")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        # [answers] an outage from here on may have lost a commit's acknowledgement: the
        # 503 then says the change may have been saved (api.errors.outage_message)
        event.listen(session, "before_commit", lambda _: setattr(request.state, "commit_sent", 1))
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


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
    * ``connect``/``read``: lookups behind the async dependencies (city, API key) on a
      psycopg2 engine in autocommit, run in the thread pool.

    Both pools are small (``db_write_pool_size`` per process): a burst of appeals queues in
    the process instead of crowding the database's cores. The tests substitute a Db bound
    to their transaction.
    """

    def __init__(self, engine: Engine):
        self.engine = engine  # made with isolation_level="AUTOCOMMIT"
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        """Make the asyncpg pool; it connects on first use, so a database that is down
        when the API starts does not stop it from starting."""
        url = self.engine.url.set(drivername="postgresql")
        self._pool = await asyncpg.create_pool(
            url.render_as_string(hide_password=False),
            min_size=0,
            max_size=self.engine.pool.size(),  # as many as the lookups' engine
            timeout=3,
            server_settings={"application_name": "qala"},
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        self.engine.dispose()

    async def create_appeal(
        self, city_id: int, new: intake.NewAppeal, actor: Actor
    ) -> tuple[dict, bool]:
        """``geo.appeals.intake.create_appeal`` as one asyncpg call: the same checks, function and
        answer.

        An outage is a 503 that says what the service knows: no connection could be had
        (nothing was sent, nothing saved), or the statement was sent and the answer lost (in
        autocommit its commit may have happened: retry with the same Idempotency-Key)."""
        args = intake.create_params(city_id, new, actor)
        try:
            conn = await self._pool.acquire(timeout=5)
        except ASYNCPG_OUTAGE as exc:
            raise Unavailable() from exc
        try:
            row = await conn.fetchrow(
                intake.CREATE_SQL_POSITIONAL, *(args[a] for a in intake.CREATE_ARGS)
            )
        except ASYNCPG_OUTAGE as exc:
            raise Unavailable(MAYBE_SAVED) from exc
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
        """``fn(conn, *args)`` on a connection of its own."""
        with self.connect() as conn:
            return fn(conn, *args)


async def get_db(request: Request) -> Db:
    return request.app.state.db


DbDep = Annotated[Db, Depends(get_db)]


async def get_city(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    city: Annotated[str | None, Query(description="city code, e.g. PET", max_length=8)] = None,
) -> int:
    code = (city or settings.default_city).upper()
    known = request.app.state.city_ids  # a city's id never changes: asked once per process
    if code not in known:
        known[code] = await run_in_threadpool(db.read, city_id, code)
    return known[code]


CityDep = Annotated[int, Depends(get_city)]


@dataclass
class Caller:
    """Who calls: a staff actor (token), a channel (API key), or the public (neither)."""

    actor: Actor
    city_id: int | None
    channel: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.actor.role not in {"public", "channel"}


class ApiKeys:
    """Channel API keys known to be valid, remembered for ``ttl`` seconds per process.

    A bot or the website sends its key with every appeal; looking it up once per request is
    a round trip on the hottest path. A revoked key stops working within ``ttl`` seconds;
    unknown keys are never remembered (each is looked up again).
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


async def get_caller(
    request: Request,
    db: DbDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2)] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Caller:
    if token:
        actor, cid = actor_from_token(token, settings.secret_key)
        return Caller(actor, cid)
    if x_api_key:
        keys: ApiKeys = request.app.state.api_keys
        found = keys.get(x_api_key)
        if found is None:
            found = await run_in_threadpool(db.read, actor_from_api_key, x_api_key)
            if found is None:
                raise Forbidden("unknown or revoked API key")
            keys.put(x_api_key, found)
        actor, cid, channel = found
        return Caller(actor, cid, channel)
    return Caller(Actor(name="public", role="public"), None)


CallerDep = Annotated[Caller, Depends(get_caller)]


async def get_staff(caller: CallerDep) -> Actor:
    if not caller.is_staff:
        raise NotAuthenticated(
            "log in as staff: POST /api/v1/auth/token, then send 'Authorization: Bearer <token>'"
        )
    return caller.actor


StaffDep = Annotated[Actor, Depends(get_staff)]
