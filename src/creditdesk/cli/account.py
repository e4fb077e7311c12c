"""`creditdesk login`, `creditdesk logout`, and the dashboard on the server you logged in to."""

from __future__ import annotations

import sys
from dataclasses import replace


def add_parsers(sub) -> None:
    from . import COMMAND_HELP

    login = sub.add_parser("login", help=COMMAND_HELP["login"],
                           description="Asks for your API token (or reads it from stdin) and "
                                       "keeps it in the system keyring; the URL goes in the "
                                       "settings file.")
    login.add_argument("--url", required=True, help="the server, e.g. https://billing.example")
    login.add_argument("--context", metavar="ACCOUNT_ID",
                       help="the account the dashboard opens on (default: your first org)")
    login.set_defaults(run=run_login)

    logout = sub.add_parser("logout", help=COMMAND_HELP["logout"])
    logout.add_argument("--url", help="the server (default: the one in the settings)")
    logout.set_defaults(run=run_logout)


def _read_token() -> str:
    if sys.stdin.isatty():
        import getpass
        return getpass.getpass("API token (input hidden): ").strip()
    return sys.stdin.readline().strip()


def _check_token(url: str, token: str) -> str | None:
    """Ask the server who the token is; None if it could not be asked. Raises on refusal."""
    import httpx

    from ..errors import error_from_dict
    try:
        response = httpx.get(f"{url}/v1/me", headers={"Authorization": f"Bearer {token}"},
                             timeout=10)
    except httpx.HTTPError:
        return None
    if response.status_code == 200:
        return response.json().get("name")
    try:
        raise error_from_dict(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        return None


def run_login(args) -> int:
    from .. import config
    from ..errors import BillingError
    try:
        url = config.check_url(args.url, "--url")
        config._keyring()       # say there is no keyring before asking for a secret
    except config.ConfigError as error:
        print(f"creditdesk login: {error}", file=sys.stderr)
        return 2
    token = _read_token()
    if not token:
        print("creditdesk login: no token given; nothing was stored", file=sys.stderr)
        return 2
    try:
        name = _check_token(url, token)
    except BillingError as error:
        print(f"creditdesk login: {url} refused this token: {error.message}", file=sys.stderr)
        return 1
    try:
        config.store_token(url, token)
        settings = config.load_settings()
        context = args.context if args.context is not None else settings.context
        # The theme and the [keys] table are the person's: a new login keeps them.
        path = config.save_settings(replace(settings, url=url, context=context))
    except config.ConfigError as error:
        print(f"creditdesk login: {error}", file=sys.stderr)
        return 2
    who = f" as {name}" if name else " (the server could not be reached to check it)"
    print(f"Logged in to {url}{who}. The token is in the system keyring; "
          f"settings in {path}.")
    return 0


def run_logout(args) -> int:
    from .. import config
    try:
        url = config.check_url(args.url, "--url") if args.url else config.load_settings().url
        if not url:
            print("creditdesk logout: not logged in anywhere (no url in "
                  f"{config.settings_path()})", file=sys.stderr)
            return 1
        removed = config.delete_token(url)
    except config.ConfigError as error:
        print(f"creditdesk logout: {error}", file=sys.stderr)
        return 2
    print(f"Logged out of {url}." if removed else f"No token was stored for {url}.")
    return 0


def run_dashboard(args) -> int:
    """The dashboard on the configured server (the remote backend)."""
    from .. import config
    try:
        connection = config.connection()
        settings = config.load_settings()
    except config.ConfigError as error:
        print(f"creditdesk: {error}", file=sys.stderr)
        return 2
    from ..backends.remote import RemoteBackend
    from ..tui import CreditDeskApp
    backend = RemoteBackend(connection.url, connection.token)
    app = CreditDeskApp(backend=backend, context=connection.context, keymap=settings.keys,
                        theme=settings.theme, remember_theme=config.remember_theme)
    app.run()
    return app.return_code or 0
