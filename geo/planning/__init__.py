"""What planners decide with.

:mod:`~geo.planning.repair_queue` (the public yard-asphalting queue, its budget line, "why is
my yard 57th", repair planning), :mod:`~geo.planning.ratings` (ratings of executing bodies and
the city's statistics), :mod:`~geo.planning.failing` (objects that keep failing, DBSCAN
clusters).
"""
