"""CreditDesk: credit-based organization billing (engine, HTTP API, terminal dashboard)."""

__version__ = "0.1.0"
