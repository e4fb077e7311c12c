"""Import hygiene: the engine side never loads Textual, and the dashboard/CLI start light.

Each check runs in a fresh interpreter, because this test process has already imported
whatever other tests needed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY_FOR_STARTUP = ("httpx", "keyring", "plotext", "fastapi", "uvicorn")


def loaded_after(statements: str) -> set[str]:
    """Top-level module names present in sys.modules after running `statements`."""
    script = (f"import sys, json\n{statements}\n"
              "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", ["creditdesk.engine", "creditdesk.backends"])
def test_engine_side_imports_no_textual(module: str) -> None:
    loaded = loaded_after(f"import {module}")
    assert "textual" not in loaded
    assert "textual_plotext" not in loaded


def test_server_imports_no_textual() -> None:
    loaded = loaded_after("import creditdesk.server")
    assert "textual" not in loaded
    assert "textual_plotext" not in loaded


def test_backends_load_httpx_only_for_the_remote_backend() -> None:
    # MemoryBackend is what `creditdesk demo` uses; the remote one is imported on demand.
    loaded = loaded_after("from creditdesk.backends import MemoryBackend, BillingBackend")
    assert not loaded & set(HEAVY_FOR_STARTUP)


def test_remote_backend_is_still_importable_by_name() -> None:
    loaded = loaded_after("from creditdesk.backends import RemoteBackend")
    assert "httpx" in loaded


def test_cli_starts_light() -> None:
    loaded = loaded_after("import creditdesk.cli\n"
                          "creditdesk.cli.build_parser()")
    assert not loaded & set(HEAVY_FOR_STARTUP)
    assert "textual" not in loaded


def test_dashboard_starts_light() -> None:
    loaded = loaded_after("import creditdesk.tui\nimport creditdesk.tui.app")
    assert not loaded & set(HEAVY_FOR_STARTUP), sorted(loaded & set(HEAVY_FOR_STARTUP))


def test_dashboard_imports_no_screen_before_it_is_wanted() -> None:
    # Screens (and plotext) are imported when first shown, or by the warm-up thread once
    # the first screen shows figures; never when the app module is imported.
    script = ("import sys, json\nimport creditdesk.tui.app\n"
              "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    screens = {name for name in loaded if name.startswith("creditdesk.tui.screens.")}
    assert screens == {"creditdesk.tui.screens.base"}
    assert not loaded & {"creditdesk.engine", "creditdesk.demo", "creditdesk.tui.help",
                         "textual_plotext", "plotext"}
