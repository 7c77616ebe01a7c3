"""A resident's own report (``/report``): the open appeals it may repeat, the rate limit,
and the registration with its photos in one transaction.

* :func:`nearby_open` answers "is it one of these?" before sending: the open appeals of the
  category that the new one would repeat (the same rule as the operator's repeat candidates,
  ``qala_repeat_candidates``), with the body and deadline the report would get
  (``qala_locate``). Public data only: number, status, dates, distance; never a name, a
  phone, an e-mail or the caller's own words.
* :func:`retry_after` is the rate limit: reports per client address and per contact within
  a window, counted in ``report_attempts`` through ``qala_report_admit`` (migration
  0017_report_limits), so every process of the service counts the same reports.
* :func:`file_report` registers the appeal through the same function as every other channel
  (``qala_create_appeal``, channel ``website``) and keeps its photos in the same transaction:
  the appeal and all its photos are saved together or nothing is. The photos were checked
  and cleaned before (:func:`geo.media.photos.process`), so a bad one stops the report
  before any write.

>>> contact_key(" +7 (701) 555-12-34 ", None) == contact_key("87015551234", None)
True
>>> contact_key(None, " Aigul@Example.KZ ") == contact_key(None, "aigul@example.kz")
True
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass

from sqlalchemy import Connection, text

from geo.appeals import intake, states
from geo.appeals.actors import Actor
from geo.infra.errors import InvalidInput
from geo.media import gallery
from geo.media.photos import Photo
from geo.media.store import PhotoStore

#: who registers a resident's own report: the website channel (its idempotency keys are
#: its own, ``channel:website``)
WEBSITE = Actor(name="website", role="channel")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
ADMIT_SQL = text("SELECT qala_report_admit(:client, :contact, :form, :w, :nc, :nk, :record)")


@dataclass(frozen=True)
class Limits:
    """How many reports a client address and a contact may file within ``window_s``."""

    window_s: int = 60 * 60
    per_client: int = 10
    per_contact: int = 5


def _digest(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()


def phone_digits(phone: str) -> str:
    """A Kazakh phone number as its last ten digits (``+7 701 …`` and ``8 701 …`` are one).

    >>> phone_digits("+7 (701) 555-12-34")
    '7015551234'
    """
    digits = re.sub(r"\D", "", phone)
    return digits[-10:] if len(digits) >= 10 else digits


def check_contact(phone: str | None, email: str | None) -> tuple[str | None, str | None]:
    """The contact as given, trimmed, with at least one of the two, each plausible.

    Raises
    ------
    InvalidInput
        Neither given, a phone with fewer than 10 digits, an e-mail without ``@`` and a domain.
    """
    phone = (phone or "").strip() or None
    email = (email or "").strip() or None
    if phone is None and email is None:
        raise InvalidInput("give a phone number or an e-mail address to hear back")
    if phone is not None and (len(phone) > 40 or len(phone_digits(phone)) < 10):
        raise InvalidInput("the phone number needs at least 10 digits")
    if email is not None and (len(email) > 200 or not EMAIL.fullmatch(email)):
        raise InvalidInput("the e-mail address is not valid")
    return phone, email


def contact_key(phone: str | None, email: str | None) -> str | None:
    """The contact's key for the rate limit: a SHA-256 of the e-mail (lower case) or else of
    the phone's digits. Never the contact itself."""
    if email:
        return _digest("email", email.strip().lower())
    if phone:
        return _digest("phone", phone_digits(phone))
    return None


def client_key(address: str) -> str:
    """The client address's key for the rate limit (a SHA-256, never the address)."""
    return _digest("client", address)


def retry_after(
    conn: Connection,
    client: str,
    contact: str | None,
    form: str | None,
    limits: Limits,
    record: bool,
) -> int | None:
    """Seconds until this client or contact may report again, or ``None``: it may now.

    Parameters
    ----------
    conn
        A connection; with ``record``, the transaction that registers the report (its rows
        are counted when it commits, not when it rolls back).
    client, contact
        :func:`client_key` and :func:`contact_key`.
    form
        The form's Idempotency-Key: a form already counted is admitted again, uncounted.
    record
        Count the report when it is admitted.
    """
    wait = conn.execute(
        ADMIT_SQL,
        {
            "client": client,
            "contact": contact,
            "form": form,
            "w": limits.window_s,
            "nc": limits.per_client,
            "nk": limits.per_contact,
            "record": record,
        },
    ).scalar()
    return None if wait is None else max(1, math.ceil(float(wait)))


NEARBY_LIMIT = 5


def nearby_open(conn: Connection, city_id: int, category: str, lon: float, lat: float) -> dict:
    """What a report at (``lon``, ``lat``) of ``category`` would get, and the open appeals it
    would repeat ("is it one of these?").

    Returns
    -------
    dict
        ``organisation_ru``/``_kk``, ``deadline_hours``, ``object_label`` (the map's name
        of the object, e.g. a building's address) and ``appeals``: up to
        :data:`NEARBY_LIMIT` open appeals, same object first, then nearest, each with
        ``reg_number``, ``status``, ``created_at``, ``deadline_at``, ``distance_m``,
        ``same_object``. No personal data.
    """
    intake.check_point(conn, city_id, lon, lat)
    intake.category(conn, category)
    loc = intake.locate(conn, city_id, category, lon, lat)
    found = intake.repeat_candidates(conn, city_id, category, loc, lon, lat)
    open_ones = [c for c in found if c["status"] in states.OPEN][:NEARBY_LIMIT]
    deadlines = {}
    if open_ones:
        rows = conn.execute(
            text("SELECT id, deadline_at FROM appeals WHERE city_id = :c AND id = ANY(:ids)"),
            {"c": city_id, "ids": [c["id"] for c in open_ones]},
        )
        deadlines = dict(rows.all())
    org = {"organisation_ru": loc.organisation_name, "organisation_kk": None}
    if loc.organisation_id is not None:
        names = conn.execute(
            text("SELECT name_ru, name_kk FROM organisations WHERE city_id = :c AND id = :o"),
            {"c": city_id, "o": loc.organisation_id},
        ).first()
        if names is not None:
            org = {"organisation_ru": names[0], "organisation_kk": names[1]}
    return {
        **org,
        "deadline_hours": loc.deadline_hours,
        "object_label": loc.object_label,
        "appeals": [
            {
                "reg_number": c["reg_number"],
                "status": c["status"],
                "created_at": c["created_at"],
                "deadline_at": deadlines.get(c["id"]),
                "distance_m": float(c["distance_m"]),
                "same_object": c["same_object"],
            }
            for c in open_ones
        ],
    }


def file_report(
    conn: Connection,
    store: PhotoStore,
    city_id: int,
    new: intake.NewAppeal,
    photos: list[Photo],
) -> tuple[dict, bool]:
    """Register a resident's report with its photos, in the caller's transaction.

    ``new.channel`` is ``website``; the appeal gets its number, body and deadline from
    ``qala_create_appeal`` exactly as an operator's would. The photos (already cleaned) are
    kept with it when it is created now; a form sent again under its Idempotency-Key
    returns the first appeal, with the photos it got then.

    Returns
    -------
    tuple[dict, bool]
        The appeal (as ``appeal_cards`` shows it, without contacts) and whether it was
        created now.
    """
    new.channel = "website"
    appeal, created = intake.create_appeal(conn, city_id, new, WEBSITE)
    if created:
        for photo in photos:
            gallery.add_photo(conn, store, city_id, appeal["id"], photo, WEBSITE)
    return appeal, created
