"""The page, the API's reference page, what the server offers (styles, limits) and logging in."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter, Form, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from .. import shipped
from .access import client_of
from .config import QUALITIES
from .gallery import PAINTINGS
from .jobspec import MAX_STRENGTH, MIN_STRENGTH
from .models import Capabilities, InstantStyleOut, Problem, QualityOut, StyleOut
from .service import Service

STATIC = Path(__file__).parent / "static"
WRONG_PASSWORD_PAUSE_S = 1.0


def router(svc: Service) -> APIRouter:
    r = APIRouter()
    cfg, instant = svc.cfg, svc.instant

    @r.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @r.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", media_type="text/html")

    @r.get("/api/styles", response_model=list[StyleOut], tags=["styles"],
           summary="The bundled public-domain paintings")
    async def styles() -> list[dict]:
        return [p.public() for p in PAINTINGS]

    @r.get("/api/instant-styles", response_model=list[InstantStyleOut], tags=["styles"],
           summary="The instant styles: shipped models that paint a photo in about a second")
    async def instant_styles() -> list[dict]:
        return [s.public() for s in instant.values()]

    @r.get("/api/instant-styles/{style_id}/preview", tags=["styles"], responses={
        404: {"model": Problem}, 200: {"content": {"image/jpeg": {}}}},
        summary="A sample painted with an instant style (The Shipwreck, by Turner)")
    async def instant_preview(style_id: str) -> FileResponse:
        if style_id not in instant:
            raise HTTPException(404, "no such instant style")
        path = await run_in_threadpool(svc.previews.path, instant[style_id])
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "max-age=86400"})

    @r.get("/api/capabilities", response_model=Capabilities, tags=["service"],
           summary="Limits and choices the server accepts")
    async def capabilities(request: Request) -> Capabilities:
        return Capabilities(
            max_upload_bytes=cfg.max_upload_bytes, max_pixels=cfg.max_pixels, min_size=cfg.min_size,
            max_size=cfg.max_size, default_size=cfg.default_size, min_strength=MIN_STRENGTH,
            max_strength=MAX_STRENGTH, workers=len(cfg.devices), color_in_engine=True,
            qualities=[QualityOut(id=q, iterations=cfg.quality_iterations[q]) for q in QUALITIES],
            max_waiting_per_client=cfg.max_waiting_per_client,
            password_required=svc.gate.password is not None, instant_any=shipped.ANY_DECODER.is_file(),
            authorised=svc.gate.authorised(request.scope, request.cookies))

    @r.post("/api/login", status_code=204, tags=["service"], responses={401: {"model": Problem},
                                                                        429: {"model": Problem}},
            summary="Give the server's password; answers with a cookie that carries it from then on")
    async def login(request: Request, password: str = Form(...)) -> Response:
        refused = svc.gate.guess(password, client_of(request.scope))
        if refused is not None:
            status, detail = refused
            if status == 401:
                await asyncio.sleep(WRONG_PASSWORD_PAUSE_S)
            raise HTTPException(status, detail)
        return Response(status_code=204,
                        headers={"Set-Cookie": svc.gate.login_cookie(request.url.scheme == "https")})

    return r
