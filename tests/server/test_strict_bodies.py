"""The hand check of request bodies (server/strict_bodies.py) reads exactly what strict
pydantic validation reads, and refuses everything else in pydantic's own words."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from creditdesk.errors import InvalidRequest
from creditdesk.server import bodies, refusals
from creditdesk.server.strict_bodies import duplicated_key, read_body

MODELS = [bodies.UsageBody, bodies.PurchaseBody, bodies.LimitBody, bodies.AutoRechargeBody,
          bodies.NewUser, bodies.NewMember, bodies.DemoBody, bodies.NewToken,
          bodies.DeclineBody, bodies.ClockBody]


def by_pydantic(raw: bytes, model):
    """What the gate answered before the hand check: pydantic on every body."""
    repeated = duplicated_key(raw)
    if repeated is not None:
        return InvalidRequest(f"{repeated} is given twice in the body; send it once",
                              field=repeated)
    try:
        return model.model_validate_json(raw if raw.strip() else b"{}")
    except ValidationError as error:
        return refusals.invalid_from_validation(error)


def outcome(value):
    if isinstance(value, InvalidRequest):
        return ("refused", value.message, value.field)
    return ("read", type(value), value.model_dump(), value.model_fields_set)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(-10**40, 10**40),
                    st.floats(allow_nan=True), st.text(max_size=6),
                    st.sampled_from(["\ud800", "é", "\x00", "2026-03-01T00:00:00+00:00",
                                     "2026-03-01T00:00:00"]))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=2)
                      | st.dictionaries(st.text(max_size=3), inner, max_size=2), max_leaves=4)
KEYS = st.sampled_from(["credits", "campaign", "limit", "enabled", "threshold", "amount",
                        "monthly_cap_cents", "id", "name", "email", "plan", "user_id", "role",
                        "seed", "members", "months", "decline", "now", "other"])


PLAIN = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                  st.sampled_from([0, -0.0, 1.0, "", "x", "\ud800"]), st.text(max_size=4))


@st.composite
def raw_bodies(draw, model) -> bytes:
    """Mostly near the model's own shape (its fields, plain values, now and then one
    missing or one extra), so both the hand-checked and the refused paths are walked."""
    if draw(st.booleans()):
        pairs = draw(st.lists(st.tuples(KEYS, VALUES), max_size=5))
    else:
        names = [n for n in model.model_fields if draw(st.integers(0, 9)) > 0]
        pairs = [(n, draw(PLAIN)) for n in draw(st.permutations(names))]
        if draw(st.integers(0, 9)) == 0:
            pairs.append((draw(KEYS), draw(PLAIN)))
    text = "{" + ",".join(f"{json.dumps(k)}:{json.dumps(v, ensure_ascii=draw(st.booleans()))}"
                          for k, v in pairs) + "}"
    shape = draw(st.sampled_from(["object", "object", "object", "cut", "list", "blank",
                                  "bom", "latin-1"]))
    if shape == "cut":
        text = text[:draw(st.integers(0, len(text)))]
    elif shape == "list":
        text = f"[{text}]"
    elif shape == "blank":
        text = draw(st.sampled_from(["", " ", "\n", "null", "1"]))
    raw = text.encode("utf-8", "surrogatepass")
    if shape == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif shape == "latin-1":
        raw = raw.replace(b"\xc3\xa9", b"\xe9")
    return raw


@settings(max_examples=1500, deadline=None)
@given(data=st.data(), model=st.sampled_from(MODELS))
def test_the_hand_check_reads_and_refuses_exactly_as_pydantic_does(data, model):
    raw = data.draw(raw_bodies(model))
    assert outcome(read_body(raw, model)) == outcome(by_pydantic(raw, model))


@pytest.mark.parametrize("raw", [b'{"credits": 5, "campaign": "c"}',
                                 b'{"campaign": "\xc3\xa9t\xc3\xa9", "credits": 10000000000000000000000}'])
def test_a_well_formed_body_is_read_without_pydantic(raw, monkeypatch):
    def refused(*args, **kwargs):
        raise AssertionError("pydantic parsed a body the hand check can read")

    monkeypatch.setattr(bodies.UsageBody, "model_validate_json", refused)
    body = read_body(raw, bodies.UsageBody)
    assert isinstance(body, bodies.UsageBody) and body.model_dump() == json.loads(raw)


def test_a_key_given_twice_is_refused_on_the_hand_checked_path_too():
    answer = read_body(b'{"credits": 5, "credits": 6, "campaign": "c"}', bodies.UsageBody)
    assert isinstance(answer, InvalidRequest) and answer.field == "credits"
