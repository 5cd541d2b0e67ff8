"""What the GPU call's training phases carry: photos and paintings packed to fit, names kept."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from bench import train_data
from impasto.arbitrary.training import held_out


def _datasets(root: Path) -> Path:
    for i in range(4):
        for split in ("train", "val"):
            (root / "bsds500" / split).mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (48, 32), (60 * i, 20, 90)).save(root / "bsds500" / split / f"{split}{i}.jpg")
    for movement in ("Baroque", "Cubism"):
        folder = root / "wikiart/train" / movement
        folder.mkdir(parents=True)
        for i in range(12):
            Image.effect_noise((32, 32), 40 + i).convert("RGB").save(folder / f"{movement.lower()}-{i}.jpg")
    return root


def test_packed_data_keeps_every_photo_the_names_and_the_held_out_split(tmp_path):
    datasets = _datasets(tmp_path / "shared")
    wikiart = datasets / "wikiart/train"
    trainable = [f for f in wikiart.rglob("*.jpg") if not held_out(f, wikiart)]
    counts = train_data.pack(tmp_path / "carry", 10**9, datasets)
    assert counts["photos"] == 8 and counts["paintings"] == counts["paintings_available"] == len(trainable)
    got = train_data.unpack(tmp_path / "carry", tmp_path / "unpacked")
    assert sorted(p.name for p in (got / "bsds500/val").iterdir()) == [f"val{i}.jpg" for i in range(4)]
    names = sorted(p.relative_to(got / "wikiart/train") for p in (got / "wikiart/train").rglob("*.jpg"))
    assert names == sorted(f.relative_to(wikiart) for f in trainable)  # no held-out painting travels
    assert Image.open(got / "bsds500/train/train0.jpg").format == "WEBP"  # smaller, read by its content
    budget = counts["bytes"] * 2 // 3
    small = train_data.pack(tmp_path / "carry2", budget, datasets)
    assert small["photos"] == 8 and 0 < small["paintings"] < counts["paintings"]
    assert small["bytes"] <= budget + 2 * 10240  # a tar file's closing record at most over
    sample = train_data.sample(got, tmp_path / "tiny", 2)
    assert len(list((sample / "wikiart/train").rglob("*.jpg"))) == 2
    assert len(list((sample / "bsds500").rglob("*.jpg"))) == 4


def test_without_carried_tars_training_reads_shared(tmp_path):
    assert train_data.unpack(tmp_path / "nothing", tmp_path / "x") == train_data.SHARED / "datasets"
