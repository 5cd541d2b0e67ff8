"""Two frames of the real clip beside impasto video's painting of them (docs/fast/video_candy.jpg).

    python -m bench flicker                 # paints the clip (bench/work/flicker/candy-smooth-default.mp4)
    python docs/fast/video_frames.py
"""

from pathlib import Path

import cv2
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT.parent / "shared" / "videos" / "car-detection.mp4"  # CC BY 4.0, Intel IoT sample videos
PAINTED = ROOT / "bench" / "work" / "flicker" / "candy-smooth-default.mp4"
FRAMES = (80, 330)


def frames(path: Path, wanted: tuple[int, ...]) -> dict[int, Image.Image]:
    cap, out, i = cv2.VideoCapture(str(path)), {}, 0
    while len(out) < len(wanted):
        ok, f = cap.read()
        if not ok:
            break
        if i in wanted:
            out[i] = Image.fromarray(cv2.cvtColor(f, cv2.COLOR_BGR2RGB))
        i += 1
    return out


if __name__ == "__main__":
    photo, painted = frames(CLIP, FRAMES), frames(PAINTED, FRAMES)
    w, h = photo[FRAMES[0]].size
    sheet = Image.new("RGB", (2 * w, len(FRAMES) * h))
    for r, i in enumerate(FRAMES):
        sheet.paste(photo[i], (0, r * h))
        sheet.paste(painted[i].resize((w, h)), (w, r * h))
    sheet.save(ROOT / "docs" / "fast" / "video_candy.jpg", quality=85)
