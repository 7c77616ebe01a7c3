"""The scope of a request: which city, and who asks. Every query is scoped by it.

A :class:`Scope` is made once per request (``api.deps.get_scope``) from the caller's
credentials — a staff token (its city and role in that city), a channel API key (its city),
or nobody (the public, for the city the request names) — and handed whole to ``geo``.

The database enforces it too: :func:`apply_scope` writes it into the transaction's settings
(``qala.city_id``, ``qala.role``, ``qala.org``, ``qala.user``), which the row-level security
policies of the city's tables read, so a query that forgets its ``city_id`` still sees only
the caller's city (and an executor only its organisation's appeals).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, event, text
from sqlalchemy.orm import Session, sessionmaker

from geo.appeals.actors import Actor

#: the transaction-local settings the row-level security policies read
SCOPE_SQL = text(
    "SELECT set_config('qala.city_id', :city, true), set_config('qala.role', :role, true), "
    "set_config('qala.org', :org, true), set_config('qala.user', :user, true), "
    "set_config('qala.contact', :contact, true)"
)


@dataclass(frozen=True)
class Scope:
    """Who asks, for which city.

    Parameters
    ----------
    city_id
        The city every query of the request is limited to.
    actor
        The staff user, channel or public caller; ``actor.role`` is the role *in this city*.
    channel
        The channel of an API key (``telegram``, ``website`` …), else ``None``.
    contact
        A resident's session (``actor.role == "resident"``): the key of the contact it
        signed in with (``qala_contact_key``). To the database a resident is the public
        plus this contact: row-level security shows it only the appeals that contact is
        on, and it writes only through the resident functions (migration 0018).
    """

    city_id: int
    actor: Actor
    channel: str | None = None
    contact: str | None = None

    @property
    def role(self) -> str:
        return self.actor.role

    @property
    def is_staff(self) -> bool:
        return self.actor.role not in {"public", "channel", "resident"}

    @property
    def is_resident(self) -> bool:
        return self.actor.role == "resident" and bool(self.contact)

    def settings(self) -> dict[str, str]:
        """The values :data:`SCOPE_SQL` binds (all text; empty means none)."""
        org = self.actor.organisation_id
        user = self.actor.user_id
        return {
            "city": str(self.city_id),
            # a resident reads as the public does, narrowed to its contact's appeals
            "role": "public" if self.actor.role == "resident" else self.actor.role,
            "org": "" if org is None else str(org),
            "user": "" if user is None else str(user),
            "contact": (self.contact or "") if self.actor.role == "resident" else "",
        }


def apply_scope(conn: Connection, scope: Scope) -> None:
    """Set the scope for the rest of ``conn``'s current transaction."""
    conn.execute(SCOPE_SQL, scope.settings())


def scope_sessions(maker: sessionmaker) -> sessionmaker:
    """Make every transaction of ``maker``'s sessions begin with :func:`apply_scope`.

    A session carries its scope in ``session.info["scope"]``; the ``after_begin`` event
    writes it into each transaction the session begins (also after a ``commit``), so no
    query of the session runs unscoped. A session without a scope runs with none: under
    row-level security it sees no row of a city's tables.
    """

    @event.listens_for(maker, "after_begin")
    def _scope(session: Session, transaction, connection: Connection) -> None:
        scope = session.info.get("scope")
        if scope is not None:
            apply_scope(connection, scope)

    return maker
