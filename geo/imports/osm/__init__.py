"""A new city from an OpenStreetMap extract (``.osm.pbf``, read with pyrosm).

What becomes what (everything with ``source='osm'`` where the table has a source):

* the city: its ``metric_srid`` is the UTM zone of the extract's centre (EPSG:326xx north of
  the equator, 327xx south; the Norway/Svalbard exceptions of the UTM grid are ignored), its
  ``bounds`` the bounding box of everything imported, padded by :data:`BOUNDS_PAD_M`;
  ``timezone`` the IANA zone holding the centre (timezonefinder's polygons of the
  timezone-boundary-builder data), so that deadlines and dates read in local time;
* roads (``highway=*`` ways, without corridors, steps, lifts and the like) with a ``name``
  become streets, one per name, all its ways in one MultiLineString; ``name:ru`` and
  ``name:kk`` are used for ``name_ru``/``name_kk`` where present, else ``name``. Unnamed
  roads are left out: a street without a name is no use for an address;
* buildings (``building=*``):

  - ``building:levels`` -> ``floors`` (a fractional level counts as a floor; none -> 1);
  - apartments: ``building:flats`` when tagged (not estimated); otherwise, for the
    multi-flat types of :data:`MULTI_FLAT`, footprint area in the metric CRS x floors /
    :data:`M2_PER_FLAT` (at least 1), and 1 for the single-home types of
    :data:`SINGLE_HOME`, both with ``apartments_estimated=true``; other buildings 0;
  - ``kind``: ``apartment`` for multi-flat types, ``private`` for single homes, else the
    OSM value (``other`` for ``building=yes``);
  - address: ``addr:street`` (or ``addr:place``) + ``addr:housenumber`` where both are
    tagged, the street matched by name to the streets above (created without geometry if
    there is no such road). A building without them is **not** given a made-up number: it
    is linked to the nearest named street within :data:`NEAREST_STREET_M` (``street_id``,
    and the address is the street's name alone, ``house_number`` empty), so a search by
    street finds it but a search by number never lands on a guessed address; farther from
    any named street it has no address at all;
* ``landuse=residential`` areas become yards, linked to the buildings within
  :data:`geo.imports.write.YARD_REACH_M` of them. These are whole residential blocks (often
  several hectares), not yards in the 109 sense of a court between a few buildings: useful
  to group buildings, but real yards should be drawn or imported later (``qala import yards``).
  Areas under :data:`MIN_YARD_M2` are left out: they are slivers of blocks cut by the
  extract's edge.

* administrative boundaries become districts, ``man_made=manhole`` nodes wells with their
  operator as the responsible organisation (:mod:`~geo.imports.osm.derived` says how);
* an address range (``addr:housenumber=22-24``) is kept as tagged; the address search finds
  it by each number of the range (:mod:`geo.city.search`).

Invalid OSM polygons are repaired with ``shapely.make_valid`` (the polygonal part kept);
what cannot be repaired is skipped and counted in the report. pyrosm reads the whole extract
into memory: use a city-sized extract, not a country.

The package: :mod:`~geo.imports.osm.extract` (reading the extract with pyrosm: tags, repaired
polygons, named streets), :mod:`~geo.imports.osm.importer` (:func:`import_osm` and its steps:
the city, its streets, buildings and yards), :mod:`~geo.imports.osm.derived` (districts and
wells).
"""

from geo.imports.osm.extract import NOT_STREETS
from geo.imports.osm.importer import (
    BOUNDS_PAD_M,
    M2_PER_FLAT,
    MIN_YARD_M2,
    MULTI_FLAT,
    NEAREST_STREET_M,
    SINGLE_HOME,
    city_timezone,
    estimate_apartments,
    import_osm,
    utm_srid,
)

__all__ = [
    "BOUNDS_PAD_M",
    "M2_PER_FLAT",
    "MIN_YARD_M2",
    "MULTI_FLAT",
    "NEAREST_STREET_M",
    "NOT_STREETS",
    "SINGLE_HOME",
    "city_timezone",
    "estimate_apartments",
    "import_osm",
    "utm_srid",
]
