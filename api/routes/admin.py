"""A city's admin: its staff accounts (disable, enable, log out everywhere) and channel keys.

Everything here is limited to the admin's own city (the token's): accounts with a role in
it are listed; accounts whose home is this city can be disabled, enabled or logged out
(another city's account is managed by that city's admins); only this city's API keys can be
revoked. A change takes effect on the next request: tokens are re-checked on every request,
and a revoked key is forgotten by this process at once (other processes within
``QALA_API_KEY_CACHE_S`` seconds).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel

from api.deps import ApiKeys, SessionDep, StaffScopeDep
from geo.infra.errors import Forbidden, InvalidInput
from geo.staff.accounts import city_staff, log_out_everywhere, managed_account, set_active
from geo.staff.auth import api_keys, revoke_api_key
from geo.staff.scope import Scope

router = APIRouter(
    prefix="/api/v1/admin",
    tags=["admin"],
    responses={
        401: {"description": "no staff token, or one that cannot be used"},
        403: {"description": "not an admin, or an account another city manages"},
    },
)


async def get_admin_scope(scope: StaffScopeDep) -> Scope:
    if scope.role != "admin":
        raise Forbidden(f"role {scope.role!r} cannot manage accounts and keys: admins only")
    return scope


AdminDep = Annotated[Scope, Depends(get_admin_scope)]
Username = Annotated[str, Path(min_length=1, max_length=64)]


class StaffAccount(BaseModel):
    id: int
    username: str
    full_name: str
    role: str
    organisation_id: int | None
    active: bool
    home_city: str


class AccountState(BaseModel):
    username: str
    active: bool


class ChannelKey(BaseModel):
    id: int
    city: str
    name: str
    channel: str
    active: bool


@router.get("/users", response_model=list[StaffAccount], summary="Staff with a role in my city")
def users(scope: AdminDep, session: SessionDep) -> list[dict]:
    return city_staff(session.connection(), scope.city_id)


def _set_active(scope: Scope, session, username: str, active: bool) -> dict:
    conn = session.connection()
    user = managed_account(conn, scope.city_id, username)
    if not active and user["id"] == scope.actor.user_id:
        raise InvalidInput("you cannot disable your own account")
    set_active(conn, user["id"], active)
    session.commit()
    return {"username": user["username"], "active": active}


@router.post(
    "/users/{username}/disable",
    response_model=AccountState,
    summary="Disable an account: its tokens stop working at once",
    responses={404: {"description": "no such account in my city"}},
)
def disable(username: Username, scope: AdminDep, session: SessionDep) -> dict:
    return _set_active(scope, session, username, False)


@router.post(
    "/users/{username}/enable",
    response_model=AccountState,
    summary="Enable an account again (its old tokens stay invalid)",
    responses={404: {"description": "no such account in my city"}},
)
def enable(username: Username, scope: AdminDep, session: SessionDep) -> dict:
    return _set_active(scope, session, username, True)


@router.post(
    "/users/{username}/logout-all",
    response_model=AccountState,
    summary="Log an account out everywhere: its tokens stop working at once",
    responses={404: {"description": "no such account in my city"}},
)
def logout_all(username: Username, scope: AdminDep, session: SessionDep) -> dict:
    conn = session.connection()
    user = managed_account(conn, scope.city_id, username)
    log_out_everywhere(conn, user["id"])
    session.commit()
    return {"username": user["username"], "active": user["active"]}


@router.get("/apikeys", response_model=list[ChannelKey], summary="My city's channel API keys")
def keys(scope: AdminDep, session: SessionDep) -> list[dict]:
    return api_keys(session.connection(), scope.city_id)


@router.post(
    "/apikeys/{key}/revoke",
    response_model=list[ChannelKey],
    summary="Revoke a channel API key (by id, or every key of that name) of my city",
    responses={404: {"description": "no such key in my city"}},
)
def revoke(
    key: Annotated[str, Path(min_length=1, max_length=200)],
    scope: AdminDep,
    session: SessionDep,
    request: Request,
) -> list[dict]:
    revoked = revoke_api_key(session.connection(), key, scope.city_id)
    session.commit()
    cache: ApiKeys = request.app.state.api_keys
    cache.clear()  # this process forgets it now; others within QALA_API_KEY_CACHE_S
    return revoked
