"""What an operator of the service watches: request ids, access logs, Prometheus metrics.

* Every answer carries ``X-Request-ID``: the caller's own when it is a sane token (a proxy's
  id, ≤ 64 characters of ``[A-Za-z0-9._-]``), else a new one. The id is in every log record
  written while the request runs (:class:`RequestIdFilter`), so the access line, a warning
  and a traceback of one request can be found together.
* One access line per request on the ``qala.access`` logger (method, route, status, time,
  request id); ``QALA_LOG_FORMAT=json`` writes every record as one JSON object
  (python-json-logger), for a log shipper.
* ``/metrics`` in Prometheus' text format (prometheus-client): requests by route template
  and status, their durations, appeals registered by channel, the database pools' use. With
  several worker processes (``qala serve --workers N``) the figures of all workers are
  summed through prometheus-client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``).

Routes are labelled by their template (``/api/v1/appeals/{reg}``), never by the raw path, so
the number of series stays bounded whatever callers send.
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import os
import re
import time
import uuid

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from sqlalchemy import text
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from geo.infra.settings import Settings

REQUEST_ID_HEADER = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
access_log = logging.getLogger("qala.access")
log = logging.getLogger("qala.observe")

REQUESTS = Counter(
    "qala_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
DURATION = Histogram(
    "qala_http_request_duration_seconds",
    "Time to answer an HTTP request (until the answer's last byte)",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
APPEALS = Counter(
    "qala_appeals_registered_total", "Appeals registered (new, not idempotent repeats)", ["channel"]
)
POOL_IN_USE = Gauge(
    "qala_db_pool_connections_in_use",
    "Database connections checked out of the service's pools",
    ["pool"],
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "qala_db_pool_connections_open",
    "Database connections open in the service's pools",
    ["pool"],
    multiprocess_mode="livesum",
)


def appeal_registered(channel: str | None) -> None:
    """Count one new appeal of ``channel`` (called where an appeal is committed)."""
    APPEALS.labels(channel=channel or "unknown").inc()


def route_of(scope: Scope) -> str:
    """The template of the route that answered (bounded label values)."""
    route = scope.get("route")
    path = getattr(route, "path", None) or getattr(route, "path_format", None)
    return path if path else "unmatched"


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every log record (``%(request_id)s``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


class Observe:
    """ASGI middleware: the request id, the access line and the request metrics."""

    def __init__(self, app: ASGIApp, pools=None) -> None:
        self.app = app
        self.pools = pools  # () -> {name: (in_use, open)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(REQUEST_ID_HEADER, "")
        rid = given if _SANE_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route, method = route_of(scope), scope["method"]
            REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            DURATION.labels(method=method, route=route).observe(elapsed)
            if self.pools is not None:
                for name, (in_use, opened) in self.pools().items():
                    POOL_IN_USE.labels(pool=name).set(in_use)
                    POOL_SIZE.labels(pool=name).set(opened)
            access_log.info(
                "%s %s %s %.1f ms",
                method,
                scope.get("path", ""),
                status,
                elapsed * 1000,
                extra={"route": route, "status": status, "ms": round(elapsed * 1000, 1)},
            )
            request_id.reset(token)


def metrics_text() -> bytes:
    """The metrics of this process, or of all workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()


def outbox_text(engine) -> bytes:
    """The outbox depth read now (``qala_outbox_depth()``, migration 0021): messages pending
    and failed per channel and the age of the oldest; nothing when the database cannot be
    read (the request metrics are still answered)."""
    if engine is None:
        return b""
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT state, channel, messages, oldest_s FROM qala_outbox_depth()")
            ).all()
    except Exception:  # an outage or an older schema: /ready says which
        log.warning("metrics: the outbox depth could not be read", exc_info=True)
        return b""
    registry = CollectorRegistry()
    depth = Gauge(
        "qala_outbox_messages",
        "Messages to applicants waiting (pending) or given up (failed), all cities",
        ["state", "channel"],
        registry=registry,
    )
    oldest = Gauge(
        "qala_outbox_oldest_pending_seconds",
        "Age of the oldest pending message to an applicant",
        ["channel"],
        registry=registry,
    )
    for state in ("pending", "failed"):
        for channel in ("email", "sms"):
            depth.labels(state=state, channel=channel).set(0)
    for channel in ("email", "sms"):
        oldest.labels(channel=channel).set(0)
    for r in rows:
        depth.labels(state=r.state, channel=r.channel).set(r.messages)
        if r.state == "pending":
            oldest.labels(channel=r.channel).set(r.oldest_s)
    return generate_latest(registry)


def install(app: FastAPI, pools, enabled: bool = True) -> None:
    """``/metrics`` (unless ``enabled`` is false: ``QALA_METRICS=false`` answers 404) and the
    :class:`Observe` middleware around the app (inside the security headers, outside
    everything else, so a 500 is counted too)."""

    if enabled:

        @app.get(
            "/metrics",
            tags=["service"],
            summary="Prometheus metrics (text exposition format)",
            response_class=Response,
            responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
        )
        def metrics(request: Request) -> Response:
            engine = getattr(request.app.state, "engine", None)
            return Response(metrics_text() + outbox_text(engine), media_type=CONTENT_TYPE_LATEST)

    build = app.build_middleware_stack
    app.build_middleware_stack = lambda: Observe(build(), pools)  # type: ignore[method-assign]


def log_config(settings: Settings) -> dict:
    """A ``logging.config.dictConfig`` for the service (uvicorn's loggers included):
    plain lines or JSON objects (``QALA_LOG_FORMAT``), each with the request id."""
    json_logs = settings.log_format == "json"
    formatter = (
        {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
        if json_logs
        else {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "main",
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "loggers": {
            "qala": {"handlers": ["main"], "level": settings.log_level, "propagate": False},
            "uvicorn": {"handlers": ["main"], "level": "INFO", "propagate": False},
            # our access line has the route, the time and the request id: uvicorn's is off
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(log_config(settings))
