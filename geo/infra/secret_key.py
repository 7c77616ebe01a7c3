"""The secret that signs staff tokens: checked in production, generated for development.

A token signed with a guessable secret is a token anyone can mint, so there is no default
secret. In production :func:`weakness` refuses a short, low-entropy or placeholder secret
before the service starts; in development and tests, without ``QALA_SECRET_KEY``,
:func:`load_or_create` makes a random one on first use in ``<data_dir>/secret_key``
(owner-only permissions) and reuses it afterwards, so tokens survive a restart.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import stat
from collections import Counter
from pathlib import Path

from geo.infra.errors import QalaError

log = logging.getLogger("qala.secret")

#: the value the settings once shipped with; refused in production however it is written
PLACEHOLDER = "change-me-in-production"
FILE_NAME = "secret_key"
MIN_LENGTH = 32
MIN_BITS = 128  # estimated entropy: Shannon bits per character times the length


class WeakSecret(QalaError):
    """The configured secret must not sign tokens (not a ``ValueError``: pydantic lets it
    through unwrapped, so the start-up error is the one line that says what to do)."""


def entropy_bits(value: str) -> float:
    """Shannon entropy of the characters of ``value`` (as if drawn independently), times
    its length: an estimate, generous to patterns, so :func:`patterned` backs it up.

    >>> entropy_bits("a" * 64)
    0.0
    >>> round(entropy_bits("abcd"))
    8
    """
    if not value:
        return 0.0
    n = len(value)
    return -n * sum(c / n * math.log2(c / n) for c in Counter(value).values())


def patterned(value: str) -> bool:
    """One repeated unit (``abcabc…``) or one step between neighbours (``abcdef…``,
    ``0123…``, ``zyxw…``) for at least half of the string."""
    n = len(value)
    if n < 2:
        return True
    if (value + value).find(value, 1) < n:  # a rotation of itself: a repeated unit
        return True
    steps = Counter(ord(b) - ord(a) for a, b in zip(value, value[1:], strict=False))
    return steps.most_common(1)[0][1] * 2 >= n - 1


def weakness(value: str | None) -> str | None:
    """Why ``value`` may not sign tokens in production, or ``None`` when it may.

    Parameters
    ----------
    value
        The configured secret (``QALA_SECRET_KEY``), as given.

    Returns
    -------
    str or None
        One sentence naming the problem.

    Examples
    --------
    >>> weakness("x")
    'QALA_SECRET_KEY is 1 characters long: production needs at least 32'
    >>> weakness(secrets.token_urlsafe(48)) is None
    True
    """
    if value is None or not value.strip():
        return "QALA_SECRET_KEY is not set: production needs a secret of its own"
    if value != value.strip():
        return "QALA_SECRET_KEY has spaces or line breaks around it: remove them"
    if PLACEHOLDER in value.lower():
        return "QALA_SECRET_KEY is the old placeholder: set a random secret"
    if len(value) < MIN_LENGTH:
        return (
            f"QALA_SECRET_KEY is {len(value)} characters long: production needs at least "
            f"{MIN_LENGTH}"
        )
    if patterned(value) or entropy_bits(value) < MIN_BITS:
        return "QALA_SECRET_KEY is too predictable (a pattern or a few repeated characters)"
    return None


def load_or_create(folder: Path) -> tuple[str, Path]:
    """The secret kept in ``folder/secret_key``, made on first use.

    The file is written owner-only (0600; the folder, when made here, 0700) and appears
    whole or not at all: it is written under a temporary name and linked into place, so two
    processes starting together end up with the same secret.

    Returns
    -------
    (secret, path)
    """
    folder = Path(folder)
    try:
        return _load_or_create(folder)
    except OSError as exc:
        raise WeakSecret(
            f"cannot keep the token secret in {folder / FILE_NAME} ({exc.strerror}): "
            "set QALA_SECRET_KEY or QALA_DATA_DIR"
        ) from exc


def _load_or_create(folder: Path) -> tuple[str, Path]:
    path = folder / FILE_NAME
    if not path.exists():
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fresh = secrets.token_urlsafe(48)
        tmp = folder / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(fresh + "\n")
            try:
                os.link(tmp, path)  # fails if another process made it first: use theirs
                log.info("generated a new secret for signing tokens in %s", path)
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("%s was readable by others (mode %o): made owner-only", path, mode)
        path.chmod(0o600)
    value = path.read_text().strip()
    if not value:
        raise WeakSecret(f"{path} is empty: delete it and a new secret is made")
    return value, path
