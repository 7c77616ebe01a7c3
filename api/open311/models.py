"""Every Open311 answer as a pydantic model: the one type each route returns, the schema the
OpenAPI shows, and what the JSON and the XML (:mod:`api.open311.xml`) are written from.

A model's ``xml`` name (in its JSON-schema extra, as OpenAPI's XML object has it) is the
element one of them is in the spec's XML: ``<service>`` in ``<services>``, ``<request>`` in
``<service_requests>``. ``of`` builds an answer from what ``geo`` read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, RootModel

from api.open311 import texts
from geo.appeals import states

SPEC = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-21T00:00:00Z"  # bump when the service list or a definition changes
FORMATS = ("text/xml", "application/json")


def _xml(name: str) -> ConfigDict:
    return ConfigDict(json_schema_extra={"xml": {"name": name}})


def xml_name(model: type[BaseModel]) -> str:
    """The element name of one ``model`` in the spec's XML."""
    return model.model_config["json_schema_extra"]["xml"]["name"]  # type: ignore[index]


def _iso(value: dt.datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else None


# --- discovery --------------------------------------------------------------------------------


class Endpoint(BaseModel):
    model_config = _xml("endpoint")
    #: item elements of lists of plain values
    xml_items: ClassVar[dict[str, str]] = {"formats": "format"}

    specification: str
    url: str
    changeset: str
    type: str
    formats: list[str]


class Discovery(BaseModel):
    model_config = _xml("discovery")

    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]

    @classmethod
    def of(cls, url: str, environment: str) -> Discovery:
        return cls(
            changeset=CHANGESET,
            contact="Контакт-центр 109 / 109 байланыс орталығы / the city's 109 contact centre",
            key_service="API keys (api_key) are issued by the city's administrator: "
            "qala user apikey NAME --channel open311",
            endpoints=[
                Endpoint(
                    specification=SPEC,
                    url=url,
                    changeset=CHANGESET,
                    type="production" if environment == "production" else "test",
                    formats=list(FORMATS),
                )
            ],
        )


# --- services: our categories -----------------------------------------------------------------


class Service(BaseModel):
    model_config = _xml("service")

    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: str
    keywords: str
    group: str

    @classmethod
    def of(cls, category: dict, locale: str) -> Service:
        group = texts.GROUPS.get(category["group_code"])
        kind = category["responsible_kind"]
        responsible = texts.RESPONSIBLE.get(kind, (kind,) * 3)
        hours = category["deadline_hours"]
        description = (
            f"Срок: {hours} ч. Отвечает: {responsible[0]}.",
            f"Мерзімі: {hours} сағ. Жауапты: {responsible[1]}.",
            f"Deadline: {hours} h. Responsible: {responsible[2]}.",
        )
        keywords = [category["group_code"], category["criticality"]]
        if category["object_kind"] != "none":
            keywords.append(category["object_kind"])
        return cls(
            service_code=category["code"],
            service_name=category[f"name_{locale}"],
            description=texts.pick(description, locale),
            metadata=category["code"] in texts.ATTRIBUTES,
            type="realtime",
            keywords=",".join(keywords),
            group=texts.pick(group, locale) if group else category["group_code"],
        )


class Services(RootModel[list[Service]]):
    model_config = _xml("services")


class AttributeValue(BaseModel):
    model_config = _xml("value")

    key: str
    name: str


class Attribute(BaseModel):
    model_config = _xml("attribute")

    variable: bool
    code: str
    datatype: str
    required: bool
    datatype_description: str | None
    order: int
    description: str
    values: list[AttributeValue] | None = Field(
        None, description="only for singlevaluelist and multivaluelist attributes"
    )

    @classmethod
    def of(cls, attr: dict, order: int, locale: str) -> Attribute:
        kept: dict[str, Any] = {}
        if "values" in attr:  # left out, not null, where a datatype has none
            kept["values"] = [
                AttributeValue(key=v["key"], name=texts.pick(v["name"], locale))
                for v in attr["values"]
            ]
        described = attr.get("datatype_description")
        return cls(
            variable=True,
            code=attr["code"],
            datatype=attr["datatype"],
            required=attr["required"],
            datatype_description=texts.pick(described, locale) if described else None,
            order=order,
            description=texts.pick(attr["description"], locale),
            **kept,
        )


