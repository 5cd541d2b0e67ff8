"""The web worker goes through the engine's one door: a job runs what its quality promises
(two sizes for "best"), and the job record shows the resolved options it ran with."""

from __future__ import annotations

import warnings

from PIL import Image

from .web_helpers import api_client, encode, fast_config, photo, wait_for_state

warnings.filterwarnings("ignore", message=".*httpx2.*")


def test_best_quality_runs_its_scales_and_records_the_resolved_options(tmp_path):
    cfg = fast_config(tmp_path / "data", quality_iterations={"fast": 2, "balanced": 3, "best": 4},
                      quality_scales={"fast": 1, "balanced": 1, "best": 2}, default_size=128, max_size=128)
    with api_client(cfg) as c:
        r = c.post("/api/jobs", files={"content": ("p.png", encode(photo((128, 96))), "image/png")},
                   data={"style_id": "starry_night", "quality": "best", "size": "128", "preserve_color": "true"})
        assert r.status_code == 201, r.text
        job = wait_for_state(c.get, r.json()["id"])
        assert job["state"] == "done", job.get("error")
        engine = job["options"]["engine"]
        assert engine["scales"] == [64, 128] and engine["color"] == "luminance" and engine["stop_eps"] == 0
        assert job["total"] == 4 + 2 and job["step"] == 6  # the coarse size's steps, then half as many
        result = c.get(job["links"]["result"])
        assert Image.open(__import__("io").BytesIO(result.content)).size == (128, 96)
