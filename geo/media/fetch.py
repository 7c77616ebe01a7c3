"""Fetching a photo by its link (Open311's ``media_url``) without letting the link reach inside.

A link is the caller's: it may name the service's own host, the cloud's metadata address or
a machine on the private network (server-side request forgery). So:

* only ``http`` and ``https``, on any port, with a host;
* the host is resolved once, and every address it resolves to must be public: loopback,
  private, link-local (169.254.169.254, the metadata service), multicast, reserved,
  unspecified, carrier-grade NAT and IPv4-mapped forms of these are refused. The connection
  is then made to that checked address (TLS still verifies the host's name), so a second
  DNS answer cannot point it elsewhere;
* redirects are followed by hand (at most 3), each new link checked the same way;
* at most ``max_bytes`` are read, within ``timeout`` seconds overall.

Networks an operator trusts (a media server on the LAN, the tests' own server) may be
allowed with ``allow`` (``QALA_MEDIA_FETCH_ALLOW``, CIDR blocks); nothing is allowed by
default.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from urllib.parse import urljoin, urlsplit

from geo.infra.errors import InvalidInput, TooLarge

MAX_REDIRECTS = 3
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


class FetchRefused(InvalidInput):
    """The link cannot or may not be fetched; the message says why."""


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT)
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
    )


def parse_allow(value: str | None) -> tuple:
    """``"10.1.0.0/16, 127.0.0.1/32"`` as networks."""
    return tuple(
        ipaddress.ip_network(part.strip(), strict=False)
        for part in (value or "").split(",")
        if part.strip()
    )


def checked_address(host: str, port: int, allow: tuple = ()) -> str:
    """The one address of ``host`` to connect to, after checking all it resolves to.

    Raises
    ------
    FetchRefused
        It does not resolve, or one of its addresses is not public (and not allowed).
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchRefused(f"media_url: the host {host!r} could not be resolved") from exc
    addresses = []
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        if not _public(ip) and not any(ip in net for net in allow):
            raise FetchRefused(
                f"media_url: the host {host!r} resolves to {ip}, a private, loopback or "
                "link-local address: only photos on public addresses are fetched"
            )
        addresses.append(str(ip))
    if not addresses:
        raise FetchRefused(f"media_url: the host {host!r} has no address")
    return addresses[0]


class _Pinned(http.client.HTTPSConnection):
    """An HTTP(S) connection to a checked address, speaking to (and, over TLS, verifying)
    the link's host name."""

    def __init__(self, host, port, address, timeout, tls: bool):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address
        self._tls = tls

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._tls:
            self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


def fetch(url: str, *, max_bytes: int, timeout: float = 10.0, allow: tuple = ()) -> bytes:
    """The bytes at ``url``, fetched safely (see the module).

    Parameters
    ----------
    url
        An http(s) link.
    max_bytes
        More is refused (:class:`~geo.infra.errors.TooLarge`).
    timeout
        Seconds for the whole fetch, redirects included.
    allow
        Networks allowed although not public (:func:`parse_allow`).

    Raises
    ------
    FetchRefused
        A scheme other than http(s), an address that is not public, too many redirects, an
        answer other than 200, a time-out, a connection that failed.
    TooLarge
        More than ``max_bytes``.
    """
    deadline = time.monotonic() + timeout
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FetchRefused("media_url must be an http:// or https:// link with a host")
        tls = parts.scheme == "https"
        try:
            port = parts.port or (443 if tls else 80)
        except ValueError as exc:
            raise FetchRefused("media_url has an invalid port") from exc
        address = checked_address(parts.hostname, port, allow)
        left = deadline - time.monotonic()
        if left <= 0:
            raise FetchRefused(f"media_url: no answer within {timeout:g} s")
        conn = _Pinned(parts.hostname, port, address, left, tls)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("GET", path, headers={"User-Agent": "qala-map", "Accept": "image/*"})
            answer = conn.getresponse()
            if answer.status in (301, 302, 303, 307, 308):
                location = answer.getheader("Location")
                if not location:
                    raise FetchRefused("media_url: a redirect without a Location")
                url = urljoin(url, location)
                continue
            if answer.status != 200:
                raise FetchRefused(f"media_url: the server answered {answer.status}, not 200")
            length = answer.getheader("Content-Length")
            if length and length.isdigit() and int(length) > max_bytes:
                raise TooLarge(
                    f"the photo at media_url has {length} bytes; at most {max_bytes} "
                    f"({max_bytes / 2**20:g} MB)"
                )
            body = bytearray()
            while chunk := answer.read(65536):
                body += chunk
                if len(body) > max_bytes:
                    raise TooLarge(
                        f"the photo at media_url is larger than {max_bytes} bytes "
                        f"({max_bytes / 2**20:g} MB)"
                    )
                if time.monotonic() > deadline:
                    raise FetchRefused(f"media_url: not received within {timeout:g} s")
                if conn.sock is not None:  # each read waits at most what is left
                    conn.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            return bytes(body)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchRefused(
                f"media_url could not be fetched ({type(exc).__name__}): "
                "send the photo itself as media"
            ) from exc
        finally:
            conn.close()
    raise FetchRefused(f"media_url: more than {MAX_REDIRECTS} redirects")
