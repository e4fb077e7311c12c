"""The HTTP API over the billing engine (`creditdesk serve`), with its durable SQLite store.

Modules: `app` (FastAPI routes and the app factory), `service` (runs engine calls, journals
the ones that changed state, waits for durability), `store` (SQLite schema, group commit,
replay), `tokens`, `bodies` (request models), `refusals` (the one error shape), `runner`
(uvicorn, the operator token, `serve --demo`).
"""
