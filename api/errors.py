"""Domain errors and database outages mapped to HTTP answers, in one place.

A database error's own text never reaches a response: the user gets a message that says what
is wrong, and the details go to the log.
"""

from __future__ import annotations

import logging

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from api.schemas import AppealStaff
from geo.hotspots.budget import TooMuchWork
from geo.hotspots.workers import Busy
from geo.infra.errors import (
    MAYBE_CHANGED,
    READ_ONLY,
    UNAVAILABLE,
    Conflict,
    Forbidden,
    ImportRejected,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    QalaError,
    StaleVersion,
    TooLarge,
    TooManyAttempts,
    Unavailable,
    UnsupportedMedia,
)
from geo.kb.articles import StaleArticle
from geo.staff.tokens import TokenRefused

log = logging.getLogger("qala.api")

STATUS = {
    NotFound: 404,
    TooLarge: 413,
    UnsupportedMedia: 415,
    InvalidInput: 422,
    Forbidden: 403,
    Conflict: 409,
    ImportRejected: 422,
}
NUL_REFUSED = "cannot contain NUL (0x00) characters"
# SQLSTATEs of values PostgreSQL cannot store although the request's types allowed them
INPUT_REFUSED = {
    "22008": "a date or time is out of PostgreSQL's range",
    "22009": "a time zone offset must be within ±15:59",
}


#: asyncpg's outage errors that may escape a route (the write path maps its own, with the
#: wording of what it knows: api.deps.Db.create_appeal)
ASYNCPG_OUTAGE = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)
READS = {"GET", "HEAD", "OPTIONS"}


def outage_message(
    request: Request, may_have_saved: str = MAYBE_CHANGED, sent: bool | None = None
) -> str:
    """What a 503 may promise: "nothing was saved" unless a write of this request may
    have reached the database: a commit already sent (``request.state.commit_sent``, set by
    ``api.deps.get_session``) whose acknowledgement the outage may have lost, or ``sent``
    when the caller knows better; then ``may_have_saved``."""
    if sent is None:
        sent = bool(getattr(request.state, "commit_sent", False))
    if request.method not in READS and sent:
        return may_have_saved
    return UNAVAILABLE


def _unavailable(message: str = UNAVAILABLE) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=503, headers={"Retry-After": "2"})


def _status(exc: QalaError) -> int:
    for cls, code in STATUS.items():
        if isinstance(exc, cls):
            return code
    return 400


def is_outage(exc: DBAPIError) -> bool:
    return isinstance(exc, OperationalError) or bool(exc.connection_invalidated)


def caused_by_outage(exc: BaseException) -> bool:
    """Whether a database outage is behind ``exc`` (its cause or the error being handled
    when it was raised), e.g. "Can't reconnect until invalid transaction is rolled back"
    raised while cleaning up after a lost connection."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DBAPIError) and is_outage(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def is_read_only(exc: BaseException) -> bool:
    """Whether the database refused a write because it is read-only (SQLSTATE 25006): a
    hot standby, or ``default_transaction_read_only``. Nothing was written."""
    orig = getattr(exc, "orig", exc)
    return getattr(orig, "pgcode", None) == "25006" or isinstance(
        orig, asyncpg.exceptions.ReadOnlySQLTransactionError
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(QalaError)
    async def qala_error(request: Request, exc: QalaError):
        if isinstance(exc, NotAuthenticated):
            # RFC 6750 §3: a token that cannot be used says so in the challenge
            challenge = (
                'Bearer error="invalid_token"' if isinstance(exc, TokenRefused) else "Bearer"
            )
            return JSONResponse(
                {"detail": str(exc)}, status_code=401, headers={"WWW-Authenticate": challenge}
            )
        if isinstance(exc, TooManyAttempts):
            return JSONResponse(
                {"detail": str(exc)},
                status_code=429,
                headers={"Retry-After": str(exc.retry_after)},
            )
        if isinstance(exc, Busy):
            return JSONResponse(
                {"detail": str(exc)},
                status_code=503,
                headers={"Retry-After": str(exc.retry_after)},
            )
        if isinstance(exc, TooMuchWork):
            return JSONResponse({"detail": str(exc), "change": exc.change}, status_code=422)
        if isinstance(exc, StaleArticle):  # told, and shown the article as it is now
            current = jsonable_encoder(exc.current)
            return JSONResponse({"detail": str(exc), "article": current}, status_code=409)
        if isinstance(exc, StaleVersion):  # told, and shown the appeal as it is now
            current = AppealStaff(**exc.current).model_dump(mode="json")
            return JSONResponse({"detail": str(exc), "appeal": current}, status_code=409)
        if isinstance(exc, Unavailable):
            log.warning("database unavailable: %r", exc.__cause__)
            return _unavailable(str(exc))
        return JSONResponse({"detail": str(exc)}, status_code=_status(exc))

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError):
        if is_read_only(exc):
            log.warning("database read-only: a write was refused")
            return _unavailable(READ_ONLY)
        if is_outage(exc):
            log.warning("database unavailable: %s", exc.__class__.__name__)
            return _unavailable(outage_message(request))
        refused = INPUT_REFUSED.get(getattr(exc.orig, "pgcode", None))
        if refused:  # the server refused a value the client sent: bad input, not a crash
            return JSONResponse({"detail": refused}, status_code=422)
        log.exception("database error")
        return JSONResponse({"detail": "internal database error"}, status_code=500)

    @app.exception_handler(PoolTimeout)
    async def pool_timeout(request: Request, exc: PoolTimeout):
        return _unavailable()

    @app.exception_handler(SQLAlchemyError)
    async def outage_aftermath(request: Request, exc: SQLAlchemyError):
        # not a DBAPIError itself (those are handled above) but raised because of an outage
        if caused_by_outage(exc):
            log.warning("database unavailable: %s", exc.__class__.__name__)
            return _unavailable(outage_message(request))
        raise exc

    for outage in ASYNCPG_OUTAGE:

        @app.exception_handler(outage)
        async def asyncpg_outage(request: Request, exc: Exception):
            log.warning("database unavailable: %r", exc)
            # not known to have been sent or not: a write may have happened
            return _unavailable(outage_message(request, sent=True))

    @app.exception_handler(ValueError)
    async def nul_in_text(request: Request, exc: ValueError):
        # psycopg2 refuses a string with a NUL byte before it reaches the server: bad input
        if NUL_REFUSED in str(exc):
            return JSONResponse(
                {"detail": "text must not contain NUL (\\x00) characters"}, status_code=422
            )
        raise exc

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg')}" if where else err.get("msg"))
        return JSONResponse(
            {"detail": "; ".join(problems), "errors": jsonable(exc.errors())}, status_code=422
        )


def jsonable(errors: list[dict]) -> list[dict]:
    return [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in errors
    ]
