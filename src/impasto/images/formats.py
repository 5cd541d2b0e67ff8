"""Which files impasto reads as images and writes as pictures, by name (pure Python)."""

# What a folder of photos or paintings is searched for (anything else in it is left alone).
INPUT_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
# What an output's extension asks for, as Pillow names the format.
OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}
