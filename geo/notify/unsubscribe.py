"""Signed unsubscribe links: ``/api/v1/unsubscribe?token=<city>.<message>.<signature>``.

The token names one outbox message (its city and id) and is signed with an HMAC of the
service's secret, so nobody can unsubscribe someone else by guessing numbers; it holds no
address. Following it stops every further message about that appeal to that applicant
(``qala_unsubscribe``, migration 0015).

>>> t = make_token("k" * 32, 1, 42)
>>> read_token("k" * 32, t)
(1, 42)
"""

from __future__ import annotations

import hashlib
import hmac

from geo.infra.errors import InvalidInput

BAD = "the unsubscribe link is not valid: open the link from the message as it was sent"


def _signature(secret: str, city_id: int, message_id: int) -> str:
    key = hashlib.sha256(b"qala-unsubscribe:" + secret.encode()).digest()
    mac = hmac.new(key, f"{city_id}.{message_id}".encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def make_token(secret: str, city_id: int, message_id: int) -> str:
    """The token of the unsubscribe link of one outbox message."""
    return f"{city_id}.{message_id}.{_signature(secret, city_id, message_id)}"


def read_token(secret: str, token: str) -> tuple[int, int]:
    """The (city id, message id) a token names.

    Raises
    ------
    InvalidInput
        A token that is malformed or not signed with ``secret``.
    """
    parts = (token or "").strip().split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise InvalidInput(BAD)
    if len(parts[0]) > 6 or len(parts[1]) > 19:
        raise InvalidInput(BAD)
    city_id, message_id = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(parts[2], _signature(secret, city_id, message_id)):
        raise InvalidInput(BAD)
    return city_id, message_id
