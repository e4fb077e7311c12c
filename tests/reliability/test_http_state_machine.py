"""Model-based test of the HTTP API: every step runs over HTTP and on a plain engine.

Both sides start from the same set-up and the same clock. Hypothesis drives a mix of valid
and invalid requests (wrong types, zero, negatives, absurd amounts, reused idempotency keys,
outsiders, every role); after each, the HTTP answer must be the engine's answer (the same
model, or the same error code, status, field and required role), and what the owner sees
over HTTP (balance, members, invoices, settings, plan, recent ledger) must equal the engine's.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from pydantic import TypeAdapter

from creditdesk.errors import BillingError
from creditdesk.models import (
    AutoRecharge,
    Balance,
    Invoice,
    LedgerEntry,
    MemberUsage,
    Subscription,
    UsageReceipt,
)

from .inprocess import ORG, populate, served_in_process
from .worlds import EngineWorld

USERS = st.sampled_from(["olga", "adam", "mia", "otto"])
KEYS = st.sampled_from(["k1", "k2", "k3"])
ODD_VALUES = st.sampled_from(["10", True, 1.5, None, [], {}])
CREDITS = st.one_of(st.integers(1, 3_000), st.integers(-3, 0),
                    st.sampled_from([10**12, 10**12 + 1]), ODD_VALUES)
PACKS = st.one_of(st.integers(1, 20).map(lambda n: n * 200),
                  st.sampled_from([0, 199, -200, 10**12 + 200]), ODD_VALUES)


class ApiAgainstEngine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model = EngineWorld()
        populate(self.model)
        self._served = served_in_process()
        self.served = self._served.__enter__()
        self.client = self.served.client

    def teardown(self) -> None:
        self._served.__exit__(None, None, None)

    # --- the two sides ------------------------------------------------------------------

    def over_http(self, user, method, path, body=None, key=None, params=None):
        headers = self.served.headers(user)
        if key is not None:
            headers["Idempotency-Key"] = key
        return self.client.request(method, path, json=body, headers=headers, params=params)

    def on_engine(self, user, method, *args, **kwargs):
        try:
            return getattr(self.model.engine.session(user), method)(*args, **kwargs)
        except BillingError as error:
            return error

    def agree(self, response, expected, model=None) -> None:
        if isinstance(expected, BillingError):
            assert response.status_code == expected.http_status, (response.text, expected)
            assert response.json()["error"] == {**expected.to_dict(),
                                                "message": response.json()["error"]["message"]}
            return
        assert response.status_code == 200, (response.text, expected)
        if model is not None:
            assert TypeAdapter(model).validate_json(response.text) == expected

    # --- rules -------------------------------------------------------------------------

    @rule(user=USERS, credits=CREDITS, campaign=st.sampled_from(["alpha", "beta"]), key=KEYS)
    def record_usage(self, user, credits, campaign, key):
        self.agree(self.over_http(user, "POST", f"/v1/accounts/{ORG}/usage",
                                  {"credits": credits, "campaign": campaign}, key),
                   self.on_engine(user, "record_usage", ORG, credits, campaign=campaign,
                                  idempotency_key=key), UsageReceipt)

    @rule(user=USERS, credits=PACKS, key=KEYS)
    def purchase(self, user, credits, key):
        self.agree(self.over_http(user, "POST", f"/v1/accounts/{ORG}/purchases",
                                  {"credits": credits}, key),
                   self.on_engine(user, "purchase_credits", ORG, credits, idempotency_key=key),
                   Invoice)

    @rule(user=USERS, member=st.sampled_from(["mia", "adam", "olga", "nobody"]),
          limit=st.one_of(st.none(), st.integers(-1, 3_000), ODD_VALUES))
    def set_limit(self, user, member, limit):
        self.agree(self.over_http(user, "PUT", f"/v1/accounts/{ORG}/members/{member}/limit",
                                  {"limit": limit}),
                   self.on_engine(user, "set_member_limit", ORG, member, limit), MemberUsage)

    @rule(user=USERS, enabled=st.booleans(), threshold=st.sampled_from([0, 500, 5_000, -1, "9"]),
          amount=st.sampled_from([200, 1_000, 300, 0]),
          cap=st.sampled_from([None, 500, 0, 100_000]))
    def configure_recharge(self, user, enabled, threshold, amount, cap):
        body = {"enabled": enabled, "threshold": threshold, "amount": amount,
                "monthly_cap_cents": cap}
        self.agree(self.over_http(user, "PUT", f"/v1/accounts/{ORG}/auto-recharge", body),
                   self.on_engine(user, "configure_auto_recharge", ORG, enabled=enabled,
                                  threshold=threshold, amount=amount, monthly_cap_cents=cap),
                   AutoRecharge)

    @rule(user=USERS, plan=st.sampled_from(["pro", "team", "nope"]))
    def change_plan(self, user, plan):
        self.agree(self.over_http(user, "PUT", f"/v1/accounts/{ORG}/subscription",
                                  {"plan_id": plan}),
                   self.on_engine(user, "change_plan", ORG, plan), Subscription)

    @rule(user=USERS)
    def cancel_plan_change(self, user):
        self.agree(self.over_http(user, "DELETE", f"/v1/accounts/{ORG}/subscription/pending"),
                   self.on_engine(user, "cancel_plan_change", ORG), Subscription)

    @rule(decline=st.booleans())
    def card(self, decline):
        answer = self.over_http("@operator", "PUT", f"/v1/admin/payments/{ORG}",
                                {"decline": decline})
        assert answer.status_code == 200, answer.text
        self.model.decline(ORG, decline)

    @rule(days=st.integers(0, 40), hours=st.integers(0, 23))
    def time_passes(self, days, hours):
        now = self.model.clock() + timedelta(days=days, hours=hours)
        answer = self.over_http("@operator", "PUT", "/v1/admin/clock", {"now": now.isoformat()})
        assert answer.status_code == 200, answer.text
        self.model.set_clock(now)

    @rule(user=USERS)
    def my_usage(self, user):
        self.agree(self.over_http(user, "GET", f"/v1/accounts/{ORG}/my-usage"),
                   self.on_engine(user, "my_usage", ORG), MemberUsage)

    # --- what the owner sees, after every step --------------------------------------------

    @invariant()
    def owner_sees_the_same_books(self):
        views = [("balance", Balance, {}), ("members", list[MemberUsage], {}),
                 ("invoices", list[Invoice], {}), ("auto-recharge", AutoRecharge, {}),
                 ("subscription", Subscription, {}),
                 ("ledger", list[LedgerEntry], {"limit": 30})]
        for path, model, params in views:
            method = path.replace("-", "_")
            expected = self.on_engine("olga", method, ORG, **params)
            self.agree(self.over_http("olga", "GET", f"/v1/accounts/{ORG}/{path}",
                                      params=params), expected, model)


TestApiAgainstEngine = ApiAgainstEngine.TestCase
TestApiAgainstEngine.settings = settings(max_examples=12, stateful_step_count=25,
                                         deadline=None, database=None,
                                         suppress_health_check=list(HealthCheck))


# Cases the machine found or that sit on the order of checks (404, then 403, then 422): the
# HTTP answer must still be the engine's, whatever the body's types.
EDGE_CASES = [
    ("olga", "PUT", "members/nobody/limit", {"limit": "10"}, "set_member_limit",
     ("nobody", "10"), {}),
    ("olga", "PUT", "members/nobody/limit", {"limit": -1}, "set_member_limit",
     ("nobody", -1), {}),
    ("mia", "PUT", "members/nobody/limit", {"limit": "10"}, "set_member_limit",
     ("nobody", "10"), {}),
    ("olga", "PUT", "members/mia/limit", {"limit": True}, "set_member_limit",
     ("mia", True), {}),
    ("olga", "PUT", "subscription", {"plan_id": 5}, "change_plan", (5,), {}),
    ("adam", "PUT", "subscription", {"plan_id": 5}, "change_plan", (5,), {}),
    ("olga", "PUT", "auto-recharge", {"enabled": "yes", "threshold": 1, "amount": 200},
     "configure_auto_recharge", (), {"enabled": "yes", "threshold": 1, "amount": 200}),
]


@pytest.mark.parametrize("user, method, path, body, call, args, kwargs", EDGE_CASES)
def test_edge_requests_answer_as_the_engine_does(user, method, path, body, call, args, kwargs):
    machine = ApiAgainstEngine()
    try:
        machine.agree(machine.over_http(user, method, f"/v1/accounts/{ORG}/{path}", body),
                      machine.on_engine(user, call, ORG, *args, **kwargs))
    finally:
        machine.teardown()
