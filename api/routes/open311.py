"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) over our categories and appeals.

Services are our appeal categories (``service_code`` = category code); service requests are
appeals (``service_request_id`` = registration number). Every resource comes as ``.json`` or
``.xml``; errors come in the spec's shape (``[{"code": 400, "description": "..."}]`` or
``<errors><error>…``) with status 400, 403 or 404, validation errors included.

Extensions: ``locale=ru|kk|en`` on every call (Russian by default) and ``page``/``page_size``
on ``GET requests``. ``jurisdiction_id`` is a city code (``PET``); without it the caller's
city (the API key's) or the service's default city is meant.

Privacy: the applicant's name, phone and e-mail go to ``appeal_contacts`` and are never sent
back, and the free-text description is not published at all (it may name people, as the
tracker's rule says); ``mask_contacts`` stays for any text that must go out.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import xml.etree.ElementTree as ET
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy import Connection, text

from api.deps import SessionDep, SettingsDep
from geo.appeals import intake, lifecycle, reads
from geo.city.address import split_house_number
from geo.city.catalog import city_id as city_id_of
from geo.city.search import search_address
from geo.infra.errors import Forbidden, NotFound, QalaError
from geo.models import DESCRIPTION_MAX, MEDIA_URL_MAX
from geo.staff.auth import actor_from_api_key

SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-21T00:00:00Z"  # bump when the service list or a definition changes
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
LOCALES = ("ru", "kk", "en")
CLOSED_STATES = ("resolved", "closed", "rejected", "duplicate")
MAX_RESULTS = 1000
WINDOW = dt.timedelta(days=90)


# --- the spec's error answers -----------------------------------------------------------------


class Open311Error(Exception):
    """An error answered in the spec's format with its own HTTP status."""

    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code = code
        self.description = description


def _bad(description: str) -> Open311Error:
    return Open311Error(400, description)


def _format_of(request: Request) -> str:
    return "xml" if request.url.path.endswith(".xml") else "json"


def error_response(fmt: str, code: int, description: str) -> Response:
    if fmt == "xml":
        root = ET.Element("errors")
        err = ET.SubElement(root, "error")
        ET.SubElement(err, "code").text = str(code)
        ET.SubElement(err, "description").text = _scalar(description)
        return Response(_xml_bytes(root), status_code=code, media_type=FORMATS["xml"])
    return JSONResponse(
        [{"code": code, "description": description}], status_code=code, media_type=FORMATS["json"]
    )


def _validation_message(exc: RequestValidationError) -> tuple[int, str]:
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
        if list(err.get("loc", ()))[:2] == ["path", "format"]:
            return 404, "unsupported format: use .json or .xml"
        problems.append(f"{'.'.join(loc)}: {err.get('msg')}" if loc else str(err.get("msg")))
    return 400, "; ".join(problems) or "invalid request"


class Open311Route(APIRoute):
    """Answers every failure of these routes in the spec's format (never FastAPI's 422)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            fmt = _format_of(request)
            try:
                return await handler(request)
            except Open311Error as exc:
                return error_response(fmt, exc.code, exc.description)
            except RequestValidationError as exc:
                return error_response(fmt, *_validation_message(exc))
            except NotFound as exc:
                return error_response(fmt, 404, str(exc))
            except Forbidden as exc:
                return error_response(fmt, 403, str(exc))
            except QalaError as exc:
                return error_response(fmt, 400, str(exc))

        return route


router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route)


# --- JSON and XML ---------------------------------------------------------------------------

# the element name of one item of each list, as the spec's XML has them
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


# characters XML 1.0 cannot carry at all (ElementTree would write them and break the document)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _scalar(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _NOT_XML.sub("\ufffd", str(value))


def _fill(parent: ET.Element, value: Any, tag: str) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _fill(ET.SubElement(parent, k), v, k)
    elif isinstance(value, list):
        for item in value:
            _fill(
                ET.SubElement(parent, ITEM_TAGS.get(tag, "item")), item, ITEM_TAGS.get(tag, "item")
            )
    else:
        parent.text = _scalar(value)


def _xml_bytes(root: ET.Element) -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        root, encoding="unicode"
    ).encode("utf-8")


def render(fmt: str, root: str, data: Any, status_code: int = 200) -> Response:
    """``data`` as JSON, or as XML under the element ``root`` (lists get their item tags)."""
    if fmt == "xml":
        element = ET.Element(root)
        _fill(element, data, root)
        return Response(_xml_bytes(element), status_code=status_code, media_type=FORMATS["xml"])
    return JSONResponse(data, status_code=status_code, media_type=FORMATS["json"])


# --- parameters -----------------------------------------------------------------------------

Format = Annotated[Literal["json", "xml"], Path(description="response format: json or xml")]
LocaleQ = Annotated[str | None, Query(description="extension: ru (default), kk or en")]
JurisdictionQ = Annotated[str | None, Query(description="a city code, e.g. PET")]


def _text(value: str | None, name: str, max_length: int) -> str | None:
    """A client's string: stripped, at most ``max_length`` characters, no NUL bytes."""
    if value is None:
        return None
    value = value.strip()
    if "\x00" in value:
        raise _bad(f"{name} must not contain NUL characters")
    if len(value) > max_length:
        raise _bad(f"{name} is too long: at most {max_length} characters")
    return value or None


def _locale(value: str | None) -> str:
    value = _text(value, "locale", 8)
    if value is None:
        return "ru"
    value = value.lower()
    if value not in LOCALES:
        raise _bad(f"unknown locale {value!r}: ru, kk or en")
    return value


def _city(conn: Connection, code: str | None, default: str) -> int:
    code = _text(code, "jurisdiction_id", 64)
    try:
        return city_id_of(conn, code or default)
    except NotFound as exc:
        raise Open311Error(404, f"jurisdiction_id {code!r} was not found") from exc


def _timezone(conn: Connection, city: int) -> ZoneInfo:
    name = conn.execute(text("SELECT timezone FROM cities WHERE id = :c"), {"c": city}).scalar()
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def _when(value: str | None, name: str, tz: ZoneInfo) -> dt.datetime | None:
    """An ISO 8601 date-time; one without an offset is read in the city's time zone."""
    value = _text(value, name, 40)
    if value is None:
        return None
    # "+05:00" arrives as " 05:00" when a client forgets to encode the plus sign
    value = re.sub(r"(\d) (\d\d:?\d\d)$", r"\1+\2", value)
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise _bad(f"{name} is not an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z") from exc
    if not 1970 <= when.year <= 2100:
        raise _bad(f"{name} must be between 1970 and 2100")
    # in UTC: PostgreSQL refuses offsets beyond ±15:59, which Python accepts
    return (when if when.tzinfo else when.replace(tzinfo=tz)).astimezone(dt.UTC)


def _iso(value: dt.datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else None


def _codes(value: str | None, name: str, max_items: int = 100) -> list[str] | None:
    value = _text(value, name, 40 * max_items)
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    if len(items) > max_items:
        raise _bad(f"{name}: at most {max_items} values")
    return items or None


def _whole(value: str | None, name: str, low: int, high: int, default: int) -> int:
    value = _text(value, name, 12)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise _bad(f"{name} must be a whole number") from exc
    if not low <= number <= high:
        raise _bad(f"{name} must be between {low} and {high}")
    return number


# --- services: our categories ---------------------------------------------------------------

GROUPS = {
    "utilities": ("Коммунальные услуги", "Коммуналдық қызметтер", "Utilities"),
    "housing": ("Жилищный фонд", "Тұрғын үй қоры", "Housing"),
    "improvement": ("Благоустройство", "Абаттандыру", "Public amenities"),
    "roads": ("Дороги", "Жолдар", "Roads"),
    "sanitation": ("Санитария", "Санитария", "Sanitation"),
    "public_order": ("Общественный порядок", "Қоғамдық тәртіп", "Public order"),
    "transport": ("Транспорт", "Көлік", "Transport"),
    "other": ("Прочее", "Басқа", "Other"),
}
RESPONSIBLE = {
    "city_department": ("отдел акимата города", "қала әкімдігінің бөлімі", "a city department"),
    "district_akimat": ("акимат района", "аудан әкімдігі", "the district akimat"),
    "utility": ("коммунальное предприятие", "коммуналдық кәсіпорын", "the utility company"),
    "lift_company": ("лифтовая организация", "лифт ұйымы", "the lift maintenance company"),
    "housing_org": (
        "обслуживающая организация дома",
        "үйге қызмет көрсететін ұйым",
        "the building's housing organisation",
    ),
    "contractor": ("подрядчик", "мердігер", "the contractor"),
}
STATUS_NOTES = {
    "registered": ("Зарегистрировано", "Тіркелді", "Registered"),
    "assigned": ("Передано исполнителю", "Орындаушыға жіберілді", "Assigned"),
    "in_progress": ("В работе", "Орындалуда", "In progress"),
    "resolved": ("Выполнено", "Орындалды", "Resolved"),
    "closed": ("Закрыто", "Жабылды", "Closed"),
    "rejected": ("Отклонено", "Қабылданбады", "Rejected"),
    "deferred": ("Перенесено на {year} год", "{year} жылға ауыстырылды", "Deferred to {year}"),
    "duplicate": ("Дубликат обращения {of}", "{of} өтінішінің қайталануы", "Duplicate of {of}"),
    "reopened": ("Открыто повторно", "Қайта ашылды", "Reopened"),
}
NOTICE = (
    "Срок рассмотрения — {h} ч.",
    "Қарау мерзімі — {h} сағ.",
    "To be addressed within {h} hours.",
)


def _pick(names: tuple[str, str, str], locale: str) -> str:
    return names[LOCALES.index(locale)]


def _value(key: str, ru: str, kk: str, en: str) -> dict:
    return {"key": key, "name": (ru, kk, en)}


# Attributes of the services that have them (Open311 "service definitions"). ``low``/``high``
# bound a number; ``label`` is how the answer is written into the appeal's description.
ATTRIBUTES: dict[str, list[dict]] = {
    "open_manhole": [
        {
            "code": "well_kind",
            "datatype": "singlevaluelist",
            "required": False,
            "label": "Колодец",
            "description": ("Какой это колодец?", "Бұл қандай құдық?", "What kind of well is it?"),
            "values": [
                _value("sewer", "Канализационный", "Кәріз", "Sewer"),
                _value("water", "Водопроводный", "Су құбыры", "Water main"),
                _value("heating", "Тепловой", "Жылу желісі", "Heating main"),
                _value("storm", "Ливневый", "Нөсер кәрізі", "Storm drain"),
                _value("telecom", "Связь", "Байланыс", "Telecom"),
                _value("unknown", "Не знаю", "Білмеймін", "Don't know"),
            ],
        },
        {
            "code": "cover",
            "datatype": "singlevaluelist",
            "required": False,
            "label": "Крышка",
            "description": (
                "Что с крышкой люка?",
                "Құдық қақпағына не болды?",
                "What is wrong with the cover?",
            ),
            "values": [
                _value("missing", "Нет крышки", "Қақпақ жоқ", "Missing"),
                _value("displaced", "Сдвинута", "Жылжып кеткен", "Displaced"),
                _value("broken", "Сломана", "Сынған", "Broken"),
            ],
        },
    ],
    "lift_broken": [
        {
            "code": "people_trapped",
            "datatype": "singlevaluelist",
            "required": True,
            "label": "Люди в кабине",
            "description": (
                "В кабине застряли люди?",
                "Кабинада адамдар қалып қойды ма?",
                "Are people trapped in the car?",
            ),
            "values": [_value("yes", "Да", "Иә", "Yes"), _value("no", "Нет", "Жоқ", "No")],
        },
        {
            "code": "entrance",
            "datatype": "number",
            "required": False,
            "low": 1,
            "high": 50,
            "label": "Подъезд",
            "description": ("Номер подъезда", "Кіреберіс нөмірі", "Entrance number"),
            "datatype_description": (
                "Целое число от 1 до 50",
                "1-ден 50-ге дейінгі бүтін сан",
                "A whole number from 1 to 50",
            ),
        },
        {
            "code": "floor",
            "datatype": "number",
            "required": False,
            "low": 1,
            "high": 100,
            "label": "Этаж",
            "description": (
                "На каком этаже стоит лифт?",
                "Лифт қай қабатта тұр?",
                "On which floor did the lift stop?",
            ),
            "datatype_description": (
                "Целое число от 1 до 100",
                "1-ден 100-ге дейінгі бүтін сан",
                "A whole number from 1 to 100",
            ),
        },
    ],
    "no_water": [
        {
            "code": "supply",
            "datatype": "singlevaluelist",
            "required": False,
            "label": "Вода",
            "description": ("Какой воды нет?", "Қандай су жоқ?", "Which supply is off?"),
            "values": [
                _value("cold", "Холодной", "Суық", "Cold"),
                _value("hot", "Горячей", "Ыстық", "Hot"),
                _value("both", "Никакой", "Екеуі де", "Both"),
            ],
        },
    ],
}


def _attribute_out(attr: dict, order: int, locale: str) -> dict:
    out = {
        "variable": True,
        "code": attr["code"],
        "datatype": attr["datatype"],
        "required": attr["required"],
        "datatype_description": (
            _pick(attr["datatype_description"], locale) if "datatype_description" in attr else None
        ),
        "order": order,
        "description": _pick(attr["description"], locale),
    }
    if "values" in attr:
        out["values"] = [
            {"key": v["key"], "name": _pick(v["name"], locale)} for v in attr["values"]
        ]
    return out


def _category_rows(conn: Connection, code: str | None = None) -> list[dict]:
    sql = "SELECT * FROM categories" + (" WHERE code = :code" if code else "")
    rows = conn.execute(text(sql + " ORDER BY group_code, code"), {"code": code}).mappings()
    return [dict(r) for r in rows]


def _service_out(cat: dict, locale: str) -> dict:
    group = GROUPS.get(cat["group_code"])
    responsible = RESPONSIBLE.get(cat["responsible_kind"], (cat["responsible_kind"],) * 3)
    hours = cat["deadline_hours"]
    description = (
        f"Срок: {hours} ч. Отвечает: {responsible[0]}.",
        f"Мерзімі: {hours} сағ. Жауапты: {responsible[1]}.",
        f"Deadline: {hours} h. Responsible: {responsible[2]}.",
    )
    keywords = [cat["group_code"], cat["criticality"]]
    if cat["object_kind"] != "none":
        keywords.append(cat["object_kind"])
    return {
        "service_code": cat["code"],
        "service_name": cat[f"name_{locale}"],
        "description": _pick(description, locale),
        "metadata": cat["code"] in ATTRIBUTES,
        "type": "realtime",
        "keywords": ",".join(keywords),
        "group": _pick(group, locale) if group else cat["group_code"],
    }


class Endpoint(BaseModel):
    specification: str
    url: str
    changeset: str
    type: str
    formats: list[str]


class Discovery(BaseModel):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str


class AttributeValue(BaseModel):
    key: str
    name: str


class Attribute(BaseModel):
    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str | None
    order: int
    description: str
    values: list[AttributeValue] | None = None


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[Attribute]


class Posted(BaseModel):
    service_request_id: str
    service_notice: str | None
    account_id: str | None


class ServiceRequest(BaseModel):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float
    long: float
    media_url: str | None


class ErrorOut(BaseModel):
    code: int
    description: str


ERRORS = {
    400: {"model": list[ErrorOut], "description": "bad input (spec format)"},
    403: {"model": list[ErrorOut], "description": "api_key missing or invalid"},
    404: {"model": list[ErrorOut], "description": "not found (spec format)"},
}


def _doc(model: Any) -> dict:
    return {200: {"model": model, "content": {"text/xml": {}}}, **ERRORS}


@router.get(
    "/discovery.{format}",
    responses=_doc(Discovery),
    summary="Service discovery: where the GeoReport v2 endpoint is, in which formats",
)
def discovery(format: Format, request: Request, settings: SettingsDep) -> Response:
    url = str(request.base_url).rstrip("/") + router.prefix
    data = {
        "changeset": CHANGESET,
        "contact": "Контакт-центр 109 / 109 байланыс орталығы / the city's 109 contact centre",
        "key_service": "API keys (api_key) are issued by the city's administrator: "
        "qala user apikey NAME --channel open311",
        "endpoints": [
            {
                "specification": SPEC,
                "url": url,
                "changeset": CHANGESET,
                "type": "production" if settings.environment == "production" else "test",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return render(format, "discovery", data)


@router.get(
    "/services.{format}",
    responses=_doc(list[Service]),
    summary="Service list: our appeal categories",
)
def services(
    format: Format,
    session: SessionDep,
    settings: SettingsDep,
    jurisdiction_id: JurisdictionQ = None,
    locale: LocaleQ = None,
) -> Response:
    conn = session.connection()
    _city(conn, jurisdiction_id, settings.default_city)
    loc = _locale(locale)
    return render(format, "services", [_service_out(c, loc) for c in _category_rows(conn)])


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
    conn = session.connection()
    _city(conn, jurisdiction_id, settings.default_city)
    loc = _locale(locale)
    code = _text(service_code, "service_code", 32)
    if not code or not _category_rows(conn, code):
        raise Open311Error(404, f"service_code {service_code!r} was not found")
    attrs = [_attribute_out(a, i, loc) for i, a in enumerate(ATTRIBUTES.get(code, []), 1)]
    return render(format, "service_definition", {"service_code": code, "attributes": attrs})


# --- service requests: our appeals ----------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Kazakh (and other) numbers as people type them: +7 701 555 12 34, 8 (7152) 46-12-34
_PHONE = re.compile(
    r"(?<![\w+-])(?:\+\d{1,3}|8)[\s(.-]{0,2}\d{3,5}[\s).-]{0,2}\d{1,3}"
    r"[\s.-]?\d{2}[\s.-]?\d{2}(?![\w-])"
)


def mask_contacts(value: str | None) -> str | None:
    """Hide e-mail addresses and phone numbers someone typed into a description."""
    if not value:
        return value
    return _PHONE.sub("***", _EMAIL.sub("***", value))


REQUESTS_SQL = """
SELECT q.*, (SELECT max(e.at) FROM appeal_events e
             WHERE e.city_id = :c AND e.appeal_id = q.id) AS updated_at,
       (SELECT m.url FROM appeal_media m
        WHERE m.city_id = :c AND m.appeal_id = q.id ORDER BY m.id LIMIT 1) AS media_url
FROM ({appeals} {where} ORDER BY a.created_at DESC, a.id DESC LIMIT :lim OFFSET :off) q
ORDER BY q.created_at DESC, q.id DESC
"""


def _requests(
    conn: Connection, city: int, where: list[str], params: dict, limit: int, offset: int
) -> list[dict]:
    sql = REQUESTS_SQL.format(appeals=reads.APPEAL_SQL, where="".join(f" AND {w}" for w in where))
    rows = conn.execute(text(sql), {**params, "c": city, "lim": limit, "off": offset})
    return [dict(r) for r in rows.mappings()]


def _request_out(a: dict, locale: str, tz: ZoneInfo) -> dict:
    """An appeal as a GeoReport request: no name, phone or e-mail of anyone."""
    status = "open" if a["status"] in lifecycle.OPEN_STATES else "closed"
    notes = _pick(STATUS_NOTES.get(a["status"], (a["status"],) * 3), locale)
    notes = notes.format(year=a["deferred_to_year"] or "—", of=a["repeat_of"] or "—")
    hours = round((a["deadline_at"] - a["created_at"]).total_seconds() / 3600)
    agency = a["organisation_kk"] if locale == "kk" else a["organisation_ru"]
    return {
        "service_request_id": a["reg_number"],
        "status": status,
        "status_notes": notes,
        "service_name": a[f"category_{locale}"],
        "service_code": a["category_code"],
        # free text may name people: not published (as on the tracker), masked anyway
        "description": None,
        "agency_responsible": agency or a["organisation_ru"],
        "service_notice": _pick(NOTICE, locale).format(h=hours),
        "requested_datetime": _iso(a["created_at"], tz),
        "updated_datetime": _iso(a["updated_at"] or a["created_at"], tz),
        "expected_datetime": _iso(a["deadline_at"], tz),
        "address": a["address_text"],
        "address_id": str(a["object_id"]) if a["object_kind"] == "building" else None,
        "zipcode": None,
        "lat": round(a["lat"], 7),
        "long": round(a["lon"], 7),
        "media_url": a["media_url"],
    }


@router.get(
    "/requests.{format}",
    responses=_doc(list[ServiceRequest]),
    summary="Service requests: appeals by number, service, date and status",
)
def get_requests(
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
    conn = session.connection()
    city = _city(conn, jurisdiction_id, settings.default_city)
    loc = _locale(locale)
    tz = _timezone(conn, city)
    size = _whole(page_size, "page_size", 1, MAX_RESULTS, MAX_RESULTS)
    number = _whole(page, "page", 1, 100_000, 1)
    where: list[str] = []
    params: dict = {}
    ids = _codes(service_request_id, "service_request_id", MAX_RESULTS)
    if ids:  # the spec: this overrides all other arguments
        where.append("a.reg_number = ANY(:ids)")
        params["ids"] = [i.upper() for i in ids]
    else:
        codes = _codes(service_code, "service_code")
        if codes:
            where.append("a.category_code = ANY(:codes)")
            params["codes"] = codes
        states = _codes(status, "status", 2)
        if states:
            unknown = set(states) - {"open", "closed"}
            if unknown:
                raise _bad(f"unknown status {sorted(unknown)[0]!r}: open or closed")
            if set(states) != {"open", "closed"}:
                where.append("a.status = ANY(:states)")
                params["states"] = list(
                    lifecycle.OPEN_STATES if states[0] == "open" else CLOSED_STATES
                )
        start, end = _when(start_date, "start_date", tz), _when(end_date, "end_date", tz)
        if start is None and end is None:
            end = dt.datetime.now(dt.UTC)
        if start is None:
            start = end - WINDOW
        elif end is None:
            end = start + WINDOW
        if end < start:
            raise _bad("end_date is before start_date")
        if end - start > WINDOW:
            raise _bad("start_date and end_date may not span more than 90 days")
        where.append("a.created_at BETWEEN :start AND :end")
        params.update(start=start, end=end)
    rows = _requests(conn, city, where, params, size, (number - 1) * size)
    return render(format, "service_requests", [_request_out(a, loc, tz) for a in rows])


@router.get(
    "/requests/{service_request_id}.{format}",
    responses=_doc(list[ServiceRequest]),
    summary="One service request by its registration number",
)
def get_request(
    service_request_id: str,
    format: Format,
    session: SessionDep,
    settings: SettingsDep,
    jurisdiction_id: JurisdictionQ = None,
    locale: LocaleQ = None,
) -> Response:
    conn = session.connection()
    city = _city(conn, jurisdiction_id, settings.default_city)
    loc = _locale(locale)
    number = _text(service_request_id, "service_request_id", 32)
    rows = _requests(conn, city, ["a.reg_number = :reg"], {"reg": (number or "").upper()}, 1, 0)
    if not rows:
        raise Open311Error(404, f"service_request_id {service_request_id!r} was not found")
    return render(format, "service_requests", [_request_out(rows[0], loc, _timezone(conn, city))])


async def _attribute_fields(request: Request) -> dict[str, str]:
    """``attribute[code]=value`` fields of the posted form."""
    form = await request.form()
    found = {}
    for key, value in form.multi_items():
        m = re.fullmatch(r"attribute\[([A-Za-z0-9_]{1,40})\](?:\[\])?", key)
        if m and isinstance(value, str):
            found[m.group(1)] = value
    return found


def _attributes_note(code: str, given: dict[str, str]) -> str:
    """Check the answers against the service definition; the lines to add to the description.
    Attributes the service does not define are ignored."""
    lines = []
    for attr in ATTRIBUTES.get(code, []):
        value = _text(given.get(attr["code"]), f"attribute[{attr['code']}]", 100)
        if value is None:
            if attr["required"]:
                raise _bad(f"attribute[{attr['code']}] is required for {code}")
            continue
        if attr["datatype"] == "number":
            shown = str(_whole(value, f"attribute[{attr['code']}]", attr["low"], attr["high"], 0))
        else:
            names = {v["key"]: v["name"][0] for v in attr["values"]}
            if value not in names:
                raise _bad(f"attribute[{attr['code']}] must be one of {', '.join(names)}")
            shown = names[value].lower()
        lines.append(f"{attr['label']}: {shown}")
    return "; ".join(lines)


def _building_point(conn: Connection, city: int, building_id: str) -> dict:
    try:
        bid = int(building_id)
    except ValueError as exc:
        raise _bad("address_id must be a building id (a whole number)") from exc
    row = (
        conn.execute(
            text("""
        SELECT id, address_ru, ST_X(ST_PointOnSurface(geom)) AS lon,
               ST_Y(ST_PointOnSurface(geom)) AS lat
        FROM buildings WHERE city_id = :c AND id = :i"""),
            {"c": city, "i": bid if abs(bid) < 2**62 else -1},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise _bad(f"address_id {building_id!r}: no such building in this city")
    return dict(row)


@router.post(
    "/requests.{format}",
    status_code=201,
    responses=_doc(list[Posted]),
    summary="Create a service request (an appeal) from a channel holding an api_key",
)
def post_request(
    format: Format,
    session: SessionDep,
    settings: SettingsDep,
    attributes: Annotated[dict[str, str], Depends(_attribute_fields)],
    api_key: Annotated[str | None, Form(description="the channel's API key")] = None,
    jurisdiction_id: Annotated[str | None, Form(description="a city code, e.g. PET")] = None,
    service_code: Annotated[str | None, Form(description="a category code")] = None,
    lat: Annotated[float | None, Form(description="WGS 84 latitude")] = None,
    long: Annotated[float | None, Form(description="WGS 84 longitude")] = None,
    address_string: Annotated[str | None, Form(description="a street and house number")] = None,
    address_id: Annotated[str | None, Form(description="a building id")] = None,
    email: Annotated[str | None, Form()] = None,
    device_id: Annotated[str | None, Form()] = None,
    account_id: Annotated[str | None, Form()] = None,
    first_name: Annotated[str | None, Form()] = None,
    last_name: Annotated[str | None, Form()] = None,
    phone: Annotated[str | None, Form()] = None,
    description: Annotated[str | None, Form(description="at most 4000 characters")] = None,
    media_url: Annotated[
        str | None, Form(description="a photo or video of the problem: an http(s) URL")
    ] = None,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
    locale: LocaleQ = None,
) -> Response:
    conn = session.connection()
    key = _text(api_key, "api_key", 200)
    found = actor_from_api_key(conn, key) if key else None
    if found is None:
        raise Open311Error(403, "api_key was not provided or is not valid")
    actor, key_city, channel = found
    city = _city(conn, jurisdiction_id, _city_code(conn, key_city))
    if city != key_city:
        raise Open311Error(403, "this api_key is for another jurisdiction")
    loc = _locale(locale)
    code = _text(service_code, "service_code", 32)
    if code is None:
        raise _bad("service_code was not provided")
    if not _category_rows(conn, code):
        raise _bad(f"service_code {code!r} was not found: see services.{format}")
    note = _attributes_note(code, attributes)
    text_in = _text(description, "description", DESCRIPTION_MAX) or ""
    if note:
        text_in = f"{text_in}\n[{note}]".strip()
        if len(text_in) > DESCRIPTION_MAX:
            raise _bad(f"description with the attributes exceeds {DESCRIPTION_MAX} characters")
    address = _text(address_string, "address_string", 300)
    building = _text(address_id, "address_id", 20)
    media = _text(media_url, "media_url", MEDIA_URL_MAX)
    media = intake.media_url(media) if media else None  # checked before anything is written
    new = intake.NewAppeal(
        category=code,
        lon=0.0,
        lat=0.0,
        channel=channel,
        description=text_in,
        applicant_name=" ".join(
            filter(None, (_text(first_name, "first_name", 100), _text(last_name, "last_name", 100)))
        )
        or None,
        applicant_phone=_text(phone, "phone", 40),
        applicant_email=_text(email, "email", 200),
        idempotency_key=_text(idempotency_key, "Idempotency-Key", 128),
    )
    if lat is not None or long is not None:
        if lat is None or long is None or not (math.isfinite(lat) and math.isfinite(long)):
            raise _bad("give both lat and long, as finite WGS 84 degrees")
        new.lat, new.lon, new.located_by, new.address_text = lat, long, "gps", address
    elif building or address:
        if building:
            hit = _building_point(conn, city, building)
        else:
            if split_house_number(address)[1] is None:
                raise _bad("address_string needs a house number, e.g. «Абая 12»")
            hits = search_address(conn, city, address, 1)
            if not hits:
                raise _bad(f"address_string {address!r} was not found in this city")
            hit = hits[0]
        new.lat, new.lon, new.located_by = hit["lat"], hit["lon"], "address"
        new.address_text = hit["address_ru"]
        if intake.category(conn, code)["object_kind"] == "building":
            new.object_kind, new.object_id = "building", hit["id"]
    else:
        raise _bad("a location is required: lat and long, address_string or address_id")
    appeal, created = intake.create_appeal(conn, city, new, actor)
    if created and media:  # in the appeal's transaction: both are kept or neither
        intake.add_media(conn, city, appeal["id"], media)
    session.commit()
    hours = round((appeal["deadline_at"] - appeal["created_at"]).total_seconds() / 3600)
    notice = _pick(NOTICE, loc).format(h=hours)
    return render(
        format,
        "service_requests",
        [
            {
                "service_request_id": appeal["reg_number"],
                "service_notice": notice,
                "account_id": None,
            }
        ],
        status_code=201 if created else 200,
    )


def _city_code(conn: Connection, city: int) -> str:
    return conn.execute(text("SELECT code FROM cities WHERE id = :c"), {"c": city}).scalar_one()
