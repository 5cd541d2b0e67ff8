"""The one painter: what every shell runs a picture through (impasto.painter)."""

from __future__ import annotations

import warnings

import pytest

warnings.filterwarnings("ignore", message=".*httpx2.*")

from impasto import shipped  # noqa: E402
from impasto.batch.jobs import Digests, job_key  # noqa: E402
from impasto.batch.manifest import plan, shorthand  # noqa: E402
from impasto.engine import Resume, prepare  # noqa: E402
from impasto.errors import ImpastoError  # noqa: E402
from impasto.fast import NetSize, TransformerNet  # noqa: E402
from impasto.fast.model import model_record, save_model  # noqa: E402
from impasto.options import from_record, resolve  # noqa: E402
from impasto.painter import Done, Failed, Painter, Progress, Request  # noqa: E402
from impasto.painter.eta import Eta, seconds_left  # noqa: E402
from impasto.web.worker import Worker  # noqa: E402

from .web_helpers import client, idle, png, submit, wait_for_state  # noqa: E402,F401


def tiny(**changes):
    return resolve(max_long_edge=32, iterations=6, scales=(1,), stop_eps=0.0, device="cpu", **changes)


def test_events_count_steps_and_end_in_the_picture(small):
    content, style = small
    events = list(Painter().paint(Request(content, tiny(), (style,)), preview_every=0.0, preview_edge=16))
    steps = [e for e in events if isinstance(e, Progress)]
    assert [e.step for e in steps] == [1, 2, 3, 4, 5, 6] and {e.total for e in steps} == {6}
    assert all(max(e.preview.size) == 16 for e in steps) and steps[-1].eta == pytest.approx(0, abs=1e-9)
    done = events[-1]
    assert isinstance(done, Done) and done.steps == 6 and done.image.size == (32, 24)


def test_a_size_that_stops_early_hands_over_without_a_gap_and_the_total_follows(small):
    """Two sizes, the first stopped by the stop rule: the steps run on without a jump, and the
    total the events carry falls to what the run really does."""
    content, style = small
    o = resolve(max_long_edge=128, scales=(64, 128), iterations=400, stop_eps=0.5, stop_window=2, device="cpu")
    steps = [e for e in Painter().paint(Request(content, o, (style,))) if isinstance(e, Progress)]
    numbers = [e.step for e in steps]
    assert numbers == list(range(1, len(numbers) + 1))
    first = [e for e in steps if e.long_edge == 64]
    assert len(first) < 400 and {e.total for e in first} == {400 + 200}
    assert {e.total for e in steps[len(first):]} == {len(first) + 200}


def test_bad_input_and_a_bug_end_in_one_line(small, tmp_path):
    content, _ = small
    [failed] = list(Painter().paint(Request(content, tiny(), (tmp_path / "missing.jpg",))))
    assert isinstance(failed, Failed) and not failed.bug and "no such file" in failed.message
    with pytest.raises(ImpastoError, match="no such file"):
        failed.throw()
    [bug] = list(Painter().paint(Request(content, tiny(), (object(),))))  # not an image: a bug, said as one
    assert bug.bug and "\n" not in bug.message


def test_the_painter_keeps_one_network_per_device_and_the_models_it_loaded(small):
    painter = Painter(keep_models=1)
    o = tiny()
    assert painter.network(o) is painter.network(tiny(content_layers=("relu2_2",)))  # all layers kept
    assert painter.network(tiny(pooling="avg")) is not painter.network(o)
    a = painter.model("candy", "cpu")
    assert painter.model("candy", "cpu") is a and painter.model("mosaic", "cpu") is not a
    assert painter.model("candy", "cpu") is not a  # one kept: the other replaced it


def test_a_resumed_transfer_carries_on_from_its_position(small):
    content, style = small
    o = resolve(max_long_edge=64, scales=(32, 64), iterations=8, stop_eps=0.0, device="cpu")
    first = prepare(content, [style], o)
    for step in first:
        if step.step == 5:
            break
    where = first.position()
    assert (where.size, where.size_step, where.step) == (0, 5, 5)
    again = prepare(content, [style], o, resume=where)
    numbers = [s.step for s in again]
    assert numbers == list(range(6, 13)) and again.total_steps == 12 and again.steps_done == 12
    later = prepare(content, [style], o, resume=Resume(1, 2, 10, where.image))
    assert [s.step for s in later] == [11, 12]


def test_the_eta_prices_each_size_by_its_pixels():
    assert seconds_left(1.0, 0, 10, (100, 200), (10, 5)) == pytest.approx(10 + 5 * 4)
    eta = Eta((100, 200), (10, 5))
    assert eta.update(0, 1, 0.0) is None  # nothing timed yet
    assert eta.update(0, 3, 2.0) == pytest.approx(1.0 * (7 + 20))
    assert eta.update(1, 1, 12.0) == pytest.approx(4.0 * 4)  # the next size at 4x the pixels
    assert eta.update(1, 3, 16.0) == pytest.approx(2.0 * 2)  # then its own rate


def test_what_the_web_api_reports_is_what_the_worker_ran(client, png, monkeypatch):
    """The engine record the API shows for a job (a refine too) is the one the worker paints:
    the stored record, resolved as it is, on the device the worker records in it."""
    ran = {}
    real = Worker.options

    def spy(self, job, files):
        ran[job.id] = (real(self, job, files), files.folder)
        return ran[job.id][0]

    monkeypatch.setattr(Worker, "options", spy)
    job = submit(client, png, quality="fast").json()
    instant = wait_for_state(client.get, submit(client, png, style_id="starry_night", quality="instant").json()["id"])
    refine = client.post(instant["links"]["refine"], data={"quality": "fast"}).json()
    for j in (job, refine):
        final = wait_for_state(client.get, j["id"])
        assert final["state"] == "done"
        shown = final["options"]["engine"]
        options, folder = ran[j["id"]]
        record = options.record()
        if j is refine:
            assert shown["init"] == "init.png" and record["init"] == str(folder / "init.png")
            record["init"] = shown["init"]
        assert shown == record and from_record(shown).request() == from_record(record).request()


def test_the_batch_key_follows_the_file_painted_with(tmp_path, small, monkeypatch):
    content, _ = small
    (tmp_path / "large").mkdir()
    for where, width in ((tmp_path / "toy.pt", 8), (tmp_path / "large" / "toy.pt", 12)):
        save_model(where, model_record(TransformerNet(NetSize(width, 1)), "toy.jpg", {}))
    monkeypatch.setattr(shipped, "FAST_DIR", tmp_path)

    def key(model: str, device: str = "auto") -> str:
        [job] = plan(shorthand([str(content)], [], [model], {"device": (device,)}), out_dir=tmp_path / "o")
        return job_key(job, Digests())

    monkeypatch.setattr(shipped, "LARGE_ON_CPU", True)
    assert shipped.model_file("toy", "cpu").path == tmp_path / "large" / "toy.pt"
    large, small_key = key("toy"), key("toy:small")
    assert large == key("toy:large") != small_key  # NAME:large is accepted, and is what NAME paints with
    save_model(tmp_path / "large" / "toy.pt", model_record(TransformerNet(NetSize(16, 1)), "toy.jpg", {}))
    assert key("toy") != large and key("toy:small") == small_key  # the painted file changed, only its jobs redo
    monkeypatch.setattr(shipped, "LARGE_ON_CPU", False)
    assert key("toy", "cpu") == key("toy:small", "cpu") != key("toy:large", "cpu")  # a CPU paints with the small
