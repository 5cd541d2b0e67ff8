"""impasto's web app: ``impasto serve`` puts a page and a REST API on http://127.0.0.1:8000.

Needs ``fastapi``, ``uvicorn`` and ``python-multipart``. Nothing heavy is imported until it is
used, so registering the ``serve`` subcommand does not slow every other ``impasto`` command.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "WebConfig"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "WebConfig":
        from .config import WebConfig

        return WebConfig
    raise AttributeError(name)