class ServiceDefinition(BaseModel):
    model_config = _xml("service_definition")

    service_code: str
    attributes: list[Attribute]

    @classmethod
    def of(cls, code: str, locale: str) -> ServiceDefinition:
        attrs = texts.ATTRIBUTES.get(code, [])
        return cls(
            service_code=code,
            attributes=[Attribute.of(a, i, locale) for i, a in enumerate(attrs, 1)],
        )


# --- service requests: our appeals ------------------------------------------------------------


def notice(deadline_at: dt.datetime, created_at: dt.datetime, locale: str) -> str:
    """ "To be addressed within N hours", from an appeal's deadline."""
    hours = round((deadline_at - created_at).total_seconds() / 3600)
    return texts.pick(texts.NOTICE, locale).format(h=hours)


class ServiceRequest(BaseModel):
    """An appeal as a GeoReport request: no name, phone or e-mail of anyone, no free text.

    ``address`` is the address as the city map knows it (the building's, else the nearest
    street's), never what the caller typed; ``description`` is never published (it may name
    people) and is always null.
    """

    model_config = _xml("request")

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: None = Field(None, description="never published: free text may name people")
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None = Field(
        description="the address on the city map: the appeal's building, else the nearest "
        "building or street; never the caller's own words"
    )
    address_id: str | None
    zipcode: str | None
    lat: float
    long: float
    media_url: str | None

    @classmethod
    def of(cls, a: dict, locale: str, tz: ZoneInfo) -> ServiceRequest:
        note = status_note(a, locale)
        agency = a["organisation_kk"] if locale == "kk" else a["organisation_ru"]
        address = a["address_kk"] if locale == "kk" else a["address_ru"]
        return cls(
            service_request_id=a["reg_number"],
            status=states.public_status(a["status"]),
            status_notes=note,
            service_name=a[f"category_{locale}"],
            service_code=a["category_code"],
            description=None,
            agency_responsible=agency or a["organisation_ru"],
            service_notice=notice(a["deadline_at"], a["created_at"], locale),
            requested_datetime=_iso(a["created_at"], tz),
            updated_datetime=_iso(a["updated_at"] or a["created_at"], tz),
            expected_datetime=_iso(a["deadline_at"], tz),
            address=address or a["address_ru"],
            address_id=str(a["object_id"]) if a["object_kind"] == "building" else None,
            zipcode=None,
            lat=round(a["lat"], 7),
            long=round(a["lon"], 7),
            media_url=a["media_url"],
        )


def status_note(a: dict, locale: str) -> str:
    """The state of appeal ``a`` as a sentence: Open311's own note where it says more
    (:data:`api.open311.texts.STATUS_NOTES`), else the state's name of
    :func:`geo.appeals.states.label`, capitalised."""
    own = texts.STATUS_NOTES.get(a["status"])
    if own is None:
        name = states.label(a["status"], locale)
        return name[:1].upper() + name[1:]
    return texts.pick(own, locale).format(
        year=a["deferred_to_year"] or "—", of=a["repeat_of"] or "—"
    )


class ServiceRequests(RootModel[list[ServiceRequest]]):
    model_config = _xml("service_requests")


class Posted(BaseModel):
    """What a POST answers: the new (or, for a re-sent key, the first) request's number."""

    model_config = _xml("request")

    service_request_id: str
    service_notice: str | None
    account_id: str | None

    @classmethod
    def of(cls, appeal: dict, locale: str) -> Posted:
        return cls(
            service_request_id=appeal["reg_number"],
            service_notice=notice(appeal["deadline_at"], appeal["created_at"], locale),
            account_id=None,
        )


class PostedRequests(RootModel[list[Posted]]):
    model_config = _xml("service_requests")


# --- errors -----------------------------------------------------------------------------------


class Error(BaseModel):
    model_config = _xml("error")

    code: int
    description: str


class Errors(RootModel[list[Error]]):
    """The spec's error answer: ``[{"code": 400, "description": "..."}]``."""

    model_config = _xml("errors")

    @classmethod
    def of(cls, code: int, description: str) -> Errors:
        return cls([Error(code=code, description=description)])


Answer = Discovery | Services | ServiceDefinition | ServiceRequests | PostedRequests | Errors
