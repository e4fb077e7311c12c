"""The reference billing engine (sync, in-process): state, ledger, periods, payments."""

from .clock import ManualClock, utc_now
from .core import CREDIT_PACKS, BillingEngine, personal_account_id
from .payments import PaymentResult, TestPaymentGateway
from .session import BillingSession

__all__ = ["BillingEngine", "BillingSession", "CREDIT_PACKS", "ManualClock", "PaymentResult",
           "TestPaymentGateway", "personal_account_id", "utc_now"]
