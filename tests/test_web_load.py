"""A load test on loopback: 50 jobs submitted at once to a real server (uvicorn on 127.0.0.1),
some of them watched over Server-Sent Events. All must complete, none may be lost, and they
must run in the order the server queued them."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

import httpx

from .web_helpers import LiveServer, encode, fast_config, photo  # noqa: E402

JOBS = 50
WATCHED = 10


async def _submit_all(url: str, png: bytes, cookies: httpx.Cookies) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=JOBS)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits, cookies=cookies) as client:
        async def one(i: int) -> httpx.Response:
            files = {"content": (f"photo{i}.png", png, "image/png")}
            return await client.post("/api/jobs", files=files, data={"style_id": "shipwreck", "quality": "fast"})

        return await asyncio.gather(*(one(i) for i in range(JOBS)))


async def _watch(url: str, job_ids: list[str], cookies: httpx.Cookies) -> list[str]:
    """Follow each job's event stream to its end; returns the final state each reported."""
    async with httpx.AsyncClient(base_url=url, timeout=120, cookies=cookies) as client:
        async def one(job_id: str) -> str:
            final = "stream ended without an end event"
            async with client.stream("GET", f"/api/jobs/{job_id}/events") as r:
                assert r.status_code == 200
                kind = None
                async for line in r.aiter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: ") and kind == "end":
                        final = json.loads(line[6:])["state"]
            return final

        return await asyncio.gather(*(one(j) for j in job_ids))


def test_fifty_jobs_at_once_all_complete_in_queue_order(tmp_path):
    png = encode(photo((40, 30)))
    cfg = fast_config(tmp_path / "data", preview_interval=0.2, max_waiting_per_client=JOBS)
    with LiveServer(cfg) as server:
        # One browser (its token from a first request) posting them all.
        browser = httpx.get(server.url + "/api/capabilities").cookies
        responses = asyncio.run(_submit_all(server.url, png, browser))
        assert [r.status_code for r in responses] == [201] * JOBS, [r.text for r in responses if r.status_code != 201]
        ids = [r.json()["id"] for r in responses]
        assert len(set(ids)) == JOBS

        # Watch the last few (still queued) to the end while the rest drain.
        finals = asyncio.run(_watch(server.url, ids[-WATCHED:], browser))
        assert finals == ["done"] * WATCHED

        deadline = time.monotonic() + 120
        with httpx.Client(base_url=server.url, timeout=30, cookies=browser) as client:
            while True:
                listing = client.get("/api/jobs", params={"limit": 500}).json()
                states = [j["state"] for j in listing["jobs"]]
                if all(s in ("done", "failed", "cancelled") for s in states):
                    break
                assert time.monotonic() < deadline, f"still unfinished: {states.count('queued')} queued"
                time.sleep(0.2)
            jobs = listing["jobs"]
            assert listing["total"] == JOBS and {j["id"] for j in jobs} == set(ids)  # none lost
            assert [j["state"] for j in jobs] == ["done"] * JOBS, {j["error"] for j in jobs}

            # The history is newest first, so reversed it is queue order: each job started
            # and finished after the one queued before it (one worker, first in first out).
            queued = list(reversed(jobs))
            assert [j["created"] for j in queued] == sorted(j["created"] for j in queued)
            starts = [j["started"] for j in queued]
            ends = [j["finished"] for j in queued]
            assert starts == sorted(starts) and ends == sorted(ends)
            assert all(s >= e for s, e in zip(starts[1:], ends[:-1]))
            for job in (queued[0], queued[-1]):
                r = client.get(job["links"]["result"])
                assert r.status_code == 200 and r.headers["content-type"] == "image/png"
