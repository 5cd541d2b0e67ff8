"""The jobs: queue one (a photo and a style, or a refinement of an instant painting), list this
browser's, read, cancel and delete them. Routes only check, store and read; the workers paint."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from PIL import Image

from ..errors import ImpastoError
from ..images.io import save_image
from .access import client_of
from .config import INSTANT, QUALITIES
from .. import shipped
from .jobspec import MAX_STRENGTH, MIN_STRENGTH, JobSpec, check_shape, check_spec, job_spec, to_options, total_steps
from .models import Deleted, JobList, JobOut
from .service import ERRORS, Service, job_id_param, owner_of
from .uploads import read_limited

MAX_OFFSET = 2**31 - 1
JOB_FIELDS = {"content", "style", "style_id", "style_strength", "size", "preserve_color", "quality"}
REFINE_FIELDS = {"quality", "style_strength"}


async def _only_fields(request: Request, allowed: set[str]) -> None:
    """Refuse form fields the API does not know (``iterations=...`` must not pass unnoticed)."""
    unknown = sorted(set((await request.form()).keys()) - allowed)
    if unknown:
        raise HTTPException(422, f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                                 f"the fields are {', '.join(sorted(allowed))}")


def router(svc: Service) -> APIRouter:
    r = APIRouter()
    cfg, store, files, instant = svc.cfg, svc.store, svc.files, svc.instant

    async def queue(spec: JobSpec, owner: str, client: str,
                    write: Callable[[Path, Path, Path], None]) -> JSONResponse:
        """Make the job's folder, let ``write(content, style, init)`` fill it, then queue the job."""
        if spec.instant:
            params, total, lane = spec.as_dict(), 1, "instant"  # one pass of a model
        else:  # the options the engine will run with, resolved now (and refused now if they cannot be)
            try:
                engine = to_options(spec, cfg, "auto")
            except ImpastoError as e:
                raise HTTPException(422, str(e)) from None
            params, total, lane = {**spec.as_dict(), "engine": engine.record()}, total_steps(engine), "paint"
        job_id = secrets.token_urlsafe(24)
        job_files = files.create(job_id)
        try:
            await run_in_threadpool(write, job_files.content, job_files.style, job_files.init)
            svc.check_room(owner, client)  # again: others may have been queued meanwhile
            job = store.add(job_id, params, total, owner, lane, client=client)
        except BaseException:
            files.remove(job_id)
            raise
        svc.pool.notify()
        body = svc.out(job)
        return JSONResponse(body.model_dump(), status_code=201, headers={"Location": body.links.self})

    @r.post("/api/jobs", response_model=JobOut, status_code=201, responses=ERRORS, tags=["jobs"],
            summary="Queue a job: a content photo plus a bundled style_id or an uploaded style")
    async def create_job(
        request: Request,
        content: UploadFile = File(description="The photo to paint (PNG, JPEG, WebP, ...)"),
        style: UploadFile | None = File(None, description="A style image; or give style_id"),
        style_id: str | None = Form(None, description="A bundled painting (GET /api/styles) or an instant "
                                                      "style (GET /api/instant-styles)"),
        style_strength: float | None = Form(None, description=f"{MIN_STRENGTH:g} to {MAX_STRENGTH:g}; "
                                                              "1 = default (not for instant styles)"),
        size: int | None = Form(None, description="Long edge of the result; clamped to the server's range"),
        preserve_color: bool = Form(False, description="Keep the photo's colours"),
        quality: str | None = Form(None, description="fast, balanced, best or instant (default: balanced, "
                                                     "or instant for an instant-only style)"),
        owner: str = Depends(owner_of),
    ) -> JSONResponse:
        await _only_fields(request, JOB_FIELDS)
        client = client_of(request.scope)
        svc.check_room(owner, client)
        has_style_file = style is not None and bool(style.filename or style.size)
        spec = check_spec(cfg, style_strength, size, preserve_color, quality, style_id or None,
                          has_style_file, instant, shipped.ANY_DECODER.is_file())

        async def decoded(upload: UploadFile, what: str) -> Image.Image:
            data = await read_limited(upload, what, cfg.max_upload_bytes)
            header = svc.decoder.open(data, what)
            check_shape(what, header.width, header.height, spec, cfg)
            return await run_in_threadpool(svc.decoder.decode, header, what, spec.size)

        content_img = await decoded(content, "content")
        style_img = await decoded(style, "style") if has_style_file else None

        def write(content_path: Path, style_path: Path, _init: Path) -> None:
            save_image(content_img, content_path)
            if style_img is not None:
                save_image(style_img, style_path)

        return await queue(spec, owner, client, write)

    @r.get("/api/jobs", response_model=JobList, tags=["jobs"], summary="This browser's jobs, newest first")
    async def list_jobs(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=MAX_OFFSET),
                        owner: str = Depends(owner_of)) -> JobList:
        return JobList(jobs=[svc.out(j) for j in store.list(owner, limit, offset)], total=store.count(owner=owner))

    @r.delete("/api/jobs", response_model=Deleted, tags=["jobs"],
              summary="Delete this browser's finished jobs (done, failed, cancelled) and their images")
    async def clear_jobs(owner: str = Depends(owner_of)) -> Deleted:
        ids = store.delete_finished(owner=owner)
        for job_id in ids:
            files.remove(job_id)
        return Deleted(deleted=len(ids))

    @r.get("/api/jobs/{job_id}", response_model=JobOut, responses=ERRORS, tags=["jobs"],
           summary="A job's state and progress")
    async def get_job(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> JobOut:
        return svc.out(svc.find(job_id, owner))

    @r.delete("/api/jobs/{job_id}", status_code=204, responses=ERRORS, tags=["jobs"],
              summary="Delete a job and its images (a running one must be cancelled first)")
    async def delete_job(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> Response:
        svc.find(job_id, owner)
        if not store.delete(job_id, owner):
            raise HTTPException(409, "the job is running; cancel it first")
        files.remove(job_id)
        return Response(status_code=204)

    @r.post("/api/jobs/{job_id}/cancel", response_model=JobOut, responses=ERRORS, tags=["jobs"],
            summary="Cancel a queued job, or stop a running one at its next step")
    async def cancel_job(job_id: str = job_id_param, owner: str = Depends(owner_of)) -> JobOut:
        job = svc.find(job_id, owner)
        if job.is_finished:
            raise HTTPException(409, f"the job is already {job.state}")
        job = store.request_cancel(job_id) or job
        return svc.out(job)

    @r.post("/api/jobs/{job_id}/refine", response_model=JobOut, status_code=201, responses=ERRORS,
            tags=["jobs"], summary="Optimise a finished instant painting further, with the painting "
                                   "its style learned from")
    async def refine_job(
        request: Request, job_id: str = job_id_param,
        quality: str = Form("balanced", description="fast, balanced or best"),
        style_strength: float | None = Form(None, description=f"{MIN_STRENGTH:g} to {MAX_STRENGTH:g}"),
        owner: str = Depends(owner_of),
    ) -> JSONResponse:
        await _only_fields(request, REFINE_FIELDS)
        parent = svc.find(job_id, owner)
        if parent.params.get("quality") != INSTANT or parent.state != "done":
            raise HTTPException(409, "only a finished instant painting can be refined")
        parent_spec = job_spec(parent)
        style = instant.get(parent_spec.style_id or "")
        if parent_spec.any_network(instant):  # the arbitrary network painted a painting: refine with it
            painting_id = parent_spec.style_id
        elif style is None or style.painting_id is None:
            name = style.title if style else parent_spec.style_id
            raise HTTPException(409, f"the painting of the {name} style does not come with the app, "
                                     "so its result cannot be refined")
        else:
            painting_id = style.painting_id
        if quality == INSTANT:
            raise HTTPException(422, f"quality must be one of {', '.join(QUALITIES)} to refine")
        client = client_of(request.scope)
        svc.check_room(owner, client)
        spec = check_spec(cfg, style_strength, parent_spec.size, parent_spec.preserve_color, quality,
                          painting_id, painting_id is None, instant)
        spec.refine_of = parent.id
        before = files.for_job(parent.id)
        with Image.open(before.content) as photo:  # (the header only)
            check_shape("content", photo.width, photo.height, spec, cfg)  # "best" needs more pixels

        def write(content_path: Path, style_path: Path, init_path: Path) -> None:
            shutil.copyfile(before.content, content_path)
            shutil.copyfile(before.result, init_path)
            if painting_id is None:  # the painting the parent's user uploaded
                shutil.copyfile(before.style, style_path)

        return await queue(spec, owner, client, write)

    return r
