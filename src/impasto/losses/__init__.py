"""Losses: the content, style and smoothness terms, and the objectives that evaluate them."""
