"""Importing a city's map layers (buildings, yards, wells, districts) from GIS files.

A layer comes as GeoJSON, GeoPackage or Shapefile (read with geopandas/pyogrio). Its columns
are matched to ours by a mapping (a YAML file, see ``data/mappings/map_*.yaml``)::

    house_number: HOUSENUMBE     # our field: the file's column
    street: STREET
    floors: {column: LEVELS, default: 5}
    kind: {column: TYPE, values: {"Ж": apartment, "Ч": private}}

A field given as a plain string names a column; as a mapping it may also translate values
(``values``) and give a ``default`` used for empty cells (or for every row, without
``column``). Without a mapping, a field is read from the column of the same name (compared
case-insensitively) when the file has one.

The import is all or nothing. Every row is checked first: its geometry (missing, of the wrong
type for the layer, invalid by shapely with the reason, not reprojectable, outside the city's
``bounds``) and its values (a number that is not one, an unknown well owner ...). One bad row
and nothing is written: :class:`~geo.infra.errors.ImportRejected` lists the rows (numbered from 1
in file order). Only then are the rows written, in the caller's transaction (the caller
commits), with a progress bar on stderr.

The package, in the order of an import: :mod:`~geo.imports.layers.fields` (our fields, the
mapping, each cell's value), :mod:`~geo.imports.layers.source` (reading the file, its CRS,
the geometry checks), :mod:`~geo.imports.layers.importer` (:func:`import_layer`: the steps
and one writer per layer); what they share with the OpenStreetMap import is
:mod:`geo.imports.report` and :mod:`geo.imports.write`.

What else is written with a layer:

* buildings: the street is matched to the city's streets by name (``ул. Абая``, ``Абая`` and
  ``улица Абая`` are one street, see :func:`geo.city.address.normalize`) or created (without
  geometry); ``address_ru``/``address_kk`` are "street, number" in each language and
  ``search_text`` is filled for address search; new buildings are linked to the yards
  within :data:`~geo.imports.write.YARD_REACH_M`;
* yards: ``area_m2`` comes from the database trigger; the yard is linked to every building
  within :data:`~geo.imports.write.YARD_REACH_M` of it (``yard_buildings``), named after its
  biggest building when the file gives no name, and wells without a yard that stand in it
  are placed in it;
* wells: ``owner`` is an organisation of the city matched by ``name_ru`` or ``name_kk``
  (quotes, case and spacing ignored), an unknown owner is a bad row; ``yard_id`` is the
  (smallest) yard that contains the well;
* districts: ``name_kk`` defaults to ``name_ru``.
"""

from geo.imports.layers.fields import KINDS
from geo.imports.layers.importer import import_layer

__all__ = ["KINDS", "import_layer"]
