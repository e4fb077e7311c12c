"""`creditdesk admin ...`: the operator endpoints of a running server, for people."""

from __future__ import annotations

import argparse
import json
import os
import sys

DEFAULT_URL = "http://127.0.0.1:8000"


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def add_parser(sub) -> None:
    from . import COMMAND_HELP

    admin = sub.add_parser("admin", help=COMMAND_HELP["admin"],
                           description="Operator commands against `creditdesk serve`. The "
                                       "operator token comes from --operator-token-file, "
                                       "$CREDITDESK_OPERATOR_TOKEN, or the file a server on "
                                       "this machine saved beside its default database.")
    admin.add_argument("--url", help=f"the server (default $CREDITDESK_URL, the logged-in "
                                     f"server, or {DEFAULT_URL})")
    admin.add_argument("--operator-token-file", metavar="F")
    commands = admin.add_subparsers(dest="admin_command", metavar="COMMAND", required=True)
    admin.set_defaults(admin_parsers=commands.choices)  # for each command's own usage

    plan = commands.add_parser("add-plan", help="add a plan")
    plan.add_argument("id", help="the plan's id, e.g. team-monthly")
    plan.add_argument("--name", required=True, help="the plan's name shown to people")
    plan.add_argument("--base-credits", type=_int, required=True,
                      help="base credits per month")
    plan.add_argument("--rollover-cap", type=_int, required=True,
                      help="most unused credits carried into the next period")
    plan.add_argument("--billing-period", choices=["monthly", "annual"], default="monthly",
                      help="how often the plan is billed (default monthly)")
    plan.add_argument("--price-cents", type=_int, required=True,
                      help="price per billing period, in cents")
    plan.set_defaults(run=run, run_admin=_add_plan)

    user = commands.add_parser("add-user", help="add a user (with a personal account)")
    user.add_argument("id", help="the user's id, e.g. ann")
    user.add_argument("--name", required=True, help="the user's full name")
    user.add_argument("--email", default="", help="the user's email address (optional)")
    user.add_argument("--plan", required=True, help="the personal account's plan")
    user.set_defaults(run=run, run_admin=_add_user)

    org = commands.add_parser("create-org", help="create an organization")
    org.add_argument("id", help="the organization's account id, e.g. acme")
    org.add_argument("--name", required=True, help="the organization's name")
    org.add_argument("--owner", required=True, help="user id of the first owner")
    org.add_argument("--plan", required=True, help="id of the organization's plan")
    org.set_defaults(run=run, run_admin=_create_org)

    member = commands.add_parser("add-member", help="add a member or change a role")
    member.add_argument("org", help="the organization's account id")
    member.add_argument("user", help="the user's id")
    member.add_argument("--role", choices=["member", "admin", "owner"], default="member",
                        help="their role in the organization (default member)")
    member.set_defaults(run=run, run_admin=_add_member)

    token = commands.add_parser("issue-token", help="issue an API token for a user (shown once)")
    token.add_argument("user", help="the user the token acts as")
    token.set_defaults(run=run, run_admin=_issue_token)

    demo = commands.add_parser("load-demo", help="fill an empty server with the demo world")
    demo.add_argument("--seed", type=_int, default=7, help="random seed (default 7)")
    demo.add_argument("--members", type=_int, default=24,
                      help="members in the demo org (default 24)")
    demo.add_argument("--months", type=_int, default=6, help="months of history (default 6)")
    demo.set_defaults(run=run, run_admin=_load_demo)

    decline = commands.add_parser("decline", help="make the test gateway decline an account")
    decline.add_argument("account", help="the account id whose payments are declined")
    decline.add_argument("--off", action="store_true", help="approve its payments again")
    decline.set_defaults(run=run, run_admin=_decline)

    clock = commands.add_parser("set-clock", help="move a --test-clock server's clock")
    clock.add_argument("now", help="ISO 8601 instant with an offset")
    clock.set_defaults(run=run, run_admin=_set_clock)


class AdminError(Exception):
    """A refusal or failure worth one line on stderr, not a traceback."""


