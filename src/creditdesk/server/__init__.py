"""The HTTP API over the billing engine (`creditdesk serve`), with its durable SQLite store.

Modules: `app` (the app factory and the user paths), `operator_routes` (/v1/admin),
`gate` (who is calling, strict bodies, the order of checks), `service` (runs engine calls,
journals the ones that changed state, waits for durability), `store` (SQLite schema, group
commit, replay), `tokens`, `bodies` (request and answer models), `refusals` (the one error
shape), `limits` (body size and rate guards), `runner` (uvicorn, the operator token,
`serve --demo`).
"""
