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
                   say: Callable[[str], None], *, postgres: bool = False) -> str:
    """From --operator-token-file, else the environment, else a generated one saved beside
    the database (reused on the next start, so operators keep their token). A PostgreSQL
    database has no folder beside it to save one in: there the token must be given."""
    if token_file:
        return _long_enough(_read_private(Path(token_file)), f"the operator token in "
                                                                f"{token_file}")
    if OPERATOR_TOKEN_ENV in os.environ:
        return _long_enough(os.environ[OPERATOR_TOKEN_ENV].strip(), OPERATOR_TOKEN_ENV)
    if postgres:
        raise ServeError(f"on PostgreSQL the operator token must be given: "
                         f"--operator-token-file F or {OPERATOR_TOKEN_ENV}")
    base = db_path.parent if db_path is not None else default_db_path().parent
    path = base / "operator-token"
    if path.exists():
        token = _long_enough(_read_private(path), f"the operator token in {path}")
    else:
        base.mkdir(parents=True, exist_ok=True)
        token = secrets.token_urlsafe(32)
        # Created private from the start: the token must never be readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token + "\n")
    say(f"operator token saved in {path}")
    return token


MIN_OPERATOR_TOKEN = 16


def _long_enough(token: str, where: str) -> str:
    if len(token) < MIN_OPERATOR_TOKEN:
        raise ServeError(f"{where} is {'empty' if not token else 'too short'} (at least "
                         f"{MIN_OPERATOR_TOKEN} characters)")
    return token


