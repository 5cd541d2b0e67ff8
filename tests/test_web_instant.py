"""Instant styles in the web service: the shipped feed-forward models paint a photo in one pass,
offered with a preview each, and a finished instant painting can be refined by the optimisation."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

warnings.filterwarnings("ignore", message=".*httpx2.*")

from PIL import Image  # noqa: E402

from impasto import fast, shipped  # noqa: E402

from .web_helpers import (api_client, client, encode, idle, photo, png, slow_config, start_long_job,  # noqa: E402,F401
                          submit, wait_for_state)

pytestmark = pytest.mark.filterwarnings("ignore:.*httpx2.*")


def test_the_shipped_models_are_offered_with_previews(idle):
    styles = idle.get("/api/instant-styles").json()
    assert [s["id"] for s in styles] == sorted(fast.shipped_models())
    by_id = {s["id"]: s for s in styles}
    assert by_id["starry_night"]["painting_id"] == "starry_night" and by_id["candy"]["painting_id"] is None
    assert by_id["the_scream"]["title"] == "The Scream" and by_id["candy"]["title"] == "Candy"
    for s in styles:
        r = idle.get(s["preview_url"])
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert max(Image.open(io.BytesIO(r.content)).size) == 256
    cached = sorted(p.name.split("-")[0] for p in (idle.app.state.config.data_dir / "instant").iterdir())
    assert cached == sorted(by_id)  # painted once, kept in the data folder
    assert idle.get("/api/instant-styles/nope/preview").status_code == 404


def test_an_instant_job_paints_in_one_pass(client, png):
    r = submit(client, png, style_id="candy", size=48)
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["instant"] and job["options"]["quality"] == "instant" and job["total"] == 1
    assert job["style_title"] == "Candy (instant)"
    done = wait_for_state(client.get, job["id"])
    assert done["state"] == "done" and done["step"] == done["total"] == 1 and done["progress"] == 1.0
    assert not done["refinable"]  # candy's painting does not ship
    img = Image.open(io.BytesIO(client.get(done["links"]["result"]).content))
    assert img.size == (48, 36) and img.mode == "RGB"
    assert client.get(done["links"]["style"]).headers["content-type"] == "image/jpeg"  # its sample
    r = client.post(done["links"]["refine"])
    assert r.status_code == 409 and "cannot be refined" in r.json()["detail"]


def test_an_instant_job_does_not_wait_behind_a_long_painting(tmp_path, png):
    with api_client(slow_config(tmp_path / "data")) as c:
        long = start_long_job(c, png)
        quick = submit(c, png, style_id="mosaic").json()
        assert quick["jobs_ahead"] == 0
        assert wait_for_state(c.get, quick["id"])["state"] == "done"
        assert c.get(f"/api/jobs/{long['id']}").json()["state"] == "running"
        c.post(f"/api/jobs/{long['id']}/cancel")


def test_refine_an_instant_painting_with_its_painting(client, png):
    instant = submit(client, png, style_id="starry_night", quality="instant", preserve_color="true").json()
    done = wait_for_state(client.get, instant["id"])
    assert done["state"] == "done" and done["refinable"]
    r = client.post(done["links"]["refine"], data={"quality": "fast"})
    assert r.status_code == 201, r.text
    refined = r.json()
    assert not refined["instant"] and refined["style_title"] == "The Starry Night"
    o = refined["options"]
    assert (o["refine_of"], o["quality"], o["style_id"], o["size"], o["preserve_color"]) == \
        (instant["id"], "fast", "starry_night", 32, True)
    folder = client.app.state.files.for_job(refined["id"]).folder
    assert (folder / "init.png").read_bytes() == client.get(done["links"]["result"]).content
    final = wait_for_state(client.get, refined["id"])
    assert final["state"] == "done", final["error"]
    assert final["step"] == 2
    # Two steps from the instant painting stay near it, far from the photo the optimisation
    # would otherwise start from.
    def pixels(link: str) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(client.get(link).content)).convert("RGB"), dtype=float)

    out = pixels(final["links"]["result"])
    assert np.abs(out - pixels(done["links"]["result"])).mean() < np.abs(out - pixels(done["links"]["content"])).mean()
    # Only finished instant paintings can be refined, and refining is not instant itself.
    assert client.post(refined["links"]["refine"]).status_code == 409
    r = client.post(done["links"]["refine"], data={"quality": "instant"})
    assert r.status_code == 422
    r = client.post(done["links"]["refine"], data={"iterations": "9"})
    assert r.status_code == 422 and r.json()["detail"].startswith("unknown field iterations")


@pytest.mark.parametrize("fields, message", [
    ({"style_id": "candy", "quality": "balanced"}, "candy is an instant style: choose quality instant"),
    ({"style_id": "shipwreck", "quality": "instant"}, "instant styles are candy, mosaic, starry_night, the_scream"),
    ({"style_id": "candy", "style_strength": "3"}, "style_strength does not apply to instant styles"),
    ({"style_id": "no_such_style"}, "unknown style_id 'no_such_style'"),
])
def test_instant_refusals(idle, png, fields, message, monkeypatch, tmp_path):
    monkeypatch.setattr(shipped, "ANY_DECODER", tmp_path / "none.pt")  # without the arbitrary-style network
    r = submit(idle, png, **fields)
    assert r.status_code == 422 and message in r.json()["detail"]


def test_an_uploaded_style_cannot_be_instant_without_the_arbitrary_network(idle, png, monkeypatch, tmp_path):
    monkeypatch.setattr(shipped, "ANY_DECODER", tmp_path / "none.pt")
    r = submit(idle, png, style_id=None, style=encode(photo((40, 40))), quality="instant")
    assert r.status_code == 422 and r.json()["detail"].startswith("instant styles are")
