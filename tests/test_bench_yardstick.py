"""The benchmarks' yardstick: zero for the target itself, positive for anything else."""

from __future__ import annotations

import pytest
from PIL import Image

from bench.yardstick import Yardstick


@pytest.fixture(scope="module")
def pair(tmp_path_factory, content_path, style_path):
    """64x64 crops of the photo and the painting, written as PNG like the bench's inputs."""
    d = tmp_path_factory.mktemp("yardstick")
    files = []
    for name, src in (("content", content_path), ("style", style_path)):
        img = Image.open(src).convert("RGB")
        side = min(img.size)
        img.crop((0, 0, side, side)).resize((64, 64), Image.LANCZOS).save(d / f"{name}.png")
        files.append(d / f"{name}.png")
    return files


def test_photo_and_painting_score_zero_against_themselves(pair):
    content, style = pair
    judge = Yardstick(content, style)
    photo, painting = judge.score(content), judge.score(style)
    assert photo["content_error"] == 0 and photo["matched_content"] == 0
    assert painting["style_error"] == 0 and painting["matched_style"] == 0
    assert photo["style_error"] > 0.05 and painting["content_error"] > 0.05
    assert photo["matched"] > 0 and painting["matched"] > 0


def test_an_image_of_another_size_is_refused(pair, tmp_path):
    content, style = pair
    small = tmp_path / "small.png"
    Image.open(content).resize((32, 32)).save(small)
    with pytest.raises(ValueError, match="32x32"):
        Yardstick(content, style).score(small)
