"""Concurrency scenarios written once, run on the in-process engine and over HTTP.

Each takes a world (worlds.EngineWorld or worlds.HttpWorld) with the plans TEAM and EMPTY
added, and a `prefix` so several scenarios can share one server without id clashes. Threads
are released together by a Barrier so their calls really overlap. Each returns a few figures
for the report; every check is an assertion.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from creditdesk.errors import (
    IdempotencyConflict,
    InsufficientCredits,
    MemberLimitReached,
    PaymentDeclined,
)

from .ledger_checks import check_ledger, entries_by_key


@dataclass
class Tally:
    """What a crowd of threads saw, merged under a lock."""

    accepted: list = field(default_factory=list)      # (thread, actor, credits, key, receipt)
    refused: Counter = field(default_factory=Counter)  # error code -> count
    failures: list = field(default_factory=list)      # anything outside the contract
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)


def run_together(count: int, work) -> None:
    """Run work(i) on `count` threads released at the same instant; re-raise the first
    unexpected exception (each worker records contract refusals itself)."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def main(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=main, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
        assert not thread.is_alive(), "a worker thread hung"
    if errors:
        raise errors[0]


def make_org(world, org: str, owner: str, members: dict[str, str], plan: str) -> None:
    for user in [owner, *members]:
        world.add_user(user)
    world.create_org(org, owner, plan)
    for user, role in members.items():
        world.add_member(org, user, role)


# --- 1. contention -------------------------------------------------------------------------

def contention(world, prefix: str, *, threads: int = 16, debits: int = 200,
               seed: int = 1) -> dict:
    org, owner = f"{prefix}-crowd", f"{prefix}-olga"
    members = {f"{prefix}-m{i}": ("admin" if i == 7 else "member") for i in range(8)}
    make_org(world, org, owner, members, "team")
    boss = world.session(owner)
    # m0's limit is reached within its first few debits, before the org runs dry however
    # the threads happen to be scheduled (at 400, a starved m0 thread sometimes never got
    # there and the scenario proved nothing about limits).
    limits = {f"{prefix}-m0": 40, f"{prefix}-m1": 1_500, f"{prefix}-m2": 3_000}
    for user, limit in limits.items():
        boss.set_member_limit(org, user, limit)
    # One period close, so all three buckets hold credits and the order of taking shows.
    world.set_clock(boss.balance(org).period_end)
    boss.purchase_credits(org, 4_000, idempotency_key="opening-pack")
    start = boss.balance(org)
    assert start.base and start.rollover and start.purchased, start
    actors = [owner, *members]
    sessions = [world.session(actors[i % len(actors)]) for i in range(threads)]
    buyer = world.session(owner)
    tally = Tally()
    bought: list[int] = []

    def debit(i: int) -> None:
        if i == threads:    # one more thread buys credits while the others spend
            for n in range(10):
                invoice = buyer.purchase_credits(org, 200, idempotency_key=f"top-up-{n}")
                bought.append(invoice.credits)
            return
        actor = actors[i % len(actors)]
        session = sessions[i]
        rng = random.Random(seed * 1_000 + i)
        for n in range(debits):
            credits = rng.randint(1, 40)
            key = f"d-{i}-{n}"
            try:
                receipt = session.record_usage(org, credits, campaign=f"c{n % 5}",
                                               idempotency_key=key)
            except (InsufficientCredits, MemberLimitReached) as refusal:
                with tally.lock:
                    tally.refused[refusal.code] += 1
            except Exception as exc:  # noqa: BLE001 - anything else is the finding
                tally.fail(f"{actor} {key}: {exc!r}")
            else:
                with tally.lock:
                    tally.accepted.append((i, actor, credits, key, receipt))

    run_together(threads + 1, debit)

    assert tally.failures == [], tally.failures[:5]
    spent = sum(credits for _, _, credits, _, _ in tally.accepted)
    final = boss.balance(org)
    assert final.total == start.total + sum(bought) - spent
    assert final.used_this_period == start.used_this_period + spent
    assert len(tally.accepted) + sum(tally.refused.values()) == threads * debits
    # The scenario must really run the org dry and hit limits, or it proves little.
    assert tally.refused["insufficient_credits"] > 0 and tally.refused["member_limit_reached"] > 0

    entries = world.ledger_entries(org)
    assert check_ledger(entries, final) == []
    usage = entries_by_key(entries)
    assert sorted(usage) == sorted(key for _, _, _, key, _ in tally.accepted)
    by_member: dict[str, list] = defaultdict(list)
    for _, actor, credits, key, receipt in tally.accepted:
        (entry,) = usage[key]
        assert (receipt.from_base, receipt.from_rollover, receipt.from_purchased) == (
            -entry.base, -entry.rollover, -entry.purchased), key
        assert receipt.from_base + receipt.from_rollover + receipt.from_purchased == credits
        assert entry.actor == actor and receipt.account_id == org
        by_member[actor].append((entry.id, credits, receipt.member_used_this_period))
    for member in boss.members(org):
        mine = sorted(by_member.get(member.user_id, []))
        assert member.used_this_period == sum(credits for _, credits, _ in mine)
        if member.user_id in limits:
            assert member.limit == limits[member.user_id]
            assert member.used_this_period <= member.limit
        # Each receipt reports the member's running use at that debit, in ledger order.
        running = 0
        for _, credits, reported in mine:
            running += credits
            assert reported == running, member.user_id
    return {"operations": threads * debits + 10, "accepted": len(tally.accepted),
            "refused": dict(tally.refused), "credits_spent": spent}


