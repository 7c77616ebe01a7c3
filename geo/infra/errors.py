"""Domain errors of Qala Map. ``api/errors.py`` maps them to HTTP status codes in one place."""


class QalaError(Exception):
    """Base class: the message is safe to show to the user and says what is wrong."""


class NotFound(QalaError):
    """The thing asked for does not exist (unknown registration number, city, object)."""


class InvalidInput(QalaError):
    """The input is wrong: out-of-city point, unknown category, malformed coordinates ..."""


class Forbidden(QalaError):
    """The user's role or organisation does not allow this."""


class NotAuthenticated(Forbidden):
    """No credentials were given where staff credentials are needed (HTTP 401)."""


class TooManyAttempts(QalaError):
    """Too many failed attempts (logins): refused until ``retry_after`` seconds have passed
    (HTTP 429 with ``Retry-After``)."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class TooLarge(InvalidInput):
    """An upload larger than the service accepts (HTTP 413)."""


class UnsupportedMedia(InvalidInput):
    """An upload that is not of a kind the service reads (HTTP 415): not a photo."""


class KeyReused(InvalidInput):
    """An idempotency key came back from its caller with another request."""


#: an outage before anything was sent to the database (no connection could be had)
UNAVAILABLE = "the database is unavailable right now; nothing was saved, please retry shortly"
#: the database takes no writes (a hot standby, or a primary put in read-only mode)
READ_ONLY = (
    "the database is read-only right now (a standby, or maintenance): nothing was saved, "
    "please retry shortly"
)
#: an outage after the write was sent: its commit may have happened, the answer was lost
MAYBE_SAVED = (
    "the connection to the database was lost after the request was sent: the appeal may "
    "have been saved; retry with the same Idempotency-Key"
)
#: as MAYBE_SAVED, for a change that is not an appeal (no key to retry with)
MAYBE_CHANGED = (
    "the connection to the database was lost while the change was being committed: it may "
    "have been saved; read it back before retrying"
)


class Unavailable(QalaError):
    """The database cannot be reached right now (HTTP 503). The message says whether what
    was asked may have been saved (:data:`MAYBE_SAVED`) or surely not (:data:`UNAVAILABLE`).
    """

    def __init__(self, message: str = UNAVAILABLE):
        super().__init__(message)


class Conflict(QalaError):
    """The request conflicts with the state (a transition not allowed from this status)."""


class StaleVersion(Conflict):
    """A change sent with a version of the appeal that is no longer current: someone else
    changed it meanwhile (HTTP 409, with the appeal as it is now in ``current``)."""

    def __init__(self, message: str, current: dict):
        super().__init__(message)
        self.current = current


class ImportRejected(QalaError):
    """A map-data import was refused as a whole; ``rows`` names the offending rows."""

    def __init__(self, message: str, rows: list | None = None):
        super().__init__(message)
        self.rows = rows or []
