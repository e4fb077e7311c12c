"""The user paths of the contract's HTTP API, one module per resource.

Routes declare no body or typed parameter that FastAPI would validate on its own, because
FastAPI validates before the route runs, and the contract's order is 401, 404, 403, then
422. Each route authenticates, parses its body strictly (bodies.py), and when the body or a
parameter is unusable first checks that the caller may act on the account at all, so an
outsider gets 404 and a plain member 403 whatever they sent. Routes call the engine through
`Gate.call` with a `BillingSession` method itself, never its name: a renamed method fails at
import, not on a request. Answers are serialised straight from the engine's frozen models;
`response_model` is there for /openapi.json. Each resource adds its routes to the app
itself (tagged.py), so the router finds any of them in one flat list.
"""

from fastapi import FastAPI

from ..gate import Gate
from . import account, alerts, members, plan, purchases, usage

RESOURCES = (account, usage, members, plan, purchases, alerts)


def add_user_routes(app: FastAPI, gate: Gate) -> None:
    for resource in RESOURCES:
        resource.add_routes(app, gate)
