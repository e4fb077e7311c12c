"""Tests of the reference engine against billing-rules.md."""
