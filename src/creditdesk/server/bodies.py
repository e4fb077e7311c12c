"""Request and response bodies of the HTTP API that are not contract models.

Request models are strict: JSON `"10"`, `10.0` and `true` are not credits, unknown fields
are refused. They only check shapes and types; amounts and ids are checked by the engine,
after it has checked who may do what (the contract's order of checks).
"""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class UsageBody(_Body):
    credits: int
    campaign: str


class LimitBody(_Body):
    limit: int | None


class PlanChangeBody(_Body):
    plan_id: str


class PurchaseBody(_Body):
    credits: int


class AutoRechargeBody(_Body):
    enabled: bool
    threshold: int
    amount: int
    monthly_cap_cents: int | None = None


class NewUser(_Body):
    id: str
    name: str
    email: str = ""
    plan: str


class NewOrg(_Body):
    id: str
    name: str
    owner: str
    plan: str


class NewMember(_Body):
    user_id: str
    role: str = "member"


class NewToken(_Body):
    """`{}`: a token needs nothing but the user in the path (extra fields are refused)."""


class DeclineBody(_Body):
    decline: bool


class ClockBody(_Body):
    now: AwareDatetime


class DemoBody(_Body):
    seed: int = 7
    members: int = 24
    months: int = 6


# --- answers -----------------------------------------------------------------------------

class ErrorDetail(_Body):
    code: str
    message: str
    required_role: str | None
    field: str | None


class ErrorBody(_Body):
    """Every refusal: clients dispatch on `error.code` (402 is shared by three codes)."""

    error: ErrorDetail


class PortalUrl(_Body):
    url: str


class UserCreated(_Body):
    id: str
    name: str
    email: str
    personal_account_id: str


class OrgCreated(_Body):
    id: str
    name: str


class MemberAdded(_Body):
    org_id: str
    user_id: str
    role: str


class TokenIssued(_Body):
    token: str


class DeclineSet(_Body):
    account_id: str
    decline: bool


class ClockSet(_Body):
    now: AwareDatetime


class DemoLoaded(_Body):
    org_id: str
    owner: str
    admin: str
    member: str
    tokens: dict[str, str]
