"""p50/p99 latency of `balance` and `members` over loopback HTTP on the 10,000-member demo.

Starts `creditdesk serve --test-clock` in a subprocess, loads the demo world through
`POST /v1/admin/demo`, then times sequential requests by the demo org's owner (one
keep-alive connection). As a reference measured in the same run, it also times
`GET /v1/me`, the smallest authenticated answer.

    .venv/bin/python bench/server_latency.py [--members 10000] [--months 6] [--requests 200]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from server_debits import MAIN, OPERATOR, start


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[98]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        token_file = Path(tmp) / "operator-token"
        token_file.write_text(OPERATOR)
        served, url = start([sys.executable, "-c", MAIN, "serve", "--port", "0",
                             "--db", str(Path(tmp) / "bench.sqlite3"),
                             "--operator-token-file", str(token_file),
                             "--test-clock", "2026-11-15T00:00:00+00:00"])
        try:
            began = time.perf_counter()
            loaded = httpx.post(f"{url}/v1/admin/demo", timeout=600,
                                headers={"Authorization": f"Bearer {OPERATOR}"},
                                json={"members": args.members, "months": args.months})
            loaded.raise_for_status()
            demo = loaded.json()
            print(f"demo world: {args.members:,} members, {args.months} months, loaded in "
                  f"{time.perf_counter() - began:.1f} s")
            headers = {"Authorization": f"Bearer {demo['tokens']['owner']}"}
            org = demo["org_id"]
            with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
                for name, path in (("whoami", "/v1/me"),
                                   ("balance", f"/v1/accounts/{org}/balance"),
                                   ("members", f"/v1/accounts/{org}/members")):
                    samples = []
                    for _ in range(args.requests):
                        t = time.perf_counter()
                        response = client.get(path)
                        samples.append((time.perf_counter() - t) * 1000)
                        response.raise_for_status()
                    p50, p99 = percentiles(samples)
                    print(f"{name:8} p50 {p50:8.2f} ms   p99 {p99:8.2f} ms   "
                          f"({len(response.content):,} bytes)", flush=True)
        finally:
            served.terminate()
            served.wait(30)


if __name__ == "__main__":
    main()
