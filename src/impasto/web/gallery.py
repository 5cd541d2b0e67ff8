"""The paintings shipped with the package, so the page offers styles with no upload and no
internet. Only works in the public domain are bundled; each carries its credit line."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

STYLE_DIR = Path(__file__).parent / "static" / "styles"


@dataclass(frozen=True)
class Painting:
    id: str
    title: str
    artist: str
    year: str
    credit: str
    file: str

    @property
    def path(self) -> Path:
        return STYLE_DIR / self.file

    def public(self) -> dict[str, str]:
        """What the API shows: everything but the file name, plus where to fetch the image."""
        d = asdict(self)
        d.pop("file")
        d["image_url"] = f"/static/styles/{self.file}"
        return d


PAINTINGS: tuple[Painting, ...] = (
    Painting("starry_night", "The Starry Night", "Vincent van Gogh", "1889",
             "Museum of Modern Art, New York. Public domain.", "starry_night.jpg"),
    Painting("the_scream", "The Scream", "Edvard Munch", "1893",
             "National Museum of Norway, Oslo. Public domain.", "the_scream.jpg"),
    Painting("shipwreck", "The Shipwreck", "J. M. W. Turner", "1805",
             "Tate Britain, London. Public domain.", "shipwreck.jpg"),
)

BY_ID: dict[str, Painting] = {p.id: p for p in PAINTINGS}
BY_FILE: dict[str, Painting] = {p.file: p for p in PAINTINGS}  # what a fast model records as its style
