"""Payment gateways. The engine only needs `charge`; both gateways here are the offline test one.

Every charge carries a payment key made from the account and the operation (see
`BillingEngine.charge`): a gateway that has seen a key answers with its first result and
charges nothing again, so a transaction retried on fresh state never charges a card twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class PaymentResult:
    ok: bool
    method: str
    reason: str = ""


METHOD = "Test card •••• 4242"
DECLINED = "the card was declined by the issuer"


def _portal_url(account_id: str) -> str:
    return f"https://payments.test/portal/{quote(account_id, safe='')}"


class TestPaymentGateway:
    """Approves every charge unless told to decline for an account (`decline(id, True)`).

    It records every attempt so tests and demos can see what was charged, and never talks to
    anything outside the process. Its state lives in this object: one process only.
    """

    __test__ = False  # not a pytest test class, despite the name

    method = METHOD

    def __init__(self) -> None:
        self._declining: set[str] = set()
        self.charges: list[tuple[str, int, str, bool]] = []
        self._by_key: dict[str, PaymentResult] = {}

    def decline(self, account_id: str, decline: bool = True) -> None:
        if decline:
            self._declining.add(account_id)
        else:
            self._declining.discard(account_id)

    def is_declining(self, account_id: str) -> bool:
        return account_id in self._declining

    def charge(self, account_id: str, amount_cents: int, description: str,
               key: str | None = None) -> PaymentResult:
        if key is not None and key in self._by_key:
            return self._by_key[key]
        ok = account_id not in self._declining
        self.charges.append((account_id, amount_cents, description, ok))
        result = PaymentResult(True, METHOD) if ok else PaymentResult(False, METHOD, DECLINED)
        if key is not None:
            self._by_key[key] = result
        return result

    def portal_url(self, account_id: str) -> str:
        return _portal_url(account_id)


class StoredPaymentGateway:
    """The test gateway with its declines and its charges by key kept in a store, so every
    worker on one database agrees on them (and a retried transaction finds its charge).

    The store provides `gateway_declining(account_id)`, `gateway_set_declining(account_id,
    on)`, `gateway_charge(key)` -> (ok, reason) or None, `gateway_record(key, account_id,
    cents, description, ok, reason)` and `gateway_charges()`; the SQL store writes a charge
    in its own small transaction, as a real gateway would keep it whatever happens to ours.
    """

    __test__ = False

    method = METHOD

    def __init__(self, store) -> None:
        self.store = store

    def decline(self, account_id: str, decline: bool = True) -> None:
        self.store.gateway_set_declining(account_id, decline)

    def is_declining(self, account_id: str) -> bool:
        return self.store.gateway_declining(account_id)

    @property
    def charges(self) -> list[tuple[str, int, str, bool]]:
        return self.store.gateway_charges()

    def charge(self, account_id: str, amount_cents: int, description: str,
               key: str | None = None) -> PaymentResult:
        if key is not None:
            seen = self.store.gateway_charge(key)
            if seen is not None:
                ok, reason = seen
                return PaymentResult(ok, METHOD, reason)
        ok = not self.store.gateway_declining(account_id)
        reason = "" if ok else DECLINED
        self.store.gateway_record(key, account_id, amount_cents, description, ok, reason)
        return PaymentResult(ok, METHOD, reason)

    def portal_url(self, account_id: str) -> str:
        return _portal_url(account_id)
