"""Our fields of each layer, and where they are read from: the mapping (our field -> the
file's column, value translations, defaults) and each cell's value checked against its field.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from geo.infra.errors import InvalidInput
from geo.models import ORG_KINDS, REPAIR_STATES, WELL_KINDS

KINDS = ("buildings", "yards", "wells", "districts", "organisations")


@dataclass(frozen=True)
class Field:
    """One of our fields: how to read it and what it must be."""

    type: str = "text"  # text | int
    required: bool = False
    max_len: int | None = None
    min: int | None = None
    max: int | None = None
    choices: tuple[str, ...] | None = None


FIELDS: dict[str, dict[str, Field]] = {
    "buildings": {
        "house_number": Field(required=True, max_len=16),
        "street": Field(required=True),
        "street_kk": Field(),
        "kind": Field(max_len=16),
        "apartments": Field("int", min=0, max=100_000),
        "floors": Field("int", min=1, max=100),
        "year_built": Field("int", min=1000, max=2100),
    },
    "yards": {
        "name": Field(),
        "surface": Field(max_len=16),
        "last_repair_year": Field("int", min=1000, max=2100),
        "repair_status": Field(choices=REPAIR_STATES),
    },
    "wells": {
        "kind": Field(required=True, choices=WELL_KINDS),
        "owner": Field(),
        "code": Field(max_len=32),
    },
    "districts": {
        "name_ru": Field(required=True),
        "name_kk": Field(),
    },
    # the bodies that execute appeals, each with its service area (the file's polygons)
    "organisations": {
        "name_ru": Field(required=True),
        "name_kk": Field(),
        "kind": Field(required=True, choices=ORG_KINDS),
        "phone": Field(max_len=64),
        "manager": Field(),
    },
}


@dataclass(frozen=True)
class Source:
    """Where a field's value comes from: a column (maybe), value translation, a default."""

    column: str | None
    values: dict | None = None
    default: Any = None


# --- mapping --------------------------------------------------------------------------------


def load_mapping(mapping: str | Path | dict | None) -> dict[str, Any]:
    """Read a column mapping: a YAML file (our field -> the file's column) or a dict.

    Parameters
    ----------
    mapping : str, Path, dict or None
        The YAML file, or the mapping itself; ``None`` is the empty mapping.

    Returns
    -------
    dict
        Our field -> a column name, or a dict with ``column``, ``values``, ``default``.

    Raises
    ------
    InvalidInput
        The file is not a YAML mapping.
    FileNotFoundError
        The file does not exist.
    """
    if mapping is None:
        return {}
    if isinstance(mapping, dict):
        return dict(mapping)
    path = Path(mapping)
    if not path.exists():
        raise FileNotFoundError(f"no such mapping file: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InvalidInput(
            f"mapping {path.name} is not valid YAML: {str(exc).splitlines()[0]}"
        ) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidInput(f"mapping {path.name} must be 'our field: the file's column' lines")
    return data


def resolve_mapping(
    kind: str, mapping: dict[str, Any], columns: Sequence[str], source: str = "the file"
) -> dict[str, Source]:
    """Decide where each of our fields is read from, and refuse a mapping that cannot work.

    Parameters
    ----------
    kind : str
        The layer: buildings, yards, wells or districts.
    mapping : dict
        From :func:`load_mapping`.
    columns : sequence of str
        The file's columns (without the geometry).
    source : str
        The file's name, for messages.

    Returns
    -------
    dict of str to Source
        One entry per field that has a column or a default.

    Raises
    ------
    InvalidInput
        An unknown field, a mapped column the file does not have, or a required field with
        no column.
    """
    fields = FIELDS[kind]
    have = ", ".join(columns) or "no columns"
    by_lower = {c.lower(): c for c in columns}
    out: dict[str, Source] = {}
    for ours, spec in mapping.items():
        if ours not in fields:
            raise InvalidInput(
                f"mapping: {kind} have no field {ours!r}; the fields are {', '.join(fields)}"
            )
        if isinstance(spec, dict):
            unknown = set(spec) - {"column", "values", "default"}
            if unknown:
                raise InvalidInput(
                    f"mapping: {ours}: unknown key(s) {', '.join(sorted(unknown))}"
                    "; use column, values, default"
                )
            column, values, default = spec.get("column"), spec.get("values"), spec.get("default")
        elif spec is None or isinstance(spec, str | int | float):
            column, values, default = (str(spec) if spec is not None else None), None, None
        else:
            raise InvalidInput(
                f"mapping: {ours}: give a column name or {{column: ..., values: ..., default: ...}}"
            )
        if column is not None and column not in columns:
            raise InvalidInput(
                f"mapping: column {column!r} (for {ours}) is not in {source}; it has: {have}"
            )
        if column is None and default is None:
            continue
        out[ours] = Source(column, values, default)
    for ours, spec in fields.items():
        if ours in out or ours in mapping:
            continue
        if ours.lower() in by_lower:
            out[ours] = Source(by_lower[ours.lower()])
        elif spec.required:
            raise InvalidInput(
                f"{kind} need a {ours!r} column and {source} has none "
                f"(it has: {have}); map one with --mapping, "
                f"e.g. '{ours}: YOUR_COLUMN'"
            )
    return out


# --- values ---------------------------------------------------------------------------------


def _blank(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return not v.strip()
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _as_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, np.integer):
        return str(int(v))
    return str(v).strip()


def read_value(name: str, spec: Field, src: Source, raw: Any) -> tuple[Any, str | None]:
    """Our value for one cell (or ``None``), or a reason the cell is wrong."""
    v = None if _blank(raw) else raw
    if v is not None and src.values is not None:
        key = _as_text(v)
        if key in src.values:
            v = src.values[key]
        elif v in src.values:
            v = src.values[v]
    if v is None or _blank(v):
        v = src.default
    if v is None or _blank(v):
        return None, (f"{name} is empty" if spec.required else None)
    if spec.type == "int":
        try:
            f = float(_as_text(v).replace(",", "."))
        except ValueError:
            return None, f"{name} {_as_text(v)!r} is not a number"
        if not f.is_integer():
            return None, f"{name} {_as_text(v)!r} is not a whole number"
        n = int(f)
        if (spec.min is not None and n < spec.min) or (spec.max is not None and n > spec.max):
            return None, f"{name} {n} is out of range {spec.min}..{spec.max}"
        return n, None
    s = _as_text(v)
    if spec.choices is not None:
        s = s.lower()
        if s not in spec.choices:
            return None, f"{name} {s!r} is not one of {', '.join(spec.choices)}"
    if spec.max_len is not None and len(s) > spec.max_len:
        return None, f"{name} {s!r} is longer than {spec.max_len} characters"
    return s, None


def org_key(name: str) -> str:
    """An organisation's name as owners are matched: quotes, case, ё and spacing ignored."""
    s = re.sub(r"[«»\"“”„'`]", " ", name.casefold().replace("ё", "е"))
    return " ".join(s.split())
