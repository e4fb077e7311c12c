"""Contract tests: every BillingBackend behaves the same, in memory or over HTTP."""
