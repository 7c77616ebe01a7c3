"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) over our categories and appeals.

Services are our appeal categories (``service_code`` = category code); service requests are
appeals (``service_request_id`` = registration number). Every resource comes as ``.json`` or
``.xml``; errors come in the spec's shape (``[{"code": 400, "description": "..."}]`` or
``<errors><error>…``), validation errors and outages included.

Extensions: ``locale=ru|kk|en`` on every call (Russian by default) and ``page``/``page_size``
on ``GET requests``. ``jurisdiction_id`` is a city code (``PET``); without it the caller's
city (the API key's) or the service's default city is meant.

Privacy: the applicant's name, phone and e-mail go to ``appeal_contacts`` and are never sent
back; neither the free-text description nor the caller's own address words are published
(they may name people): a request's ``address`` is the one the city map gives its place.

The modules: ``texts`` (the words, in three languages), ``models`` (each answer, which also
documents it), ``xml`` (JSON and XML from the models), ``params`` (reading a client's
input), ``routes`` (the routes and the spec's error answers). The SQL lives in ``geo``
(``geo.appeals.public``, ``geo.city.lookup``).
"""

from api.open311.routes import router

__all__ = ["router"]