# --- 2. the exact overdraft race -----------------------------------------------------------

def overdraft_race(world, prefix: str, *, rounds: int = 3, racers: int = 20) -> dict:
    owner = f"{prefix}-owner"
    racer_ids = [f"{prefix}-r{i}" for i in range(racers)]
    for user in [owner, *racer_ids]:
        world.add_user(user)
    boss = world.session(owner)
    sessions = [world.session(user) for user in racer_ids]
    for round_ in range(rounds):
        org = f"{prefix}-race{round_}"
        world.create_org(org, owner, "empty")
        for user in racer_ids:
            world.add_member(org, user, "member")
        x = 200 * (round_ * 7 + 3)
        boss.purchase_credits(org, x, idempotency_key=f"fund-{round_}")
        outcomes: list = [None] * racers

        def race(i: int) -> None:
            try:
                outcomes[i] = sessions[i].record_usage(org, x, campaign="race",
                                                       idempotency_key=f"{org}-{i}")
            except InsufficientCredits as refusal:
                outcomes[i] = refusal.code

        run_together(racers, race)
        winners = [o for o in outcomes if not isinstance(o, str)]
        assert len(winners) == 1, outcomes
        assert outcomes.count("insufficient_credits") == racers - 1
        final = boss.balance(org)
        assert final.total == 0 and final.autopilot == "paused"
        entries = world.ledger_entries(org)
        assert check_ledger(entries, final) == []
        assert [e.kind for e in entries].count("usage") == 1
    return {"rounds": rounds, "racers": racers, "operations": rounds * racers}


# --- 3. idempotency under concurrency ------------------------------------------------------

def _retry_while_running(call, attempts: int = 200):
    """An idempotent request may answer 409 while its twin still runs; then retry."""
    for _ in range(attempts):
        try:
            return call()
        except IdempotencyConflict:
            time.sleep(0.01)
    raise AssertionError("still 409 after the first request must have finished")


def idempotency_storm(world, prefix: str, *, callers: int = 20) -> dict:
    org, other = f"{prefix}-idem", f"{prefix}-idem-other"
    owner, member = f"{prefix}-owner", f"{prefix}-member"
    make_org(world, org, owner, {member: "member"}, "empty")
    world.create_org(other, owner, "empty")
    world.add_member(other, member, "member")
    boss = world.session(owner)
    boss.purchase_credits(org, 10_000, idempotency_key="fund")
    boss.purchase_credits(other, 10_000, idempotency_key="fund")
    sessions = [world.session(member) for _ in range(callers)]
    owners = [world.session(owner) for _ in range(callers)]
    receipts: list = [None] * callers
    invoices: list = [None] * callers

    def same_debit(i: int) -> None:
        receipts[i] = _retry_while_running(lambda: sessions[i].record_usage(
            org, 70, campaign="storm", idempotency_key="same-key"))

    def same_purchase(i: int) -> None:
        invoices[i] = _retry_while_running(lambda: owners[i].purchase_credits(
            org, 1_000, idempotency_key="same-buy"))

    run_together(callers, same_debit)
    run_together(callers, same_purchase)
    assert all(receipt == receipts[0] for receipt in receipts), receipts
    assert all(invoice == invoices[0] for invoice in invoices)
    entries = world.ledger_entries(org)
    assert len(entries_by_key(entries)["same-key"]) == 1
    assert len(entries_by_key(entries, "purchase")["same-buy"]) == 1
    assert sum(1 for i in boss.invoices(org) if i.kind == "purchase") == 2
    after = boss.balance(org)
    assert after.total == 10_000 - 70 + 1_000
    assert check_ledger(entries, after) == []

    conflicts = 0
    for variant in ({"credits": 71, "campaign": "storm"}, {"credits": 70, "campaign": "other"}):
        try:
            sessions[0].record_usage(org, variant["credits"], campaign=variant["campaign"],
                                     idempotency_key="same-key")
        except IdempotencyConflict:
            conflicts += 1
    try:
        owners[0].purchase_credits(org, 1_200, idempotency_key="same-buy")
    except IdempotencyConflict:
        conflicts += 1
    assert conflicts == 3
    assert boss.balance(org) == after and world.ledger_entries(org) == entries

    # The same key in another account is another request: it runs there, and only there.
    elsewhere = sessions[0].record_usage(other, 70, campaign="storm", idempotency_key="same-key")
    assert elsewhere.account_id == other
    assert boss.balance(other).total == 10_000 - 70
    assert world.ledger_entries(org) == entries
    personal = f"personal:{member}"
    boss_of_personal = world.session(member)
    try:
        boss_of_personal.record_usage(personal, 70, campaign="storm", idempotency_key="same-key")
    except InsufficientCredits:
        pass    # a personal account on the empty plan has nothing: refused, not replayed
    else:
        raise AssertionError("a key of the org answered for the personal account")
    return {"callers": callers, "operations": 2 * callers + 5, "conflicts_refused": conflicts}


