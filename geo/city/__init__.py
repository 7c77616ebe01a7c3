"""The city map as operators and residents meet it.

:mod:`~geo.city.address` (addresses as people type them, in Russian and Kazakh),
:mod:`~geo.city.search` (address search: pg_trgm with a Levenshtein fallback),
:mod:`~geo.city.place` (the place card: building, yard, wells, district, appeals nearby),
:mod:`~geo.city.catalog` (the categories, a city by its code).
"""
