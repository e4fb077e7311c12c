"""Payment gateways. The engine only needs `charge`; TestPaymentGateway is the offline one."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class PaymentResult:
    ok: bool
    method: str
    reason: str = ""


class TestPaymentGateway:
    """Approves every charge unless told to decline for an account (`decline(id, True)`).

    It records every attempt so tests and demos can see what was charged, and never talks to
    anything outside the process.
    """

    __test__ = False  # not a pytest test class, despite the name

    method = "Test card •••• 4242"

    def __init__(self) -> None:
        self._declining: set[str] = set()
        self.charges: list[tuple[str, int, str, bool]] = []

    def decline(self, account_id: str, decline: bool = True) -> None:
        if decline:
            self._declining.add(account_id)
        else:
            self._declining.discard(account_id)

    def is_declining(self, account_id: str) -> bool:
        return account_id in self._declining

    def charge(self, account_id: str, amount_cents: int, description: str) -> PaymentResult:
        ok = account_id not in self._declining
        self.charges.append((account_id, amount_cents, description, ok))
        if ok:
            return PaymentResult(True, self.method)
        return PaymentResult(False, self.method, "the card was declined by the issuer")

    def portal_url(self, account_id: str) -> str:
        return f"https://payments.test/portal/{quote(account_id, safe='')}"
