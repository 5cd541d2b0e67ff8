"""The engine: the one door (``prepare``) and the optimisation loop behind it."""

from .transfer import Transfer, prepare, stylize, stylize_iter

__all__ = ["Transfer", "prepare", "stylize", "stylize_iter"]
