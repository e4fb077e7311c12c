"""Issue 12 item 4: /openapi.json says what the contract says, and a client generated from it
with openapi-python-client is pleasant: contract method names, named bodies, the key
required, one ErrorBody. The generated client drives a real server on loopback."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from openapi_spec_validator import validate

from tests.support.live_server import LiveServer

CONTRACT_METHODS = {
    "whoami", "balance", "my_usage", "record_usage", "usage_history", "members",
    "set_member_limit", "subscription", "change_plan", "cancel_plan_change", "plans",
    "credit_packs", "purchase_credits", "auto_recharge", "configure_auto_recharge",
    "invoices", "ledger", "portal_url"}
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
GENERATOR = shutil.which("openapi-python-client",
                         path=str(Path(sys.executable).parent)) or shutil.which(
    "openapi-python-client")


@pytest.fixture
def served(world):
    with LiveServer(world.engine) as server:
        document = httpx.get(f"{server.url}/openapi.json").json()
        yield server, document


def _operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_the_served_document_is_valid_openapi(served):
    _, document = served
    validate(document)


def test_operation_ids_are_the_contract_method_names(served):
    _, document = served
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))
    assert CONTRACT_METHODS <= set(ids), CONTRACT_METHODS - set(ids)
    assert all("_v1_" not in name for name in ids), ids


def test_request_bodies_are_named_component_schemas(served):
    _, document = served
    schemas = document["components"]["schemas"]
    bodies = 0
    for path, method, operation in _operations(document):
        if "requestBody" not in operation:
            continue
        bodies += 1
        schema = operation["requestBody"]["content"]["application/json"]["schema"]
        assert set(schema) == {"$ref"}, (path, method, schema)
        assert schema["$ref"].rsplit("/", 1)[-1] in schemas
    assert bodies >= 12      # 13 with --test-clock (PUT /v1/admin/clock)
    assert {"UsageBody", "PurchaseBody", "LimitBody", "AutoRechargeBody"} <= set(schemas)


def test_the_idempotency_key_is_required_where_the_server_requires_it(served):
    _, document = served
    for path, method, operation in _operations(document):
        keys = [p for p in operation.get("parameters", ()) if p["name"] == "Idempotency-Key"]
        if operation["operationId"] in ("record_usage", "purchase_credits", "pay_invoice"):
            assert len(keys) == 1 and keys[0]["required"] is True, (path, keys)
        else:
            assert not keys, path


def test_every_error_answer_refers_to_one_error_body(served):
    _, document = served
    seen = set()
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                seen.add(status)
                assert response["content"]["application/json"]["schema"] == ERROR_REF, \
                    (path, method, status)
    assert {"401", "402", "403", "404", "409", "413", "422", "429", "503"} <= seen
    error = document["components"]["schemas"]["ErrorBody"]
    assert error["required"] == ["error"]


@pytest.mark.skipif(GENERATOR is None, reason="openapi-python-client is not installed")
def test_a_generated_client_debits_buys_and_gets_a_typed_refusal(served, tmp_path,
                                                                 monkeypatch):
    server, _ = served
    spec = tmp_path / "openapi.json"
    spec.write_text(httpx.get(f"{server.url}/openapi.json").text)
    config = tmp_path / "config.yaml"
    config.write_text("project_name_override: creditdesk_api\n"
                      "package_name_override: creditdesk_api\npost_hooks: []\n")
    done = subprocess.run([GENERATOR, "generate", "--path", str(spec), "--meta", "none",
                           "--config", str(config), "--output-path",
                           str(tmp_path / "creditdesk_api"), "--fail-on-warning"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    api = importlib.import_module("creditdesk_api")
    usage = importlib.import_module("creditdesk_api.api.usage.record_usage")
    purchases = importlib.import_module("creditdesk_api.api.purchases.purchase_credits")
    packs = importlib.import_module("creditdesk_api.api.purchases.credit_packs")
    models = importlib.import_module("creditdesk_api.models")

    # The generator renames fields that shadow a Python builtin: `credits` is `credits_`.
    client = api.AuthenticatedClient(base_url=server.url, token=server.token_for("ann"))
    receipt = usage.sync(account_id="acme", client=client, idempotency_key="gen-1",
                         body=models.UsageBody(credits_=7, campaign="generated"))
    assert isinstance(receipt, models.UsageReceipt), receipt
    assert receipt.from_base + receipt.from_rollover + receipt.from_purchased == 7

    pack = packs.sync(client=client)[0]
    invoice = purchases.sync(account_id="acme", client=client, idempotency_key="gen-2",
                             body=models.PurchaseBody(credits_=pack.credits_))
    assert isinstance(invoice, models.Invoice), invoice
    assert invoice.credits_ == pack.credits_ and invoice.amount_cents == pack.price_cents

    refused = usage.sync_detailed(account_id="acme", client=client, idempotency_key="gen-3",
                                  body=models.UsageBody(credits_=10**9, campaign="too much"))
    assert refused.status_code == 402
    assert isinstance(refused.parsed, models.ErrorBody)
    assert refused.parsed.error.code == "insufficient_credits"
    balance = server.service.engine.session("ann").balance("acme")
    assert balance.purchased == pack.credits_        # the refusal took nothing
