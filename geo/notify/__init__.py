"""Word back to applicants: :mod:`~geo.notify.messages` (the text of a message, in the
appeal's language), :mod:`~geo.notify.senders` (SMTP for e-mail, a pluggable SMS sender),
:mod:`~geo.notify.unsubscribe` (signed links), :mod:`~geo.notify.worker` (the outbox worker:
takes due messages, sends each once, retries with backoff).
"""
