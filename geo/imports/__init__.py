"""Bringing data in.

:mod:`~geo.imports.layers` (buildings, yards, wells, districts from GeoJSON, GeoPackage or
Shapefile, with a mapping and CRS checks), :mod:`~geo.imports.osm` (a new city from an
OpenStreetMap extract), :mod:`~geo.imports.history` (a city's appeal history through one
``COPY``).
"""
