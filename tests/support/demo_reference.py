"""The demo builder as it was before the bulk build, and every table of a built world.

`demo_before()` loads src/creditdesk/demo.py from the commit before the build was split
into the creditdesk.demo package (from git: nothing is copied), so a test and the bench
can build the same world both ways; `books(world)` turns everything the world holds
(each account's ledger rows and roll-ups, invoices, balances, members, alerts,
idempotency records, the store's counters and the gateway's charges) into plain values
that compare equal only if the two worlds are the same.
"""

from __future__ import annotations

import array
import importlib.util
import itertools
import subprocess
import sys
import threading
from datetime import date, datetime, timedelta, tzinfo
from pathlib import Path
from types import ModuleType

# The last commit with the one-file builder (src/creditdesk/demo.py).
BEFORE = "9daa922e750358a4ca0c169f610f81755651bae0"
ROOT = Path(__file__).resolve().parents[2]
_PLAIN = (bool, int, float, str, bytes, type(None), date, datetime, timedelta, tzinfo)
_LOCKS = (type(threading.Lock()), type(threading.RLock()))


class NoHistory(RuntimeError):
    """The git history holding the old builder is not here (an export without .git)."""


def demo_before(commit: str = BEFORE) -> ModuleType:
    """The old creditdesk/demo.py as a module of the package (its relative imports are
    today's engine, store and rules: only the builder is the old one)."""
    name = f"creditdesk._demo_{commit[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    shown = subprocess.run(["git", "show", f"{commit}:src/creditdesk/demo.py"], cwd=ROOT,
                           capture_output=True, text=True, check=False)
    if shown.returncode != 0:
        raise NoHistory(f"git show {commit[:12]}:src/creditdesk/demo.py failed: "
                        f"{shown.stderr.strip()}")
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "creditdesk"
    sys.modules[name] = module      # dataclasses look their module up while being made
    # The project's own file at a pinned commit of this repository, run as a module.
    exec(compile(shown.stdout, f"{commit[:12]}:src/creditdesk/demo.py", "exec"),  # noqa: S102
         module.__dict__)
    return module


def books(value: object) -> object:
    """`value` and everything it reaches as nested plain values (type names kept, so a
    list and a tuple, or two classes of the same fields, differ); locks are left out."""
    return _walk(value, set())


def _walk(value: object, path: set[int]) -> object:
    if type(value) is int or type(value) is str:
        return value                # most of the books: kept as they are, for speed
    if isinstance(value, _PLAIN):
        return (type(value).__name__, repr(value))
    if isinstance(value, _LOCKS):
        return "lock"
    if isinstance(value, itertools.count):
        return repr(value)          # its next value
    if isinstance(value, array.array):
        return (value.typecode, value.tolist())
    if id(value) in path:
        return ("cycle", type(value).__name__)
    path.add(id(value))
    try:
        return (type(value).__name__, _parts(value, path))
    finally:
        path.discard(id(value))


def _parts(value: object, path: set[int]) -> object:
    if isinstance(value, dict):
        items = [(_walk(k, path), _walk(v, path)) for k, v in value.items()]
        return items, _fields(value, path)
    if isinstance(value, (list, tuple)):
        return [_walk(item, path) for item in value], _fields(value, path)
    if isinstance(value, (set, frozenset)):
        return sorted(repr(_walk(item, path)) for item in value)
    if callable(value) and not hasattr(value, "__dict__") and not _slots(value):
        return getattr(value, "__qualname__", repr(value))
    return _fields(value, path)


def _slots(value: object) -> list[str]:
    return [name for cls in type(value).__mro__
            for name in getattr(cls, "__slots__", ()) if name != "__weakref__"]


def _fields(value: object, path: set[int]) -> list[tuple[str, object]]:
    fields = [(name, _walk(getattr(value, name), path)) for name in _slots(value)
              if hasattr(value, name)]
    fields += [(name, _walk(item, path)) for name, item in vars(value).items()] if hasattr(
        value, "__dict__") else []
    return fields
