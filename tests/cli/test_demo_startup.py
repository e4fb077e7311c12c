"""`creditdesk demo`'s start-up: what it skips before the first frame."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from creditdesk.cli import demo as demo_command
from creditdesk.cli import main

# Runs `creditdesk demo` headless until the overview's first figures, then prints whether
# pydantic scanned the installed distributions for plugins, and the modules loaded by then.
FIRST_FIGURES = r"""
import json, sys
import importlib.metadata as metadata
scans = []
real_entry_points = metadata.entry_points
def entry_points(**selection):
    scans.append(selection.get("group"))
    return real_entry_points(**selection)
metadata.entry_points = entry_points

from creditdesk.tui.app import CreditDeskApp
shown = CreditDeskApp.on_figures_shown
loaded = []
def on_figures_shown(self, message):
    loaded.extend(sys.modules)  # before the app's warm-up imports the other screens
    shown(self, message)
    self.call_after_refresh(self.exit)
CreditDeskApp.on_figures_shown = on_figures_shown
real_run = CreditDeskApp.run
CreditDeskApp.run = lambda self: real_run(self, headless=True, size=(80, 24))

from creditdesk.cli import main
main(["demo"])
print(json.dumps({"scans": scans, "modules": sorted(loaded)}))
"""


def test_demo_turns_pydantic_plugins_off_unless_told(monkeypatch) -> None:
    monkeypatch.delenv("PYDANTIC_DISABLE_PLUGINS", raising=False)
    monkeypatch.setattr(demo_command, "_build_app", lambda args: None)
    monkeypatch.setattr(demo_command.gc, "freeze", lambda: None)
    assert main(["demo"]) == 2
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
    # Someone who set it (here to "", which lets plugins load) keeps their value.
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "")
    assert main(["demo"]) == 2
    assert os.environ["PYDANTIC_DISABLE_PLUGINS"] == ""


@pytest.fixture(scope="module")
def first_figures(tmp_path_factory) -> dict:
    env = {name: value for name, value in os.environ.items()
           if name not in ("PYDANTIC_DISABLE_PLUGINS", "TEXTUAL")}
    env["CREDITDESK_CONFIG"] = str(tmp_path_factory.mktemp("config") / "config.toml")
    done = subprocess.run([sys.executable, "-c", FIRST_FIGURES], check=False, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_first_figures_without_scanning_for_pydantic_plugins(first_figures) -> None:
    assert "pydantic" not in first_figures["scans"]


def test_first_figures_import_no_other_screen_or_heavy_module(first_figures) -> None:
    modules = set(first_figures["modules"])
    assert "creditdesk.tui.screens.overview" in modules
    for absent in ("creditdesk.tui.screens.usage", "creditdesk.tui.screens.settings",
                   "creditdesk.tui.screens.members", "creditdesk.tui.screens.invoices",
                   "plotext", "textual_plotext", "httpx", "keyring", "creditdesk.server",
                   "sqlalchemy"):
        assert absent not in modules, absent
