"""Bringing data in.

:mod:`~geo.imports.layers` (buildings, yards, wells, districts from GeoJSON, GeoPackage or
Shapefile, with a mapping and CRS checks), :mod:`~geo.imports.osm` (a new city from an
OpenStreetMap extract), :mod:`~geo.imports.history` (a city's appeal history through one
``COPY``); what the first two share: :mod:`~geo.imports.report` (the report, the bad rows of
a refused import) and :mod:`~geo.imports.write` (writing map rows, linking yards, placing
wells, streets by name). Each package's ``__init__`` gathers its entry points.
"""
