"""The one signal a store gives its engine: run the whole transaction again on fresh state."""


class RetryTransaction(Exception):
    """The database gave up this transaction (a serialization failure, a deadlock, a lock
    wait that timed out): nothing of it was written, so it is safe to compute again."""


# After this many attempts the caller gets the last RetryTransaction (the server answers 503).
MAX_ATTEMPTS = 8
