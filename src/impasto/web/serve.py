"""``impasto serve``: the web app on http://127.0.0.1:8000 (loopback unless told otherwise)."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ..errors import ImpastoError
from .config import LOOPBACK_NAMES, MB, Setting, WebConfig, default_data_dir, settings

PASSWORD_ENV = "IMPASTO_PASSWORD"
ALL_INTERFACES = ("0.0.0.0", "::", "")


# How a WebConfig value is read from its flag, and the least value it may take (None: no bound).
KINDS = {"data_dir": (Path, None), "max_upload_bytes": (float, 0), "max_pixels": (float, 0),
         "max_waiting_per_client": (int, 1), "max_waiting_per_address": (int, 1), "keep_days": (float, 0),
         "max_size": (int, 32), "password": (str, None), "allowed_hosts": (str, None), "devices": (str, None)}


def _default_text(name: str, s: Setting) -> str:
    if name == "data_dir":
        return str(default_data_dir())
    if name == "devices":
        return "one worker per GPU, or one on the CPU"
    default = WebConfig.__dataclass_fields__[name].default
    if default is None:
        return ""
    if isinstance(default, tuple):
        return ", ".join(default)
    return f"{default / s.scale:g}" if isinstance(default, (int, float)) else str(default)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand: its own flags (where to listen, Ray), then one flag for each
    WebConfig setting that has one, its help and default from the table (``web/config.py``)."""
    p = subparsers.add_parser("serve", help="the web app: upload a photo, pick a painting, watch it painted")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for all)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    for name, s in settings().items():
        if s.flag is None:
            continue
        kind, _ = KINDS[name]
        shown = _default_text(name, s)
        help = s.help + (f" (default: {shown})" if shown else "")
        if name == "password":
            help += f"; or set ${PASSWORD_ENV}, which other users cannot see in the process list"
        metavar = s.metavar or ("MB" if s.scale == MB else "MP" if s.scale == 1e6 else
                                "DIR" if kind is Path else "N" if kind is int else "X" if kind is float else None)
        p.add_argument(s.flag, dest=name, type=kind, action="append" if s.repeat else "store",
                       default=argparse.SUPPRESS, metavar=metavar, help=help)
    p.add_argument("--ray", nargs="?", const="auto", metavar="ADDRESS",
                   help="paint on a Ray cluster (auto, HOST:PORT or local): the page's queue is handed to "
                        'it, --ray-jobs at a time (pip install "impasto[ray]"; docs/cluster.md)')
    p.add_argument("--ray-jobs", type=int, default=None, metavar="N",
                   help="with --ray: jobs painted at once (default: the cluster's GPUs, or one per node)")
    p.set_defaults(func=cmd_serve)


def config_from(args: argparse.Namespace) -> WebConfig:
    """A WebConfig from the flags (the table's defaults for the others), or an ImpastoError
    naming the bad one."""
    if not 0 < args.port < 65536:
        raise ImpastoError(f"--port must be between 1 and 65535, not {args.port}")
    given = {k: v for k, v in vars(args).items() if k in KINDS}
    table = settings()
    values: dict[str, Any] = {}
    for name, v in given.items():
        s, (_, least) = table[name], KINDS[name]
        if least is not None:
            ok = v >= least if least > 0 or name == "keep_days" else v > 0
            bound = f"at least {least:g}" if least > 0 else "0 or more" if name == "keep_days" else "positive"
            if not ok:
                raise ImpastoError(f"{s.flag} must be {bound}, not {v:g}")
        values[name] = int(v * s.scale) if s.scale != 1 else v
    password = values.pop("password", None)
    password = password if password is not None else os.environ.get(PASSWORD_ENV)
    if password is not None and not password.strip():
        raise ImpastoError(f"{table['password'].flag} must not be empty")
    max_size = values.get("max_size", WebConfig.__dataclass_fields__["max_size"].default)
    values.update(password=password, min_size=min(64, max_size), default_size=min(512, max_size),
                  devices=tuple(values.get("devices") or ("auto",)),
                  allowed_hosts=host_names(args.host, values.get("allowed_hosts") or []))
    return WebConfig(**values)


