"""A TCP proxy in front of PostgreSQL that loses answers on purpose (for the fault tests).

The service connects to the proxy's port instead of the database's. On request the proxy:

* ``lose_next_answer("drop")``: lets the next appeal write (an asyncpg Bind after the
  connection prepared ``qala_create_appeal``; or, with ``at=COMMIT``, the COMMIT of a
  psycopg2 transaction that called it) reach the database, then cuts the connection when
  the database answers: the appeal is committed, its acknowledgement lost;
* ``lose_next_answer("drop", at=CONTACTS)``: the next read of an applicant's contacts (a
  psycopg2 query on ``appeal_contacts``, on any connection) reaches the database and its
  answer is cut: what happens after a staff registration was committed;
* ``lose_next_answer("garble")``: the same, but the service receives, instead of that
  answer, one that does not fit its statement (asyncpg raises ``ProtocolError``, an
  ``InternalClientError``); the connection goes on;
* ``go_down()`` / ``come_back()``: cuts every connection and refuses new ones (connecting
  fails: nothing can be sent), then accepts them again.

``fired`` is set when a planned loss happened.
"""

from __future__ import annotations

import contextlib
import socket
import threading

#: which message of a connection that wrote an appeal loses its answer
BIND = "bind"  # asyncpg executes a prepared statement (the API's write path)
COMMIT = "commit"  # psycopg2 commits a transaction (a session's write, Open311's POST)
CONTACTS = "contacts"  # psycopg2 reads an applicant's contacts (after a staff registration)

# what a garbled answer looks like: a data row of one column where the statement returns
# many (asyncpg: ProtocolError, an InternalClientError), then "ready for query"
JUNK = b"D\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x01x" + b"Z\x00\x00\x00\x05I"


class _Link:
    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.writer = False  # has prepared the appeal write
        self.fate: str | None = None  # what happens to the next answer

    def close(self) -> None:
        for s in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()


class PgProxy:
    """Listens on 127.0.0.1:``port`` and forwards to 127.0.0.1:``upstream_port``."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.down = False
        self.planned: str | None = None
        self.at = BIND
        self.fired = threading.Event()
        self.links: list[_Link] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    # -- what the tests ask for ----------------------------------------------------------------
    def lose_next_answer(self, how: str, at: str = BIND) -> None:
        assert how in ("drop", "garble") and at in (BIND, COMMIT, CONTACTS)
        self.fired.clear()
        self.at = at
        self.planned = how

    def _is_target(self, data: bytes) -> bool:
        if self.at == BIND:
            return data[:1] == b"B"
        if self.at == CONTACTS:
            return data[:1] == b"Q" and b"FROM appeal_contacts" in data
        return data[:1] == b"Q" and b"COMMIT" in data.upper()

    def go_down(self) -> None:
        self.down = True
        with self.lock:
            links, self.links = self.links, []
        for link in links:
            link.close()

    def come_back(self) -> None:
        self.down = False

    def close(self) -> None:
        self.go_down()
        with contextlib.suppress(OSError):
            self.listener.close()

    # -- the proxy -----------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            except OSError:
                client.close()
                continue
            link = _Link(client, upstream)
            with self.lock:
                self.links.append(link)
            threading.Thread(target=self._to_server, args=(link,), daemon=True).start()
            threading.Thread(target=self._to_client, args=(link,), daemon=True).start()

    def _to_server(self, link: _Link) -> None:
        try:
            while data := link.client.recv(65536):
                if b"qala_create_appeal" in data:
                    link.writer = True
                elif (
                    (link.writer or self.at == CONTACTS) and self.planned and self._is_target(data)
                ):
                    link.fate, self.planned = self.planned, None
                link.upstream.sendall(data)
        except OSError:
            pass
        link.close()

    def _to_client(self, link: _Link) -> None:
        try:
            while data := link.upstream.recv(65536):
                if link.fate == "drop":
                    break  # the database answered (committed); the service never hears it
                if link.fate == "garble":  # this answer replaced; the link goes on
                    link.fate = None
                    self.fired.set()
                    link.client.sendall(JUNK)
                    continue
                link.client.sendall(data)
        except OSError:
            pass
        if link.fate:
            self.fired.set()
        link.close()
