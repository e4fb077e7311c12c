"""The nouns of the public contract: frozen pydantic models, integer credits, integer cents.

These are boundary objects (what the backend protocol, the HTTP API and the screens
exchange). The engine's hot path keeps plain slotted objects and builds these on the way out.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from datetime import datetime
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["member", "admin", "owner"]
AccountKind = Literal["personal", "org"]
BillingPeriod = Literal["monthly", "annual"]
Autopilot = Literal["running", "paused"]
Granularity = Literal["day", "week", "month"]
GroupBy = Literal["source", "member", "campaign"]
InvoiceKind = Literal["subscription", "purchase", "recharge"]
InvoiceStatus = Literal["paid", "failed"]
SubscriptionStatus = Literal["active", "past_due"]
AlertKind = Literal["balance_below", "member_usage", "recharge_failed", "payment_failed",
                    "autopilot_paused", "member_limit_reached"]

# Anything bigger than this is a typo or an attack, never a real amount (billing-rules.md).
MAX_CREDITS = 10**12
MAX_CENTS = MAX_CREDITS // 2
_M = TypeVar("_M", bound=BaseModel)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, defer_build=True)


class Plan(_Model):
    id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    base_credits_per_month: int = Field(ge=0, le=MAX_CREDITS)
    rollover_cap: int = Field(ge=0, le=MAX_CREDITS)
    billing_period: BillingPeriod
    price_cents: int = Field(ge=0, le=MAX_CENTS)


class Context(_Model):
    account_id: str
    kind: AccountKind
    name: str
    role: Role


class Identity(_Model):
    user_id: str
    name: str
    email: str = ""
    contexts: list[Context]


class Balance(_Model):
    account_id: str
    base: int
    rollover: int
    purchased: int
    total: int
    used_this_period: int
    period_start: datetime
    period_end: datetime
    autopilot: Autopilot
    # Why autopilot is paused, in words an owner can act on; None while running.
    autopilot_reason: str | None = None


class MemberUsage(_Model):
    user_id: str
    name: str
    role: Role
    used_this_period: int
    limit: int | None


class UsageReceipt(_Model):
    account_id: str
    credits: int
    campaign: str
    from_base: int
    from_rollover: int
    from_purchased: int
    recharged: int
    member_used_this_period: int
    balance: Balance | None


class UsagePoint(_Model):
    start: datetime
    key: str
    credits: int


# With `top`, the member or campaign keys past the biggest few come back summed under this
# key (parentheses: no user id can hold them), and UsageSeries.folded says how many.
OTHER_KEY = "(other)"
MAX_TOP = 1000


class UsageSeries(_Model):
    account_id: str
    start: datetime
    end: datetime
    granularity: Granularity
    group_by: GroupBy
    points: list[UsagePoint]
    folded: int = 0


class Subscription(_Model):
    account_id: str
    plan: Plan
    pending_plan: Plan | None
    pending_from: datetime | None
    period_start: datetime
    period_end: datetime
    renews_at: datetime
    status: SubscriptionStatus


class CreditPack(_Model):
    id: str
    credits: int
    price_cents: int


class Invoice(_Model):
    id: str
    number: str
    account_id: str
    created_at: datetime
    kind: InvoiceKind
    credits: int
    amount_cents: int
    status: InvoiceStatus
    description: str
    payment_method: str
    # When it was paid: `created_at` for an invoice paid when issued, the moment of the
    # owner's pay_invoice for a failed one paid later, None while it is failed.
    paid_at: datetime | None = None


class AutoRecharge(_Model):
    account_id: str
    enabled: bool
    threshold: int
    amount: int
    monthly_cap_cents: int | None
    spent_this_period_cents: int
    last_failure: str | None


class LedgerEntry(_Model):
    id: int
    account_id: str
    at: datetime
    kind: str
    actor: str
    base: int
    rollover: int
    purchased: int
    balance_after: int
    ref: str | None
    idempotency_key: str | None = None


# Alerts (billing-rules.md, "Alerts"): what an owner asks to be told, and what was told.
MAX_BALANCE_THRESHOLDS = 5
MAX_USAGE_SHARES = 3


class AlertSettings(_Model):
    # Kept sorted and without duplicates; alerting.check_alert_settings validates input.
    balance_below: list[int] = Field(max_length=MAX_BALANCE_THRESHOLDS)
    member_usage_percent: list[int] = Field(max_length=MAX_USAGE_SHARES)


class Alert(_Model):
    id: int
    at: datetime
    kind: AlertKind
    user_id: str | None
    # X for balance_below, P for member_usage, None for the built-in kinds.
    threshold: int | None
    balance_after: int
    # For people, and free of any amount of money: admins see alerts, invoices are for owners.
    message: str


def trusted_builder(model: type[_M]) -> Callable[..., _M]:
    """A constructor of `model` for values the engine made itself, skipping validation.

    The debit's receipt is built a million times from integers and strings the engine
    computed and checked already; validating them again was a third of a debit's cost.
    The instance is what pydantic's own `model_construct` makes (same `__dict__`, fields
    set, no extra, no private state), minus its per-field Python loop. Only plain models
    qualify. The constructor's parameters are the model's fields, each required: a
    missing or unknown field is Python's TypeError at the call, never a half-built model.
    It is written out for the model (as `dataclasses` writes `__init__`) because a
    `**fields` signature cost a dict built key by key and a check of its keys on every
    receipt (bench/engine_scale.py): here the dict is one literal of constant keys."""
    if (model.__pydantic_root_model__ or model.__pydantic_post_init__
            or model.__private_attributes__
            or any(f.alias or f.validation_alias for f in model.model_fields.values())):
        raise TypeError(f"{model.__name__} is not a plain model: construct it validated")
    names = tuple(model.model_fields)
    # Pydantic field names are identifiers that do not start with "_": the helpers' names
    # below ("_new", ...) cannot meet one.
    if not all(name.isidentifier() and not keyword.iskeyword(name) for name in names):
        raise TypeError(f"{model.__name__} has a field that is no parameter name")
    scope = {"_new": object.__new__, "_model": model, "_fields_set": set(names)}
    # The slots' own setters: object.__setattr__ looked each name up again (a third of
    # the build, by callgrind's count).
    for slot in ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__",
                 "__pydantic_private__"):
        scope[f"_set{slot}"] = _slot_setter(model, slot)
    values = ", ".join(f"{name!r}: {name}" for name in names)
    source = (f"def build({', '.join(names)}):\n"
              f"    _instance = _new(_model)\n"
              f"    _set__dict__(_instance, {{{values}}})\n"
              f"    _set__pydantic_fields_set__(_instance, _fields_set.copy())\n"
              f"    _set__pydantic_extra__(_instance, None)\n"
              f"    _set__pydantic_private__(_instance, None)\n"
              f"    return _instance\n")
    exec(compile(source, f"<trusted {model.__name__}>", "exec"), scope)  # noqa: S102
    build = scope["build"]
    build.__qualname__ = build.__name__ = f"trusted_{model.__name__}"
    return build


def _slot_setter(model: type[BaseModel], slot: str) -> Callable[[object, object], None]:
    """The setter of the instance slot `slot`, from the class that declares it."""
    for owner in model.__mro__:
        descriptor = owner.__dict__.get(slot)
        if descriptor is not None:
            return descriptor.__set__
    raise TypeError(f"{model.__name__} has no slot {slot}: construct it validated")
