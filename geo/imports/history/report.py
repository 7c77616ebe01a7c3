"""The report of a history import: every row read accounted for."""

from __future__ import annotations

from dataclasses import dataclass, field

from geo.imports.history.mapping import REASONS


@dataclass
class HistoryReport:
    """What an import did, every row read accounted for; :meth:`summary` prints it.

    Attributes
    ----------
    rows_read, imported, already_imported : int
        ``rows_read == imported + rejected_total + already_imported``.
    rejected : dict
        Rows not written, by reason (the keys of :data:`REASONS`).
    other_by_mapping, other_unknown : int
        Rows in category ``other``: sent there by the mapping, or of a type it does not name
        (``unknown_types`` counts those by type).
    placeholder_points : list of tuple
        ``(lat, lon, rows, how)`` per placeholder point found in the file; ``placeholder_rows``
        is how many imported rows were flagged.
    deadline_from_source, deadline_from_category, deadline_raised, deadline_lowered : int
        Where the deadlines came from, and how many derived ones were moved to keep the
        source's on-time status.
    on_time_checked, on_time_agree, on_time_disagree_source_deadline : int
        Closed rows whose source gives both a deadline and an on-time status, and how many of
        them ``closed_at <= deadline_at`` agrees (disagrees) with.
    on_time_derived : int
        Closed rows with a source status but no source deadline: their derived deadline was
        set from the status, so they are not counted in the agreement.
    on_time_unknown : int
        Closed rows without a source status.
    seconds, timings : float, dict
        Wall time in all and per step.
    """

    source: str
    mapping: str = ""
    city_code: str = ""
    city_id: int | None = None
    city_created: bool = False
    rows_read: int = 0
    imported: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    already_imported: int = 0
    closed: int = 0
    open_assigned: int = 0
    open_registered: int = 0
    channels: dict[str, int] = field(default_factory=dict)
    unmapped_channels: dict[str, int] = field(default_factory=dict)
    other_by_mapping: int = 0
    other_unknown: int = 0
    unknown_types: dict[str, int] = field(default_factory=dict)
    categories_used: int = 0
    departments: int = 0
    organisations_created: int = 0
    placeholder_points: list[tuple[float, float, int, str]] = field(default_factory=list)
    placeholder_rows: int = 0
    placeholder_rule: str = ""
    deadline_from_source: int = 0
    deadline_from_category: int = 0
    deadline_raised: int = 0
    deadline_lowered: int = 0
    on_time_checked: int = 0
    on_time_agree: int = 0
    on_time_disagree_source_deadline: int = 0
    on_time_derived: int = 0
    on_time_unknown: int = 0
    closed_before_opened: int = 0
    years: list[int] = field(default_factory=list)
    repeats_linked: int = 0
    deferred_indexes: bool = False
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def other_rows(self) -> int:
        return self.other_by_mapping + self.other_unknown

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time_agree / self.on_time_checked if self.on_time_checked else None

    @property
    def rows_per_second(self) -> float:
        return self.imported / self.seconds if self.seconds else 0.0

    def accounted(self) -> bool:
        """Whether every row read is imported, rejected or already imported."""
        return self.imported + self.rejected_total + self.already_imported == self.rows_read

    def summary(self) -> str:
        """The report as lines of text for the command line."""

        def n(x: int) -> str:
            return f"{x:,}"

        made = "created" if self.city_created else "existing"
        lines = [
            f"history import: {self.source} with {self.mapping} -> city {self.city_code} "
            f"({made}, id {self.city_id})",
            f"rows read: {n(self.rows_read)} = imported {n(self.imported)} + rejected "
            f"{n(self.rejected_total)} + already imported {n(self.already_imported)}"
            + ("" if self.accounted() else "  (NOT ACCOUNTED FOR)"),
        ]
        if self.rejected_total:
            lines.append(
                "rejected by reason: "
                + ", ".join(f"{REASONS[k]} {n(v)}" for k, v in self.rejected.items() if v)
            )
        else:
            lines.append("rejected by reason: none")
        lines.append(
            f"status: {n(self.closed)} closed, "
            f"{n(self.open_assigned + self.open_registered)} open "
            f"({n(self.open_assigned)} assigned, {n(self.open_registered)} registered "
            "without a department)"
        )
        lines.append(
            f"categories: {self.categories_used} used; mapped to 'other': "
            f"{n(self.other_rows)} ({n(self.other_by_mapping)} by the mapping, "
            f"{n(self.other_unknown)} of types not in the mapping)"
        )
        if self.unknown_types:
            top = sorted(self.unknown_types.items(), key=lambda kv: -kv[1])[:8]
            more = len(self.unknown_types) - len(top)
            lines.append(
                "types not in the mapping: "
                + ", ".join(f"{k!r} {n(v)}" for k, v in top)
                + (f" and {more} more" if more else "")
            )
        if self.channels:
            lines.append(
                "channels: "
                + ", ".join(
                    f"{k} {n(v)}" for k, v in sorted(self.channels.items(), key=lambda kv: -kv[1])
                )
            )
        if self.unmapped_channels:
            lines.append(
                "channel values not in the mapping (-> default): "
                + ", ".join(f"{k!r} {n(v)}" for k, v in self.unmapped_channels.items())
            )
        lines.append(
            f"departments: {self.departments} organisations ({self.organisations_created} created)"
        )
        if self.placeholder_points:
            shown = self.placeholder_points[:10]
            pts = "; ".join(
                f"{lat:.6g}, {lon:.7g} with {n(c)} rows ({how})" for lat, lon, c, how in shown
            )
            more = len(self.placeholder_points) - len(shown)
            lines.append(
                f"placeholder geocodes: {len(self.placeholder_points)} point(s): {pts}"
                + (f" and {more} more" if more else "")
                + f"; {n(self.placeholder_rows)} imported rows flagged "
                f"[rule: {self.placeholder_rule}]"
            )
        else:
            lines.append(f"placeholder geocodes: none [rule: {self.placeholder_rule}]")
        lines.append(
            f"deadlines: {n(self.deadline_from_source)} from the source, "
            f"{n(self.deadline_from_category)} from the category's hours "
            f"(of these {n(self.deadline_raised)} set to the closing time and "
            f"{n(self.deadline_lowered)} to just before it, to keep the source's "
            "on-time status)"
        )
        if self.on_time_checked:
            lines.append(
                f"on time (closed rows with the source's deadline and status, closed_at <= "
                f"deadline_at vs the status): {n(self.on_time_agree)} of "
                f"{n(self.on_time_checked)} agree ({100 * self.on_time_rate:.2f}%), "
                f"{n(self.on_time_disagree_source_deadline)} disagree; not compared: "
                f"{n(self.on_time_derived)} with a derived deadline, "
                f"{n(self.on_time_unknown)} without a source status"
            )
        elif self.on_time_derived or self.on_time_unknown:
            lines.append(
                "on time: no closed row with both the source's deadline and status to compare "
                f"({n(self.on_time_derived)} with a derived deadline, "
                f"{n(self.on_time_unknown)} without a source status)"
            )
        if self.closed_before_opened:
            lines.append(f"closed before opened (kept as they are): {n(self.closed_before_opened)}")
        lines.append(
            f"repeats linked: {n(self.repeats_linked)}; registration numbers for "
            f"{', '.join(map(str, self.years)) or 'no year'}"
        )
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings.items())
        lines.append(
            f"time: {self.seconds:.1f} s, {self.rows_per_second:,.0f} rows/s "
            f"({steps}; indexes {'deferred' if self.deferred_indexes else 'kept'})"
        )
        return "\n".join(lines)
