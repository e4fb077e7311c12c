"""Running the API: the store path, the operator token, uvicorn on a socket, `serve --demo`."""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

OPERATOR_TOKEN_ENV = "CREDITDESK_OPERATOR_TOKEN"


class ServeError(Exception):
    """Something the person starting the server must fix (said in words, exit code 2)."""


def default_db_path() -> Path:
    import platformdirs
    return Path(platformdirs.user_data_dir("creditdesk")) / "creditdesk.sqlite3"


def operator_token(token_file: str | None, db_path: Path | None,
                   say: Callable[[str], None]) -> str:
    """From --operator-token-file, else the environment, else a generated one saved beside
    the database (reused on the next start, so operators keep their token)."""
    if token_file:
        path = Path(token_file)
        try:
            token = path.read_text().strip()
        except OSError as error:
            raise ServeError(f"cannot read the operator token file {path}: "
                             f"{error.strerror}") from None
        if len(token) < 16:
            raise ServeError(f"the operator token in {path} is too short (at least 16 "
                             f"characters)")
        return token
    token = os.environ.get(OPERATOR_TOKEN_ENV, "").strip()
    if token:
        return token
    base = db_path.parent if db_path is not None else default_db_path().parent
    path = base / "operator-token"
    if path.exists():
        token = path.read_text().strip()
    else:
        base.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        # Created private from the start: the token must never be readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
    say(f"operator token saved in {path}")
    return token


def guard_settings() -> dict:
    """Body-size and rate limits from the environment (server/limits.py)."""
    try:
        from .limits import limits_from_env
    except ImportError:
        return {}
    try:
        return limits_from_env(os.environ)
    except ValueError as error:
        raise ServeError(str(error)) from None


def parse_start(text: str | None) -> datetime | bool:
    """--test-clock's START: an ISO 8601 instant with an offset, or the real time."""
    if text is None or text == "now":
        return True
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ServeError(f"--test-clock START must be an ISO 8601 instant with an offset, "
                         f"got {text!r}") from None
    if value.utcoffset() is None:
        raise ServeError(f"--test-clock START needs a UTC offset, e.g. {text}+00:00")
    return value


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on sockets whose proto is
    # IPPROTO_TCP, and without it every answer waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def uvicorn_server(app, sock: socket.socket, on_ready: Callable[[], None] | None = None):
    """A uvicorn Server for `app` on `sock` that calls `on_ready` once it accepts."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if on_ready is not None and not self.should_exit:
                on_ready()

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=5)
    return AnnouncingServer(config)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_serve(args) -> int:
    """`creditdesk serve`: open the store, replay it, serve until interrupted."""
    from .app import create_app
    from .service import BillingService
    from .store import Store
    from .tokens import OPERATOR

    def say(line: str) -> None:
        print(line, flush=True)

    try:
        start = parse_start(args.test_clock) if args.test_clock is not None else None
        db_path = None if args.demo else Path(args.db) if args.db else default_db_path()
        token = operator_token(args.operator_token_file, db_path, say)
        limits = guard_settings()
        sock = bind(args.host, args.port)
    except ServeError as error:
        print(f"creditdesk serve: {error}", file=sys.stderr)
        return 2
    store = None
    try:
        if args.demo:
            service = BillingService(test_clock=start)
            world = service.run_sync(OPERATOR, "load_demo", now=None, seed=7, members=24,
                                     months=6)
            app = create_app(service=service, operator_token=token, limits=limits)
            users = {role: getattr(world, role) for role in ("owner", "admin", "member")}
            issued = {role: app.state.tokens.issue(user)[0] for role, user in users.items()}
        else:
            store = Store(db_path)
            app = create_app(store=store, operator_token=token, test_clock=start,
                             limits=limits)
            say(f"database {db_path} (journal of {store.count('journal')} changes)")

        def ready() -> None:
            url = url_of(sock)
            say(f"creditdesk serving on {url}")
            if args.demo:
                say(f"demo world: org {world.org_id!r}, a throwaway server (nothing is saved)")
                for role, user in users.items():
                    say(f"  as the {role} ({user}): CREDITDESK_URL={url} "
                        f"CREDITDESK_TOKEN={issued[role]} creditdesk")

        uvicorn_server(app, sock, ready).run(sockets=[sock])
    finally:
        sock.close()
        if store is not None:
            store.close()
    return 0
