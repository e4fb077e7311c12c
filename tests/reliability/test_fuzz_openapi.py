"""Schemathesis against the server's own OpenAPI document, in-process over ASGI.

For every documented operation, with an owner's and a member's token (and the operator's on
operator paths): valid-looking requests (positive) and invalid ones (negative). Whatever is
sent: no 5xx, every status is one the document lists and every body matches its documented
schema, invalid input is refused with a 4xx, and every refusal uses the contract's error body
with a code whose status it carries.
Path ids are mostly pinned to real accounts, so bodies get past the 404.
"""

from __future__ import annotations

import warnings

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from creditdesk.errors import ERROR_CLASSES
from creditdesk.server.webhook_service import WebhookSettings
from creditdesk.store import SqlStore

from .inprocess import ORG, served_in_process
from .test_authorization_matrix import TABLE
from .worlds import EngineWorld

EXAMPLES = 12
# Codes the server adds to errors.py's: the guards', routing, a store that cannot save.
EXTRA_CODES = {"payload_too_large": 413, "rate_limited": 429, "method_not_allowed": 405,
               "unavailable": 503}
REAL_IDS = {"account_id": ORG, "org_id": ORG, "user_id": "mia"}


class _Offline(httpx.AsyncBaseTransport):
    """The deliverer's transport here: every receiver answers 503 without a connection."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, request=request)


def _documentation_address(name: str) -> list[str]:
    # Any name "resolves" to a documentation address (RFC 5737), which the URL policy
    # refuses as not public: no DNS query and no connection ever leaves the process.
    return ["192.0.2.10"]


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import schemathesis
    # Books in SQLite, so the webhook paths answer for real instead of 503.
    store = SqlStore(f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/books.db")
    store.migrate()
    hooks = WebhookSettings(resolver=_documentation_address, transport=_Offline())
    with served_in_process(world=EngineWorld(store=store), webhooks=hooks) as served:
        schema = schemathesis.openapi.from_asgi("/openapi.json", served.client.app)
        yield served, schema
    store.close()


def _checks():
    from schemathesis.checks import (
        content_type_conformance,
        negative_data_rejection,
        not_a_server_error,
        response_schema_conformance,
        status_code_conformance,
    )
    return [not_a_server_error, status_code_conformance, response_schema_conformance,
            content_type_conformance, negative_data_rejection]


def _contract_error(response) -> str | None:
    """What is wrong with a refusal's body, or None if it is the contract's."""
    if response.status_code < 400:
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return f"{response.status_code} without the contract error body: {response.text[:200]}"
    if set(error) != {"code", "message", "required_role", "field"}:
        return f"error body fields {sorted(error)}"
    code = error["code"]
    status = ERROR_CLASSES[code].http_status if code in ERROR_CLASSES else EXTRA_CODES.get(code)
    if status != response.status_code:
        return f"code {code!r} with status {response.status_code}"
    return None


def _callers(path: str) -> list[str]:
    return ["@operator", "olga"] if path.startswith("/v1/admin") else ["olga", "mia"]


# Negative data needs something to make invalid: a body, a query or a header besides the
# token (every string is a valid path id). The matrix's request makers say which have one.
CASES = [(method, path, mode) for (method, path), (_, make, *_) in sorted(TABLE.items())
         for mode in ("positive", "negative") if mode == "positive" or make()]


@pytest.mark.parametrize("method, path, mode", CASES)
def test_fuzz_operation(fuzz, method, path, mode):
    from schemathesis import GenerationMode
    served, schema = fuzz
    operation = schema.find_operation_by_label(f"{method.upper()} {path}")
    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    pinned = {name: value for name, value in REAL_IDS.items() if "{" + name + "}" in path}
    strategies = []
    for caller in _callers(path):
        # The token goes into the generated case, so negative data never mutates it away.
        token = served.headers(caller)
        strategies.append(operation.as_strategy(generation_mode=generation, headers=token))
        if pinned:
            # Three to one for real ids: random ones only ever meet the 404.
            strategies += [operation.as_strategy(generation_mode=generation,
                                                 headers=token, path_parameters=pinned)] * 3
    checks = _checks()
    problems: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=st.one_of(strategies))
    def run(case):
        response = case.call()
        case.validate_response(response, checks=checks)
        problem = _contract_error(response)
        if problem:
            problems.append(f"{case.method} {case.formatted_path}: {problem}")

    run()
    assert problems == []



def test_a_far_future_test_clock_never_breaks_the_api():
    """The operator may try any instant; the API must refuse what it cannot compute periods
    for (422 on `now`) or keep answering, never fail with 500."""
    with served_in_process() as served:
        moved = served.client.put("/v1/admin/clock", json={"now": "9999-12-31T23:59:59+00:00"},
                                  headers=served.headers("@operator"))
        if moved.status_code == 422:
            assert moved.json()["error"]["field"] == "now"
        else:
            assert moved.status_code == 200, moved.text
        balance = served.client.get(f"/v1/accounts/{ORG}/balance", headers=served.headers("olga"))
        assert balance.status_code == 200, balance.text
