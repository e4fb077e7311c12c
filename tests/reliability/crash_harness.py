"""Kill -9 `creditdesk serve` in the middle of traffic, restart it on the same database, audit.

Run by tests/reliability/test_crash_durability.py, one trial per seed, or by hand for more:
    python -m tests.reliability.crash_harness --seeds 1-50

A trial: start the server on a fresh SQLite file, set up one org, let writer threads send
debits and purchases with client-made idempotency keys (remembering every answer they got),
SIGKILL the server after a seeded random delay, start it again on the same file, then check
that every acknowledged request is in the books exactly once, the ledger sums to the buckets,
and that retrying the requests that were in flight with their keys applies each at most once.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from creditdesk.errors import BillingError

from .ledger_checks import check_ledger, entries_by_key
from .scenarios import make_org
from .served import ServedProcess
from .worlds import EMPTY, TEAM, HttpWorld

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
    retries_applied: int = 0
    retries_replayed: int = 0
    problems: list = field(default_factory=list)

    def summary(self) -> str:
        return (f"seed {self.seed}: killed after {self.kill_after:.2f} s, "
                f"{len(self.acknowledged)} acknowledged, {len(self.in_flight)} in flight "
                f"({self.retries_replayed} already applied, {self.retries_applied} applied "
                f"on retry), {self.refused} refused, {len(self.problems)} problems")


def _writer(world: HttpWorld, trial: Trial, lock: threading.Lock, n: int,
            stop: threading.Event) -> None:
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
        except httpx.TransportError:
            # The server died with this request on the wire: we cannot know whether it ran.
            with lock:
                trial.in_flight.append(request)
            return
        except BillingError:
            with lock:
                trial.refused += 1
            continue
        with lock:
            trial.acknowledged[key] = (request, answer)


def run_trial(seed: int, workdir: Path, *, writers: int = 6, longest: float = 1.2) -> Trial:
    trial = Trial(seed)
    rng = random.Random(seed)
    served = ServedProcess(workdir, env={"CREDITDESK_RATE_LIMIT": "off"})
    world = HttpWorld(served.start(), served.operator_token)
    try:
        world.add_plan(TEAM)
        world.add_plan(EMPTY)
        make_org(world, ORG, OWNER, {m: "member" for m in MEMBERS}, "team")
        world.session(OWNER).purchase_credits(ORG, 1_000_000, idempotency_key="fund")
        for user in (OWNER, *MEMBERS):
            world.token_for(user)
        lock, stop = threading.Lock(), threading.Event()
        threads = [threading.Thread(target=_writer, args=(world, trial, lock, n, stop),
                                    daemon=True) for n in range(writers)]
        for thread in threads:
            thread.start()
        trial.kill_after = rng.uniform(0.3, longest)
        time.sleep(trial.kill_after)
        served.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        world.close()

        tokens = world.tokens
        world = HttpWorld(served.start(), served.operator_token)
        # Tokens issued before the crash must still work after it: reuse them, never reissue.
        world.tokens = dict(tokens)
        world.owners = {ORG: OWNER}
        _audit(world, trial)
    finally:
        world.close()
        served.stop()
    return trial


def _audit(world: HttpWorld, trial: Trial) -> None:
    problems = trial.problems
    boss = world.session(OWNER)
    entries = world.ledger_entries(ORG)
    problems.extend(check_ledger(entries, boss.balance(ORG)))
    usage, purchases = entries_by_key(entries), entries_by_key(entries, "purchase")
    sent = {key for key in trial.acknowledged} | {r.key for r in trial.in_flight} | {"fund"}
    for key in (usage.keys() | purchases.keys()) - sent:
        problems.append(f"the books hold key {key} that no client sent")
    for key, (request, answer) in trial.acknowledged.items():
        found = (usage if request.kind == "usage" else purchases).get(key, [])
        if len(found) != 1:
            problems.append(f"acknowledged {request.kind} {key} is in the ledger "
                            f"{len(found)} times")
        elif -sum((found[0].base, found[0].rollover, found[0].purchased)) * (
                1 if request.kind == "usage" else -1) != request.credits:
            problems.append(f"acknowledged {key} of {request.credits} credits is booked as "
                            f"{found[0]}")
    invoice_ids = {invoice.id for invoice in boss.invoices(ORG)}
    for key, (request, answer) in trial.acknowledged.items():
        if request.kind == "purchase" and answer.id not in invoice_ids:
            problems.append(f"acknowledged purchase {key} lost its invoice {answer.id}")
    # A replay of an acknowledged request answers the first body and books nothing.
    for key, (request, answer) in list(trial.acknowledged.items())[:5]:
        if request.send(world.session(request.user)) != answer:
            problems.append(f"replaying {key} after the restart gave another answer")
    for request in trial.in_flight:
        before = len((usage if request.kind == "usage" else purchases).get(request.key, []))
        try:
            request.send(world.session(request.user))
        except BillingError as refusal:
            problems.append(f"retrying in-flight {request.key} was refused: {refusal!r}")
            continue
        if before:
            trial.retries_replayed += 1
        else:
            trial.retries_applied += 1
    after = world.ledger_entries(ORG)
    problems.extend(check_ledger(after, boss.balance(ORG)))
    usage, purchases = entries_by_key(after), entries_by_key(after, "purchase")
    for request in trial.in_flight:
        count = len((usage if request.kind == "usage" else purchases).get(request.key, []))
        if count != 1:
            problems.append(f"in-flight {request.key} is in the books {count} times after "
                            f"its retry")
    if len(after) - len(entries) != trial.retries_applied:
        problems.append(f"retries added {len(after) - len(entries)} entries, "
                        f"{trial.retries_applied} expected")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-10", help="a seed or a range like 1-50")
    args = parser.parse_args(argv)
    first, _, last = args.seeds.partition("-")
    failed = 0
    for seed in range(int(first), int(last or first) + 1):
        with tempfile.TemporaryDirectory() as workdir:
            trial = run_trial(seed, Path(workdir))
        print(trial.summary())
        for problem in trial.problems:
            print("   ", problem)
        failed += bool(trial.problems)
    print(f"{failed} seeds with problems")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
