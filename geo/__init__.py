"""Qala Map's domain core: the city map in PostGIS and the appeals on it. No web framework.

- :mod:`geo.models` — the whole schema, one metadata (Alembic compares against it).
- :mod:`geo.infra` — plumbing: settings, engines, the local PostGIS, migrations, errors, cells.
- :mod:`geo.city` — the city map: address search in Russian and Kazakh, the place card,
  categories and cities.
- :mod:`geo.appeals` — appeals: intake (locate, route, deadline, repeats, preview, create),
  the lifecycle (state machine, transitions, event log), reads, bulk upkeep.
- :mod:`geo.staff` — staff users, passwords, tokens, channel API keys, demo users.
- :mod:`geo.planning` — the yard-asphalting queue, ratings and statistics, failing objects.
- :mod:`geo.hotspots` — hot spots: Gi*, automatic parameters, emerging hot spots, runs on
  the database.
- :mod:`geo.imports` — map layers from GIS files, a city from OpenStreetMap, appeal history.
- :mod:`geo.demo` — the synthetic demo city and its appeals, and loading them.

Each subpackage's ``__init__`` is light: importing one part does not import the others.
"""
