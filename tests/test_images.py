import numpy as np
import pytest
from PIL import Image

from impasto import ImpastoError
from impasto.images.io import fit_long_edge, load_image, save_image


def test_modes_become_rgb_and_alpha_goes_on_white(tmp_path):
    rgba = Image.new("RGBA", (8, 6), (255, 0, 0, 0))
    rgba.putpixel((0, 0), (255, 0, 0, 255))
    cases = {
        "l.png": Image.new("L", (8, 6), 100),
        "la.png": Image.new("LA", (8, 6), (0, 0)),
        "p.png": Image.new("P", (8, 6), 3),
        "rgba.png": rgba,
        "cmyk.jpg": Image.new("CMYK", (8, 6), (0, 255, 0, 0)),
        "i16.png": Image.fromarray(np.full((6, 8), 65535, dtype=np.uint16)),
    }
    for name, img in cases.items():
        img.save(tmp_path / name)
        out = load_image(tmp_path / name)
        assert out.mode == "RGB" and out.size == (8, 6), name
    assert load_image(tmp_path / "rgba.png").getpixel((1, 1)) == (255, 255, 255)  # transparent -> white
    assert load_image(tmp_path / "rgba.png").getpixel((0, 0)) == (255, 0, 0)
    assert load_image(tmp_path / "la.png").getpixel((3, 3)) == (255, 255, 255)
    assert load_image(tmp_path / "i16.png").getpixel((0, 0)) == (255, 255, 255)
    assert load_image(tmp_path / "l.png").getpixel((0, 0)) == (100, 100, 100)


# How a viewer turns the stored pixels upright, per EXIF orientation (TIFF/EXIF spec, tag 0x0112):
# 6 = the stored image must be turned 90 degrees clockwise, 8 = counter-clockwise.
TO_UPRIGHT = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270,
              7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}
FROM_UPRIGHT = {**TO_UPRIGHT, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
    """A picture with no symmetry (six different colours in a 3x2 grid), stored as a camera would
    for each orientation, comes back upright: a rotation cannot pass for a mirror here."""
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]
    upright = Image.new("RGB", (3, 2))
    upright.putdata(colours)
    upright = upright.resize((30, 20), Image.NEAREST)
    op = FROM_UPRIGHT[orientation]
    stored = upright if op is None else upright.transpose(op)
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(tmp_path / "o.png", exif=exif)
    got = load_image(tmp_path / "o.png")
    assert got.size == (30, 20)
    assert got.tobytes() == upright.tobytes()


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "out.png"
    Image.new("RGB", (4, 4), (10, 20, 30)).save(out)
    before = out.read_bytes()

    def broken_save(self, fp, *a, **k):
        with open(fp, "wb") as f:
            f.write(b"half an image")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(ImpastoError, match="No space left"):
        save_image(Image.new("RGB", (8, 8)), out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temporary file left behind


@pytest.mark.parametrize("kind", ["missing", "text", "truncated", "folder", "bomb"])
def test_bad_files_raise_one_line_errors(tmp_path, content_path, kind):
    p = tmp_path / "x.jpg"
    limit = 10**9
    if kind == "text":
        p.write_text("hello")
    elif kind == "truncated":
        p.write_bytes(content_path.read_bytes()[:5000])
    elif kind == "folder":
        p.mkdir()
    elif kind == "bomb":
        Image.new("RGB", (300, 300)).save(p)
        limit = 300 * 300 - 1
    with pytest.raises(ImpastoError) as e:
        load_image(p, max_pixels=limit)
    assert "\n" not in str(e.value)


def test_zero_size_image_is_refused():
    with pytest.raises(ImpastoError, match="zero size"):
        load_image(Image.new("RGB", (0, 0)))


def test_fit_long_edge():
    assert fit_long_edge(Image.new("RGB", (1024, 768)), 512).size == (512, 384)
    assert fit_long_edge(Image.new("RGB", (300, 600)), 64).size == (32, 64)


@pytest.mark.parametrize("ext,fmt", [(".png", "PNG"), (".jpg", "JPEG"), (".webp", "WEBP")])
def test_save_is_atomic_exif_free_and_typed_by_extension(tmp_path, ext, fmt):
    img = Image.new("RGB", (16, 16), (10, 200, 30))
    img.info["exif"] = b"Exif\x00\x00junk"
    out = tmp_path / f"out{ext}"
    save_image(img, out)
    with Image.open(out) as back:
        assert back.format == fmt and back.size == (16, 16)
        assert not back.getexif()
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temp file left behind


def test_save_refuses_unknown_format_and_keeps_old_file(tmp_path):
    with pytest.raises(ImpastoError, match="format"):
        save_image(Image.new("RGB", (4, 4)), tmp_path / "x.gif")
    with pytest.raises(ImpastoError, match="cannot write"):
        save_image(Image.new("RGB", (4, 4)), tmp_path / "nope" / "x.png")
