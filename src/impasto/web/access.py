"""Who may talk to the server, decided for every request before a route sees it.

``HostCheck`` defends a server on loopback (or a LAN) against other web sites in the user's
browser. A request must be addressed to an IP address or to a host name the server was told
about (``WebConfig.allowed_hosts``): a page of ``rebind.attacker.example`` whose name an attacker
re-points at 127.0.0.1 (DNS rebinding) reaches the socket, but its requests still say
``Host: rebind.attacker.example`` and are refused. And a request that carries an ``Origin``
(browsers send it with every cross-site fetch and form post) must come from this server's own
origin, so no other site can queue, cancel or delete jobs, or read answers.

``Access`` gives each browser an unguessable token in an HttpOnly cookie; its hash is the
``owner`` of the jobs that browser makes (``request.state.owner``), so on a shared server
nobody sees or touches another's jobs. With a password set, every API call but logging in and
the capabilities also needs the password: as ``Authorization: Bearer PASSWORD`` or as the cookie
that ``POST /api/login`` sets. Every way of giving the password is one door (``Gate.guess``), which
counts wrong ones per client address and from everyone together (``throttle.Buckets``): past the
limit the password is not even tried (429), so parallel connections guess no faster than one.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from starlette.requests import cookie_parser

from ..images.atomic import atomic_path
from .limits import ASGIApp, Receive, Scope, Send, send_json
from .throttle import Buckets, client_key

OWNER_COOKIE = "impasto_owner"
AUTH_COOKIE = "impasto_auth"
TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
COOKIE_DAYS = 365
# Reachable without the password: the page needs them to offer the password box.
OPEN_PATHS = ("/api/login", "/api/capabilities")


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers") or ():
        if k == name:
            return v.decode("latin-1")
    return None


def split_host(value: str) -> tuple[str, str | None]:
    """``host[:port]`` (an IPv6 address in brackets) -> (lower-case host, port or None)."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    host, _, port = value.partition(":")
    return host, port or None


def is_address(host: str) -> bool:
    """An IP address (a Host that DNS rebinding cannot produce: the page's origin would be it)."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _authority(host: str, port: str | None) -> str:
    """host:port with the default ports left out, so ``Origin: https://x`` matches ``Host: x``
    behind a TLS proxy as well as ``http://x:8000`` matches ``x:8000``."""
    return host if port in (None, "80", "443") else f"{host}:{port}"


class HostCheck:
    def __init__(self, app: ASGIApp, allowed_hosts: tuple[str, ...]) -> None:
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.names = {h.lower().strip("[]") for h in allowed_hosts}

    def host_ok(self, host: str) -> bool:
        return self.any_host or host in self.names or is_address(host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host, port = split_host(_header(scope, b"host") or "")
        if not self.host_ok(host):
            known = ", ".join(sorted(self.names)) or "its IP addresses"
            await send_json(send, 400, f"this server does not answer to the name {host or '(none)'!r}; "
                                       f"use its address or {known} (impasto serve --allow-host adds names)")
            return
        origin = _header(scope, b"origin")
        if origin is not None:
            o = urlsplit(origin)
            try:
                o_port = str(o.port) if o.port else None
            except ValueError:
                o_port = "?"
            if o.scheme not in ("http", "https") or _authority(o.hostname or "", o_port) != _authority(host, port):
                await send_json(send, 403, "requests from other web sites are not accepted")
                return
        await self.app(scope, receive, send)


def client_of(scope: Scope) -> str:
    """The request's client as the limits count it (``throttle.client_key``)."""
    client = scope.get("client")
    return client_key(client[0] if client else None)


class Gate:
    """The owner tokens and the password of one server (``create_app`` holds one)."""

    def __init__(self, data_dir: Path, password: str | None, guesses: Buckets) -> None:
        self.password = password or None
        self.guesses = guesses
        self._login_value = hmac.new(_secret(data_dir), (password or "").encode(), hashlib.sha256).hexdigest() \
            if self.password else ""

    @staticmethod
    def owner_of(token: str) -> str:
        """What the job table keeps: a hash, so the table holds no browser's live token."""
        return hashlib.sha256(token.encode()).hexdigest()

    def password_ok(self, given: str) -> bool:
        return self.password is not None and hmac.compare_digest(given.encode(), self.password.encode())

    def guess(self, given: str, client: str) -> tuple[int, str] | None:
        """None when ``given`` is the password; else the answer: 401, or 429 while ``client``
        (or everyone) has guessed wrong too often, without trying the password."""
        wait = self.guesses.wait(client)
        if wait > 0:
            return 429, f"too many wrong passwords; try again in {math.ceil(wait)} s"
        if self.password_ok(given):
            return None
        self.guesses.spend(client)
        return 401, "that is not the password"

    def login_cookie(self, secure: bool) -> str:
        return _cookie(AUTH_COOKIE, self._login_value, secure)

    def refusal(self, scope: Scope, cookies: dict[str, str]) -> tuple[int, str] | None:
        """None when the request may pass (no password needed, the login cookie, or the right
        Bearer token); else the status and one line to answer with."""
        if self.password is None:
            return None
        if hmac.compare_digest(cookies.get(AUTH_COOKIE, "").encode(), self._login_value.encode()):
            return None
        scheme, _, given = (_header(scope, b"authorization") or "").partition(" ")
        if scheme.lower() != "bearer":
            return 401, "this server needs its password"
        return self.guess(given.strip(), client_of(scope))

    def authorised(self, scope: Scope, cookies: dict[str, str]) -> bool:
        return self.refusal(scope, cookies) is None


def _cookie(name: str, value: str, secure: bool) -> str:
    return (f"{name}={value}; Path=/; Max-Age={COOKIE_DAYS * 86400}; HttpOnly; SameSite=Lax"
            + ("; Secure" if secure else ""))


def _secret(data_dir: Path) -> bytes:
    """A random key kept in the data folder, so logins outlive a restart but not a new folder."""
    path = Path(data_dir) / "secret.key"
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    with atomic_path(path, mode=0o600) as tmp:
        tmp.write_bytes(key)
    return key


class Access:
    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self.app, self.gate = app, gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = cookie_parser(_header(scope, b"cookie") or "")
        token = cookies.get(OWNER_COOKIE, "")
        new_cookie = None
        if not TOKEN.fullmatch(token):
            token = secrets.token_urlsafe(32)
            new_cookie = _cookie(OWNER_COOKIE, token, scope.get("scheme") == "https").encode("latin-1")
        scope.setdefault("state", {})["owner"] = self.gate.owner_of(token)

        async def with_cookie(message: dict) -> None:
            if new_cookie and message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), (b"set-cookie", new_cookie)]}
            await send(message)

        path = scope.get("path", "")
        refusal = self.gate.refusal(scope, cookies) if path.startswith("/api/") and path not in OPEN_PATHS else None
        if refusal is not None:
            status, detail = refusal
            if status == 401:
                headers = [(b"www-authenticate", b'Bearer realm="impasto"')]
            else:
                headers = [(b"retry-after", str(math.ceil(self.gate.guesses.wait(client_of(scope)))).encode())]
            await send_json(with_cookie, status, detail, headers)
            return
        await self.app(scope, receive, with_cookie)
