"""LiveServer: serve a given engine over real uvicorn on 127.0.0.1, in a background thread.

Tests build the engine through its own API (with a ManualClock they move), then talk to it
over HTTP exactly as a remote dashboard would:

    with LiveServer(engine) as server:
        backend = RemoteBackend(server.url, server.token_for("ann"))
"""

from __future__ import annotations

import secrets
import threading

from creditdesk.server.app import create_app
from creditdesk.server.runner import bind, url_of, uvicorn_server


class LiveServer:
    def __init__(self, engine=None, *, test_clock=None,
                 operator_token: str | None = None, limits: dict | None = None) -> None:
        self.operator_token = operator_token or secrets.token_urlsafe(24)
        # Contract tests fire many requests from one caller: no rate limit unless asked.
        self.app = create_app(engine, operator_token=self.operator_token,
                              test_clock=test_clock,
                              limits=limits if limits is not None else {"rate": None})
        self.service = self.app.state.service
        self.url = ""
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._server = None

    @property
    def engine(self):
        return self.service.engine

    def token_for(self, user_id: str) -> str:
        """A fresh token for `user_id`, issued through the server's own token store."""
        self.engine.user(user_id)       # NotFound for a user the engine does not know
        return self.app.state.tokens.issue(user_id)

    def __enter__(self) -> LiveServer:
        sock = bind("127.0.0.1", 0)
        self.url = url_of(sock)
        self._server = uvicorn_server(self.app, sock, self._ready.set)
        self._thread = threading.Thread(target=self._serve, args=(sock,), daemon=True,
                                        name="live-server")
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the live server did not start within 30 s")
        return self

    def _serve(self, sock) -> None:
        try:
            self._server.run(sockets=[sock])
        finally:
            sock.close()
            self._ready.set()

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(30)
