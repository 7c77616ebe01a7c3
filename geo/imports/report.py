"""What an import of map data says: the report of what was written, and the bad rows of a
refused import (:class:`~geo.infra.errors.ImportRejected`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from geo.infra.errors import ImportRejected

MESSAGE_ROWS = 20
"""How many bad rows the message of :class:`ImportRejected` names (``.rows`` has all)."""


class RowProblem(NamedTuple):
    """A bad row: its number in the file (from 1) and what is wrong with it."""

    row: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.reason}"


@dataclass
class ImportReport:
    """What an import wrote: counts by what was written, and notes worth reading.

    Parameters
    ----------
    source : str
        The file imported (its name).
    city : str
        The city code.
    counts : dict of str to int
        How many of each thing were written, e.g. ``{"buildings": 120, "new streets": 3}``.
    notes : list of str
        Things the user should know (reprojection, estimates, caveats).
    """

    source: str
    city: str
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: the file, the city, the counts and the notes.

        Returns
        -------
        str
            E.g. ``"b.geojson -> PET: 3 buildings, 1 new streets written; ..."``.
        """
        counts = ", ".join(f"{v} {k}" for k, v in self.counts.items()) or "nothing"
        line = f"{self.source} -> {self.city}: {counts} written"
        if self.notes:
            line += "; " + "; ".join(self.notes)
        return line


def refuse(source: str, total: int, problems: list[RowProblem]) -> ImportRejected:
    """The error for a refused import: one line naming the first bad rows, all in ``.rows``.

    Parameters
    ----------
    source : str
        The file's name.
    total : int
        How many rows the file has.
    problems : list of RowProblem
        All the bad rows, in file order.

    Returns
    -------
    ImportRejected
        To be raised by the caller.
    """
    problems = sorted(problems)
    shown = "; ".join(str(p) for p in problems[:MESSAGE_ROWS])
    more = len(problems) - MESSAGE_ROWS
    tail = f"; and {more} more" if more > 0 else ""
    bad = len({p.row for p in problems})
    msg = f"{source}: nothing imported, {bad} of {total} rows refused: {shown}{tail}"
    return ImportRejected(msg, problems)
