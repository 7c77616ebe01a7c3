"""The city map and its appeals as GeoAlchemy2 models.

Geometry is stored in WGS 84 (SRID 4326, lon/lat as GeoJSON has it) with GiST indexes;
areas and distances are computed in the city's metric CRS (``cities.metric_srid``, a UTM
zone) or on geography, never in degrees.

Every city-scoped table has ``city_id`` as the first column of its primary key and of every
foreign key between city-scoped tables, so the data can be distributed by city with Citus
(``create_distributed_table(..., 'city_id')``) without a rewrite; ``categories`` is a
reference table. See ``docs/distribution.md``.
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Identity,
    Index,
    Integer,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from geo.appeals import states

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ORG_KINDS = (
    "city_department",
    "district_akimat",
    "utility",
    "lift_company",
    "housing_org",
    "contractor",
)
WELL_KINDS = ("sewer", "water", "heating", "storm", "telecom")
OBJECT_KINDS = ("building", "yard", "well", "street", "none")
CRITICALITY = ("urgent", "standard")
CHANNELS = (
    "phone_109",
    "telegram",
    "website",
    "mobile_app",
    "facebook",
    "instagram",
    "email",
    "whatsapp",
    "open311",
    "import",
)
LOCATED_BY = ("click", "address", "gps", "object", "import")
# who reads a note: staff only, the resident too (both written by staff), or a resident's own
# comment (staff and that resident; migration 0018)
NOTE_KINDS = ("internal", "public", "resident")
ROLES = ("operator", "inspector", "executor", "controller", "planner", "admin")
REPAIR_STATES = ("queued", "planned", "in_progress", "done")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def city_fk(columns: list[str], target: str, **kw) -> ForeignKeyConstraint:
    """A foreign key between two city-scoped tables: always through ``city_id``."""
    return ForeignKeyConstraint(["city_id", *columns], [f"{target}.city_id", f"{target}.id"], **kw)


class City(Base):
    __tablename__ = "cities"

    id: Mapped[int] = mapped_column(SmallInteger, Identity(), primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name_ru: Mapped[str] = mapped_column(Text)
    name_kk: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    metric_srid: Mapped[int] = mapped_column(Integer)
    timezone: Mapped[str] = mapped_column(Text, server_default="Asia/Almaty")
    bounds = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True), nullable=False)
    synthetic: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    note: Mapped[str | None] = mapped_column(Text)


class Category(Base):
    """A kind of appeal: who answers for it, how fast, and what it attaches to."""

    __tablename__ = "categories"
    __table_args__ = (
        CheckConstraint(_in("criticality", CRITICALITY), name="criticality"),
        CheckConstraint(_in("responsible_kind", ORG_KINDS), name="responsible_kind"),
        CheckConstraint(_in("object_kind", OBJECT_KINDS), name="object_kind"),
        CheckConstraint("deadline_hours BETWEEN 1 AND 240", name="deadline_hours"),
        CheckConstraint(f"well_kind IS NULL OR {_in('well_kind', WELL_KINDS)}", name="well_kind"),
        CheckConstraint("dispute_days BETWEEN 1 AND 365", name="dispute_days"),
    )

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_ru: Mapped[str] = mapped_column(Text)
    name_kk: Mapped[str] = mapped_column(Text)
    name_en: Mapped[str] = mapped_column(Text)
    group_code: Mapped[str] = mapped_column(String(32))
    criticality: Mapped[str] = mapped_column(String(16))
    deadline_hours: Mapped[int] = mapped_column(SmallInteger)
    responsible_kind: Mapped[str] = mapped_column(String(20))
    object_kind: Mapped[str] = mapped_column(String(10))
    well_kind: Mapped[str | None] = mapped_column(String(10))
    repeat_radius_m: Mapped[int] = mapped_column(SmallInteger, server_default="250")
    repeat_window_days: Mapped[int] = mapped_column(SmallInteger, server_default="30")
    needs_budget: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    counts_for_yard_queue: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # how long after "resolved" the applicant may dispute the fix (reopening it)
    dispute_days: Mapped[int] = mapped_column(SmallInteger, server_default="14")


class Organisation(Base):
    __tablename__ = "organisations"
    __table_args__ = (CheckConstraint(_in("kind", ORG_KINDS), name="kind"),)

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name_ru: Mapped[str] = mapped_column(Text)
    name_kk: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    manager: Mapped[str | None] = mapped_column(Text)
    service_area = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True))


class District(Base):
    __tablename__ = "districts"

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name_ru: Mapped[str] = mapped_column(Text)
    name_kk: Mapped[str] = mapped_column(Text)
    geom = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True), nullable=False)


class Street(Base):
    __tablename__ = "streets"

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name_ru: Mapped[str] = mapped_column(Text)
    name_kk: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), server_default="street")
    geom = mapped_column(Geometry("MULTILINESTRING", 4326, spatial_index=True))


class Building(Base):
    __tablename__ = "buildings"
    __table_args__ = (
        city_fk(["street_id"], "streets"),
        city_fk(["housing_org_id"], "organisations"),
        CheckConstraint("apartments >= 0", name="apartments"),
        CheckConstraint("floors BETWEEN 1 AND 100", name="floors"),
        Index(
            "ix_buildings_search",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    street_id: Mapped[int | None] = mapped_column(BigInteger)
    house_number: Mapped[str] = mapped_column(String(16))
    address_ru: Mapped[str] = mapped_column(Text)
    address_kk: Mapped[str] = mapped_column(Text)
    search_text: Mapped[str] = mapped_column(Text, server_default="")
    kind: Mapped[str] = mapped_column(String(16), server_default="apartment")
    apartments: Mapped[int] = mapped_column(Integer, server_default="0")
    apartments_estimated: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    floors: Mapped[int] = mapped_column(SmallInteger, server_default="1")
    year_built: Mapped[int | None] = mapped_column(SmallInteger)
    housing_org_id: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16), server_default="demo")
    geom = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True), nullable=False)


class Yard(Base):
    """A yard (двор, аула): the area the buildings around it share; area kept in m²."""

    __tablename__ = "yards"
    __table_args__ = (
        CheckConstraint(_in("repair_status", REPAIR_STATES), name="repair_status"),
        city_fk(["contractor_id"], "organisations"),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    area_m2: Mapped[float] = mapped_column(Float, server_default="0")
    surface: Mapped[str | None] = mapped_column(String(16))
    last_repair_year: Mapped[int | None] = mapped_column(SmallInteger)
    repair_status: Mapped[str] = mapped_column(String(12), server_default="queued")
    planned_start: Mapped[dt.date | None] = mapped_column(Date)
    planned_end: Mapped[dt.date | None] = mapped_column(Date)
    contractor_id: Mapped[int | None] = mapped_column(BigInteger)
    cost_estimate: Mapped[float | None] = mapped_column(Numeric(14, 2))
    source: Mapped[str] = mapped_column(String(16), server_default="demo")
    geom = mapped_column(Geometry("MULTIPOLYGON", 4326, spatial_index=True), nullable=False)


class YardBuilding(Base):
    """Which buildings a yard serves (many-to-many: a corner building may face two yards)."""

    __tablename__ = "yard_buildings"
    __table_args__ = (
        city_fk(["yard_id"], "yards", ondelete="CASCADE"),
        city_fk(["building_id"], "buildings", ondelete="CASCADE"),
        Index("ix_yard_buildings_building", "city_id", "building_id"),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    yard_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    building_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class Well(Base):
    """A well or manhole (колодец, құдық) and the organisation that answers for it."""

    __tablename__ = "wells"
    __table_args__ = (
        CheckConstraint(_in("kind", WELL_KINDS), name="kind"),
        city_fk(["owner_id"], "organisations"),
        city_fk(["yard_id"], "yards"),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    code: Mapped[str | None] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(10))
    owner_id: Mapped[int | None] = mapped_column(BigInteger)
    yard_id: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16), server_default="demo")
    geom = mapped_column(Geometry("POINT", 4326, spatial_index=True), nullable=False)


# --- appeals (migration 0002) ---------------------------------------------------------------

DESCRIPTION_MAX = 4000
MEDIA_URL_MAX = 2048  # the longest URL browsers and servers commonly accept
CONTACT_LANG_DEFAULT = (
    "CASE WHEN current_setting('qala.lang', true) IN ('kk', 'en') "
    "THEN current_setting('qala.lang', true) ELSE 'ru' END"
)
PHOTO_KINDS = ("before", "after")
OUTBOX_CHANNELS = ("email", "sms")
OUTBOX_STATES = ("pending", "sent", "failed", "cancelled")
OUTBOX_KINDS = ("word_back", "sign_in")  # a change of an appeal, or a resident's sign-in code


#: the active states (geo.appeals.states.ACTIVE) as the partial indexes of migration 0023 have them
ACTIVE_WHERE = "status IN ('registered', 'assigned', 'in_progress', 'reopened')"


class Appeal(Base):
    """An appeal (обращение, өтініш): a geolocated incident with a number and a deadline.

    Overdue is never stored: it is ``deadline_at < now()`` for an appeal still open.
    Applicants' names and contacts live apart, in :class:`AppealContact`.
    """

    __tablename__ = "appeals"
    __table_args__ = (
        CheckConstraint(_in("status", states.STATES), name="status"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("located_by", LOCATED_BY), name="located_by"),
        CheckConstraint(_in("object_kind", OBJECT_KINDS), name="object_kind"),
        CheckConstraint(f"char_length(description) <= {DESCRIPTION_MAX}", name="description"),
        CheckConstraint("status <> 'deferred' OR deferred_to_year IS NOT NULL", name="deferred"),
        UniqueConstraint("city_id", "reg_number"),
        city_fk(["organisation_id"], "organisations"),
        city_fk(["district_id"], "districts"),
        # a key is its caller's own (migration 0010)
        Index(
            "ix_appeals_idempotency",
            "city_id",
            "idempotency_caller",
            "idempotency_key",
            unique=True,
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
        # only appeals on a map object: every lookup asks for an object_id (migration 0007)
        Index(
            "ix_appeals_object",
            "city_id",
            "object_kind",
            "object_id",
            "category_code",
            postgresql_where=text("object_id IS NOT NULL"),
        ),
        Index("ix_appeals_org_status", "city_id", "organisation_id", "status"),
        Index("ix_appeals_created", "city_id", "created_at"),
        # the work list's orders and filters (migration 0023)
        Index("ix_appeals_status_created", "city_id", "status", "created_at", "id"),
        Index(
            "ix_appeals_active_deadline",
            "city_id",
            "deadline_at",
            "id",
            postgresql_include=[
                "status",
                "organisation_id",
                "category_code",
                "district_id",
                "created_at",
            ],
            postgresql_where=text(ACTIVE_WHERE),
        ),
        Index(
            "ix_appeals_active_org_deadline",
            "city_id",
            "organisation_id",
            "deadline_at",
            postgresql_include=["id", "status", "category_code", "district_id", "created_at"],
            postgresql_where=text(ACTIVE_WHERE),
        ),
        Index(
            "ix_appeals_active_district_deadline",
            "city_id",
            "district_id",
            "deadline_at",
            postgresql_include=["id", "status", "organisation_id", "category_code", "created_at"],
            postgresql_where=text(ACTIVE_WHERE),
        ),
        Index("ix_appeals_deadline", "city_id", "deadline_at", "id"),
        Index("ix_appeals_geom", "geom", postgresql_using="gist"),
        Index(
            "ix_appeals_category_time",
            "city_id",
            "category_code",
            "created_at",
            postgresql_include=["yard_id"],
        ),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    reg_number: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(12))
    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"))
    description: Mapped[str] = mapped_column(Text, server_default="")
    located_by: Mapped[str] = mapped_column(String(8))
    object_kind: Mapped[str] = mapped_column(String(10), server_default="none")
    object_id: Mapped[int | None] = mapped_column(BigInteger)
    address_text: Mapped[str | None] = mapped_column(Text)
    district_id: Mapped[int | None] = mapped_column(BigInteger)
    organisation_id: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), server_default="registered")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    deadline_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    deferred_to_year: Mapped[int | None] = mapped_column(SmallInteger)
    repeat_of_id: Mapped[int | None] = mapped_column(BigInteger)
    first_call_resolved: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    callback_done: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    # who sent the key (``key:<api key id>``, ``user:<user id>``) and the SHA-256 of the
    # request it came with: a key is the caller's own, and is refused with another request
    idempotency_caller: Mapped[str | None] = mapped_column(Text)
    idempotency_hash: Mapped[str | None] = mapped_column(String(64))
    external_id: Mapped[str | None] = mapped_column(Text)
    placeholder_geocode: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    source_type: Mapped[str | None] = mapped_column(Text)
    # kept by a trigger (migration 0004) unless a bulk loader fills them: the point in the
    # city's metric CRS (never NULL: an insert that leaves them out gets them from the
    # trigger, migration 0025), and the yard the appeal concerns (for the repair queue)
    x_m: Mapped[float] = mapped_column(Float(precision=53), nullable=False)
    y_m: Mapped[float] = mapped_column(Float(precision=53), nullable=False)
    yard_id: Mapped[int | None] = mapped_column(BigInteger)
    # the Z-order key of the level-20 Web Mercator cell holding the point (migration 0006):
    # set by the same trigger when left NULL, by bulk loaders with geo.infra.cells.cell_keys
    cell: Mapped[int] = mapped_column(BigInteger)
    geom = mapped_column(Geometry("POINT", 4326, spatial_index=False), nullable=False)


class AppealContact(Base):
    """Personal data of the applicant: stored apart, shown to staff only."""

    __tablename__ = "appeal_contacts"
    __table_args__ = (
        city_fk(["appeal_id"], "appeals", ondelete="CASCADE"),
        CheckConstraint("lang IN ('ru', 'kk', 'en')", name="lang"),
        # a resident signs in with either (migration 0018: qala_contact_key)
        Index("ix_appeal_contacts_email_key", "city_id", text("qala_contact_key(email)")),
        Index("ix_appeal_contacts_phone_key", "city_id", text("qala_contact_key(phone)")),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    appeal_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    # the language the applicant is written to in (the transaction's ``qala.lang`` when the
    # contact is written, else Russian), and whether they asked for no more messages
    lang: Mapped[str] = mapped_column(String(2), server_default=text(CONTACT_LANG_DEFAULT))
    unsubscribed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AppealMedia(Base):
    """A photo or video of an appeal, by its URL (Open311's ``media_url``): public, like the
    appeal's place and category; the service stores the link, not the file."""

    __tablename__ = "appeal_media"
    __table_args__ = (
        city_fk(["appeal_id"], "appeals", ondelete="CASCADE"),
        CheckConstraint(f"char_length(url) <= {MEDIA_URL_MAX}", name="url_length"),
        CheckConstraint("url ~ '^https?://'", name="url_scheme"),
        Index("ix_appeal_media_appeal", "city_id", "appeal_id"),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    appeal_id: Mapped[int] = mapped_column(BigInteger)
    url: Mapped[str] = mapped_column(Text)
    added_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class AppealPhoto(Base):
    """A photo of an appeal: its page copy and thumbnail, kept by content hash in the photo
    store (``geo.media.store``) without metadata. ``before``: the problem (a resident's, an
    operator's), ``after``: the executor's work. The public sees it once staff ``approved``
    it; staff of the city see all."""

    __tablename__ = "appeal_photos"
    __table_args__ = (
        city_fk(["appeal_id"], "appeals", ondelete="CASCADE"),
        CheckConstraint(_in("kind", PHOTO_KINDS), name="kind"),
        UniqueConstraint("city_id", "appeal_id", "source_hash"),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    appeal_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(6), server_default="before")
    source_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the bytes received
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    page_key: Mapped[str] = mapped_column(String(64))
    page_width: Mapped[int] = mapped_column(Integer)
    page_height: Mapped[int] = mapped_column(Integer)
    page_bytes: Mapped[int] = mapped_column(Integer)
    thumb_key: Mapped[str] = mapped_column(String(64))
    thumb_width: Mapped[int] = mapped_column(Integer)
    thumb_height: Mapped[int] = mapped_column(Integer)
    thumb_bytes: Mapped[int] = mapped_column(Integer)
    added_by: Mapped[str] = mapped_column(Text)
    added_role: Mapped[str | None] = mapped_column(String(12))
    approved: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    added_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class OutboxMessage(Base):
    """A message to an applicant about a public change of their appeal, queued by a trigger
    on ``appeal_events`` in the event's transaction (migration 0015), sent by the worker
    (``geo.notify.worker``) once."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        city_fk(["appeal_id"], "appeals", ondelete="CASCADE"),
        CheckConstraint(_in("channel", OUTBOX_CHANNELS), name="channel"),
        CheckConstraint(_in("state", OUTBOX_STATES), name="state"),
        CheckConstraint(_in("kind", OUTBOX_KINDS), name="kind"),
        UniqueConstraint("city_id", "event_id", "channel"),
        Index(
            "ix_outbox_messages_due", "next_attempt_at", postgresql_where=text("state = 'pending'")
        ),
        Index("ix_outbox_messages_appeal", "city_id", "appeal_id"),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    appeal_id: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int | None] = mapped_column(BigInteger)  # none: a sign-in code
    channel: Mapped[str] = mapped_column(String(5))
    address: Mapped[str] = mapped_column(Text)
    lang: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(12))
    state: Mapped[str] = mapped_column(String(10), server_default="pending")
    attempts: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(9), server_default="word_back")
    code_id: Mapped[int | None] = mapped_column(BigInteger)  # ResidentCode.id of a sign-in


class ResidentCode(Base):
    """A one-time sign-in code asked for a resident's contact (migration 0018): only its
    HMAC (keyed with the service's secret) and the nonce it is derived from are kept;
    short-lived, used once. Read and written only by SECURITY DEFINER functions."""

    __tablename__ = "resident_codes"
    __table_args__ = (
        Index("ix_resident_codes_contact", "city_id", "contact_key", "created_at"),
        Index("ix_resident_codes_client", "client", "created_at"),
    )

    # keyed by city first, like every table distributed by city (migration 0022)
    city_id: Mapped[int] = mapped_column(SmallInteger, ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    contact_key: Mapped[str] = mapped_column(Text)
    code_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AppealRating(Base):
    """A resident's rating of the result, 1–5, one per appeal (the last given counts), with
    the body that did the work then (migration 0018)."""

    __tablename__ = "appeal_ratings"
    __table_args__ = (
        city_fk(["appeal_id"], "appeals", ondelete="CASCADE"),
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
        Index("ix_appeal_ratings_org", "city_id", "organisation_id"),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    appeal_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    organisation_id: Mapped[int | None] = mapped_column(BigInteger)
    rated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )


class AppealEvent(Base):
    """Append-only log of every change of an appeal (a trigger refuses UPDATE and DELETE)."""

    __tablename__ = "appeal_events"
    __table_args__ = (
        city_fk(["appeal_id"], "appeals"),
        Index("ix_appeal_events_appeal", "city_id", "appeal_id", "at"),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    appeal_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    actor: Mapped[str] = mapped_column(Text)
    actor_role: Mapped[str | None] = mapped_column(String(12))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    organisation_id: Mapped[int | None] = mapped_column(BigInteger)
    comment: Mapped[str | None] = mapped_column(Text)


class AppealNote(Base):
    """A staff note on an appeal (migration 0014): ``internal`` (staff only) or ``public``
    (the resident sees it, without the author's name). Append-only, like the event log."""

    __tablename__ = "appeal_notes"
    __table_args__ = (
        city_fk(["appeal_id"], "appeals", ondelete="CASCADE"),
        CheckConstraint(_in("kind", NOTE_KINDS), name="kind"),
        CheckConstraint("char_length(body) BETWEEN 1 AND 4000", name="body"),
        Index("ix_appeal_notes_appeal", "city_id", "appeal_id", "at"),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    appeal_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    author: Mapped[str] = mapped_column(Text)
    author_role: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)


class KbArticle(Base):
    """The operators' knowledge base (migration 0016): for one category of one city, in one
    language, what to ask the caller and what to tell them. A draft (not ``published``) is
    seen by the city's admins only; ``version`` is raised by every edit."""

    __tablename__ = "kb_articles"
    __table_args__ = (
        UniqueConstraint("city_id", "category_code", "lang"),
        CheckConstraint("lang IN ('ru', 'kk', 'en')", name="lang"),
        CheckConstraint(
            "char_length(ask) BETWEEN 1 AND 8000 AND char_length(tell) BETWEEN 1 AND 8000",
            name="text",
        ),
        CheckConstraint("version >= 1", name="version"),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    category_code: Mapped[str] = mapped_column(String(32), ForeignKey("categories.code"))
    lang: Mapped[str] = mapped_column(String(2))
    ask: Mapped[str] = mapped_column(Text)
    tell: Mapped[str] = mapped_column(Text)
    published: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    version: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=text("now()")
    )
    updated_by: Mapped[str] = mapped_column(Text)


class ObjectRepeats(Base):
    """Appeals and repeats counted per map object (kept current with each appeal)."""

    __tablename__ = "object_repeats"

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    object_kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    object_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    appeals: Mapped[int] = mapped_column(Integer, server_default="0")
    repeats: Mapped[int] = mapped_column(Integer, server_default="0")


class User(Base):
    """A staff account. Its roles live in :class:`StaffRole`, one per city it works in;
    ``city_id`` is its home city: the default one at login, whose admins manage it."""

    __tablename__ = "users"

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True, unique=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(Text, server_default="")
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    # in every token; raising it (log out everywhere, disable) makes older tokens invalid
    token_version: Mapped[int] = mapped_column(Integer, server_default="0")


class StaffRole(Base):
    """The role (and, for an executor, the organisation) of an account in one city."""

    __tablename__ = "staff_roles"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint("role <> 'executor' OR organisation_id IS NOT NULL", name="executor_org"),
        city_fk(["organisation_id"], "organisations"),
        Index("ix_staff_roles_user", "user_id"),
    )

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(12))
    organisation_id: Mapped[int | None] = mapped_column(BigInteger)


class LoginFailure(Base):
    """A failed login, kept for the throttling window (then pruned): per account and per
    client address, shared by every process of the service."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_account", "account", "at"),
        Index("ix_login_failures_client", "client", "at"),
        Index("ix_login_failures_at", "at"),  # pruning
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    account: Mapped[str] = mapped_column(String(64))  # the user name as typed, lower case
    client: Mapped[str] = mapped_column(String(64))


class ReportAttempt(Base):
    """A resident's report counted for the rate limit (``/report``), kept for the window
    (then pruned): one row per client address and one per contact, both as SHA-256 digests
    (never the address or the contact itself), with the form's Idempotency-Key, so a re-sent
    form is not counted twice. Shared by every process of the service."""

    __tablename__ = "report_attempts"
    __table_args__ = (
        Index("ix_report_attempts_key", "key", "at"),
        Index("ix_report_attempts_at", "at"),  # pruning
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))
    key: Mapped[str] = mapped_column(String(64))  # sha256 of "client:<addr>" or "contact:<c>"
    form: Mapped[str | None] = mapped_column(String(128))  # the form's Idempotency-Key


class ApiKey(Base):
    """A key for a channel integration (Telegram bot, website, Open311 client)."""

    __tablename__ = "api_keys"

    city_id: Mapped[int] = mapped_column(ForeignKey("cities.id"), primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(12))
    active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
