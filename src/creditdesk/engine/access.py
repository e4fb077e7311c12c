"""What every session method starts with: the caller's membership of an account, checked in
the rules' order, inside the store's transaction (again, when the database gives it up).

Every method first finds the account among the caller's own (`not_found` otherwise, so an
outsider learns nothing), then checks the role, then validates the input, then acts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .. import rules
from ..errors import NotFound
from ..models import MemberUsage
from ..store.retry import MAX_ATTEMPTS, RetryTransaction
from ..store.state import Account, Membership

if TYPE_CHECKING:
    from .core import BillingEngine

T = TypeVar("T")
# The roles each action admits, derived once from the rules' table (not on every call).
ADMITS = {action: frozenset(role for role in rules.ROLES if rules.role_allows(role, action))
          for action in rules.REQUIRED_ROLE}


class SessionAccess:
    """The base of `BillingSession`: one user's way into the accounts they belong to."""

    def __init__(self, engine: BillingEngine, user_id: str) -> None:
        self.engine = engine
        self.user_id = user_id

    def _admit(self, account: Account | None, account_id: object,
               action: str) -> Membership:
        """The caller's membership of `account` if their role allows `action`, in the
        rules' order: an account they are not in does not exist for them."""
        member = account.members.get(self.user_id) if account is not None else None
        if member is None:
            raise NotFound(f"no account {account_id!r}")
        if member.role not in ADMITS[action]:
            rules.require_role(member.role, action)
        return member

    def _view(self, account_id: object, action: str,
              build: Callable[[Account, Membership], T]) -> T:
        return retrying(lambda: self._view_once(account_id, action, build))

    def _view_once(self, account_id: object, action: str,
                   build: Callable[[Account, Membership], T]) -> T:
        """A read: no lock unless the clock passed a period end that must be closed first
        (then it is a write, and the period is closed once whoever gets there first)."""
        engine = self.engine
        store = engine.store
        key = account_id if type(account_id) is str else ""
        now = engine.clock()
        with store.read(key) as account:
            member = self._admit(account, account_id, action)
            if now < account.period_end:
                return build(account, member)
            if store.read_locks:
                engine.catch_up(account, now)
                return build(account, member)
        with store.write(key) as account:
            member = self._admit(account, account_id, action)
            engine.catch_up(account, now)
            return build(account, member)

    def _change(self, account_id: object, action: str,
                apply: Callable[[Account, Membership], T]) -> T:
        """A write: the account locked, its passed periods closed, then `apply` (all of it
        again, on fresh state, when the database gives the transaction up)."""
        engine = self.engine

        def once() -> T:
            with engine.store.write(account_id if type(account_id) is str else "") as account:
                member = self._admit(account, account_id, action)
                engine.catch_up(account)
                return apply(account, member)
        return retrying(once)

    def _member_usage(self, member: Membership) -> MemberUsage:
        return MemberUsage(user_id=member.user_id,
                           name=self.engine.store.user(member.user_id).name,
                           role=member.role, used_this_period=member.used, limit=member.limit)


def retrying(transaction: Callable[..., T], *args: object,
             attempts: int = MAX_ATTEMPTS) -> T:
    """Run `transaction(*args)`; when the store gave it up (nothing of it written), run it
    again, `attempts` times in all. (Arguments rather than a closure: a debit saves making
    one per call.)"""
    for attempt in range(attempts):
        try:
            return transaction(*args)
        except RetryTransaction:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")
