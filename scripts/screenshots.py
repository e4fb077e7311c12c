"""Write an SVG of every dashboard screen, drawn from the demo world, into screenshots/.

    .venv/bin/python scripts/screenshots.py [--out screenshots] [--size 120x36]
                                            [--only alerts-owner ...]

Deterministic: the demo world is built at a fixed instant with a fixed seed, the app reads
that world's pinned clock, the cursor does not blink and the title is fixed, so running it
twice writes the same bytes (the README shows these files; the snapshot tests guard looks).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from creditdesk.backends import MemoryBackend
from creditdesk.demo import build_demo
from creditdesk.tui import CreditDeskApp

# The Pilot helpers live with the tests (they are not shipped): import them from the checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.support.pilot import settle  # noqa: E402

NOW = datetime(2026, 11, 15, tzinfo=UTC)
SEED = 7
TITLE = "CreditDesk"
SCREEN_KEYS = {"overview": "o", "usage": "u", "members": "m", "invoices": "i",
               "settings": "s", "activity": "v", "alerts": "n"}
# Shots of a part of a screen below its first fold: (key, action run on the screen).
PARTS = {"settings-alerts": ("s", "screen.focus_section('alerts')")}
# (screen, role): every screen as its owner sees it, plus where other roles see another
# screen: the admin's owner-only settings and invoices, the member's own-usage overview;
# then the alert settings, as the owner edits them.
SHOTS = (*((screen, "owner") for screen in SCREEN_KEYS),
         ("settings", "admin"), ("invoices", "admin"), ("overview", "member"),
         ("settings-alerts", "owner"))


async def shoot(screen: str, role: str, size: tuple[int, int]) -> str:
    world = build_demo(now=NOW, seed=SEED)
    user = {"owner": world.owner, "admin": world.admin, "member": world.member}[role]
    app = CreditDeskApp(backend=MemoryBackend(world.engine, user), clock=world.clock,
                        cursor_blink=False)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        key, action = PARTS.get(screen, (SCREEN_KEYS.get(screen), None))
        await pilot.press(key)
        await settle(pilot)
        if action is not None:
            await app.run_action(action)
            await settle(pilot)
        await pilot.wait_for_scheduled_animations()
        return app.export_screenshot(title=TITLE)


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.partition("x")
    if not (width.isdigit() and height.isdigit()) or int(width) < 80 or int(height) < 24:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, at least 80x24, "
                                         f"got {text!r}")
    return int(width), int(height)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent
                        / "screenshots", help="folder to write the SVGs into")
    parser.add_argument("--size", type=parse_size, default=(120, 36),
                        help="terminal size, WIDTHxHEIGHT (default 120x36)")
    names = [f"{screen}-{role}" for screen, role in SHOTS]
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME",
                        help="write only these shots (default: all of " + ", ".join(names)
                        + ")")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for screen, role in SHOTS:
        if args.only and f"{screen}-{role}" not in args.only:
            continue
        path = args.out / f"{screen}-{role}.svg"
        path.write_text(asyncio.run(shoot(screen, role, args.size)), encoding="utf-8")
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
