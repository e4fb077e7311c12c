"""Webhook delivery on loopback, and what the pure alert rules cost a debit.

1. Latency: an alert is put in the in-memory outbox, a running deliverer is poked (as the
   server does after the commit that wrote the row) and POSTs it, signed and pinned, to a receiver on 127.0.0.1; timed from the enqueue to
   the receiver having the body. Baseline, same run: a bare httpx POST of the same body to
   the same receiver (what delivery cannot beat).
2. Rule cost: the alert checks one debit runs (five balance thresholds, three member
   shares) against the pure rules a debit already runs (split_debit and exceeds_limit).

    .venv/bin/python bench/webhook_delivery.py [--alerts 200]
"""

import argparse
import asyncio
import statistics
import threading
import time
import timeit
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from creditdesk import alerting, rules
from creditdesk.models import Alert
from creditdesk.server.webhook_urls import WebhookPolicy
from creditdesk.server.webhooks import MemoryOutbox, WebhookDeliverer, alert_body


class Receiver:
    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers.get("CreditDesk-Delivery", "bare")
                receiver.arrived[key] = time.perf_counter()
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


def alert(n: int) -> Alert:
    return Alert(id=n, at=datetime.now(UTC), kind="balance_below", user_id=None,
                 threshold=50_000, balance_after=49_800,
                 message="The balance fell below 50,000 credits.")


async def bare_posts(receiver: Receiver, count: int) -> list[float]:
    body = alert_body(alert(0), "acme")
    times = []
    async with httpx.AsyncClient(limits=httpx.Limits(max_keepalive_connections=0)) as client:
        for n in range(count):
            began = time.perf_counter()
            await client.post(receiver.url, content=body,
                              headers={"CreditDesk-Delivery": f"bare{n}"})
            # Timed like a delivery: until the receiver has the body.
            times.append(receiver.arrived[f"bare{n}"] - began)
    return times


async def deliveries(receiver: Receiver, count: int) -> list[float]:
    outbox = MemoryOutbox()
    deliverer = WebhookDeliverer(outbox, policy=WebhookPolicy(allow_http=True,
                                                              allow_private=True))
    stop = asyncio.Event()
    worker = asyncio.create_task(deliverer.run(stop, poll_seconds=1.0))
    times = []
    for n in range(1, count + 1):
        began = time.perf_counter()
        row = outbox.enqueue(endpoint_id="wh_1", url=receiver.url, secret="whsec_bench",
                             alert=alert(n), account_id="acme", now=datetime.now(UTC))
        deliverer.poke()  # as the server does after the commit that wrote the row
        while row.delivery_id not in receiver.arrived:
            await asyncio.sleep(0.0005)
        times.append(receiver.arrived[row.delivery_id] - began)
    stop.set()
    await worker
    await deliverer.aclose()
    return times


def rule_cost(rounds: int = 200_000) -> tuple[float, float]:
    thresholds, armed = [1_000, 5_000, 10_000, 50_000, 100_000], frozenset({1_000, 5_000})
    shares = [50, 80, 100]

    def baseline() -> None:
        rules.split_debit(3_000, 2_000, 8_000, 700)
        rules.exceeds_limit(400, 700, 10_000)

    def with_alerts() -> None:
        alerting.advance_balance_alerts(thresholds, armed, 13_000, 12_300)
        alerting.member_usage_crossings(shares, 10_000, 400, 1_100, ())

    base = min(timeit.repeat(baseline, number=rounds, repeat=3)) / rounds
    extra = min(timeit.repeat(with_alerts, number=rounds, repeat=3)) / rounds
    return base, extra


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=200)
    count = parser.parse_args().alerts
    receiver = Receiver()
    bare = asyncio.run(bare_posts(receiver, count))
    delivered = asyncio.run(deliveries(receiver, count))
    med_bare, med_del = statistics.median(bare), statistics.median(delivered)
    p95 = sorted(delivered)[int(len(delivered) * 0.95) - 1]
    print(f"bare POST on loopback:    median {med_bare * 1e3:7.2f} ms")
    print(f"outbox -> receiver:       median {med_del * 1e3:7.2f} ms, p95 {p95 * 1e3:.2f} ms "
          f"({count} alerts, poked after each enqueue), ratio {med_del / med_bare:.1f}x")
    base, extra = rule_cost()
    print(f"pure debit rules:         {base * 1e6:7.2f} us per debit")
    print(f"alert rules on a debit:   {extra * 1e6:7.2f} us per debit "
          f"(ratio {extra / base:.2f}x the debit rules)")
    receiver.server.shutdown()


if __name__ == "__main__":
    main()
