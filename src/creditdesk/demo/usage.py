"""The members' everyday usage: each day's debits drawn in one go, in time order.

The draws are the world: the same calls on the same Random in the same order give the
same world, so this keeps the order of the draws exactly and only saves the work around
them (names looked up once a build, not once a debit).
"""

from __future__ import annotations

import bisect
import math
import random
from datetime import datetime, timedelta

from .people import PERSONAL_CAMPAIGNS, DemoPerson, daily_rates

HALF_DAY = timedelta(hours=12)


class UsageDraw:
    """Draws the org's debits day by day; `loads[k]` scales period k's usage."""

    def __init__(self, rng: random.Random, people: list[DemoPerson],
                 boundaries: list[datetime], loads: list[float]) -> None:
        self.rng = rng
        self.rates = {False: daily_rates(people, False), True: daily_rates(people, True)}
        self.boundaries = boundaries
        self.loads = loads
        # Bound once: a big build draws a run and a campaign a million times.
        self.runs = [person.next_run for person in people]
        self.campaigns = [person.next_campaign for person in people]

    def day(self, day: datetime) -> list[tuple[int, int, int, str]]:
        """That day's debits as (second of the day, person index or -1 for the owner's
        personal account, credits, campaign), in time order."""
        rng = self.rng
        random_ = rng.random
        weekend = day.weekday() >= 5
        period = bisect.bisect_right(self.boundaries, day + HALF_DAY) - 1
        cumulative = self.rates[weekend]
        top = cumulative[-1]
        loads = self.loads
        expected = top * loads[min(period, len(loads) - 1)]
        count = max(0, round(rng.gauss(expected, math.sqrt(expected))))
        runs, campaigns, choose = self.runs, self.campaigns, bisect.bisect_right
        events = []
        append = events.append
        for _ in range(count):
            index = choose(cumulative, random_() * top)
            # Mostly working hours (UTC); sizes vary around the person's usual run.
            second = 7 * 3600 + int(random_() * 14 * 3600)
            append((second, index, runs[index](rng), campaigns[index](rng)))
        if random_() < (0.8 if weekend else 0.3):
            # The owner's own side projects, charged to her personal account.
            append((8 * 3600 + int(random_() * 15 * 3600), -1,
                    50 * 5 + int(random_() * 90) * 5, rng.choice(PERSONAL_CAMPAIGNS)))
        events.sort()
        return events
