"""The mapping file of a history import: which column of the export is what, and how its
values translate to ours (see ``data/mappings/boston311.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from geo.infra.errors import InvalidInput
from geo.models import CHANNELS

#: rejection reasons, in the order they are checked (a row gets the first that applies)
REASONS = {
    "no_id": "no id",
    "duplicate_id": "id repeated in the file",
    "bad_opened": "opening date missing or unreadable",
    "bad_deadline": "deadline unreadable",
    "bad_closed": "closing date unreadable",
    "closed_without_date": "closed without a closing date",
    "unknown_status": "status value not in the mapping",
    "no_coordinates": "no coordinates",
    "bad_coordinates": "garbage coordinates",
    "outside_city": "outside the city's bounds",
}
MAPPED_COLUMNS = (
    "id",
    "opened",
    "deadline",
    "closed",
    "status",
    "on_time",
    "type",
    "channel",
    "department",
    "description",
    "address",
    "lat",
    "lon",
)
REQUIRED_COLUMNS = ("id", "opened", "status", "type", "lat", "lon")
EARLIEST, LATEST = np.datetime64("1900-01-01", "us"), np.datetime64("2100-01-01", "us")
US_PER_HOUR = 3_600_000_000


@dataclass
class Mapping:
    """A parsed mapping file: which column is what, and how values translate.

    Attributes
    ----------
    city : dict
        ``code``, ``name_ru``, ``name_kk``, ``name_en``, ``metric_srid``, ``timezone``,
        ``bounds`` (``[minlon, minlat, maxlon, maxlat]`` or a GeoJSON polygon), ``note``.
    columns : dict
        Our name (``id``, ``opened``, ``deadline``, ``closed``, ``status``, ``on_time``,
        ``type``, ``channel``, ``department``, ``description``, ``address``, ``lat``,
        ``lon``) to the file's column name; ``id``, ``opened``, ``status``, ``type``,
        ``lat`` and ``lon`` are required.
    timezone : str or None
        Zone of the file's times that carry none (default: the city's).
    status_open, status_closed : set of str
        Source status values meaning open and closed.
    on_time_yes, on_time_no : set of str
        Source on-time values meaning on time and late.
    channel_map, category_map : dict
        Source value to our channel or category code; others go to the default.
    department_none : set of str
        Department values that mean no department.
    department_names : dict
        Department value to ``{"ru": ..., "kk": ...}`` names of its organisation.
    placeholder_max_rows, placeholder_max_share, placeholder_min_rows, placeholder_points
        The placeholder rule (see the module docstring); points as ``(lat, lon)``.
    """

    path: Path
    source: str
    city: dict
    columns: dict[str, str]
    timezone: str | None
    date_format: str
    encoding: str
    status_open: set[str]
    status_closed: set[str]
    on_time_yes: set[str]
    on_time_no: set[str]
    channel_map: dict[str, str]
    channel_default: str
    category_map: dict[str, str]
    category_default: str
    department_none: set[str]
    department_names: dict[str, dict[str, str]]
    placeholder_max_rows: int
    placeholder_max_share: float
    placeholder_min_rows: int
    placeholder_points: list[tuple[float, float]]


def _values(x) -> set[str]:
    if x is None:
        return set()
    return {str(v) for v in (x if isinstance(x, list) else [x])}


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file.

    Parameters
    ----------
    path : str or Path
        The YAML file (see ``data/mappings/boston311.yaml``).

    Returns
    -------
    Mapping

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    InvalidInput
        The file is not YAML, misses a required key, or names a channel we do not have; the
        message is one line that says which.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mapping file not found: {path}")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise InvalidInput(f"mapping {path.name} is not valid YAML: {first}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(f"mapping {path.name}: expected a YAML mapping at the top")

    def need(section: dict, key: str, where: str):
        if not isinstance(section, dict) or section.get(key) in (None, ""):
            raise InvalidInput(f"mapping {path.name}: '{where}{key}' is missing")
        return section[key]

    city = need(doc, "city", "")
    need(city, "code", "city.")
    columns = need(doc, "columns", "")
    for key in REQUIRED_COLUMNS:
        need(columns, key, "columns.")
    unknown = set(columns) - set(MAPPED_COLUMNS)
    if unknown:
        raise InvalidInput(
            f"mapping {path.name}: unknown key(s) in columns: {', '.join(sorted(unknown))}"
        )
    status = need(doc, "status", "")
    channels = doc.get("channels") or {}
    default_channel = channels.get("default", "import")
    for ch in [default_channel, *(channels.get("map") or {}).values()]:
        if ch not in CHANNELS:
            raise InvalidInput(
                f"mapping {path.name}: channel {ch!r} is not one of ours ({', '.join(CHANNELS)})"
            )
    cats = doc.get("categories") or {}
    deps = doc.get("departments") or {}
    names = {}
    for raw, name in (deps.get("names") or {}).items():
        names[str(raw)] = name if isinstance(name, dict) else {"ru": str(name), "kk": str(name)}
    ph = doc.get("placeholder") or {}
    on_time = doc.get("on_time") or {}
    return Mapping(
        path=path,
        source=str(doc.get("source") or path.stem),
        city=city,
        columns={k: str(v) for k, v in columns.items() if v},
        timezone=doc.get("timezone") or city.get("timezone"),
        date_format=str(doc.get("date_format") or "ISO8601"),
        encoding=str(doc.get("encoding") or "utf8"),
        status_open=_values(need(status, "open", "status.")),
        status_closed=_values(need(status, "closed", "status.")),
        on_time_yes=_values(on_time.get("on_time")),
        on_time_no=_values(on_time.get("late")),
        channel_map={str(k): str(v) for k, v in (channels.get("map") or {}).items()},
        channel_default=default_channel,
        category_map={str(k): str(v) for k, v in (cats.get("map") or {}).items()},
        category_default=str(cats.get("default") or "other"),
        department_none=_values(deps.get("none")),
        department_names=names,
        placeholder_max_rows=int(ph.get("max_rows", 1000)),
        placeholder_max_share=float(ph.get("max_share", 0.05)),
        placeholder_min_rows=int(ph.get("min_rows", 20)),
        placeholder_points=[(float(p[0]), float(p[1])) for p in ph.get("points") or []],
    )
