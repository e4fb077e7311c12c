"""Kill -9 `creditdesk serve` in the middle of traffic, restart it on the same database, audit.

Run by tests/reliability/test_crash_durability.py, one trial per seed, or by hand for more:
    python -m tests.reliability.crash_harness --seeds 1-50

A trial: start the server on a fresh SQLite file, set up one org with auto-recharge, and let
writer threads send debits and purchases with client-made idempotency keys (remembering
every answer they got) while an operator thread moves the test clock (periods close,
subscriptions renew), makes the card decline now and then, and issues tokens. After a
seeded random delay the server gets SIGKILL; it is started again on the same file, and the
audit checks that: every token issued before the kill still signs its user in; every
acknowledged request is in the books exactly once with its amount; the ledger sums to the
buckets and never dips below zero; replaying an acknowledged request answers the first body;
retrying each in-flight request with its key applies it at most once; and a second, clean
restart serves exactly the same books (they are in the database's tables: nothing is
rebuilt at start).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from creditdesk.errors import BillingError

from .ledger_checks import check_ledger, entries_by_key
from .scenarios import make_org
from .served import ServedProcess
from .worlds import EMPTY, START, TEAM, HttpSession, HttpWorld, UnexpectedResponse

ORG, OWNER = "crashco", "owner"
MEMBERS = ("m0", "m1", "m2", "m3")


@dataclass
class Request:
    kind: str           # "usage" or "purchase"
    user: str
    key: str
    credits: int
    campaign: str = ""

    def send(self, session):
        if self.kind == "usage":
            return session.record_usage(ORG, self.credits, campaign=self.campaign,
                                        idempotency_key=self.key)
        return session.purchase_credits(ORG, self.credits, idempotency_key=self.key)


@dataclass
class Trial:
    seed: int
    kill_after: float = 0.0
    acknowledged: dict = field(default_factory=dict)   # key -> (Request, answer)
    in_flight: list = field(default_factory=list)      # Requests without an answer
    refused: int = 0
    operator_moves: int = 0
    issued_tokens: list = field(default_factory=list)   # (user, token) shown to the operator
    retries_applied: int = 0
    retries_replayed: int = 0
    retries_refused: int = 0
    unavailable: int = 0        # 503s: the server said it saved nothing
    problems: list = field(default_factory=list)

    def summary(self) -> str:
        return (f"seed {self.seed}: killed after {self.kill_after:.2f} s; "
                f"{len(self.acknowledged)} acknowledged, {self.refused} refused, "
                f"{self.operator_moves} clock/card/token moves ({len(self.issued_tokens)} tokens); {len(self.in_flight)} in flight "
                f"({self.retries_replayed} had been applied, {self.retries_applied} applied "
                f"on retry, {self.retries_refused} refused on retry); "
                f"{self.unavailable} answered 503; {len(self.problems)} problems")


def _writer(world: HttpWorld, trial: Trial, lock: threading.Lock, n: int,
            stop: threading.Event) -> None:
    """Sends requests until stopped or until the server stops answering."""
    import httpx
    rng = random.Random(trial.seed * 100 + n)
    user = OWNER if n == 0 else MEMBERS[n % len(MEMBERS)]
    session = world.session(user)
    count = 0
    while not stop.is_set():
        count += 1
        key = f"s{trial.seed}-w{n}-{count}-{rng.getrandbits(32):08x}"
        if user == OWNER and rng.random() < 0.3:
            request = Request("purchase", user, key, 200 * rng.randint(1, 5))
        else:
            request = Request("usage", user, key, rng.randint(1, 300), f"c{rng.randint(0, 3)}")
        try:
            answer = request.send(session)
        except (httpx.TransportError, UnexpectedResponse) as lost:
            # The server died with this request on the wire, or could not save it: either
            # way the client cannot know whether it ran, and retries it later with its key.
            with lock:
                trial.in_flight.append(request)
                trial.unavailable += isinstance(lost, UnexpectedResponse)
            return
        except BillingError:
            with lock:
                trial.refused += 1
            continue
        with lock:
            trial.acknowledged[key] = (request, answer)


def _operator(world: HttpWorld, trial: Trial, stop: threading.Event) -> None:
    """Moves the test clock forward, flips the card and issues tokens, so periods close,
    subscriptions renew and recharges fail while debits run."""
    import httpx
    rng = random.Random(trial.seed * 100 + 99)
    now = START
    while not stop.is_set():
        time.sleep(rng.uniform(0.02, 0.1))
        try:
            roll = rng.random()
            if roll < 0.4:
                now += timedelta(hours=rng.randint(1, 24 * 12))
                world.set_clock(now)
            elif roll < 0.8:
                world.decline(ORG, rng.random() < 0.3)
            else:
                user = rng.choice(MEMBERS)
                answer = world.operator.call("POST", f"/v1/admin/users/{user}/tokens", body={})
                trial.issued_tokens.append((user, answer["token"]))
        except (httpx.TransportError, BillingError):
            return
        trial.operator_moves += 1


def _books(world: HttpWorld) -> tuple:
    """Everything the owner can read about the org, to compare two starts of the server."""
    boss = world.session(OWNER)
    return (world.ledger_entries(ORG), boss.balance(ORG), boss.invoices(ORG),
            boss.auto_recharge(ORG), boss.members(ORG), boss.subscription(ORG))


def run_trial(seed: int, workdir: Path, *, writers: int = 6, longest: float = 0.9) -> Trial:
    trial = Trial(seed)
    rng = random.Random(seed)
    served = ServedProcess(workdir, env={"CREDITDESK_RATE_LIMIT": "off"})
    world = HttpWorld(served.start(), served.operator_token)
    try:
        world.add_plan(TEAM)
        world.add_plan(EMPTY)
        make_org(world, ORG, OWNER, {m: "member" for m in MEMBERS}, "team")
        boss = world.session(OWNER)
        boss.purchase_credits(ORG, 20_000, idempotency_key="fund")
        boss.configure_auto_recharge(ORG, enabled=True, threshold=15_000, amount=2_000,
                                     monthly_cap_cents=20_000)
        for user in (OWNER, *MEMBERS):
            world.token_for(user)
        lock, stop = threading.Lock(), threading.Event()
        threads = [threading.Thread(target=_writer, args=(world, trial, lock, n, stop),
                                    daemon=True) for n in range(writers)]
        threads.append(threading.Thread(target=_operator, args=(world, trial, stop),
                                        daemon=True))
        for thread in threads:
            thread.start()
        # Kill at a seeded moment, but only once traffic flows, however slow the machine.
        began = time.monotonic()
        while len(trial.acknowledged) < 10 and time.monotonic() - began < 30:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, longest))
        trial.kill_after = time.monotonic() - began
        served.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        world.close()

        if trial.unavailable:
            trial.problems.append(f"{trial.unavailable} requests got 503 before the kill")
        tokens = world.tokens
        world = _reopen(served, tokens)
        _audit(world, trial)
        before = _books(world)
        world.close()
        served.stop()           # a clean stop this time: the books must come back the same
        world = _reopen(served, tokens)
        if _books(world) != before:
            trial.problems.append("a second restart rebuilt different books")
    finally:
        world.close()
        served.stop()
    return trial


def run_two_servers_trial(seed: int, workdir: Path, *, writers: int = 6,
                          duration: float = 0.8) -> Trial:
    """Two `serve` processes on one file: each is one more worker on the same tables
    (issue 9 item 6). Whatever either acknowledged must be in the books once, and the books
    must stay one consistent history."""
    trial = Trial(seed)
    first = ServedProcess(workdir, env={"CREDITDESK_RATE_LIMIT": "off"})
    world = HttpWorld(first.start(), first.operator_token)
    (workdir / "second").mkdir()
    second = ServedProcess(workdir / "second", db=first.db,
                           env={"CREDITDESK_RATE_LIMIT": "off"})
    other = None
    try:
        world.add_plan(TEAM)
        world.add_plan(EMPTY)
        make_org(world, ORG, OWNER, {m: "member" for m in MEMBERS}, "team")
        world.session(OWNER).purchase_credits(ORG, 20_000, idempotency_key="fund")
        for user in (OWNER, *MEMBERS):
            world.token_for(user)
        second.operator_token = first.operator_token
        second.token_file.write_text(first.operator_token)
        other = HttpWorld(second.start(), second.operator_token)
        other.tokens = dict(world.tokens)
        lock, stop = threading.Lock(), threading.Event()
        threads = [threading.Thread(target=_writer, daemon=True,
                                    args=(world if n % 2 else other, trial, lock, n, stop))
                   for n in range(writers)]
        for thread in threads:
            thread.start()
        trial.kill_after = duration
        time.sleep(duration)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        first.kill()
        second.kill()
        tokens = world.tokens
        world.close()
        world = _reopen(first, tokens)
        _audit(world, trial)
    finally:
        world.close()
        if other is not None:
            other.close()
        first.stop()
        second.stop()
    return trial


def _reopen(served: ServedProcess, tokens: dict) -> HttpWorld:
    world = HttpWorld(served.start(), served.operator_token)
    # Tokens issued before the crash must still work after it: reuse them, never reissue.
    world.tokens = dict(tokens)
    world.owners = {ORG: OWNER}
    return world


def _booked(entries) -> tuple[dict, dict]:
    return entries_by_key(entries), entries_by_key(entries, "purchase")


def _audit(world: HttpWorld, trial: Trial) -> None:
    problems = trial.problems
    # A token shown to the operator before the crash must still sign its user in.
    for user, token in trial.issued_tokens:
        me = HttpSession(world.base_url, token)
        try:
            if me.whoami().user_id != user:
                problems.append(f"a token issued for {user} signs in someone else")
        except BillingError as refusal:
            problems.append(f"a token issued for {user} before the crash is refused: "
                            f"{refusal.code}")
        finally:
            me.close()
    boss = world.session(OWNER)
    entries = world.ledger_entries(ORG)
    problems.extend(check_ledger(entries, boss.balance(ORG)))
    usage, purchases = _booked(entries)
    sent = set(trial.acknowledged) | {r.key for r in trial.in_flight} | {"fund"}
    for key in (usage.keys() | purchases.keys()) - sent:
        problems.append(f"the books hold key {key} that no client sent")
    invoice_ids = {invoice.id for invoice in boss.invoices(ORG)}
    for key, (request, answer) in trial.acknowledged.items():
        found = (usage if request.kind == "usage" else purchases).get(key, [])
        if len(found) != 1:
            problems.append(f"acknowledged {request.kind} {key} is in the ledger "
                            f"{len(found)} times")
            continue
        change = found[0].base + found[0].rollover + found[0].purchased
        if abs(change) != request.credits:
            problems.append(f"acknowledged {key} of {request.credits} credits is booked as "
                            f"{found[0]}")
        if request.kind == "purchase" and answer.id not in invoice_ids:
            problems.append(f"acknowledged purchase {key} lost its invoice {answer.id}")
    # A replay of an acknowledged request answers the first body and books nothing.
    for key, (request, answer) in list(trial.acknowledged.items())[:5]:
        if request.send(world.session(request.user)) != answer:
            problems.append(f"replaying {key} after the restart gave another answer")
    world.decline(ORG, False)     # so a purchase that was in flight can be paid on retry
    for request in trial.in_flight:
        booked = bool((usage if request.kind == "usage" else purchases).get(request.key))
        try:
            request.send(world.session(request.user))
        except BillingError:
            # Refused now (say the balance ran out): then it must not have run before.
            trial.retries_refused += 1
            if booked:
                problems.append(f"in-flight {request.key} was booked, yet its retry was "
                                f"refused instead of answering the first result")
            continue
        if booked:
            trial.retries_replayed += 1
        else:
            trial.retries_applied += 1
    after = world.ledger_entries(ORG)
    problems.extend(check_ledger(after, boss.balance(ORG)))
    usage, purchases = _booked(after)
    for request in trial.in_flight:
        count = len((usage if request.kind == "usage" else purchases).get(request.key, []))
        if count > 1:
            problems.append(f"in-flight {request.key} is in the books {count} times")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-10", help="a seed or a range like 1-50")
    args = parser.parse_args(argv)
    first, _, last = args.seeds.partition("-")
    failed = 0
    for seed in range(int(first), int(last or first) + 1):
        with tempfile.TemporaryDirectory() as workdir:
            trial = run_trial(seed, Path(workdir))
        print(trial.summary(), flush=True)
        for problem in trial.problems:
            print("   ", problem)
        failed += bool(trial.problems)
    print(f"{failed} seeds with problems")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
