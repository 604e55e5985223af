"""Runnable examples: python -m bigcore.examples.<name>."""
