"""Running the Alembic migrations from code (CLI, service start-up, tests).

The scripts are the ``migrations`` package (``env.py``, ``script.py.mako``, ``versions/``),
found where Python imports it from: the source tree, or site-packages after a plain
``pip install .``. ``alembic.ini`` at the root of the source tree is for the ``alembic``
command itself (writing a new revision); nothing here reads it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from geoalchemy2 import alembic_helpers


def migrations_dir() -> Path:
    """The folder of the ``migrations`` package, wherever it is installed.

    Alembic reads its scripts from a folder: the package is installed as plain files (never
    zipped), so its resources are a real path.
    """
    return Path(str(files("migrations")))


def alembic_config(url: str) -> Config:
    """An Alembic configuration for the database at ``url``, with our scripts."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


# kept by SQL in migrations 0003 and 0006 (indexes with INCLUDE and a partial one, a
# trigger-maintained table), not by the models: autogenerate must not propose dropping them
MANAGED_BY_SQL = {
    "appeal_cells",
    "ix_appeals_cell",
    "ix_appeals_open_cell",
    "ix_kb_articles_search",  # an expression index (migration 0016)
    "appeal_tallies",  # kept by triggers (migration 0023)
    "ix_appeals_search",  # a trigram index (migration 0023)
}


def compared(obj, name, type_, reflected, compare_to) -> bool:
    """Which database objects Alembic compares with the models."""
    if type_ == "table" and name == "spatial_ref_sys":
        return False
    if name in MANAGED_BY_SQL:
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)
