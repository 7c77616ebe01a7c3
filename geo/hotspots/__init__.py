"""Hot spots of appeals.

:mod:`~geo.hotspots.gistar` (Getis-Ord Gi* on a grid, FDR classes; numpy/scipy, metric input),
:mod:`~geo.hotspots.ohsa` (parameters chosen from the data, as Optimized Hot Spot Analysis),
:mod:`~geo.hotspots.emerging` (space-time Gi*, Mann-Kendall, the emerging categories),
:mod:`~geo.hotspots.run` (reading appeals from the database, projecting them, GeoJSON out).
"""
