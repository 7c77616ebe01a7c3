"""``/health`` and ``/ready``: the probes of a process manager or load balancer.

* ``/health`` (liveness): the process answers. It touches nothing else, so a database
  outage does not make a supervisor restart every worker in a loop.
* ``/ready`` (readiness): the database answers and its schema is at the migrations' head;
  otherwise 503 with what is wrong, so a balancer sends no traffic to a worker that cannot
  serve it. With the database's and PostGIS's versions and the cities served.
"""

from __future__ import annotations

from functools import lru_cache

from alembic.script import ScriptDirectory
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import SessionDep
from geo.infra.migrate import alembic_config

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str
    database: str
    postgis: str
    migration: str
    cities: list[str]


class NotReady(BaseModel):
    status: str = "unavailable"
    detail: str


@lru_cache(maxsize=1)
def migrations_head() -> str:
    """The newest revision of the installed migration scripts."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head() or ""


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Ready,
    summary="Readiness: database reachable, schema current",
    responses={
        503: {
            "model": NotReady,
            "description": "not ready: the database cannot be reached, or its schema is "
            "not the code's (the detail says which)",
        }
    },
)
def ready(session: SessionDep):
    # a database that cannot be reached is the service's usual 503 (api.errors: the same
    # message and Retry-After as every other answer during an outage)
    row = session.execute(
        text(
            "SELECT current_setting('server_version'), postgis_lib_version(), "
            "(SELECT version_num FROM alembic_version), "
            "(SELECT coalesce(array_agg(code ORDER BY id), '{}') FROM cities)"
        )
    ).one()
    head = migrations_head()
    if row[2] != head:
        return JSONResponse(
            {
                "status": "unavailable",
                "detail": f"the database schema is at revision {row[2]}, the code needs "
                f"{head}: run `qala db migrate`",
            },
            status_code=503,
        )
    return Ready(
        status="ok",
        database=f"PostgreSQL {row[0]}",
        postgis=row[1],
        migration=row[2],
        cities=row[3],
    )
