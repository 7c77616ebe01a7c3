"""Domain errors and database outages mapped to HTTP answers, in one place.

A database error's own text never reaches a response: the user gets a message that says what
is wrong, and the details go to the log.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from geo.errors import (
    Conflict,
    Forbidden,
    ImportRejected,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    QalaError,
)

log = logging.getLogger("qala.api")

STATUS = {NotFound: 404, InvalidInput: 422, Forbidden: 403, Conflict: 409, ImportRejected: 422}
UNAVAILABLE = "the database is unavailable right now; nothing was saved, please retry shortly"


def _status(exc: QalaError) -> int:
    for cls, code in STATUS.items():
        if isinstance(exc, cls):
            return code
    return 400


def _is_outage(exc: DBAPIError) -> bool:
    return isinstance(exc, OperationalError) or bool(exc.connection_invalidated)


def install(app: FastAPI) -> None:
    @app.exception_handler(QalaError)
    async def qala_error(request: Request, exc: QalaError):
        if isinstance(exc, NotAuthenticated):
            return JSONResponse({"detail": str(exc)}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        return JSONResponse({"detail": str(exc)}, status_code=_status(exc))

    @app.exception_handler(DBAPIError)
    async def database_error(request: Request, exc: DBAPIError):
        if _is_outage(exc):
            log.warning("database unavailable: %s", exc.__class__.__name__)
            return JSONResponse({"detail": UNAVAILABLE}, status_code=503,
                                headers={"Retry-After": "2"})
        log.exception("database error")
        return JSONResponse({"detail": "internal database error"}, status_code=500)

    @app.exception_handler(PoolTimeout)
    async def pool_timeout(request: Request, exc: PoolTimeout):
        return JSONResponse({"detail": UNAVAILABLE}, status_code=503, headers={"Retry-After": "2"})

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg')}" if where else err.get("msg"))
        return JSONResponse({"detail": "; ".join(problems), "errors": jsonable(exc.errors())},
                            status_code=422)


def jsonable(errors: list[dict]) -> list[dict]:
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in errors]
