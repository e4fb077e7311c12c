"""The load of bench/server_debits.py: client processes, each with one keep-alive HTTP/1.1
connection posting debits (a unique Idempotency-Key each), and the CPU a run cost where
(the server's processes, the clients, the machine), read from /proc."""

import multiprocessing
import os
import socket
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


class Connection:
    """One keep-alive HTTP/1.1 connection posting debits: the request is a few bytes put
    together per call and the answer is read by its Content-Length, so a client costs the
    shared cores as little as possible (httpx spends ~1 ms of CPU a request here)."""

    def __init__(self, url: str, caller: tuple[str, str]) -> None:
        token, org = caller
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.body = b'{"credits":1,"campaign":"bench"}'
        self.head = (f"POST /v1/accounts/{org}/usage HTTP/1.1\r\nHost: {host}:{port}\r\n"
                     f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(self.body)}\r\nIdempotency-Key: ").encode()
        self.prefix = f"{os.getpid()}-{time.time_ns()}-".encode()
        self.sent = 0
        self.buffer = b""

    def debit(self) -> None:
        self.sent += 1
        self.sock.sendall(self.head + self.prefix + str(self.sent).encode() + b"\r\n\r\n"
                          + self.body)
        while b"\r\n\r\n" not in self.buffer:
            self.receive()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ", 2)[1]
        length = next((int(line.split(b":", 1)[1]) for line in lines[1:]
                       if line.lower().startswith(b"content-length:")), None)
        if length is None:
            raise RuntimeError(f"an answer without Content-Length: {head[:200]!r}")
        while len(self.buffer) < length:
            self.receive()
        answer, self.buffer = self.buffer[:length], self.buffer[length:]
        if status != b"200":
            raise RuntimeError(f"debit refused ({status.decode()}): {answer[:300]!r}")

    def receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        self.buffer += chunk


def client(url: str, caller: tuple[str, str], ready, go, deadline, results) -> None:
    """One client process: connect and warm up, then debit until the shared deadline."""
    try:
        connection = Connection(url, caller)
        for _ in range(3):
            connection.debit()
        ready.put(None)
        go.wait()
        cpu, done, until = time.process_time(), 0, deadline.value
        while time.monotonic() < until:
            connection.debit()
            done += 1
        results.put((done, time.monotonic(), time.process_time() - cpu))
    except Exception as error:  # noqa: BLE001 - told to the parent, which stops the run
        ready.put(f"{type(error).__name__}: {error}")
        results.put(str(error))


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system) of these processes and all their descendants."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue        # ended meanwhile
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS
    total, wanted = 0.0, set(pids)
    for pid, seconds in cpu.items():
        seen = pid
        while seen > 1 and seen not in wanted:
            seen = parents.get(seen, 0)
        if seen in wanted:
            total += seconds
    return total


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / TICKS, sum(values) / TICKS


def hammer(url: str, callers: list[tuple[str, str]], clients: int, seconds: float,
           server_pids: list[int]) -> dict:
    """Debits/s with `clients` client processes, with the CPU the run cost where."""
    context = multiprocessing.get_context("fork")
    ready, results = context.Queue(), context.Queue()
    go, deadline = context.Event(), context.Value("d", 0.0)
    processes = [context.Process(target=client, daemon=True,
                                 args=(url, callers[i % len(callers)], ready, go, deadline,
                                       results)) for i in range(clients)]
    for process in processes:
        process.start()
    try:
        problems = [p for p in (ready.get(timeout=120) for _ in processes) if p]
        if problems:
            raise RuntimeError(problems[0])
        server_before, (busy_before, all_before) = tree_cpu(server_pids), machine_busy()
        began = time.monotonic()
        deadline.value = began + seconds
        go.set()
        finished = [results.get(timeout=seconds + 120) for _ in processes]
        server_after, (busy_after, all_after) = tree_cpu(server_pids), machine_busy()
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    problems = [f for f in finished if isinstance(f, str)]
    if problems:
        raise RuntimeError(problems[0])
    done = sum(f[0] for f in finished)
    elapsed = max(f[1] for f in finished) - began
    return {"rate": done / elapsed,
            "server_ms": 1000 * (server_after - server_before) / done,
            "client_us": 1e6 * sum(f[2] for f in finished) / done,
            "busy": (busy_after - busy_before) / (all_after - all_before)}
