"""A job's images: the result (inline or as a download), the live preview, the photo and the
style as stored, and a small thumbnail for the history."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from .config import INSTANT
from .gallery import BY_ID
from .service import ERRORS, Service, job_id_param, owner_of
from .thumbs import thumbnail


def router(svc: Service) -> APIRouter:
    r = APIRouter()
    files, instant = svc.files, svc.instant

    def image(job_id: str, which: str) -> Path:
        path = getattr(files.for_job(job_id), which)
        if not path.is_file():
            raise HTTPException(404, f"this job has no {which} image yet")
        return path

    @r.get("/api/jobs/{job_id}/result", responses={**ERRORS, 200: {"content": {"image/png": {}}}},
           tags=["images"], summary="The finished painting (PNG)")
    async def result(job_id: str = job_id_param, download: bool = False,
                     owner: str = Depends(owner_of)) -> FileResponse:
        job = svc.find(job_id, owner)
        if job.state != "done":
            raise HTTPException(409, f"the job is {job.state}; there is no result")
        name = f"impasto-{job_id[:10]}.png" if download else None
        return FileResponse(image(job_id, "result"), media_type="image/png", filename=name,
                            content_disposition_type="attachment" if download else "inline")

    @r.get("/api/jobs/{job_id}/thumbnail", responses={**ERRORS, 200: {"content": {"image/jpeg": {}}}},
           tags=["images"], summary="A small JPEG for lists: the result when done, else the latest "
                                    "preview, else the photo")
    async def thumb(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> FileResponse:
        job = svc.find(job_id, owner)
        jf = files.for_job(job_id)
        edge = svc.cfg.thumbnail_edge
        if job.state == "done":
            path = await run_in_threadpool(thumbnail, image(job_id, "result"), jf.thumbnail, edge)
            return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})
        if jf.preview.is_file():  # (already small, and it changes while the job runs)
            return FileResponse(jf.preview, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
        path = await run_in_threadpool(thumbnail, image(job_id, "content"), jf.content_thumbnail, edge)
        return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @r.get("/api/jobs/{job_id}/preview", responses={**ERRORS, 200: {"content": {"image/jpeg": {}}}},
           tags=["images"], summary="The latest intermediate image (JPEG)")
    async def preview(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> FileResponse:
        svc.find(job_id, owner)
        return FileResponse(image(job_id, "preview"), media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @r.get("/api/jobs/{job_id}/content", responses={**ERRORS, 200: {"content": {"image/png": {}}}},
           tags=["images"], summary="The content photo as stored")
    async def content_image(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> FileResponse:
        svc.find(job_id, owner)
        return FileResponse(image(job_id, "content"), media_type="image/png")

    @r.get("/api/jobs/{job_id}/style", responses={**ERRORS, 200: {"content": {"image/*": {}}}},
           tags=["images"], summary="The style image (uploaded or bundled; an instant style's sample)")
    async def style_image(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> FileResponse:
        job = svc.find(job_id, owner)
        sid = job.params.get("style_id")
        if job.params.get("quality") == INSTANT and sid in instant:
            painting = instant[sid].painting_id
            if painting is None:
                return FileResponse(await run_in_threadpool(svc.previews.path, instant[sid]),
                                    media_type="image/jpeg")
            sid = painting
        if sid in BY_ID:
            return FileResponse(BY_ID[sid].path, media_type="image/jpeg")
        return FileResponse(image(job_id, "style"), media_type="image/png")

    return r