# --- 4. auto-recharge under contention -----------------------------------------------------

def _funded_org(world, org: str, owner: str, members: list[str], credits: int):
    make_org(world, org, owner, {m: "member" for m in members}, "empty")
    boss = world.session(owner)
    boss.purchase_credits(org, credits, idempotency_key="fund")
    return boss


def _crowd_debits(world, org: str, members: list[str], plan: list[list[int]],
                  batch: str = "a") -> Tally:
    """Thread i debits the amounts plan[i], one after another (keys unique per batch)."""
    tally = Tally()
    sessions = [world.session(members[i % len(members)]) for i in range(len(plan))]

    def work(i: int) -> None:
        for n, credits in enumerate(plan[i]):
            key = f"{batch}-{i}-{n}"
            try:
                receipt = sessions[i].record_usage(org, credits, campaign="auto",
                                                   idempotency_key=key)
            except (InsufficientCredits, PaymentDeclined) as refusal:
                with tally.lock:
                    tally.refused[refusal.code] += 1
            except Exception as exc:  # noqa: BLE001
                tally.fail(f"{key}: {exc!r}")
            else:
                with tally.lock:
                    tally.accepted.append((i, None, credits, key, receipt))

    run_together(len(plan), work)
    assert tally.failures == [], tally.failures[:5]
    return tally


