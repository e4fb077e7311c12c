"""MemoryOutbox lives in webhook_memory.py and is still importable from webhooks.py, whichever
of the two modules a program imports first."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("first", ["webhooks", "webhook_memory"])
def test_memory_outbox_is_one_class_under_both_names(first):
    code = (f"import creditdesk.server.{first}\n"
            "from creditdesk.server.webhooks import MemoryOutbox as a\n"
            "from creditdesk.server.webhook_memory import MemoryOutbox as b\n"
            "assert a is b, (a, b)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_an_unknown_name_is_still_an_attribute_error():
    from creditdesk.server import webhooks
    with pytest.raises(AttributeError, match="NoSuchOutbox"):
        webhooks.NoSuchOutbox  # noqa: B018
