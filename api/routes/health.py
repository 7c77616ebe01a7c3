"""``/health``: is the service up, and which database and PostGIS does it talk to."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from api.deps import SessionDep

router = APIRouter(tags=["service"])


class Health(BaseModel):
    status: str
    database: str
    postgis: str
    cities: list[str]


@router.get("/health", response_model=Health, summary="Service, database and PostGIS versions")
def health(session: SessionDep) -> Health:
    row = session.execute(
        text(
            "SELECT current_setting('server_version'), postgis_lib_version(), "
            "(SELECT coalesce(array_agg(code ORDER BY id), '{}') FROM cities)"
        )
    ).one()
    return Health(status="ok", database=f"PostgreSQL {row[0]}", postgis=row[1], cities=row[2])