def check_recharges(entries, threshold: int, amount: int) -> int:
    """Replay the ledger in order: every recharge bought exactly the packs its debit needed,
    and every debit that needed one got one. Returns how many recharges there were."""
    balance, pending, recharges = 0, None, 0
    for entry in entries:
        change = entry.base + entry.rollover + entry.purchased
        if entry.kind == "recharge":
            assert pending is None, f"two recharges in a row at entry {entry.id}"
            pending, recharges = (balance, change), recharges + 1
        elif entry.kind == "usage":
            debit = -change
            before = pending[0] if pending else balance
            short = threshold - (before - debit)
            need = -(-short // amount) * amount if short > 0 else 0
            got = pending[1] if pending else 0
            assert got == need, (f"debit {entry.id} of {debit} from {before}: recharge "
                                 f"bought {got}, needed {need}")
            pending = None
        else:
            assert pending is None, f"recharge not followed by its debit at entry {entry.id}"
        balance += change
    assert pending is None
    return recharges


def recharge_contention(world, prefix: str, *, threads: int = 16, debits: int = 12,
                        seed: int = 3) -> dict:
    org, owner = f"{prefix}-auto", f"{prefix}-owner"
    members = [f"{prefix}-a{i}" for i in range(4)]
    boss = _funded_org(world, org, owner, members, 10_000)
    boss.configure_auto_recharge(org, enabled=True, threshold=5_000, amount=2_000)

    # Twenty equal debits crossing the threshold once: exactly one recharge of one amount.
    equal = _crowd_debits(world, org, members, [[300]] * 20)
    assert len(equal.accepted) == 20
    recharge_invoices = [i for i in boss.invoices(org) if i.kind == "recharge"]
    assert [(i.credits, i.status) for i in recharge_invoices] == [(2_000, "paid")]
    assert boss.balance(org).total == 10_000 + 2_000 - 20 * 300

    # Random debits from many threads: the ledger replays as one sequential history.
    rng = random.Random(seed)
    plan = [[rng.randint(1, 900) for _ in range(debits)] for _ in range(threads)]
    crowd = _crowd_debits(world, org, members, plan, batch="b")
    assert len(crowd.accepted) == threads * debits    # work never stops while recharge works
    entries = world.ledger_entries(org)
    final = boss.balance(org)
    assert check_ledger(entries, final) == []
    recharges = check_recharges(entries, 5_000, 2_000)
    paid = [i for i in boss.invoices(org) if i.kind == "recharge" and i.status == "paid"]
    assert len(paid) == recharges
    assert final.total >= 5_000     # no debit ever left it below the threshold

    # A shortfall larger than the amount is one purchase of several amounts.
    owner_session = world.session(owner)
    before = owner_session.balance(org).total
    big = before - 1_700     # leaves 1,700: 3,300 short of the threshold, over one amount
    receipt = owner_session.record_usage(org, big, campaign="big", idempotency_key="big")
    assert receipt.recharged == 4_000
    assert owner_session.balance(org).total == 1_700 + 4_000
    newest = boss.invoices(org)[0]
    assert (newest.kind, newest.credits, newest.amount_cents) == ("recharge", 4_000, 2_000)
    return {"operations": 20 + threads * debits + 1, "recharges": recharges + 2}


def recharge_declined(world, prefix: str, *, threads: int = 20) -> dict:
    org, owner = f"{prefix}-declined", f"{prefix}-owner"
    members = [f"{prefix}-b{i}" for i in range(4)]
    boss = _funded_org(world, org, owner, members, 3_000)
    boss.configure_auto_recharge(org, enabled=True, threshold=2_000, amount=1_000)
    world.decline(org, True)
    tally = _crowd_debits(world, org, members, [[200]] * threads)
    # The old balance covers 15 debits of 200; the card is tried once, never again.
    assert len(tally.accepted) == 15
    assert tally.refused == Counter({"insufficient_credits": threads - 15})
    failed = [i for i in boss.invoices(org) if i.kind == "recharge"]
    assert [(i.status, i.credits) for i in failed] == [("failed", 1_000)]
    settings = boss.auto_recharge(org)
    assert settings.enabled is False and settings.last_failure
    entries = world.ledger_entries(org)
    assert "recharge" not in {e.kind for e in entries}
    final = boss.balance(org)
    assert final.total == 0 and final.autopilot == "paused"
    assert check_ledger(entries, final) == []
    # Paying again later does not quietly re-enable it: the owner decides.
    world.decline(org, False)
    boss.purchase_credits(org, 400, idempotency_key="after")
    world.session(members[0]).record_usage(org, 400, campaign="x", idempotency_key="after-debit")
    assert [i for i in boss.invoices(org) if i.kind == "recharge"] == failed
    return {"operations": threads + 2, "faults": 1}


def recharge_cap(world, prefix: str, *, threads: int = 16, debits: int = 10) -> dict:
    org, owner = f"{prefix}-capped", f"{prefix}-owner"
    members = [f"{prefix}-c{i}" for i in range(4)]
    boss = _funded_org(world, org, owner, members, 5_000)
    # 2,000 credits cost 1,000 cents: a 2,500-cent cap allows two amounts per period.
    boss.configure_auto_recharge(org, enabled=True, threshold=3_000, amount=2_000,
                                 monthly_cap_cents=2_500)
    tally = _crowd_debits(world, org, members, [[250] * debits] * threads)
    paid = [i for i in boss.invoices(org) if i.kind == "recharge" and i.status == "paid"]
    assert sum(i.amount_cents for i in paid) == 2_000
    settings = boss.auto_recharge(org)
    assert settings.spent_this_period_cents == 2_000 and settings.enabled
    assert len(tally.accepted) == (5_000 + 4_000) // 250
    final = boss.balance(org)
    assert final.total == 0
    assert check_ledger(world.ledger_entries(org), final) == []
    # A new credit period resets the cap: the next debit recharges again.
    world.set_clock(final.period_end)
    receipt = world.session(members[0]).record_usage(org, 250, campaign="x",
                                                     idempotency_key="next-period")
    assert receipt.recharged == 4_000
    assert boss.auto_recharge(org).spent_this_period_cents == 2_000
    return {"operations": threads * debits + 1, "recharges": len(paid) + 1}
