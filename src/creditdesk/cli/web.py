"""`creditdesk web`: the dashboard in a browser tab, through textual-serve.

Each browser connection runs `creditdesk demo …` (with `--demo`) or `creditdesk` (the
configured server) in a subprocess, exactly as in a terminal. textual-serve itself lets
anyone who can reach the port drive that process, and on a shared host every local user can
reach loopback; so the page and its websocket are refused without the secret printed at
start-up (made once per run with `secrets`, kept nowhere). Opening the URL sets it as a
same-site, HTTP-only cookie, which the websocket then carries (the page's script opens the
websocket without the page's query string).
"""

from __future__ import annotations

import hmac
import secrets
import shlex
import socket
import sys
from typing import Any

COOKIE = "creditdesk_web"
KEY_PARAM = "key"
MAIN = "import sys; from creditdesk.cli import main; sys.exit(main())"


def add_parser(sub) -> None:
    from . import COMMAND_HELP, add_world_arguments

    web = sub.add_parser("web", help=COMMAND_HELP["web"],
                         description="Serves the dashboard to a browser. Prints a URL with a "
                                     "secret; connections without it are refused.")
    web.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this machine only)")
    web.add_argument("--port", type=_port, default=8080,
                     help="port (default 8080; 0 picks a free one)")
    web.add_argument("--demo", action="store_true",
                     help="the offline demo world (as `creditdesk demo`)")
    add_world_arguments(web)
    web.set_defaults(run=run_web)


def _port(text: str) -> int:
    import argparse
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {value}")
    return value


def app_command(args) -> str:
    """The shell command textual-serve runs per connection: this Python, this creditdesk."""
    words = [sys.executable, "-c", MAIN]
    if args.demo:
        words += ["demo", "--as", args.role, "--members", str(args.members),
                  "--months", str(args.months), "--seed", str(args.seed)]
    return shlex.join(words)


def free_port(host: str) -> int:
    # textual-serve builds its page's websocket URL from the port it is given, so `--port 0`
    # is resolved here (the port is free when asked; nothing else binds it in between here).
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def run_web(args) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        print("creditdesk web: textual-serve is not installed: "
              "pip install 'creditdesk[web]'", file=sys.stderr)
        return 2
    if not args.demo and (args.role, args.members, args.months, args.seed) != ("owner", 24, 6, 7):
        print("creditdesk web: error: --as, --members, --months and --seed need --demo",
              file=sys.stderr)
        return 2
    if not args.demo:
        from .. import config
        try:
            config.connection()     # say now, not in the browser, that nothing is configured
        except config.ConfigError as error:
            print(f"creditdesk web: {error}", file=sys.stderr)
            return 2
    try:
        port = args.port or free_port(args.host)
    except OSError as error:
        print(f"creditdesk web: cannot listen on {args.host}: {error.strerror}", file=sys.stderr)
        return 2
    secret = secrets.token_urlsafe(32)
    # public_url: the page's websocket address; an IPv6 host needs its brackets there.
    server = gated_server(Server)(app_command(args), host=args.host, port=port,
                                  title="CreditDesk", secret=secret,
                                  public_url=f"http://{url_host(args.host)}:{port}")
    try:
        server.serve()
    except OSError as error:
        print(f"creditdesk web: cannot listen on {args.host}:{port}: {error.strerror}",
              file=sys.stderr)
        return 2
    return 0


def gated_server(base: type) -> type:
    """textual-serve's Server, with its page, websocket and downloads behind the secret.

    Only its public methods are overridden: the handlers it routes to, its start-up hook (to
    print our URL instead of its banner) and its logging set-up (its access log would write
    the secret of every request to the terminal). Its static files (xterm.js, fonts) are the
    package's own, public to anyone, and stay open."""
    from aiohttp import web

    class GatedServer(base):
        def __init__(self, command: str, *, secret: str, **kwargs: Any) -> None:
            super().__init__(command, **kwargs)
            self.secret = secret

        def allowed(self, request: web.Request) -> bool:
            given = request.query.get(KEY_PARAM) or request.cookies.get(COOKIE) or ""
            return hmac.compare_digest(given.encode(), self.secret.encode())

        def refuse(self) -> web.Response:
            return web.Response(status=403, text="creditdesk web: open the URL printed by "
                                                 "`creditdesk web`, with its key.\n")

        async def handle_index(self, request: web.Request):
            if not self.allowed(request):
                return self.refuse()
            response = await super().handle_index(request)
            response.set_cookie(COOKIE, self.secret, httponly=True, samesite="Strict",
                                path="/")
            return response

        async def handle_websocket(self, request: web.Request):
            if not self.allowed(request):
                return self.refuse()
            return await super().handle_websocket(request)

        async def handle_download(self, request: web.Request):
            if not self.allowed(request):
                return self.refuse()
            return await super().handle_download(request)

        def initialize_logging(self) -> None:
            import logging
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
            super().initialize_logging()
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

        async def on_startup(self, app: web.Application) -> None:
            print(f"creditdesk web on {self.public_url}/?{KEY_PARAM}={self.secret}\n"
                  f"Open that URL in a browser; without its key connections are refused. "
                  f"Ctrl+C stops.", flush=True)

    return GatedServer
