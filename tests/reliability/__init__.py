"""Reliability tests: concurrency, crashes, idempotency, authorization, fuzzing and limits."""
