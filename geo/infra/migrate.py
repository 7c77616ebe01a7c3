"""Running the Alembic migrations from code (CLI, service start-up, tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from geoalchemy2 import alembic_helpers

from geo.infra.settings import PROJECT_ROOT


def alembic_config(url: str) -> Config:
    cfg = Config(str(PROJECT_ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


# kept by SQL in migrations 0003 and 0006 (indexes with INCLUDE and a partial one, a
# trigger-maintained table), not by the models: autogenerate must not propose dropping them
MANAGED_BY_SQL = {"appeal_cells", "ix_appeals_cell", "ix_appeals_open_cell"}


def compared(obj, name, type_, reflected, compare_to) -> bool:
    """Which database objects Alembic compares with the models."""
    if type_ == "table" and name == "spatial_ref_sys":
        return False
    if name in MANAGED_BY_SQL:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)
