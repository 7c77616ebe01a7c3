"""The GeoReport v2 routes: discovery, services, service definitions, requests (GET, POST).

Each route reads its input through :mod:`api.open311.params`, asks ``geo`` and returns one
answer model of :mod:`api.open311.models`, rendered as JSON or XML by the path's format.
Every failure, validation and outages included, is answered in the spec's error format by
:class:`Open311Route`.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Header, Path, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from sqlalchemy import Connection
from sqlalchemy import text as sql_text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException

from api.deps import SessionDep, SettingsDep, rescope
from api.edges import too_large_for
from api.errors import caused_by_outage, is_outage, is_read_only, outage_message
from api.observe import appeal_registered
from api.open311 import models, params
from api.open311.models import (
    Discovery,
    Errors,
    Posted,
    PostedRequests,
    ServiceDefinition,
    ServiceRequest,
    ServiceRequests,
    Services,
)
from api.open311.params import Open311Error, bad
from api.open311.xml import render
from geo.appeals import intake
from geo.appeals.actors import Actor
from geo.appeals.public import RequestQuery, public_requests
from geo.city import lookup
from geo.city.catalog import city_id as city_id_of
from geo.infra.errors import (
    MAYBE_SAVED,
    READ_ONLY,
    Forbidden,
    KeyReused,
    NotFound,
    QalaError,
    TooLarge,
    Unavailable,
    UnsupportedMedia,
)
from geo.media import gallery
from geo.media.fetch import fetch, parse_allow
from geo.media.photos import Photo, process
from geo.models import DESCRIPTION_MAX, MEDIA_URL_MAX
from geo.staff.auth import actor_from_api_key
from geo.staff.scope import Scope

MAX_RESULTS = 1000
WINDOW = dt.timedelta(days=90)
#: a POST without an Idempotency-Key gets one made of its caller and form, valid this long:
#: an identical re-post within it (after an outage, a lost answer) is the first request
DEFAULT_KEY_WINDOW_S = 3600
DEFAULT_KEY_NOTE = (
    "Without an Idempotency-Key, a key is made of the caller (api_key) and the posted form: "
    "an identical re-post within an hour is recognised (it answers 200 with the first "
    "request), in the clock hour it was first posted and the one after."
)


def _format_of(request: Request) -> str:
    return "xml" if request.url.path.endswith(".xml") else "json"


def error_response(fmt: str, code: int, description: str, headers: dict | None = None):
    return render(fmt, Errors.of(code, description), status_code=code, headers=headers)


def _outage(request: Request, fmt: str, exc: BaseException) -> Response:
    message = str(exc) if isinstance(exc, Unavailable) else outage_message(request, MAYBE_SAVED)
    return error_response(fmt, 503, message, {"Retry-After": "2"})


class Open311Route(APIRoute):
    """Answers every failure of these routes in the spec's format (never FastAPI's 422)."""

    #: for api.openapi: errors of these routes are the spec's, in both formats
    error_model = Errors
    media_types = ("application/json", "text/xml")

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            fmt = _format_of(request)
            try:
                return await handler(request)
            except Open311Error as exc:
                return error_response(fmt, exc.code, exc.description)
            except RequestValidationError as exc:
                return error_response(fmt, *params.validation_message(exc))
            except HTTPException as exc:  # 413 from the body limit, among others
                detail = str(exc.detail)
                if exc.status_code == 413:
                    settings = request.app.state.settings
                    kind = request.headers.get("content-type", "")
                    detail = too_large_for(settings, request.method, request.url.path, kind)
                return error_response(fmt, exc.status_code, detail, exc.headers)
            except NotFound as exc:
                return error_response(fmt, 404, str(exc))
            except Forbidden as exc:
                return error_response(fmt, 403, str(exc))
            except KeyReused as exc:
                return error_response(fmt, 422, str(exc))
            except TooLarge as exc:
                return error_response(fmt, 413, str(exc))
            except UnsupportedMedia as exc:
                return error_response(fmt, 415, str(exc))
            except Unavailable as exc:
                return _outage(request, fmt, exc)
            except QalaError as exc:
                return error_response(fmt, 400, str(exc))
            except DBAPIError as exc:
                if is_read_only(exc):
                    return error_response(fmt, 503, READ_ONLY, {"Retry-After": "2"})
                if not is_outage(exc):
                    raise
                return _outage(request, fmt, exc)
            except SQLAlchemyError as exc:
                if not caused_by_outage(exc):
                    raise
                return _outage(request, fmt, exc)

        return route


# every route reads a jurisdiction or names a resource: 400 and 404 (api.openapi adds the rest)
router = APIRouter(
    prefix="/open311/v2",
    tags=["open311"],
    route_class=Open311Route,
    responses={
        400: {"model": Errors, "description": "bad input"},
        404: {"model": Errors, "description": "not found"},
    },
)

Format = Annotated[Literal["json", "xml"], Path(description="response format: json or xml")]
LocaleQ = Annotated[str | None, Query(description="extension: ru (default), kk or en")]
JurisdictionQ = Annotated[str | None, Query(description="a city code, e.g. PET")]


def _doc(model: type, *statuses: int) -> dict:
    """The success answers (200 unless given) in JSON (``model``) and XML (the same
    model's elements)."""
    xml = {"text/xml": {"schema": {"type": "string"}}}
    return {status: {"model": model, "content": xml} for status in statuses or (200,)}


def _city(session: Session, code: str | None, default: str) -> int:
    """The jurisdiction's city; the session is scoped to it (as the public, unless the
    caller's own city is that one): Open311 names its city in ``jurisdiction_id``, not in
    ``?city=``, so the request's scope may be another city's until here."""
    code = params.text(code, "jurisdiction_id", 64)
    try:
        city = city_id_of(session.connection(), code or default)
    except NotFound as exc:
        raise Open311Error(404, f"jurisdiction_id {code!r} was not found") from exc
    if session.info["scope"].city_id != city:
        rescope(session, Scope(city, Actor(name="public", role="public")))
    return city


@router.get(
    "/discovery.{format}",
    responses=_doc(Discovery),
    summary="Service discovery: where the GeoReport v2 endpoint is, in which formats",
)
def discovery(format: Format, request: Request, settings: SettingsDep) -> Response:
    url = str(request.base_url).rstrip("/") + router.prefix
    return render(format, Discovery.of(url, settings.environment))


@router.get(
    "/services.{format}",
    responses=_doc(Services),
    summary="Service list: our appeal categories",
)
def services(
    format: Format,
    session: SessionDep,
    settings: SettingsDep,
    jurisdiction_id: JurisdictionQ = None,
    locale: LocaleQ = None,
) -> Response:
    _city(session, jurisdiction_id, settings.default_city)
    conn = session.connection()
    loc = params.locale(locale)
    return render(format, Services([models.Service.of(c, loc) for c in lookup.categories(conn)]))


@router.get(
    "/services/{service_code}.{format}",
    responses=_doc(ServiceDefinition),
    summary="Service definition: the attributes a service asks for",
)
def service_definition(
    service_code: str,
    format: Format,
    session: SessionDep,
    settings: SettingsDep,
    jurisdiction_id: JurisdictionQ = None,
    locale: LocaleQ = None,
) -> Response:
    _city(session, jurisdiction_id, settings.default_city)
    conn = session.connection()
    loc = params.locale(locale)
    code = params.text(service_code, "service_code", 32)
    if not code or not lookup.categories(conn, code):
        raise Open311Error(404, f"service_code {service_code!r} was not found")
    return render(format, ServiceDefinition.of(code, loc))


def _absolute(request: Request, rows: list[dict]) -> list[dict]:
    """The rows with a photo of this service as a full URL (Open311 clients fetch it)."""
    base = str(request.base_url).rstrip("/")
    for row in rows:
        if (row.get("media_url") or "").startswith("/"):
            row["media_url"] = base + row["media_url"]
    return rows


def _request_query(
    ids: str | None,
    service_code: str | None,
    status: str | None,
    start_date: str | None,
    end_date: str | None,
    tz,
) -> RequestQuery:
    numbers = params.codes(ids, "service_request_id", MAX_RESULTS)
    if numbers:  # the spec: this overrides all other arguments
        return RequestQuery(numbers=numbers)
    query = RequestQuery(categories=params.codes(service_code, "service_code"))
    states = params.codes(status, "status", 2)
    if states:
        unknown = set(states) - {"open", "closed"}
        if unknown:
            raise bad(f"unknown status {sorted(unknown)[0]!r}: open or closed")
        if set(states) != {"open", "closed"}:
            query.open = states[0] == "open"
    start, end = params.when(start_date, "start_date", tz), params.when(end_date, "end_date", tz)
    if start is None and end is None:
        end = dt.datetime.now(dt.UTC)
    if start is None:
        start = end - WINDOW
    elif end is None:
        end = start + WINDOW
    if end < start:
        raise bad("end_date is before start_date")
    if end - start > WINDOW:
        raise bad("start_date and end_date may not span more than 90 days")
    query.start, query.end = start, end
    return query


@router.get(
    "/requests.{format}",
    responses=_doc(ServiceRequests),
    summary="Service requests: appeals by number, service, date and status",
)
def get_requests(
    request: Request,
    format: Format,
    session: SessionDep,
    settings: SettingsDep,
    jurisdiction_id: JurisdictionQ = None,
    service_request_id: Annotated[
        str | None,
        Query(description="registration numbers, comma separated (overrides the other filters)"),
    ] = None,
    service_code: Annotated[str | None, Query(description="comma separated")] = None,
    start_date: Annotated[
        str | None, Query(description="ISO 8601, e.g. 2026-01-01T00:00:00Z")
    ] = None,
    end_date: Annotated[
        str | None, Query(description="ISO 8601; at most 90 days after start_date")
    ] = None,
    status: Annotated[str | None, Query(description="open, closed or open,closed")] = None,
    page: Annotated[str | None, Query(description="extension: page number, from 1")] = None,
    page_size: Annotated[str | None, Query(description="extension: 1..1000 (default 1000)")] = None,
    locale: LocaleQ = None,
) -> Response:
    city = _city(session, jurisdiction_id, settings.default_city)
    conn = session.connection()
    loc = params.locale(locale)
    tz = lookup.city_timezone(conn, city)
    size = params.whole(page_size, "page_size", 1, MAX_RESULTS, MAX_RESULTS)
    number = params.whole(page, "page", 1, 100_000, 1)
    query = _request_query(service_request_id, service_code, status, start_date, end_date, tz)
    rows = _absolute(request, public_requests(conn, city, query, size, (number - 1) * size))
    return render(format, ServiceRequests([ServiceRequest.of(a, loc, tz) for a in rows]))


@router.get(
    "/requests/{service_request_id}.{format}",
    responses=_doc(ServiceRequests),
    summary="One service request by its registration number",
)
def get_request(
    request: Request,
    service_request_id: str,
    format: Format,
    session: SessionDep,
    settings: SettingsDep,
    jurisdiction_id: JurisdictionQ = None,
    locale: LocaleQ = None,
) -> Response:
    city = _city(session, jurisdiction_id, settings.default_city)
    conn = session.connection()
    loc = params.locale(locale)
    number = params.text(service_request_id, "service_request_id", 32)
    rows = _absolute(
        request, public_requests(conn, city, RequestQuery(numbers=[number or ""]), 1, 0)
    )
    if not rows:
        raise Open311Error(404, f"service_request_id {service_request_id!r} was not found")
    tz = lookup.city_timezone(conn, city)
    return render(format, ServiceRequests([ServiceRequest.of(rows[0], loc, tz)]))


def _place(conn: Connection, city: int, new: intake.NewAppeal, form: dict) -> None:
    """Where the request is: lat/long as given, else the building of address_id or of
    address_string (the appeal is then on that building where its category is about one)."""
    lat, long = form["lat"], form["long"]
    address = params.text(form["address_string"], "address_string", 300)
    building = params.text(form["address_id"], "address_id", 20)
    if lat is not None or long is not None:
        if lat is None or long is None or not (math.isfinite(lat) and math.isfinite(long)):
            raise bad("give both lat and long, as finite WGS 84 degrees")
        # the caller's own words stay with the appeal for staff; they are never published
        new.lat, new.lon, new.located_by, new.address_text = lat, long, "gps", address
        return
    if not (building or address):
        raise bad("a location is required: lat and long, address_string or address_id")
    if building:
        hit = lookup.building_by_id(conn, city, building)
    else:
        hit = lookup.building_by_address(conn, city, address)
    new.lat, new.lon, new.located_by = hit["lat"], hit["lon"], "address"
    new.address_text = hit["address_ru"]
    if intake.category(conn, new.category)["object_kind"] == "building":
        new.object_kind, new.object_id = "building", hit["id"]


def _description(code: str, form: dict, attributes: dict[str, str]) -> str:
    """The description with the service's attributes appended, checked for length."""
    note = params.attributes_note(code, attributes)
    described = params.text(form["description"], "description", DESCRIPTION_MAX) or ""
    if note:
        described = f"{described}\n[{note}]".strip()
        if len(described) > DESCRIPTION_MAX:
            raise bad(f"description with the attributes exceeds {DESCRIPTION_MAX} characters")
    return described


PHOTO_NOTE = (
    "A photo comes as media_url (fetched: http(s) on a public address only, at most "
    "QALA_PHOTO_MAX_BYTES, within QALA_MEDIA_FETCH_TIMEOUT_S) or as the file `media` "
    "(multipart/form-data); either is checked by its content (JPEG, PNG, WebP, HEIC), its "
    "metadata removed and its orientation applied before it is stored, and it is shown to "
    "the public once staff approved it."
)


def _photo(settings, upload: UploadFile | None, link: str | None) -> Photo | None:
    """The posted photo (the file ``media``, else the one at ``media_url``), cleaned."""
    if upload is not None:
        most = settings.photo_max_bytes
        data = upload.file.read(most + 1)
        if len(data) > most:
            raise TooLarge(f"media is larger than {most} bytes ({most / 2**20:g} MB)")
    elif link is not None:
        data = fetch(
            link,
            max_bytes=settings.photo_max_bytes,
            timeout=settings.media_fetch_timeout_s,
            allow=parse_allow(settings.media_fetch_allow),
        )
    else:
        return None
    return process(data, max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels)


def _default_key(digest: str, at: float, hours_back: int = 0) -> str:
    """The key of a POST that came without one: its form's digest and the clock hour."""
    return f"open311-auto-{digest[:40]}-{int(at // DEFAULT_KEY_WINDOW_S) - hours_back}"


@router.post(
    "/requests.{format}",
    status_code=201,
    responses={
        **_doc(PostedRequests, 200, 201),
        403: {"model": Errors, "description": "api_key missing, not valid or elsewhere"},
        413: {"model": Errors, "description": "the photo (media or media_url) is too large"},
        415: {"model": Errors, "description": "media or media_url is not a photo"},
        422: {"model": Errors, "description": "the Idempotency-Key came with another request"},
    },
    summary="Create a service request (an appeal) from a channel holding an api_key",
    description="A re-sent request under the same Idempotency-Key (per api_key) answers 200 "
    "with the first one; the same key with another request is refused (422). "
    + DEFAULT_KEY_NOTE
    + " "
    + PHOTO_NOTE,
)
def post_request(
    request: Request,
    format: Format,
    session: SessionDep,
    settings: SettingsDep,
    attributes: Annotated[dict[str, str], Depends(params.attribute_fields)],
    api_key: Annotated[str | None, Form(description="the channel's API key")] = None,
    jurisdiction_id: Annotated[str | None, Form(description="a city code, e.g. PET")] = None,
    service_code: Annotated[str | None, Form(description="a category code")] = None,
    lat: Annotated[float | None, Form(description="WGS 84 latitude")] = None,
    long: Annotated[float | None, Form(description="WGS 84 longitude")] = None,
    address_string: Annotated[
        str | None,
        Form(description="a street and house number (kept for staff, never published)"),
    ] = None,
    address_id: Annotated[str | None, Form(description="a building id")] = None,
    email: Annotated[str | None, Form()] = None,
    device_id: Annotated[str | None, Form()] = None,
    account_id: Annotated[str | None, Form()] = None,
    first_name: Annotated[str | None, Form()] = None,
    last_name: Annotated[str | None, Form()] = None,
    phone: Annotated[str | None, Form()] = None,
    description: Annotated[str | None, Form(description="at most 4000 characters")] = None,
    media_url: Annotated[
        str | None, Form(description="a photo of the problem: an http(s) URL, fetched")
    ] = None,
    media: Annotated[
        UploadFile | None, File(description="extension: the photo itself (multipart)")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=128, description="the caller's own key for this request"),
    ] = None,
    locale: LocaleQ = None,
) -> Response:
    form = {
        "jurisdiction_id": jurisdiction_id,
        "service_code": service_code,
        "lat": lat,
        "long": long,
        "address_string": address_string,
        "address_id": address_id,
        "email": email,
        "device_id": device_id,
        "account_id": account_id,
        "first_name": first_name,
        "last_name": last_name,
        "phone": phone,
        "description": description,
        "media_url": media_url,
        **{f"attribute[{k}]": v for k, v in attributes.items()},
    }
    conn = session.connection()
    key = params.text(api_key, "api_key", 200)
    found = actor_from_api_key(conn, key) if key else None
    if found is None:
        raise Open311Error(403, "api_key was not provided or is not valid")
    actor, key_city, channel = found
    # the key's city, as the channel (the request's own scope is the public's: the key
    # comes in the form, not in X-API-Key)
    rescope(session, Scope(key_city, actor, channel))
    city = _city(session, jurisdiction_id, lookup.city_code(conn, key_city))
    if city != key_city:
        raise Open311Error(403, "this api_key is for another jurisdiction")
    loc = params.locale(locale)
    code = params.text(service_code, "service_code", 32)
    if code is None:
        raise bad("service_code was not provided")
    if not lookup.categories(conn, code):
        raise bad(f"service_code {code!r} was not found: see services.{format}")
    described = _description(code, form, attributes)
    link = params.text(media_url, "media_url", MEDIA_URL_MAX)
    link = intake.media_url(link) if link else None  # checked before anything is written
    photo = _photo(settings, media, link)  # fetched, checked and cleaned before any write
    if photo is not None:
        form["media"] = photo.source_hash
    digest = params.form_digest(form)
    new = intake.NewAppeal(
        category=code,
        lon=0.0,
        lat=0.0,
        channel=channel,
        description=described,
        applicant_name=" ".join(
            filter(
                None,
                (
                    params.text(first_name, "first_name", 100),
                    params.text(last_name, "last_name", 100),
                ),
            )
        )
        or None,
        applicant_phone=params.text(phone, "phone", 40),
        applicant_email=params.text(email, "email", 200),
        idempotency_key=params.text(idempotency_key, "Idempotency-Key", 128),
        request_hash=digest,
    )
    _place(conn, city, new, form)
    if new.idempotency_key is None:
        now = time.time()
        earlier = intake.appeal_by_key(conn, city, actor, _default_key(digest, now, 1))
        if earlier is not None:  # posted in the previous hour: the same request
            return render(format, PostedRequests([Posted.of(earlier, loc)]))
        new.idempotency_key = _default_key(digest, now)
    # the applicant is written to in the request's language (appeal_contacts.lang)
    conn.execute(sql_text("SELECT set_config('qala.lang', :l, true)"), {"l": loc})
    appeal, created = intake.create_appeal(conn, city, new, actor)
    if created and photo is not None:  # in the appeal's transaction: both are kept or neither
        gallery.add_photo(conn, request.app.state.photo_store, city, appeal["id"], photo, actor)
    session.commit()
    if created:
        appeal_registered(new.channel)
    return render(
        format, PostedRequests([Posted.of(appeal, loc)]), status_code=201 if created else 200
    )
