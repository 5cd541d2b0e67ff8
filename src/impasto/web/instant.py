"""The shipped real-time styles (:mod:`impasto.fast`) as the page's "instant" choice.

A feed-forward model paints a photo in one pass, about a second on a CPU, where the
optimisation takes half a minute or more; the result can then be refined by the optimisation,
starting from the instant painting, with the painting the model was trained on (when that
painting ships with the web app: ``painting_id``).

Each style's preview is the model painting one of the bundled public-domain paintings (The
Shipwreck: sea, sky and boats) once, cached in the data folder, so the page shows what every
style looks like without shipping more images or fetching any.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from .. import fast
from ..fast.painting import finish
from ..images.io import fit_long_edge, load_image, save_image
from .gallery import BY_FILE, BY_ID

PREVIEW_SCENE = "shipwreck"
PREVIEW_EDGE = 256


@dataclass(frozen=True)
class InstantStyle:
    id: str
    title: str
    credit: str
    painting_id: str | None  # the bundled painting it learned from: refining paints with it
    path: Path
    version: str  # of the model file, so a new model gets a new preview

    def public(self) -> dict[str, str | None]:
        return dict(id=self.id, title=self.title, credit=self.credit, painting_id=self.painting_id,
                    preview_url=f"/api/instant-styles/{self.id}/preview")


def shipped_instant_styles() -> dict[str, InstantStyle]:
    """Every model in ``impasto.fast.shipped_models()``, described from its own record."""
    out: dict[str, InstantStyle] = {}
    for name, path in fast.shipped_models().items():
        model = fast.load_model(name)
        painting = BY_FILE.get(model.style)
        title = painting.title if painting else name.replace("_", " ").capitalize()
        version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        out[name] = InstantStyle(name, title, model.credit, painting.id if painting else None, path, version)
    return out


def paint_instant(model: fast.FastModel, img: Image.Image, keep_colours: bool = False) -> Image.Image:
    """One pass of the model over ``img``; the result has ``img``'s size. ``keep_colours``: the
    photo's colours under the painting's luminance, as ``--color luminance`` does for a model."""
    painting = fast.stylize_image(model, img)
    return finish(painting, img, color="luminance") if keep_colours else painting


class Previews:
    """Each instant style painted over the preview scene, made on first request and kept."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / "instant"
        self._lock = threading.Lock()

    def path(self, style: InstantStyle) -> Path:
        target = self.folder / f"{style.id}-{style.version}.jpg"
        with self._lock:  # one painter at a time; the others then find the file
            if not target.is_file():
                self.folder.mkdir(parents=True, exist_ok=True)
                scene = fit_long_edge(load_image(BY_ID[PREVIEW_SCENE].path), PREVIEW_EDGE)
                save_image(paint_instant(fast.load_model(style.path), scene), target, quality=85)
        return target
