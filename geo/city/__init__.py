"""The city map as operators and residents meet it.

:mod:`~geo.city.address` (addresses as people type them, in Russian and Kazakh),
:mod:`~geo.city.search` (address search: pg_trgm with a Levenshtein fallback),
:mod:`~geo.city.place` (the place card: building, yard, wells, district, appeals nearby),
:mod:`~geo.city.catalog` (the categories and their names, a city by its code),
:mod:`~geo.city.basemap` (the city's frame, its base layers for a box, district labels).
"""
