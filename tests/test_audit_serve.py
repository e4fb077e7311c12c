"""Audit (session 6) of design/contract.md's `creditdesk serve --demo`: "`--demo` uses a
temporary SQLite file (its workers share it; it is deleted on exit)" and the README's
"a throwaway server": nothing of it may outlive it, nor land where a real server keeps its
books and its operator token (issue 10, item 21)."""

from __future__ import annotations

import os
import signal

from tests.support.serve_process import start_serve


def everything_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_serve_demo_leaves_nothing_behind(tmp_path):
    temporary, data = tmp_path / "tmp", tmp_path / "data"
    temporary.mkdir()
    data.mkdir()
    env = {**os.environ, "TMPDIR": str(temporary), "XDG_DATA_HOME": str(data)}
    env.pop("CREDITDESK_OPERATOR_TOKEN", None)
    process, _, logged = start_serve("--demo", env=env)
    try:
        # The throwaway books are where the test looks: in the temporary folder.
        assert [p.name for p in temporary.glob("creditdesk-demo-*/*.sqlite3")], logged
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(30)
    assert code == 0, logged
    assert everything_under(temporary) == []
    assert everything_under(data) == []       # no operator token beside the real books
