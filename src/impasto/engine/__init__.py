"""The engine: the one door (``prepare``) and the optimisation loop behind it."""

from .transfer import Resume, Transfer, prepare, stylize, stylize_iter

__all__ = ["Resume", "Transfer", "prepare", "stylize", "stylize_iter"]
