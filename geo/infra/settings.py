"""Settings of Qala Map, read from the environment with the ``QALA_`` prefix.

Settings are constructed, never global: ``create_app(Settings())`` and the CLI each build
their own, so tests can point a whole app at a throwaway database.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, PrivateAttr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.infra.localdb import ADMIN_ROLE, SERVICE_ROLE, read_password
from geo.infra.secret_key import FILE_NAME, WeakSecret, load_or_create, weakness

PROJECT_ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("qala.settings")
MAKE_ONE = "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


class Settings(BaseSettings):
    """Everything the service needs to know about where it runs.

    Parameters come from ``QALA_*`` environment variables (or a ``.env`` file).
    ``database_url`` is the API's connection (the service role, which row-level security
    applies to); ``admin_database_url`` the owner's, for migrations, imports and the CLI's
    admin commands (default: ``database_url``). Both unset means: the project's own local
    PostGIS cluster under ``data_dir``, with the passwords ``qala db up`` generated there
    (see :mod:`geo.infra.localdb`).
    """

    model_config = SettingsConfigDict(env_prefix="QALA_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str | None = None
    admin_database_url: str | None = None
    data_dir: Path = PROJECT_ROOT / "data" / "local"
    db_port: int = 54329
    db_name: str = "qala"
    # the local streaming standby (`qala db up --standby`): its port, and whether the
    # primary's commits wait for it (off; on: flushed there; remote_apply: applied there)
    db_standby_port: int = 54330
    db_synchronous: Literal["off", "on", "remote_apply"] = "off"
    # read replicas: hot standbys (SQLAlchemy URLs, comma separated) that serve what only
    # reads (GET and HEAD); one that trails the primary by more than read_max_lag_s seconds
    # is skipped, and a caller's reads go to the primary (or a standby that has caught up)
    # for read_own_writes_s seconds after its own write
    read_database_urls: str = ""
    read_max_lag_s: float = 5.0
    read_own_writes_s: float = 10.0
    # signs staff tokens; unset outside production: a random one in data_dir/secret_key
    secret_key: str | None = None
    token_minutes: int = 8 * 60
    default_city: str = "PET"
    host: str = "127.0.0.1"
    port: int = 8000
    db_pool_size: int = 10
    # connections per API process for the appeal write (asyncpg) and the lookups behind
    # the async dependencies (autocommit); a burst beyond them queues in the process
    db_write_pool_size: int = 8
    # a valid channel API key is remembered this long per process (a revoked key stops
    # working within it); 0 looks every key up on every request
    api_key_cache_s: float = 10.0
    # login throttling: failed logins counted over the window, per account and per client
    login_window_s: int = 15 * 60
    login_failures_per_account: int = 5
    login_failures_per_client: int = 20
    # the edges of the service: the largest request body accepted (413 beyond),
    # the API docs (/docs, /redoc; None: on except in production), and TLS in front of the
    # service: always (behind_tls), or when a trusted proxy says so (X-Forwarded-Proto)
    max_body_bytes: int = 1024 * 1024
    docs: bool | None = None
    behind_tls: bool = False
    trusted_proxies: str = "127.0.0.1,::1"
    # analyses (hot spots, emerging hot spots, clusters): the work one may do, estimated
    # before it starts (cells x steps x (neighbours + steps); pairs of appeals for a
    # clustering), beyond which it is refused with a 422 naming what to change; the worker
    # processes that run them outside the serving process, how many more may wait (503
    # beyond), their processor priority below the server's, and how long and how much of
    # their answers are kept
    analysis_max_work: float = 1e9
    analysis_workers: int = 1
    analysis_nice: int = 10
    analysis_queue: int = 4
    analysis_cache_s: float = 300.0
    analysis_cache_mb: int = 64
    # the planner's default view (hot spots of the year) computed when the service starts,
    # for every city, so that its first visitor need not wait for it; None: on, but not in
    # the test environment
    planner_warm: bool | None = None
    # residents' reports (/report): how many a client address and a contact (phone or
    # e-mail) may file within the window (429 with Retry-After beyond, counted in the
    # database: the same for every process), and the photos one report may carry
    report_window_s: int = 60 * 60
    report_per_client: int = 10
    report_per_contact: int = 5
    report_max_photos: int = 5
    # where people reach the service: the tracker and unsubscribe links in messages
    public_url: str = "http://127.0.0.1:8000"
    # photos: the largest file and picture accepted, where the files are kept (folder:
    # data_dir/photos; s3: the bucket, endpoint_url for MinIO), links fetched (Open311's
    # media_url): their time limit and the non-public networks trusted (CIDR, comma separated)
    photo_max_bytes: int = 10 * 1024 * 1024
    photo_max_pixels: int = 50_000_000
    photo_store: Literal["folder", "s3"] = "folder"
    s3_bucket: str | None = None
    s3_endpoint_url: str | None = None
    media_fetch_timeout_s: float = 10.0
    media_fetch_allow: str = ""
    # word back to applicants: the SMTP server, the sender, the worker's retries
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: float = 10.0
    mail_from: str = "Qala Map <noreply@qala.local>"
    # an SMS sender: "module:factory" called with the settings, returning an object with
    # send(phone, text); empty: SMS messages are not sent (they fail with that reason)
    sms_sender: str = ""
    outbox_max_attempts: int = 8
    outbox_backoff_s: float = 30.0  # the first retry; each next one waits twice as long
    outbox_batch: int = 50
    outbox_poll_s: float = 5.0
    # residents' sign-in (/me): a code's life, requests and wrong codes per window, the
    # session's length
    resident_code_ttl_s: int = 10 * 60
    resident_codes_per_contact: int = 3
    resident_codes_per_client: int = 10
    resident_code_failures: int = 5
    resident_session_minutes: int = 60
    # operations: log lines as text or one JSON object each (for a log shipper), their
    # level; worker processes of `qala serve` (1: one process, the event loop does it all)
    log_format: Literal["text", "json"] = "text"
    metrics: bool = True  # /metrics (Prometheus); false: 404, for a service without a scraper
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    workers: int = Field(default=1, ge=1, le=64)

    _signing_key: str | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _enforce_strong_secret(self) -> Settings:
        if self.environment == "production":
            problem = weakness(self.secret_key)
            if problem:
                raise WeakSecret(f"refusing to start: {problem} ({MAKE_ONE})")
        elif self._given_secret() and weakness(self.secret_key):
            log.warning(
                "QALA_SECRET_KEY is weak (%s): fine for %s only",
                weakness(self.secret_key),
                self.environment,
            )
        return self

    def _local_url(self, role: str) -> str:
        password = read_password(self.data_dir, role)
        auth = f"{role}:{quote(password, safe='')}" if password else role
        return f"postgresql+psycopg2://{auth}@127.0.0.1:{self.db_port}/{self.db_name}"

    @property
    def secret_file(self) -> Path | None:
        """Where the generated secret lives, or ``None`` when ``QALA_SECRET_KEY`` is given."""
        return None if self._given_secret() else Path(self.data_dir) / FILE_NAME

    def _given_secret(self) -> str | None:
        return self.secret_key if self.secret_key and self.secret_key.strip() else None

    @property
    def signing_key(self) -> str:
        """The secret that signs tokens: ``QALA_SECRET_KEY``, else (outside production) the
        one generated in ``data_dir/secret_key`` on first use."""
        if self._signing_key is None:
            given = self._given_secret()
            self._signing_key = given or load_or_create(Path(self.data_dir))[0]
        return self._signing_key

    @property
    def docs_enabled(self) -> bool:
        """Whether /docs and /redoc are served (``QALA_DOCS``; by default not in production)."""
        return self.docs if self.docs is not None else self.environment != "production"

    @property
    def local_url(self) -> str:
        """The local cluster's admin URL (its password from the data folder)."""
        return self._local_url(ADMIN_ROLE)

    @property
    def url(self) -> str:
        """The service's SQLAlchemy URL: the configured server, or the local cluster's
        service role."""
        return self.database_url or self._local_url(SERVICE_ROLE)

    @property
    def read_urls(self) -> list[str]:
        """The read replicas' URLs (``QALA_READ_DATABASE_URLS``), in order of preference."""
        return [u.strip() for u in self.read_database_urls.split(",") if u.strip()]

    @property
    def admin_url(self) -> str:
        """The owner's URL (migrations, imports, users and keys from the CLI)."""
        return self.admin_database_url or self.database_url or self.local_url
