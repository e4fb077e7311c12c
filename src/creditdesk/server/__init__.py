"""The HTTP API over the billing engine (`creditdesk serve`), on the engine's SQL store.

Modules: `app` (the app factory), `routes/` and `operator_routes` (/v1/admin), `gate` (who
is calling, strict bodies, the order of checks), `service` (runs engine calls off the event
loop; the operator's commands in a typed table), `database` (`--db`, the shared test
clock), `upgrade` (a journal database of the previous release, replayed once into tables),
`tokens`, `bodies` (request and answer models), `refusals` (the one error shape), `limits`
(body size and rate guards), `runner` (uvicorn, workers, the operator token, `--demo`).
"""
