"""Request and response bodies. Public shapes have no field for personal data at all."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from geo.models import CHANNELS, DESCRIPTION_MAX, LOCATED_BY

Channel = Literal[CHANNELS]  # type: ignore[valid-type]
LocatedBy = Literal[LOCATED_BY]  # type: ignore[valid-type]


class AppealIn(BaseModel):
    """A new appeal. Coordinates are WGS 84 lon/lat (as in GeoJSON)."""

    model_config = ConfigDict(extra="forbid")

    category: str = Field(max_length=32, examples=["open_manhole"])
    lon: float = Field(ge=-180, le=180, examples=[69.15])
    lat: float = Field(ge=-90, le=90, examples=[54.87])
    channel: Channel = "phone_109"
    description: str = Field("", max_length=DESCRIPTION_MAX)
    located_by: LocatedBy = "click"
    object_kind: Literal["building", "yard", "well", "street"] | None = None
    object_id: int | None = Field(None, ge=1, le=2**62)
    address_text: str | None = Field(
        None, max_length=300, description="the caller's own words: staff see them, the public never"
    )
    applicant_name: str | None = Field(None, max_length=200)
    applicant_phone: str | None = Field(None, max_length=40)
    applicant_email: str | None = Field(None, max_length=200)
    first_call_resolved: bool = False
    repeat_of: str | None = Field(
        None, max_length=32, description="registration number of the original appeal"
    )


class Candidate(BaseModel):
    reg_number: str
    status: str
    created_at: dt.datetime
    same_object: bool
    distance_m: float


class PreviewOut(BaseModel):
    object_kind: str
    object_id: int | None
    object_label: str | None
    district_id: int | None
    district_name: str | None
    organisation_id: int | None
    organisation_name: str | None
    routed_by: str
    criticality: str
    deadline_hours: int
    candidates: list[Candidate]


class AppealPublic(BaseModel):
    """What anyone may see of an appeal: no name, phone or e-mail of anyone, no free text."""

    reg_number: str
    category_code: str
    category_ru: str
    category_kk: str
    category_en: str
    status: str
    channel: str
    created_at: dt.datetime
    deadline_at: dt.datetime
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    deferred_to_year: int | None
    overdue: bool
    organisation_ru: str | None
    organisation_kk: str | None
    repeat_of: str | None
    lon: float
    lat: float


class AppealTracked(AppealPublic):
    """An appeal on the tracker: with the address as the city map knows its place (the
    building's, else the nearest building's or street's), never the caller's own words."""

    address_ru: str | None = Field(description="the map's address, in Russian")
    address_kk: str | None = Field(description="the map's address, in Kazakh")
    queue_yard: int | None = Field(
        None, description="an appeal about a yard's surface: the yard, to find in /queue"
    )


class Applicant(BaseModel):
    name: str | None
    phone: str | None
    email: str | None


class AppealStaff(AppealPublic):
    id: int
    address_text: str | None = Field(description="as the caller or operator wrote it")
    description: str
    located_by: str
    object_kind: str
    object_id: int | None
    district_id: int | None
    organisation_id: int | None
    first_call_resolved: bool
    callback_done: bool
    applicant: Applicant | None = None
    version: int | None = Field(
        None,
        description="how many changes its event log holds: send it back with a transition "
        "to be told (409) when someone else changed the appeal meanwhile",
    )


class AppealStaffPlace(AppealStaff):
    """A staff appeal with the map's address of its place (the caller's words too)."""

    address_ru: str | None = None
    address_kk: str | None = None


class EventPublic(BaseModel):
    at: dt.datetime
    from_status: str | None
    to_status: str
    actor_role: str | None
    organisation_ru: str | None


class EventStaff(EventPublic):
    actor: str
    comment: str | None


class NotePublic(BaseModel):
    at: dt.datetime
    author_role: str
    body: str


class TrackOut(BaseModel):
    appeal: AppealTracked
    history: list[EventPublic]
    media: list[str] = Field(
        default_factory=list, description="links to photos or videos sent with the appeal"
    )
    notes: list[NotePublic] = Field(
        default_factory=list, description="what the staff wrote for the resident"
    )


class AppealCreated(BaseModel):
    created: bool
    appeal: AppealStaff | AppealPublic
    note: str | None = Field(
        None,
        description="set when the appeal was saved but part of the answer could not be read "
        "back (the applicant's contacts, during a database outage): read the appeal again",
    )


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str = Field(max_length=12, examples=["assigned"])
    comment: str | None = Field(None, max_length=2000)
    organisation_id: int | None = Field(None, ge=1, le=2**62)
    deferred_to_year: int | None = Field(None, ge=2000, le=2100)
    version: int | None = Field(
        None,
        ge=0,
        le=2**31,
        description="the appeal's version as last read: a stale one is a 409 with the "
        "appeal as it is now, and nothing changes",
    )
    duplicate_of: str | None = Field(
        None, max_length=32, description="with to=duplicate: the original's number"
    )
    public_note: str | None = Field(
        None, max_length=4000, description="a note the resident sees (comment stays internal)"
    )


class CallbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    result: str | None = Field(None, max_length=2000, description="what the applicant said")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["internal", "public"] = Field(
        description="internal: staff only; public: the resident sees it on the tracker"
    )
    body: str = Field(min_length=1, max_length=4000)


class Note(BaseModel):
    id: int
    at: dt.datetime
    author: str
    author_role: str
    kind: str
    body: str


class Repeat(BaseModel):
    reg_number: str
    status: str
    created_at: dt.datetime


class OfferedAction(BaseModel):
    name: str = Field(
        description="assign, accept, start, complete, close, send_back, reopen, "
        "defer, duplicate, reject"
    )
    to: str = Field(description="the state it sets (POST .../transition with to=)")
    needs: list[str] = Field(description="organisation, note, year, original")


class AppealDossier(BaseModel):
    appeal: AppealStaffPlace
    events: list[EventStaff]
    notes: list[Note]
    media: list[str]
    repeats: list[Repeat]
    actions: list[OfferedAction]
    calls_back: bool = Field(description="whether the caller records call-backs")


class WorkPage(BaseModel):
    total: int = Field(
        description="appeals matching (when counts_exact is false: the 10,000 that may be paged)"
    )
    counts: dict[str, int] = Field(description="per status, of everything the other filters match")
    counts_exact: bool = Field(
        True,
        description="false when a filter on lateness, period or text matched more than 10,000 "
        "appeals: the counts are then of the first 10,000 found (refine the filters)",
    )
    limit: int
    offset: int
    items: list[AppealStaff]


class OrganisationOut(BaseModel):
    id: int
    kind: str
    name_ru: str
    name_kk: str


class DistrictOut(BaseModel):
    id: int
    name_ru: str
    name_kk: str


class StreamTicket(BaseModel):
    ticket: str = Field(description="open GET /api/v1/staff/stream?ticket=… with it")
    expires_in: int = Field(description="seconds")


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str = Field(description="the account's role in the token's city")
    city: str = Field(description="the code of the city the token is for")


class AddressHit(BaseModel):
    id: int
    address_ru: str
    address_kk: str
    house_number: str
    apartments: int
    floors: int
    kind: str
    lon: float
    lat: float
    score: float
    exact_number: bool


class CategoryOut(BaseModel):
    code: str
    name_ru: str
    name_kk: str
    name_en: str
    group_code: str
    criticality: str
    deadline_hours: int
    responsible_kind: str
    object_kind: str


class Point(BaseModel):
    lon: float
    lat: float


class PhotoOut(BaseModel):
    """A photo of an appeal: its copies' sizes and links (the files carry no metadata)."""

    id: int
    kind: str = Field(description="before (the problem) or after (the work done)")
    width: int = Field(description="the original's width, orientation applied")
    height: int
    page_width: int
    page_height: int
    page_bytes: int
    thumb_width: int
    thumb_height: int
    thumb_bytes: int
    approved: bool = Field(description="shown to the public (staff approved it)")
    added_at: dt.datetime
    page_url: str
    thumb_url: str


class PhotoAdded(PhotoOut):
    created: bool = Field(description="false: the same photo was already kept")
    gps: Point | None = Field(
        None, description="the position the photo carried, offered as the location; not kept"
    )


class PhotoApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approved: bool


class PhotoPlace(BaseModel):
    gps: Point | None = Field(description="the photo's GPS position, if it carried one")


class Unsubscribed(BaseModel):
    reg_number: str
    detail: str
