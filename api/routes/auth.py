"""Logging in and out: tokens for one city at a time, switching city, "log out everywhere".

A token is for one city: login picks it (the form's ``city``, else the account's default
city), ``/auth/switch`` trades it for another city where the account has a role, and
``/me`` lists them. Failed logins are throttled per account and per client address
(:mod:`geo.staff.login`); every staff request re-checks the account
(:func:`geo.staff.accounts.current_actor`), so logging out everywhere is immediate.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from api.deps import DbDep, SessionDep, SettingsDep, StaffScopeDep, TokenScopeDep
from api.schemas import Token
from geo.infra.errors import NotAuthenticated, TooManyAttempts
from geo.infra.settings import Settings
from geo.staff.accounts import account, log_out_everywhere, role_in, roles_of, token_subject
from geo.staff.login import Limits, log_in
from geo.staff.tokens import issue_token

router = APIRouter(prefix="/api/v1", tags=["auth"])
ERRORS = {
    401: {"description": "wrong user name or password, or a token that cannot be used"},
    403: {"description": "the account has no role in the city asked for"},
}


class CityRole(BaseModel):
    city: str
    role: str
    organisation_id: int | None
    home: bool


class Me(BaseModel):
    username: str
    full_name: str
    home_city: str
    city: str
    role: str
    organisation_id: int | None
    cities: list[CityRole]


def _token(settings: Settings, user: dict, role: dict) -> Token:
    token = issue_token(token_subject(user, role), settings.signing_key, settings.token_minutes)
    return Token(access_token=token, role=role["role"], city=role["city"])


@router.post(
    "/auth/token",
    response_model=Token,
    summary="Log in (OAuth2 password flow), for one city",
    responses={
        **ERRORS,
        429: {"description": "too many failed logins for the account or from the address"},
    },
)
def login(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    db: DbDep,
    settings: SettingsDep,
    city: Annotated[
        str | None,
        Form(
            max_length=8,
            description="the city to work in (a code, e.g. PET); default: the account's home "
            "city (or its first city)",
        ),
    ] = None,
) -> Token:
    limits = Limits(
        window_s=settings.login_window_s,
        per_account=settings.login_failures_per_account,
        per_client=settings.login_failures_per_client,
    )
    client = request.client.host if request.client else "unknown"
    attempt = db.read(log_in, form.username, form.password, client, limits)
    if attempt.retry_after is not None:
        raise TooManyAttempts(
            "too many failed logins for this account or from this address: try again in "
            f"{attempt.retry_after} s",
            attempt.retry_after,
        )
    if attempt.user is None:
        raise NotAuthenticated("wrong user name or password")
    role = db.read(role_in, attempt.user, city or None)
    return _token(settings, attempt.user, role)


@router.post(
    "/auth/switch",
    response_model=Token,
    summary="A token for another city where the account has a role",
    responses=ERRORS,
)
def switch(
    scope: TokenScopeDep,
    db: DbDep,
    settings: SettingsDep,
    city: Annotated[str, Query(min_length=1, max_length=8, description="the city's code")],
) -> Token:
    def find(conn):
        user = account(conn, scope.actor.name)
        return user, role_in(conn, user, city)

    # the account is read in the token's scope; its roles across cities (qala_account_roles)
    user, role = db.read_scoped(scope, find)
    return _token(settings, user, role)


@router.get("/me", response_model=Me, summary="Who I am: my cities and my role in each")
def me(scope: StaffScopeDep, db: DbDep) -> dict:
    def find(conn):
        user = account(conn, scope.actor.name)
        return user, roles_of(conn, user["id"])

    user, roles = db.read_scoped(scope, find)
    here = next(r for r in roles if r["city_id"] == scope.city_id)
    return {
        "username": user["username"],
        "full_name": user["full_name"],
        "home_city": user["home_city"],
        "city": here["city"],
        "role": scope.role,
        "organisation_id": scope.actor.organisation_id,
        "cities": roles,
    }


@router.post(
    "/auth/logout-all",
    status_code=204,
    summary="Log out everywhere: every token of my account stops working now",
    responses={401: ERRORS[401]},
)
def logout_all(scope: StaffScopeDep, session: SessionDep) -> Response:
    log_out_everywhere(session.connection(), scope.actor.user_id)
    session.commit()
    return Response(status_code=204)
