"""The cost of alerts on the debit path: in-process debits/s without alert settings and with
5 balance thresholds and 3 member usage shares, measured in the same run.

Run by hand (it prints figures, it is not a test):

    .venv/bin/python bench/alerts_cost.py                  # 5 rounds of 20,000 debits each
    .venv/bin/python bench/alerts_cost.py --debits 5000 --rounds 3

Two orgs in one engine (memory store) take the same debits, round after round in turns, so
a noisy neighbour slows both alike; each side's figure is its best round. Every member has
a limit in both orgs, so the only difference is the alert settings. The thresholds are
spread over what a round spends and a purchase tops the balance up before each round, so
every round crosses all five and each member passes 50%: the rare path that raises runs
too.
Target (issue 11): alerts cost at most 10% of the debit rate.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from creditdesk.engine import BillingEngine, ManualClock
from creditdesk.models import Plan

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MEMBERS = 50
DEBIT = 7       # credits: not a divisor of anything round, so crossings land anywhere


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--debits", type=int, default=20_000, help="debits per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.debits < 100 or args.rounds < 1:
        parser.error("--debits must be at least 100 and --rounds at least 1")
    return args


def build(debits: int) -> tuple[BillingEngine, dict]:
    engine = BillingEngine(clock=ManualClock(START))
    engine.add_plan(Plan(id="bench", name="Bench", base_credits_per_month=0, rollover_cap=0,
                         billing_period="monthly", price_cents=0))
    sessions = {}
    for org, alerts in (("plain", False), ("alerted", True)):
        owner = f"{org}-owner"
        engine.add_user(owner, name=owner, plan="bench")
        engine.create_org(org, name=org, owner=owner, plan="bench")
        session = engine.session(owner)
        for n in range(MEMBERS):
            user = f"{org}-m{n}"
            engine.add_user(user, name=user, plan="bench")
            engine.add_member(org, user)
            # Reached a few times a run: each member takes debits/MEMBERS per round.
            session.set_member_limit(org, user, DEBIT * debits // MEMBERS * 2)
        if alerts:
            # Spread over what one round spends, so every round crosses all five.
            spend = DEBIT * debits
            session.configure_alerts(org, balance_below=[spend * k // 6 for k in range(1, 6)],
                                     member_usage_percent=[50, 80, 100])
        sessions[org] = (session, [engine.session(f"{org}-m{n}") for n in range(MEMBERS)])
    return engine, sessions


def top_up(sessions: dict, org: str, round_no: int, debits: int) -> None:
    """Enough for the round and a little: the round then ends near 0, below every
    threshold, and the top-up re-arms them all."""
    owner, _ = sessions[org]
    need = DEBIT * debits + 200
    have = owner.balance(org).total
    credits = max(200, (need - have + 199) // 200 * 200)
    owner.purchase_credits(org, credits, idempotency_key=f"top-{round_no}")


def one_round(sessions: dict, org: str, round_no: int, debits: int) -> tuple[float, float]:
    _, members = sessions[org]
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(debits):
        members[i % MEMBERS].record_usage(org, DEBIT, campaign="bench",
                                          idempotency_key=f"r{round_no}-{i}")
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    engine, sessions = build(args.debits)
    best = {"plain": (float("inf"), float("inf")), "alerted": (float("inf"), float("inf"))}
    for round_no in range(args.rounds):
        order = ("plain", "alerted") if round_no % 2 == 0 else ("alerted", "plain")
        for org in order:
            top_up(sessions, org, round_no, args.debits)
            wall, cpu = one_round(sessions, org, round_no, args.debits)
            best[org] = (min(best[org][0], wall), min(best[org][1], cpu))
        # A new period each round: member shares and limit marks start again.
        engine.clock.advance(
            sessions["plain"][0].balance("plain").period_end - engine.clock())
    raised = len(sessions["alerted"][0].alerts("alerted", limit=1000))
    print(f"{args.rounds} rounds of {args.debits:,} debits per org, {MEMBERS} members each")
    for org in ("plain", "alerted"):
        wall, cpu = best[org]
        print(f"  {org:8s} best round: {args.debits / wall:>10,.0f} debits/s wall, "
              f"{args.debits / cpu:>10,.0f} debits/s cpu")
    ratio_wall = best["alerted"][0] / best["plain"][0]
    ratio_cpu = best["alerted"][1] / best["plain"][1]
    print(f"  alerts raised in the alerted org: {raised:,}")
    print(f"  cost of alerts: {100 * (ratio_wall - 1):+.1f}% wall, {100 * (ratio_cpu - 1):+.1f}% "
          f"cpu (alerted/plain time {ratio_wall:.3f}x wall, {ratio_cpu:.3f}x cpu; "
          f"target <= +10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
