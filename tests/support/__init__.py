"""Helpers shared by test packages (a live HTTP server over a given engine)."""
