"""Who does something to an appeal, and which appeals they may see.

An :class:`Actor` is a staff user (from a token), a channel integration (from an API key) or
the public; an executor sees only its organisation's appeals.
"""

from __future__ import annotations

from dataclasses import dataclass

from geo.infra.errors import Forbidden


@dataclass
class Actor:
    """Who does something: a staff user, a channel integration, or the public."""

    name: str
    role: str  # operator, inspector, executor, controller, planner, admin, channel, public
    organisation_id: int | None = None
    user_id: int | None = None
    key_id: int | None = None  # the channel API key it came with (idempotency keys are per key)

    @property
    def sees_everything(self) -> bool:
        return self.role in {"operator", "inspector", "controller", "planner", "admin"}

    @property
    def sees_contacts(self) -> bool:
        return self.role in {"operator", "inspector", "controller", "admin", "executor"}


def check_can_see(actor: Actor, appeal: dict) -> None:
    if actor.sees_everything:
        return
    if actor.role == "executor" and appeal["organisation_id"] == actor.organisation_id:
        return
    raise Forbidden("this appeal is assigned to another organisation")
