"""MemoryStore: the books in this process's memory, for the demo, the tests and benchmarks.

Accounts are the slotted objects of `state.py` with their flat ledger arrays and per-day
roll-ups; a transaction is that account's re-entrant lock, and the engine edits the account
in place (a refusal's checks all run before its first change, so there is nothing to undo).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ..models import Plan
from .ledger import Names
from .state import Account, User

# The interpreter's re-entrant lock type (`threading.RLock` is a factory returning it).
_RLock = type(threading.RLock())


class _AccountTransaction(_RLock):
    """`with store.write(id) as account`: the account under its lock (None if unknown).

    One object per account, made once, so entering costs a lock and nothing else: this
    sits on the hot path of every debit. It is the lock itself, so leaving is the lock's
    own `__exit__` (C, no Python frame)."""

    __slots__ = ("account",)

    def __init__(self, account: Account | None) -> None:
        super().__init__()
        self.account = account

    def __enter__(self) -> Account | None:
        self.acquire()
        return self.account


_NO_ACCOUNT = _AccountTransaction(None)


class _Transactions(dict):
    """Account id -> its `_AccountTransaction`; an unknown id gives the one of no account.

    Looked up by the dict's own `__getitem__` (C): `write` is that bound method, so opening
    a transaction runs no Python frame of the store's (`__missing__` runs only for ids
    that name no account)."""

    __slots__ = ()

    def __missing__(self, account_id: str) -> _AccountTransaction:
        return _NO_ACCOUNT


class MemoryStore:
    kind = "memory"
    read_locks = True       # `read` takes the account's lock, so a read may close periods
    # A replay's answer is rebuilt from the books, not kept (store/first_answers.py).
    keeps_answers = False

    def __init__(self) -> None:
        self.names = Names()
        self._plans: dict[str, Plan] = {}
        self._users: dict[str, User] = {}
        self._accounts: dict[str, Account] = {}
        self._transactions = _Transactions()
        self._catalogue = threading.RLock()
        # itertools.count is atomic under the GIL: ids stay unique across threads.
        self._entry_ids = itertools.count(1)
        self._invoice_numbers = itertools.count(1)
        self._alert_ids = itertools.count(1)
        self._declining: set[str] = set()
        self._charges: list[tuple[str, int, str, bool]] = []
        self._charge_by_key: dict[str, tuple[bool, str]] = {}
        self._use_c_methods()

    def _use_c_methods(self) -> None:
        """Bound methods of C objects in place of three methods of this class, set on the
        instance, so the hot path runs no Python frame of the store's (bench/engine_scale.py
        counts every debit's): `write` and `read` become the transactions' own look-up,
        `take_entry_id` the counter's `__next__`. The methods below do the same; a
        subclass that overrides one keeps its own."""
        cls = type(self)
        if cls.write is MemoryStore.write:
            self.write = self._transactions.__getitem__
        if cls.read is MemoryStore.read:
            self.read = self._transactions.__getitem__
        if cls.take_entry_id is MemoryStore.take_entry_id:
            self.take_entry_id = self._entry_ids.__next__

    # --- life cycle ---------------------------------------------------------------------

    def migrate(self) -> None:
        """Nothing to create: the structures exist from the start (kept for one interface)."""

    def close(self) -> None:
        """Nothing to release; the books go when the process does."""

    # --- the catalogue: plans, users, which accounts exist --------------------------------

    @contextmanager
    def catalogue(self) -> Iterator[None]:
        """One transaction over the catalogue (creating users, orgs, memberships)."""
        with self._catalogue:
            yield

    def plan(self, plan_id: str) -> Plan | None:
        return self._plans.get(plan_id)

    def plans(self) -> list[Plan]:
        return list(self._plans.values())

    def insert_plan(self, plan: Plan) -> None:
        self._plans[plan.id] = plan

    def user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    def users(self) -> list[User]:
        return list(self._users.values())

    def insert_user(self, user: User) -> None:
        self._users[user.id] = user

    def has_account(self, account_id: str) -> bool:
        return account_id in self._accounts

    def insert_account(self, account: Account) -> None:
        self._accounts[account.id] = account
        self._transactions[account.id] = _AccountTransaction(account)

    def join_org(self, user: User, org_id: str) -> None:
        user.orgs.append(org_id)

    def account_ids(self) -> list[str]:
        return list(self._accounts)

    # --- transactions on one account -------------------------------------------------------

    def write(self, account_id: str) -> _AccountTransaction:
        """The account locked for a change; commits when the block ends."""
        return self._transactions[account_id]

    # In memory a read takes the same lock: it costs nothing and never sees half a change.
    read = write

    def save_member(self, account: Account, member: object) -> None:
        """A membership changed (the objects are the books here: nothing to copy)."""

    # --- ids --------------------------------------------------------------------------------

    def take_entry_id(self) -> int:
        return next(self._entry_ids)

    @property
    def next_entry_id(self) -> int:
        # The counter's repr, "count(N)", names the value next() returns: the one way to
        # read it without taking it (a Python-level copy of it would cost every debit).
        return int(repr(self._entry_ids)[6:-1])

    def take_invoice_number(self) -> int:
        return next(self._invoice_numbers)

    def take_alert_id(self) -> int:
        # Taken under an account's lock: an account's alert ids grow in the order written.
        return next(self._alert_ids)

    # --- the test gateway's books (StoredPaymentGateway) ---------------------------------

    def gateway_declining(self, account_id: str) -> bool:
        return account_id in self._declining

    def gateway_set_declining(self, account_id: str, on: bool) -> None:
        if on:
            self._declining.add(account_id)
        else:
            self._declining.discard(account_id)

    def gateway_charge(self, key: str) -> tuple[bool, str] | None:
        return self._charge_by_key.get(key)

    def gateway_record(self, key: str | None, account_id: str, cents: int, description: str,
                       ok: bool, reason: str) -> None:
        self._charges.append((account_id, cents, description, ok))
        if key is not None:
            self._charge_by_key[key] = (ok, reason)

    def gateway_charges(self) -> list[tuple[str, int, str, bool]]:
        return list(self._charges)
