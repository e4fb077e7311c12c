"""The reference billing engine (sync, in-process): state, ledger, periods, payments."""

from .clock import ManualClock, utc_now
from .core import CREDIT_PACKS, BillingEngine, personal_account_id
from .payments import PaymentResult, StoredPaymentGateway, TestPaymentGateway
from .session import BillingSession

__all__ = [
           "CREDIT_PACKS",
           "BillingEngine",
           "BillingSession",
           "ManualClock",
           "PaymentResult",
           "StoredPaymentGateway",
           "TestPaymentGateway",
           "personal_account_id",
           "utc_now",
]