def _target(args) -> tuple[str, str]:
    from .. import config
    url = args.url or os.environ.get(config.URL_ENV)
    if not url:
        try:
            url = config.load_settings().url or DEFAULT_URL
        except config.ConfigError:
            url = DEFAULT_URL
    if args.operator_token_file:
        try:
            with open(args.operator_token_file, encoding="utf-8") as handle:
                token = handle.read().strip()
        except OSError as error:
            raise AdminError(f"cannot read {args.operator_token_file}: {error.strerror}") from None
    else:
        token = os.environ.get("CREDITDESK_OPERATOR_TOKEN", "").strip()
    if not token:
        token = _saved_operator_token()
    if not token:
        raise AdminError("no operator token: pass --operator-token-file F or set "
                         "CREDITDESK_OPERATOR_TOKEN (`creditdesk serve` printed where it "
                         "saved one)")
    return url.rstrip("/"), token


def _saved_operator_token() -> str:
    """The token a server on this machine generated beside its default database, if any."""
    from pathlib import Path

    import platformdirs
    path = Path(platformdirs.user_data_dir("creditdesk")) / "operator-token"
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _call(args, method: str, path: str, body: dict) -> dict:
    import httpx
    url, token = _target(args)
    try:
        response = httpx.request(method, f"{url}{path}", json=body, timeout=300,
                                 headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as error:
        raise AdminError(f"cannot reach {url}: {error}") from None
    try:
        data = response.json()
    except ValueError:
        raise AdminError(f"{url} answered {response.status_code} without JSON") from None
    if response.status_code >= 400:
        error = data.get("error", {}) if isinstance(data, dict) else {}
        field = f" (field {error['field']})" if error.get("field") else ""
        raise AdminError(f"refused ({response.status_code} {error.get('code')}): "
                         f"{error.get('message')}{field}")
    return data


def _quoted(value: str) -> str:
    from urllib.parse import quote
    return quote(value, safe="")


def _add_plan(args) -> dict:
    return _call(args, "POST", "/v1/admin/plans", {
        "id": args.id, "name": args.name, "base_credits_per_month": args.base_credits,
        "rollover_cap": args.rollover_cap, "billing_period": args.billing_period,
        "price_cents": args.price_cents})


def _add_user(args) -> dict:
    return _call(args, "POST", "/v1/admin/users", {"id": args.id, "name": args.name,
                                                    "email": args.email, "plan": args.plan})


def _create_org(args) -> dict:
    return _call(args, "POST", "/v1/admin/orgs", {"id": args.id, "name": args.name,
                                                   "owner": args.owner, "plan": args.plan})


def _add_member(args) -> dict:
    return _call(args, "POST", f"/v1/admin/orgs/{_quoted(args.org)}/members",
                 {"user_id": args.user, "role": args.role})


def _issue_token(args) -> dict:
    return _call(args, "POST", f"/v1/admin/users/{_quoted(args.user)}/tokens", {})


def _load_demo(args) -> dict:
    return _call(args, "POST", "/v1/admin/demo", {"seed": args.seed, "members": args.members,
                                                   "months": args.months})


def _decline(args) -> dict:
    return _call(args, "PUT", f"/v1/admin/payments/{_quoted(args.account)}",
                 {"decline": not args.off})


def _set_clock(args) -> dict:
    return _call(args, "PUT", "/v1/admin/clock", {"now": args.now})


def _report(args, data: dict) -> None:
    if args.admin_command == "issue-token":
        print(f"token for {args.user} (shown once, store it now):\n{data['token']}")
    elif args.admin_command == "load-demo":
        print(f"demo world loaded: org {data['org_id']!r}")
        for role in ("owner", "admin", "member"):
            print(f"  {role:6} {data[role]:12} token {data['tokens'][role]}")
    elif args.admin_command == "decline":
        # The server answers {"account_id": …, "decline": bool}; say what that means.
        print(f"The test gateway now declines every payment of {args.account}."
              if data.get("decline", not args.off) else
              f"The test gateway approves the payments of {args.account} again.")
    else:
        print(json.dumps(data, indent=2))


def run(args) -> int:
    try:
        data = args.run_admin(args)
    except AdminError as error:
        print(f"creditdesk admin: {error}", file=sys.stderr)
        return 1
    _report(args, data)
    return 0

