"""The outbox worker: sends each queued message once, retrying with backoff.

Messages are queued by the database (migration 0015's trigger on ``appeal_events``) in the
transaction of the change they tell about. The worker works across cities, so it connects
as the owner (``settings.admin_url``). One message at a time, in a transaction of its own:

1. take the next due message, locked ``FOR UPDATE SKIP LOCKED`` (several workers never take
   the same one, and none waits for another);
2. render it in its language and hand it to the sender (SMTP, or the SMS sender);
3. once the server accepted it, mark it ``sent`` in that same transaction and commit.

A message is never marked sent before the server took it, and never sent again once marked:
a crash between the server's acceptance and the commit (or, as the mark is committed with
``synchronous_commit = off``, a database crash just after it) is the one window where it
would be sent twice, and then with the same ``Message-ID`` (one per outbox row) so the
receiving side can tell. A temporary failure (the server down, a 4xx) sets the next attempt after
``outbox_backoff_s * 2**(attempts-1)`` seconds; after ``outbox_max_attempts`` the message is
``failed`` (``qala outbox retry`` queues failed ones again). When the server is down the
pass stops at the first message, so the others keep their attempts for when it is back.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from geo.notify import messages
from geo.notify.senders import Permanent, ServerDown, SmtpSender, Temporary, sms_sender
from geo.notify.unsubscribe import make_token
from geo.residents.codes import derive_code

log = logging.getLogger("qala.outbox")

TAKE = text("""
SELECT m.city_id, m.id, m.appeal_id, m.channel, m.address, m.lang, m.status, m.attempts,
       m.kind, k.nonce, a.reg_number, c.code AS city_code
FROM outbox_messages m
JOIN appeals a ON a.city_id = m.city_id AND a.id = m.appeal_id
JOIN cities c ON c.id = m.city_id
LEFT JOIN resident_codes k ON k.id = m.code_id
WHERE m.state = 'pending' AND m.next_attempt_at <= coalesce(CAST(:due AS timestamptz), now())
  AND m.channel = ANY(:channels) AND NOT (m.id = ANY(CAST(:tried AS bigint[])))
ORDER BY m.next_attempt_at, m.id
LIMIT 1
FOR UPDATE OF m SKIP LOCKED""")
SENT = text("""
UPDATE outbox_messages SET state = 'sent', sent_at = now(), attempts = attempts + 1,
  last_error = NULL
WHERE city_id = :c AND id = :i""")
RETRY = text("""
UPDATE outbox_messages SET attempts = attempts + 1, last_error = :err,
  state = CASE WHEN attempts + 1 >= :max THEN 'failed' ELSE 'pending' END,
  next_attempt_at = now() + make_interval(secs => :wait)
WHERE city_id = :c AND id = :i""")
FAILED = text("""
UPDATE outbox_messages SET attempts = attempts + 1, last_error = :err, state = 'failed'
WHERE city_id = :c AND id = :i""")


@dataclass
class Pass:
    """What one pass did: messages sent, put off for a retry, failed for good; and whether
    it stopped because the server was down."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    server_down: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def taken(self) -> int:
        return self.sent + self.retried + self.failed


def message_id(settings, city_id: int, outbox_id: int) -> str:
    """The ``Message-ID`` of an outbox row: the same for every attempt."""
    host = urlsplit(settings.public_url).hostname or "qala.local"
    return f"<outbox-{city_id}-{outbox_id}@{host}>"


def links(settings, row) -> tuple[str, str]:
    """The public tracker link of the row's appeal and the row's unsubscribe link."""
    base = settings.public_url.rstrip("/")
    track = (
        f"{base}/track?reg={quote(row['reg_number'])}&city={quote(row['city_code'])}"
        f"&lang={row['lang']}"
    )
    token = make_token(settings.signing_key, row["city_id"], row["id"])
    return track, f"{base}/api/v1/unsubscribe?token={token}"