def _read_private(path: Path) -> str:
    """The file's text, if only its owner (this user) can read or change it: a token file
    another user planted or can rewrite would give them the operator's power."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as error:
        raise ServeError(f"cannot read the operator token file {path}: "
                         f"{error.strerror}") from None
    with os.fdopen(fd) as handle:
        info = os.fstat(handle.fileno())
        if info.st_uid != os.geteuid():
            raise ServeError(f"the operator token file {path} belongs to another user "
                             f"(uid {info.st_uid}); use a file of your own")
        if info.st_mode & 0o077:
            raise ServeError(f"the operator token file {path} can be read or written by "
                             f"others (mode {info.st_mode & 0o777:o}); chmod 600 {path}")
        try:
            return handle.read().strip()
        except (OSError, UnicodeDecodeError) as error:
            raise ServeError(f"cannot read the operator token file {path}: {error}") from None


def chosen_database(text: str | None):
    """--db parsed and opened once (server/database.py); a bad one is a ServeError."""
    from .database import DatabaseError, check, parse, sqlite_database
    try:
        database = parse(text) if text is not None else sqlite_database(default_db_path())
        check(database)
    except DatabaseError as error:
        raise ServeError(str(error)) from None
    return database


def guard_settings() -> dict:
    """Body-size and rate limits from the environment (server/limits.py)."""
    from .limits import limits_from_env
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
    from ..errors import InvalidRequest
    from .service import clock_instant_in_utc
    try:
        clock_instant_in_utc(value, "--test-clock START")   # PUT /v1/admin/clock's bounds
    except InvalidRequest as error:
        raise ServeError(error.message) from None
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


# Slow or silent clients: uvicorn closes a connection idle this long between requests.
IDLE_TIMEOUT_SECONDS = 5
# Connections open at once; above it uvicorn answers 503 at once, so a crowd of held
# connections cannot exhaust the process's file descriptors. Requests in flight are
# limited lower, by the app's guard (limits.InFlightLimit), whose 503 is the contract's JSON.
MAX_CONCURRENT = 2000
# A request head must arrive whole within this time (uvicorn has no such timeout).
HEADER_TIMEOUT_SECONDS = 10


def http_parser() -> str:
    """httptools (the `server` extra) when installed: its parser costs the server about half
    h11's CPU a request; h11 (uvicorn's own dependency) otherwise. Both get the same guards
    (http_protocol.py)."""
    try:
        import httptools  # noqa: F401 - uvicorn imports it again, from sys.modules
    except ImportError:
        return "h11"
    return "httptools"


def uvicorn_server(app, sock: socket.socket, on_ready: Callable[[], None] | None = None,
                   *, forwarded_allow_ips: str | None = None, http: str | None = None):
    """A uvicorn Server for `app` on `sock` that calls `on_ready` once it accepts.

    `X-Forwarded-For` is believed only from `forwarded_allow_ips` (none by default: uvicorn
    would otherwise trust 127.0.0.1, so any local client could pick its own address).
    `http`: the parser, "httptools" or "h11" (default: http_parser())."""
    import uvicorn

    class AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if on_ready is not None and not self.should_exit:
                on_ready()

    from .limits import install_header_timeout
    # lifespan "on": the app's lifespan runs the webhook deliverer (server/webhook_service).
    config = uvicorn.Config(app, http=http or http_parser(), log_level="warning",
                            access_log=False, lifespan="on",
                            timeout_graceful_shutdown=5, server_header=False,
                            timeout_keep_alive=IDLE_TIMEOUT_SECONDS,
                            limit_concurrency=MAX_CONCURRENT,
                            proxy_headers=bool(forwarded_allow_ips),
                            forwarded_allow_ips=forwarded_allow_ips or "")
    install_header_timeout(config, HEADER_TIMEOUT_SECONDS)
    return AnnouncingServer(config)


def serve_workers(count: int, sock: socket.socket, build_app: Callable[[], object],
                  on_ready: Callable[[], None], say: Callable[[str], None], *,
                  forwarded_allow_ips: str | None = None) -> int:
    """Run `count` uvicorn worker processes accepting on the one bound `sock`.

    Each worker is forked before it builds its app, so it opens its own database
    connections (a pool must never cross a fork). `on_ready` runs once every worker accepts.
    A worker that dies after it was ready is replaced (its clients retry; the database
    holds all state); one that dies before it was ready stops the server, since its
    replacement would only fail the same way. SIGINT or SIGTERM stops them all.
    """
    import contextlib
    import select
    import signal
    import time

    ready_read, ready_write = os.pipe()
    children: dict[int, float] = {}           # pid -> when it was started
    stopping = False

    def spawn() -> None:
        pid = os.fork()
        if pid == 0:                          # the worker
            code = 1
            try:
                os.close(ready_read)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                app = build_app()
                uvicorn_server(app, sock, lambda: os.write(ready_write, b"r"),
                               forwarded_allow_ips=forwarded_allow_ips).run(
                    sockets=[sock])
                code = 0
            except BaseException as error:  # noqa: BLE001 - the worker must exit, not return
                print(f"creditdesk serve: a worker failed: {error}", file=sys.stderr,
                      flush=True)
            finally:
                os._exit(code)
        children[pid] = time.monotonic()

    def stop(signum=None, frame=None) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):     # already gone
                os.kill(pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for _ in range(count):
            spawn()
        waiting, failed = count, False
        while waiting and not failed:
            readable, _, _ = select.select([ready_read], [], [], 0.2)
            if readable:
                waiting -= len(os.read(ready_read, waiting))
            pid, _ = os.waitpid(-1, os.WNOHANG)
            failed = pid != 0 or stopping
        if failed:
            stop()
        else:
            on_ready()
        while children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            children.pop(pid, None)
            if not stopping and not failed:
                say(f"a worker (pid {pid}) ended with status {status}; starting another")
                spawn()
        return 1 if failed else 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(ready_read)
        os.close(ready_write)


def sql_app(database, operator: str, start: datetime | bool | None, limits: dict,
            webhooks=None):
    """The app of one worker over the SQL store at `database`: no replay, every state in
    the database (books, tokens, test clock, the test gateway's declines and charges)."""
    from datetime import UTC

    from ..engine import BillingEngine
    from ..engine.payments import StoredPaymentGateway
    from ..store import SqlStore
    from .app import create_app
    from .database import shared_test_clock
    from .service import BillingService

    store = SqlStore(database.url)
    clock = None
    if start is not None:
        clock = shared_test_clock(store, datetime.now(UTC) if start is True else start)
    engine = BillingEngine(clock=clock, payments=StoredPaymentGateway(store), store=store)
    service = BillingService(engine, test_clock=clock)
    # Tokens issued on any worker live in the database, so every worker knows them.
    app = create_app(service=service, operator_token=operator, limits=limits,
                     shared_tokens=store, webhooks=webhooks)
    return app, store


def migrate(database, start: datetime | bool | None, say: Callable[[str], None]) -> None:
    """Before any worker starts: upgrade a journal database of the previous release (once),
    create or upgrade the schema, set the test clock's start unless an earlier run left it
    standing somewhere (it never goes back), and say what the database holds."""
    from datetime import UTC

    from ..engine import ManualClock
    from ..store import SqlStore
    from .upgrade import UpgradeError, upgrade_in_place
    try:
        if not database.is_postgres:
            upgrade_in_place(database.path, say)
        store = SqlStore(database.url)
    except UpgradeError as error:
        raise ServeError(str(error)) from None
    except Exception as error:  # noqa: BLE001 - told in a sentence, exit 2
        raise ServeError(f"cannot open the database {database.shown}: {error}") from None
    try:
        store.migrate()
        if start is not None and store.stored_clock() is None:
            store.save_clock(ManualClock(datetime.now(UTC) if start is True else start)())
        accounts, entries = store.book_counts()
    except Exception as error:  # noqa: BLE001 - told in a sentence, exit 2
        raise ServeError(f"cannot prepare the database {database.shown}: {error}") from None
    finally:
        store.close()
    say(f"database {database.shown} ({accounts:,} account{'' if accounts == 1 else 's'}, "
        f"{entries:,} ledger entr{'y' if entries == 1 else 'ies'})")


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_serve(args) -> int:
    """`creditdesk serve`: prepare the database once, then serve it with N workers."""
    def say(line: str) -> None:
        print(line, flush=True)

    # Everything this server creates (the SQLite file and its -wal/-shm, the operator token
    # file) is for this user alone: billing records and a token are nobody else's to read.
    os.umask(0o077)
    demo_folder = None
    try:
        try:
            start = parse_start(args.test_clock) if args.test_clock is not None else None
            if args.demo:
                demo_folder, database = _demo_database()
            else:
                database = chosen_database(args.db)
            # --demo: the token goes beside the temporary database and is removed with it
            # ("nothing is saved"), never into the real server's data folder.
            token = operator_token(args.operator_token_file, database.path, say,
                                   postgres=database.is_postgres)
            limits = guard_settings()
            migrate(database, start, say)
            demo = _load_demo(database, token, start, say) if args.demo else None
            sock = bind(args.host, args.port)
        except ServeError as error:
            print(f"creditdesk serve: {error}", file=sys.stderr)
            return 2
        return _serve(args, database, token, start, limits, sock, say, demo)
    finally:
        if demo_folder is not None:
            import shutil
            shutil.rmtree(demo_folder, ignore_errors=True)


def _demo_database():
    """`--demo`: a fresh SQLite file in a private temporary folder (removed on exit)."""
    import tempfile

    from .database import sqlite_database
    folder = tempfile.mkdtemp(prefix="creditdesk-demo-")
    return folder, sqlite_database(Path(folder) / "demo.sqlite3")


def _load_demo(database, token, start, say) -> Callable[[str], None]:
    """Write the demo world into the database (in short batches) and issue a token per
    role; returns what to print once the server listens."""
    from .service import Operator
    from .tokens import OPERATOR
    app, store = sql_app(database, token, start, {})
    try:
        service = app.state.service
        world = service.run_sync(OPERATOR, Operator.load_demo, now=None, seed=7,
                                 members=24, months=6)
        users = {role: getattr(world, role) for role in ("owner", "admin", "member")}
        issued = {role: app.state.tokens.issue(user) for role, user in users.items()}
    except Exception as error:  # noqa: BLE001 - told in a sentence, exit 2
        raise ServeError(f"cannot load the demo world: {error}") from None
    finally:
        store.close()

    def tell(url: str) -> None:
        say(f"demo world: org {world.org_id!r}, a throwaway server (deleted on exit)")
        for role, user in users.items():
            say(f"  as the {role} ({user}): CREDITDESK_URL={url} "
                f"CREDITDESK_TOKEN={issued[role]} creditdesk")
    return tell


def _serve(args, database, token, start, limits, sock, say, demo) -> int:
    """Serve from the SQL store with `args.workers` processes (one: in this process)."""
    from .webhook_service import settings_from_args
    hooks = settings_from_args(args)    # serve's --webhook-* flags
    forwarded = getattr(args, "forwarded_allow_ips", None)
    try:
        def ready() -> None:
            url = url_of(sock)
            say(f"creditdesk serving on {url}")
            if demo is not None:
                demo(url)

        if args.workers == 1:
            app, store = sql_app(database, token, start, limits, hooks)
            try:
                uvicorn_server(app, sock, ready, forwarded_allow_ips=forwarded
                               ).run(sockets=[sock])
            finally:
                store.close()
            return 0
        return serve_workers(args.workers, sock,
                             lambda: sql_app(database, token, start, limits, hooks)[0],
                             ready, say, forwarded_allow_ips=forwarded)
    finally:
        sock.close()
