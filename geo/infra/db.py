"""Engines and sessions. Nothing connects at import time: callers build an engine from settings."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import sessionmaker

from geo.infra.settings import Settings


def make_engine(settings: Settings, **kw) -> Engine:
    options = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_pool_size,
        "pool_pre_ping": True,
        "pool_timeout": 5,
        "connect_args": {"connect_timeout": 3, "application_name": "qala"},
    }
    return create_engine(settings.url, **{**options, **kw})


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False)
