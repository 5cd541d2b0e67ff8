"""impasto: neural style transfer after Gatys, Ecker & Bethge, with the controls users expect."""

from .errors import ImpastoError
from .options import Options
from .presets import PRESETS
from .transfer import Run, Step, stylize, stylize_iter

__all__ = ["ImpastoError", "Options", "PRESETS", "Run", "Step", "stylize", "stylize_iter"]
__version__ = "0.1.0"
