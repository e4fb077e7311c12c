"""The demo org's people: who they are, their roles, and how each of them uses agents."""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

# The first people of the org, each with a part in the story; the rest are generated.
FIXED_PEOPLE = (
    ("ann", "Ann Lee", "owner"),
    ("bob", "Bob Stone", "admin"),
    ("chidi", "Chidi Okafor", "member"),
    ("dana", "Dana Reyes", "member"),    # close to her limit
    ("eli", "Eli Novak", "member"),      # stopped by his limit this period
)
MIN_MEMBERS = len(FIXED_PEOPLE)

FIRST_NAMES = (
    "Aiko", "Amara", "Arjun", "Beatriz", "Carlos", "Chen", "Dmitri", "Elif", "Emeka", "Farah",
    "Felix", "Greta", "Hana", "Hugo", "Ines", "Ivan", "Jonas", "Kai", "Lars", "Leila", "Luca",
    "Maya", "Mei", "Nadia", "Noah", "Omar", "Priya", "Quinn", "Rafael", "Rosa", "Sami",
    "Sofia", "Tariq", "Tomas", "Uma", "Vera", "Wei", "Yara", "Yusuf", "Zoe",
)
LAST_NAMES = (
    "Abe", "Bauer", "Costa", "Diallo", "Eriksen", "Fischer", "Garcia", "Haddad", "Ito",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Nakamura", "Okoye", "Park", "Quist", "Rossi",
    "Silva", "Tanaka", "Usman", "Varga", "Weber", "Xu", "Yilmaz", "Zhang",
)
ORG_CAMPAIGNS = (
    "lead-research", "support-triage", "release-notes", "competitor-watch", "q4-outreach",
    "onboarding-emails", "bug-bash", "docs-refresh",
)
PERSONAL_CAMPAIGNS = ("side-project", "reading-digest")


@dataclass(frozen=True)
class Habit:
    """How a person uses agents: their share of the org's credits and when they work."""

    name: str
    share: float          # relative credits per month
    runs_per_week: float  # debits per week on average
    weekday: float        # relative activity on a weekday
    weekend: float        # relative activity on a Saturday or Sunday


HABITS = (
    Habit("heavy", 3.0, 3.5, 1.0, 0.25),
    Habit("steady", 1.0, 1.0, 1.0, 0.1),
    Habit("light", 0.35, 0.35, 1.0, 0.1),
    Habit("weekender", 1.0, 1.0, 0.3, 1.6),
)
HABIT_ODDS = (0.15, 0.45, 0.3, 0.1)


@dataclass(frozen=True)
class DemoPerson:
    """One member of the demo org and how they use agents."""

    user_id: str
    name: str
    role: str
    habit: Habit
    credits_per_month: float
    run_size: float
    campaigns: tuple[str, ...]
    campaign_weights: tuple[float, ...]  # cumulative

    def next_run(self, rng: random.Random) -> int:
        """Credits of one run: around the person's usual size, in steps of 5."""
        return max(5, round(self.run_size * (0.4 + 1.2 * rng.random()) / 5) * 5)

    def next_campaign(self, rng: random.Random) -> str:
        weights = self.campaign_weights
        return self.campaigns[bisect.bisect_right(weights, rng.random() * weights[-1])]


def cast(rng: random.Random, members: int, base_credits: int) -> list[DemoPerson]:
    """Everyone in the org, owner first: the fixed cast, then generated people sharing
    `base_credits` a month by habit (the same draws from `rng` give the same people)."""
    names: list[tuple[str, str, str]] = list(FIXED_PEOPLE)
    taken = {user_id for user_id, _, _ in names}
    for index in range(len(FIXED_PEOPLE), members):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        user_id = f"{first}.{last}".lower()
        suffix = 2
        while user_id in taken:
            user_id, suffix = f"{first}.{last}{suffix}".lower(), suffix + 1
        taken.add(user_id)
        # A second owner in larger orgs, and an admin for every few dozen people.
        role = ("owner" if index == 11 else
                "admin" if index == 7 or index % 40 == 0 else "member")
        names.append((user_id, f"{first} {last}", role))
    habits = [rng.choices(HABITS, HABIT_ODDS)[0] for _ in names]
    habits[3] = habits[4] = HABITS[0]  # the limited two are heavy users
    shares = [h.share * rng.uniform(0.7, 1.3) for h in habits]
    total_share = sum(shares)
    people = []
    for (user_id, name, role), habit, share in zip(names, habits, shares):
        per_month = base_credits * share / total_share
        mix = rng.sample(ORG_CAMPAIGNS, rng.randint(1, 3))
        weights = [rng.uniform(0.2, 1.0) for _ in mix]
        cumulative = [sum(weights[: i + 1]) for i in range(len(weights))]
        run_size = per_month / (habit.runs_per_week * 52 / 12)
        people.append(DemoPerson(user_id, name, role, habit, per_month, run_size,
                                 tuple(mix), tuple(cumulative)))
    return people


def daily_rates(people: list[DemoPerson], weekend: bool) -> list[float]:
    """Cumulative expected debits per day for each person (weights for choosing who)."""
    cumulative, total = [], 0.0
    for person in people:
        habit = person.habit
        mean_day = (5 * habit.weekday + 2 * habit.weekend) / 7
        today = habit.weekend if weekend else habit.weekday
        total += habit.runs_per_week / 7 * today / mean_day
        cumulative.append(total)
    return cumulative
