"""The synthetic demo city (not real data).

:mod:`~geo.demo.city` (the Petropavlovsk-like map generated from a seed),
:mod:`~geo.demo.appeals` (synthetic appeals with seasons and planted hot spots, also for the
benchmarks), :mod:`~geo.demo.load` (writing the generated city into the database).
"""
