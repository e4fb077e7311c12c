"""`creditdesk serve` as a real process tree for the tests: started, waited for, drained.

    process, base, logged = start_serve("--db", url, "--workers", "2", env=environment)

Waits for the contract's `creditdesk serving on URL` line and returns the URL; stderr is
collected into `logged` (for failure messages) and stdout drained, both in threads, so a
chatty server never blocks on a full pipe.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading

MAIN = "import sys; from creditdesk.cli import main; sys.exit(main())"
SERVING = re.compile(r"creditdesk serving on (\S+)")


def start_serve(*args: str, env: dict[str, str]) -> tuple[subprocess.Popen, str, list[str]]:
    process = subprocess.Popen([sys.executable, "-c", MAIN, "serve", "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**env, "PYTHONUNBUFFERED": "1"})
    logged: list[str] = []
    threading.Thread(target=lambda: logged.extend(process.stderr), daemon=True).start()
    base = None
    for line in process.stdout:
        found = SERVING.search(line)
        if found:
            base = found.group(1)
            break
    if base is None:
        process.wait(30)
        raise AssertionError(f"no serving line: {''.join(logged)}")
    threading.Thread(target=process.stdout.read, daemon=True).start()
    return process, base, logged
