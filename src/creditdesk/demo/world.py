"""DemoWorld: what a build hands back, the engine with its clock pinned at `now`, and who is who."""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass, field
from datetime import datetime

from ..engine import BillingEngine, ManualClock, TestPaymentGateway
from .people import DemoPerson


@dataclass(frozen=True)
class DemoWorld:
    """A populated engine with its clock pinned at `now`, and who is who in it."""

    engine: BillingEngine
    clock: ManualClock
    payments: TestPaymentGateway
    now: datetime
    started_at: datetime              # when the org and its plan began
    seed: int
    org_id: str
    org_name: str
    owner: str
    admin: str
    member: str
    members_near_limit: tuple[str, ...]
    stopped_member: str
    personal_account_id: str          # the owner's personal account
    member_ids: tuple[str, ...]       # everyone in the org, owner first
    campaigns: tuple[str, ...]
    personal_campaigns: tuple[str, ...]
    people: tuple[DemoPerson, ...] = field(repr=False)  # everyone's habits, as in member_ids
    activity_weights: tuple[float, ...] = field(repr=False)  # cumulative, for next_activity

    def next_activity(self, rng: random.Random) -> tuple[str, int, str]:
        """One more debit in the style of the history, as (user id, credits, campaign): who
        works more often comes up more often. For live activity; pass your own Random so the
        world stays as built."""
        weights = self.activity_weights
        person = self.people[bisect.bisect_right(weights, rng.random() * weights[-1])]
        return person.user_id, person.next_run(rng), person.next_campaign(rng)
