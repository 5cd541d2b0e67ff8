"""impasto's web app: ``impasto serve`` puts a page and a REST API on http://127.0.0.1:8000.

Needs the ``fastapi``, ``uvicorn`` and ``python-multipart`` packages; the rest of impasto does
not import this package.
"""

from .app import create_app
from .config import WebConfig

__all__ = ["create_app", "WebConfig"]
