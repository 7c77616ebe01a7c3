"""Dependencies as ``Annotated`` aliases: ``SessionDep``, ``CityDep``, ``StaffDep`` …"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from geo.appeals import Actor
from geo.auth import actor_from_api_key, actor_from_token
from geo.citydb import city_id
from geo.errors import Forbidden, NotAuthenticated
from geo.settings import Settings

oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with request.app.state.sessionmaker() as session:
        yield session


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]


def get_city(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    city: Annotated[str | None, Query(description="city code, e.g. PET", max_length=8)] = None,
) -> int:
    code = (city or settings.default_city).upper()
    known = request.app.state.city_ids  # a city's id never changes: asked once per process
    if code not in known:
        known[code] = city_id(session.connection(), code)
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


def get_caller(
    session: SessionDep,
    settings: SettingsDep,
    token: Annotated[str | None, Depends(oauth2)] = None,
    x_api_key: Annotated[str | None, Header()] = None,
) -> Caller:
    if token:
        actor, cid = actor_from_token(token, settings.secret_key)
        return Caller(actor, cid)
    if x_api_key:
        found = actor_from_api_key(session.connection(), x_api_key)
        if found is None:
            raise Forbidden("unknown or revoked API key")
        actor, cid, channel = found
        return Caller(actor, cid, channel)
    return Caller(Actor(name="public", role="public"), None)


CallerDep = Annotated[Caller, Depends(get_caller)]


def get_staff(caller: CallerDep) -> Actor:
    if not caller.is_staff:
        raise NotAuthenticated(
            "log in as staff: POST /api/v1/auth/token, then send 'Authorization: Bearer <token>'"
        )
    return caller.actor


StaffDep = Annotated[Actor, Depends(get_staff)]
