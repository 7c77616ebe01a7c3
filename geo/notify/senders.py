"""Who carries a message: e-mail over SMTP, and a pluggable SMS sender.

Each sender answers a message in one of three ways: it was accepted (return), it will
never be (:class:`Permanent`: a refused address), or not now (:class:`Temporary`: the
server is down, busy or answered 4xx) — the worker retries the last with backoff. An
e-mail's ``Message-ID`` is fixed by its outbox row, so the same message sent again after a
lost acknowledgement is recognisably the same one.
"""

from __future__ import annotations

import contextlib
import importlib
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

from geo.notify.messages import Message


class Temporary(Exception):
    """Not sent now; may be later (the server unreachable, a 4xx answer)."""


class ServerDown(Temporary):
    """The server could not be reached or dropped the connection: every message would fail
    now, so the worker stops its pass."""


class Permanent(Exception):
    """Never sendable (a 5xx refusal of the address or the message)."""


class SmsSender(Protocol):
    """What an SMS gateway is given: a phone number and a short text."""

    def send(self, phone: str, text: str) -> None:
        """Send, or raise :class:`Temporary` / :class:`Permanent`."""


class SmtpSender:
    """E-mail over SMTP (``QALA_SMTP_*``), one connection kept open across messages."""

    def __init__(self, settings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            s = self.settings
            try:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
                if s.smtp_starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.smtp_user:
                    smtp.login(s.smtp_user, s.smtp_password or "")
            except (OSError, smtplib.SMTPException) as exc:
                raise ServerDown(f"SMTP {s.smtp_host}:{s.smtp_port}: {exc!r}") from exc
            self._smtp = smtp
        return self._smtp

    def close(self) -> None:
        """Say QUIT, if a connection is open."""
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._smtp = None

    def send(self, to: str, message: Message, message_id: str, unsubscribe: str | None) -> None:
        """Send ``message`` to ``to`` with the ``Message-ID`` of its outbox row (and the
        unsubscribe link, unless it is a message the applicant asked for: a sign-in code)."""
        mail = EmailMessage()
        mail["From"] = self.settings.mail_from
        mail["To"] = to
        mail["Subject"] = message.subject
        mail["Message-ID"] = message_id
        mail["Date"] = formatdate(localtime=False, usegmt=True)
        if unsubscribe:
            mail["List-Unsubscribe"] = f"<{unsubscribe}>"
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.body)
        smtp = self._connection()
        try:
            refused = smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if all(500 <= c < 600 for c in codes):
                raise Permanent(f"address refused: {codes}") from exc
            raise Temporary(f"address refused for now: {codes}") from exc
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                raise Permanent(f"SMTP {exc.smtp_code} {exc.smtp_error!r}") from exc
            self.close()
            raise Temporary(f"SMTP {exc.smtp_code} {exc.smtp_error!r}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._smtp = None  # the connection is gone; the next message reconnects
            raise ServerDown(f"SMTP connection lost: {exc!r}") from exc
        if refused:
            raise Permanent(f"address refused: {refused}")


class NoSms:
    """No SMS gateway configured (``QALA_SMS_SENDER`` empty): every SMS fails at once."""

    def send(self, phone: str, text: str) -> None:
        raise Permanent("no SMS sender is configured (QALA_SMS_SENDER)")


def sms_sender(settings) -> SmsSender:
    """The SMS sender the settings name: ``module:factory``, called with the settings.

    Raises
    ------
    ValueError
        A name that is not ``module:factory`` or cannot be imported.
    """
    name = (settings.sms_sender or "").strip()
    if not name:
        return NoSms()
    module, _, factory = name.partition(":")
    if not module or not factory:
        raise ValueError(f"QALA_SMS_SENDER must be module:factory, not {name!r}")
    try:
        made = getattr(importlib.import_module(module), factory)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"QALA_SMS_SENDER {name!r} cannot be imported: {exc}") from exc
    return made(settings)
