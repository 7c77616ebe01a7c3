"""The states of an appeal, in one place: the states, their groups, the transitions, their names.

Everything that needs to know which states are open, which can be overdue or which may
follow which asks this module (FixMyStreet's ``State.pm`` habit): the CHECK constraint of
``appeals.status`` (:mod:`geo.models`), the SQL of the place card, the lists, the ratings and
the queue, the map layers (``layers/registry.py``), the state machine
(:mod:`geo.appeals.lifecycle`), the public lists (:mod:`geo.appeals.public`) and the words
of the pages (``web/i18n.py``) and of Open311 (``api/open311``: its open/closed status and
status notes).

The database functions and the ``appeal_cards`` view of the migrations hold their own
copies (a migration must not change when the code does); ``tests/test_states.py`` reads
them back from the database and compares them with this module.

The groups:

* :data:`ACTIVE` — being worked on: past its deadline such an appeal is **overdue**
  (overdue is derived when read, never stored: :func:`overdue_sql`);
* :data:`OPEN` — not finished: the active ones and those deferred to a later year;
* :data:`CLOSED` — finished: resolved, closed, rejected, or a duplicate of another;
* :data:`DISMISSED` — rejected or a duplicate: never the original of a repeat, never counted
  for the yard queue;
* :func:`public_status` — what a resident and Open311 see: ``open`` or ``closed``.

>>> [s for s in STATES if s in OPEN and s not in ACTIVE]
['deferred']
>>> overdue_sql("a.status", "a.deadline_at")
"(a.status IN ('registered', 'assigned', 'in_progress', 'reopened') AND a.deadline_at < now())"
>>> label("in_progress", "kk"), public_status("duplicate")
('орындалуда', 'closed')
"""

from __future__ import annotations

from typing import Literal

#: every state, in the order an appeal usually meets them (the CHECK constraint's list)
STATES: tuple[str, ...] = (
    "registered",
    "assigned",
    "in_progress",
    "resolved",
    "closed",
    "rejected",
    "deferred",
    "duplicate",
    "reopened",
)
#: the state of a new appeal
INITIAL = "registered"
#: the state of a new appeal resolved while the applicant was still on the line
FIRST_CALL = "resolved"

#: being worked on: an appeal in one of these past its deadline is overdue
ACTIVE: tuple[str, ...] = ("registered", "assigned", "in_progress", "reopened")
#: not finished: the active states and ``deferred`` (waiting for a year's budget)
OPEN: tuple[str, ...] = (*ACTIVE, "deferred")
#: finished
CLOSED: tuple[str, ...] = ("resolved", "closed", "rejected", "duplicate")
#: finished without being a problem of its own: no original of a repeat, not counted
DISMISSED: tuple[str, ...] = ("rejected", "duplicate")

#: which state may follow which (who may set which is :data:`geo.appeals.lifecycle.ROLE_TARGETS`)
TRANSITIONS: dict[str, frozenset[str]] = {
    "registered": frozenset({"assigned", "rejected", "duplicate", "resolved", "deferred"}),
    "assigned": frozenset(
        {"assigned", "in_progress", "resolved", "rejected", "deferred", "duplicate"}
    ),
    "in_progress": frozenset({"resolved", "deferred", "assigned"}),
    "resolved": frozenset({"closed", "reopened"}),
    "closed": frozenset({"reopened"}),
    "rejected": frozenset({"reopened"}),
    "deferred": frozenset({"assigned", "in_progress"}),
    "duplicate": frozenset({"reopened"}),
    "reopened": frozenset({"assigned", "in_progress", "resolved"}),
}

LANGS = ("ru", "kk", "en")
#: each state as a person reads it, in Russian, Kazakh and English (lower case: the pages
#: use them inside sentences and lists)
LABELS: dict[str, tuple[str, str, str]] = {
    "registered": ("зарегистрировано", "тіркелді", "registered"),
    "assigned": ("передано исполнителю", "орындаушыға жіберілді", "assigned"),
    "in_progress": ("в работе", "орындалуда", "in progress"),
    "resolved": ("исполнено", "орындалды", "resolved"),
    "closed": ("закрыто", "жабылды", "closed"),
    "rejected": ("отклонено", "қабылданбады", "rejected"),
    "deferred": (
        "перенесено на следующий год",
        "келесі жылға ауыстырылды",
        "carried over to next year",
    ),
    "duplicate": ("дубликат", "қайталама", "duplicate"),
    "reopened": ("открыто повторно", "қайта ашылды", "reopened"),
}


def label(state: str, lang: str) -> str:
    """``state`` in ``lang`` (``ru``, ``kk`` or ``en``); an unknown state as it is."""
    names = LABELS.get(state)
    return names[LANGS.index(lang)] if names else state


def public_status(state: str) -> Literal["open", "closed"]:
    """What the public sees of ``state``: ``open`` while not finished, else ``closed``."""
    return "open" if state in OPEN else "closed"


def sql_list(states: tuple[str, ...]) -> str:
    """A group as an SQL list of literals, ``('a', 'b')``, for an ``IN``: the states are
    this module's constants, never a request's."""
    return "(" + ", ".join(f"'{s}'" for s in states) + ")"


def overdue_sql(status: str = "status", deadline: str = "deadline_at", now: str = "now()") -> str:
    """The SQL condition "still being worked on and past its deadline" over the given
    columns (and instant: ``now()`` or a bound parameter such as ``:now``)."""
    return f"({status} IN {sql_list(ACTIVE)} AND {deadline} < {now})"
