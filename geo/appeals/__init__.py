"""Appeals, from registration to closure.

:mod:`~geo.appeals.states` (the one home of the states: groups, transitions, their words),
:mod:`~geo.appeals.actors` (who acts, and which appeals they may see),
:mod:`~geo.appeals.intake` (validate, locate, route, deadline, repeats, preview, create: every
channel), :mod:`~geo.appeals.lifecycle` (roles, transitions, versions, the actions offered,
call-backs, the event log),
:mod:`~geo.appeals.reads` (one appeal, its version, history and media, lists for staff),
:mod:`~geo.appeals.workspace` (the staff work list with its counts, CSV and map; one
appeal's whole file), :mod:`~geo.appeals.notes` (internal and public notes),
:mod:`~geo.appeals.bulk` (repeats, counters and number sequences after a bulk write).
"""
