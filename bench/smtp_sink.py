"""A local SMTP server in a process of its own for the outbox benchmark: aiosmtpd on the
loopback that accepts every message and appends its Message-ID to a file, one per line.

``python -m bench.smtp_sink PORT FILE`` serves until it is terminated. A mail server is a
process of its own in any deployment; run as a thread of the benchmark's process it would
share the worker's interpreter lock and the figure would time the test server too.
"""

from __future__ import annotations

import email
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, path: str):
        self.out = open(path, "a", encoding="utf-8")  # noqa: SIM115 - open while serving

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        mid = email.message_from_bytes(envelope.content)["Message-ID"]
        self.out.write(f"{mid}\n")
        self.out.flush()
        return "250 OK"


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(path), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("ready", flush=True)
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
