"""ASGI middleware that guards every request before a route sees it.

``BodyLimit`` refuses a request body larger than the configured maximum with 413, from its
Content-Length when it has one and by counting bytes as they stream in when it does not, so a
client cannot fill the disk through the multipart parser's spool files; a body that pauses too
long or takes too long in all gets 408, and one that would take the bodies still arriving past
the server's ``UploadBudget`` gets 503. (A client slow to send its headers never reaches the
app: ``serve.py`` times it out.) ``SecurityHeaders``
tells the browser to load nothing from anywhere but this server (which is also how the page is
kept honest about needing no CDN) and not to second-guess content types.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any, Awaitable, Callable, Sequence

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


async def send_json(send: Send, status: int, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    """Answer from middleware the way the routes do: JSON ``{"detail": "one line"}``."""
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


class UploadBudget:
    """The bytes that request bodies still arriving may hold at once, for the whole server. A
    body's declared length is reserved before any of it is read (one without a length reserves
    as it arrives) and given back when its request ends, so slow uploads cannot pile up spool
    files past the bound: the next one is refused at once."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes, self.held = max_bytes, 0
        self._lock = threading.Lock()

    def reserve(self, n: int) -> bool:
        with self._lock:
            if n > 0 and self.held + n > self.max_bytes:
                return False
            self.held += n
            return True

    def release(self, n: int) -> None:
        with self._lock:
            self.held -= n


class _Refused(Exception):
    """The body broke a rule while it arrived: answer with ``status`` and ``detail``."""

    def __init__(self, status: int, detail: str, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers


BUSY = (503, "the server is receiving as many uploads as it can; try again in a moment",
        [(b"retry-after", b"10")])


class BodyLimit:
    """Request bodies: at most ``max_bytes`` each, no pause longer than ``idle_timeout`` and no
    more than ``timeout`` seconds in all (a client sending a byte now and then would otherwise
    hold its connection and spool file for ever), within the server's ``budget``."""

    def __init__(self, app: ASGIApp, max_bytes: int, idle_timeout: float = 20.0, timeout: float = 300.0,
                 budget: UploadBudget | None = None) -> None:
        self.app, self.max_bytes = app, max_bytes
        self.idle_timeout, self.timeout = idle_timeout, timeout
        self.budget = budget or UploadBudget(1 << 62)

    def _too_large(self) -> _Refused:
        return _Refused(413, f"the request is larger than {self.max_bytes // (1024 * 1024)} MB")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _refuse(send, self._too_large())
            return
        reserved = int(length) if length is not None else 0
        if not self.budget.reserve(reserved):
            await _refuse(send, _Refused(*BUSY))
            return
        deadline = time.monotonic() + self.timeout
        seen = 0
        body_done = False
        refused: _Refused | None = None
        replied = False

        async def counting_receive() -> Message:
            nonlocal seen, body_done, refused, reserved
            if body_done:  # (later calls wait for the client to leave: no limit on those)
                return await receive()
            wait = min(self.idle_timeout, deadline - time.monotonic())
            try:
                message = await asyncio.wait_for(receive(), max(0.0, wait))
            except asyncio.TimeoutError:
                refused = _Refused(408, "the request body came too slowly; send it again")
                raise ConnectionAbortedError(refused.detail) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = self._too_large()
                elif seen > reserved:
                    if self.budget.reserve(seen - reserved):
                        reserved = seen
                    else:
                        refused = _Refused(*BUSY)
                if refused is not None:
                    raise ConnectionAbortedError(refused.detail)
                body_done = not message.get("more_body", False)
            else:
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            # Once the body broke a rule, whatever the app answers becomes the refusal.
            nonlocal replied
            if refused is not None:
                if not replied:
                    replied = True
                    await _refuse(send, refused)
                return
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if refused is None:
                raise
            if not replied:
                await _refuse(send, refused)
        finally:
            self.budget.release(reserved)


async def _refuse(send: Send, r: _Refused) -> None:
    await send_json(send, r.status, r.detail, [(b"connection", b"close"), *r.headers])


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                names = {k.lower() for k, _ in headers}
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"content-security-policy", CSP.encode())]
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
