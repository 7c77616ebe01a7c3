"""Appeals, from registration to closure.

:mod:`~geo.appeals.actors` (who acts, and which appeals they may see),
:mod:`~geo.appeals.intake` (validate, locate, route, deadline, repeats, preview, create: every
channel), :mod:`~geo.appeals.lifecycle` (the state machine, roles, transitions, the event log),
:mod:`~geo.appeals.reads` (one appeal, its history and media, lists for staff),
:mod:`~geo.appeals.bulk` (repeats, counters and number sequences after a bulk write).
"""
