"""Plumbing every part stands on.

:mod:`~geo.infra.settings` (``QALA_*`` settings, ``PROJECT_ROOT``),
:mod:`~geo.infra.secret_key` (the token secret), :mod:`~geo.infra.db`
(engines and sessions), :mod:`~geo.infra.localdb` (the project's own PostGIS cluster),
:mod:`~geo.infra.migrate` (Alembic from code), :mod:`~geo.infra.errors` (the domain errors
``api/errors.py`` maps to status codes), :mod:`~geo.infra.cells` (the level-20 cell key of a
point), :mod:`~geo.infra.timespan` (time windows).
"""