class Worker:
    """Sends due messages (:meth:`work_once`), or keeps doing so (:meth:`run`)."""

    def __init__(self, engine: Engine, settings, sms=None):
        self.engine = engine
        self.settings = settings
        self.email = SmtpSender(settings)
        self.sms = sms if sms is not None else sms_sender(settings)

    def close(self) -> None:
        """Close the SMTP connection."""
        self.email.close()

    def _send(self, row) -> None:
        if row["kind"] == "sign_in":
            self._send_code(row)
            return
        track, unsubscribe = links(self.settings, row)
        message = messages.render(row["lang"], row["reg_number"], row["status"], track, unsubscribe)
        if row["channel"] == "email":
            mid = message_id(self.settings, row["city_id"], row["id"])
            self.email.send(row["address"], message, mid, unsubscribe)
        else:
            self.sms.send(row["address"], message.sms)

    def _send_code(self, row) -> None:
        """A resident's sign-in code: derived from its nonce and the secret now (the
        database keeps no code), with the link to the account page; no unsubscribe link
        (it was asked for)."""
        if row["nonce"] is None:
            raise Permanent("the sign-in code is no longer known")
        code = derive_code(self.settings.signing_key, row["nonce"])
        base = self.settings.public_url.rstrip("/")
        page = f"{base}/me?city={quote(row['city_code'])}&lang={row['lang']}"
        minutes = max(1, self.settings.resident_code_ttl_s // 60)
        message = messages.render_code(row["lang"], code, page, minutes)
        if row["channel"] == "email":
            mid = message_id(self.settings, row["city_id"], row["id"])
            self.email.send(row["address"], message, mid, None)
        else:
            self.sms.send(row["address"], message.sms)

    def _backoff(self, attempts: int) -> float:
        return self.settings.outbox_backoff_s * 2 ** max(attempts - 1, 0)

    def work_once(
        self, due: dt.datetime | None = None, limit: int | None = None, channels=("email", "sms")
    ) -> Pass:
        """Send every message due by ``due`` (default: now), each at most once in the pass.

        Parameters
        ----------
        due
            Take messages whose next attempt is at or before this time.
        limit
            Stop after taking this many.
        channels
            Which channels to send.
        """
        done = Pass()
        tried: list[int] = []
        while limit is None or done.taken < limit:
            with self.engine.begin() as conn:
                # the mark is committed without waiting for its WAL flush (one fsync per
                # message would bound the worker to the disk's sync rate): a database crash
                # in the next moment may forget it, and the message is sent again, with the
                # same Message-ID
                conn.execute(text("SET LOCAL synchronous_commit = off"))
                row = (
                    conn.execute(TAKE, {"due": due, "channels": list(channels), "tried": tried})
                    .mappings()
                    .first()
                )
                if row is None:
                    break
                tried.append(row["id"])
                key = {"c": row["city_id"], "i": row["id"]}
                try:
                    self._send(row)
                except Permanent as exc:
                    conn.execute(FAILED, {**key, "err": str(exc)[:500]})
                    done.failed += 1
                    done.errors.append(str(exc))
                except Temporary as exc:
                    wait = self._backoff(row["attempts"] + 1)
                    max_attempts = self.settings.outbox_max_attempts
                    conn.execute(
                        RETRY, {**key, "err": str(exc)[:500], "wait": wait, "max": max_attempts}
                    )
                    if row["attempts"] + 1 >= max_attempts:
                        done.failed += 1
                    else:
                        done.retried += 1
                    done.errors.append(str(exc))
                    if isinstance(exc, ServerDown):
                        done.server_down = True
                        log.warning("outbox: %s; the others wait for the next pass", exc)
                        break
                else:
                    conn.execute(SENT, key)
                    done.sent += 1
        return done

    def run(self, stop: threading.Event) -> None:
        """Pass after pass until ``stop`` is set; between passes with nothing to do, wait
        ``outbox_poll_s`` seconds."""
        while not stop.is_set():
            try:
                done = self.work_once(limit=self.settings.outbox_batch)
            except OperationalError as exc:  # the database away: try again later
                log.warning("outbox: the database is unavailable (%s)", type(exc).__name__)
                done = Pass(server_down=True)
            if done.sent:
                log.info("outbox: %d sent", done.sent)
            if done.taken < self.settings.outbox_batch or done.server_down:
                self.email.close()
                stop.wait(self.settings.outbox_poll_s)
        self.close()


def retry_failed(engine: Engine, city_id: int | None = None) -> int:
    """Queue failed messages again (and make every waiting one due now): after the SMTP
    settings were fixed, or the SMS sender configured. Returns how many are due."""
    with engine.begin() as conn:
        return conn.execute(
            text("""
            UPDATE outbox_messages SET state = 'pending', next_attempt_at = now(),
              attempts = CASE WHEN state = 'failed' THEN 0 ELSE attempts END
            WHERE state IN ('pending', 'failed')
              AND (CAST(:c AS integer) IS NULL OR city_id = :c)"""),
            {"c": city_id},
        ).rowcount


def start_in_thread(settings) -> tuple[threading.Thread, threading.Event]:
    """The worker in a daemon thread beside the web service (``qala run``); set the event
    to stop it."""
    from geo.infra.db import make_engine

    stop = threading.Event()
    worker = Worker(make_engine(settings, admin=True), settings)
    thread = threading.Thread(target=worker.run, args=(stop,), name="qala-outbox", daemon=True)
    thread.start()
    return thread, stop
