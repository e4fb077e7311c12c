"""Group commit: the debits that reach a SQLite worker's event loop at one moment share one
transaction, each in a savepoint of its own, and one COMMIT.

A debit runs on the loop while SQLite's write lock is free (service.py, LOOP_WRITES). With
many callers at once, several requests reach the engine in the same turn of the loop;
instead of a transaction each, they wait for the end of that turn and go in together
(`BillingService.run_together`). Each keeps its own outcome: a refusal or a failure of one
undoes only that one's savepoint, and nobody hears an answer before the COMMIT that holds
it. When the group cannot be applied (another connection holds the lock, the database
failed, the COMMIT failed), none of it was, and each debit goes again on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

# The most debits in one group: one group is run in one step of the loop, so this bounds
# how long other requests wait behind it (a debit is ~0.2-0.3 ms on SQLite).
GROUP_MOST = 32

Call = tuple[str, Callable, dict]
# (True, the answer) or (False, the exception the call raised).
Outcome = tuple[bool, Any]


class DebitGroups:
    """Gathers the calls made in one turn of the loop and runs them with `run_together`,
    which returns one outcome a call, or None when none was applied."""

    def __init__(self, run_together: Callable[[list[Call]], list[Outcome] | None],
                 most: int = GROUP_MOST) -> None:
        self.run_together = run_together
        self.most = most
        self.waiting: list[tuple[Call, asyncio.Future]] = []
        self.scheduled = False

    async def run(self, actor: str, command: Callable, kwargs: dict) -> Outcome | None:
        """This call's outcome once its group has committed, or None if the group could
        not be applied (then nothing of this call was)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.waiting.append(((actor, command, kwargs), future))
        if not self.scheduled:
            # After the callbacks already due in this turn: the requests that arrived with
            # this one reach here first.
            self.scheduled = True
            loop.call_soon(self.flush)
        return await future

    def flush(self) -> None:
        group, self.waiting = self.waiting[:self.most], self.waiting[self.most:]
        if self.waiting:
            asyncio.get_running_loop().call_soon(self.flush)
        else:
            self.scheduled = False
        # A caller gone meanwhile (its client hung up) hears nothing: nothing of it is run.
        group = [(call, future) for call, future in group if not future.done()]
        if not group:
            return
        try:
            outcomes = self.run_together([call for call, _ in group])
        except BaseException as error:
            # Not a refusal (those are outcomes): a bug, or the process is stopping. Every
            # caller hears it; none is left waiting for an answer that will not come.
            for _, future in group:
                future.set_exception(error)
            if not isinstance(error, Exception):
                raise
            return
        # run_together ran here, without awaiting: no caller could go meanwhile.
        for n, (_, future) in enumerate(group):
            future.set_result(None if outcomes is None else outcomes[n])


__all__ = ["GROUP_MOST", "DebitGroups"]