def host_names(host: str, extra: list[str]) -> tuple[str, ...]:
    """The names the server answers to (addresses always work): localhost, the --allow-host
    names, and, listening on every interface, this machine's own names."""
    names = [*LOOPBACK_NAMES, *extra]
    from .access import is_address

    if host in ALL_INTERFACES:
        names += [socket.gethostname(), socket.getfqdn()]
    elif not is_address(host):
        names.append(host)
    return tuple(dict.fromkeys(n.lower() for n in names if n))


def timed_protocol(header_timeout: float) -> type:
    """uvicorn's HTTP/1.1 protocol, closing a connection that has not sent a whole request's
    headers ``header_timeout`` seconds after it opened or after its last answer. uvicorn
    itself waits for headers for ever, so half-sent requests would hold sockets without end.
    (Slow bodies are the app's to time out: ``limits.BodyLimit``.)"""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class TimedH11(H11Protocol):
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm(None)

        def on_response_complete(self) -> None:
            done = self.cycle  # (a pipelined request may start inside the call below)
            super().on_response_complete()
            self._arm(done)

        def _arm(self, cycle: Any) -> None:
            self.loop.call_later(header_timeout, self._expire, cycle)

        def _expire(self, cycle: Any) -> None:
            if self.cycle is cycle and not self.transport.is_closing():
                self.transport.close()  # no request began since the timer was set

    return TimedH11


def make_server(app: Any, host: str, port: int, log_level: str = "warning") -> Any:
    """A uvicorn server that, the moment it is told to stop, ends the event streams and has the
    workers put their jobs back (``begin_shutdown``) instead of waiting for the streams to end,
    which would otherwise last as long as the queue; and that times out slow request headers."""
    import uvicorn

    from .app import begin_shutdown

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            begin_shutdown(app)
            await super().shutdown(sockets)

    cfg: WebConfig = app.state.config
    return Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, backlog=256,
                                 http=timed_protocol(cfg.header_timeout), timeout_graceful_shutdown=3))


def every_device() -> tuple[str, ...]:
    """One worker per GPU when there are GPUs (jobs then run side by side), else one."""
    import torch

    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return tuple(f"cuda:{i}" for i in range(n)) if n > 1 else ("auto",)


def on_ray(cfg: WebConfig, address: str, jobs: int | None) -> None:
    """Hand the queue to the Ray cluster at ``address``: one worker thread per job painted at
    once, each sending its job to the cluster (the devices are then the cluster's)."""
    from ..batch.rayexec import RayExecutor

    ex = RayExecutor(address)  # joins now: an unreachable cluster is one line, before serving
    if jobs is not None and jobs < 1:
        raise ImpastoError(f"--ray-jobs must be at least 1, not {jobs}")
    cfg.ray_address = address
    cfg.devices = ("auto",) * (jobs or ex.gpus or ex.nodes)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn  # noqa: F401

        from .app import create_app
    except ImportError as e:
        raise ImpastoError(f"the web app needs fastapi, uvicorn and python-multipart ({e.name} is "
                           "missing): pip install fastapi uvicorn python-multipart") from None
    from ..features.devices import resolve_device

    cfg = config_from(args)
    if args.ray is not None:
        on_ray(cfg, args.ray, args.ray_jobs)
    else:
        if "devices" not in args:
            cfg.devices = every_device()
        for d in cfg.devices:
            resolve_device(d)  # an unusable device fails now, in one line, not in the first job
    try:
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImpastoError(f"cannot use {cfg.data_dir} as the data folder: {e.strerror}") from None
    app = create_app(cfg)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"impasto: serving on http://{shown}:{args.port}/ (data in {cfg.data_dir}); Ctrl-C to stop",
          file=sys.stderr)
    if args.host in ALL_INTERFACES and cfg.password is None:
        print("impasto: note: anyone who can reach this machine can use the app; --password limits it "
              "to people who know the password", file=sys.stderr)
    try:
        make_server(app, args.host, args.port).run()
    except OSError as e:
        raise ImpastoError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from None
    return 0
