"""A fake server's life on 127.0.0.1: start on a free port, stop, use as a context manager."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class LoopbackHttp:
    """Mixin for the fakes: subclasses give `handler()`; the server runs in a daemon thread."""

    _http: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    def start(self) -> str:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self.base_url

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._http is not None
        return f"http://127.0.0.1:{self._http.server_address[1]}"
