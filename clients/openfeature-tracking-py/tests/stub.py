"""A stub of Switchyard's event intake for the tests: records every request (headers, raw body,
decoded batch) and answers from a script of responses (the last one repeats)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Stub:
    def __init__(self, script: list[dict] | None = None) -> None:
        self.requests: list[dict] = []
        self._answers = list(script or [{"status": 202}])
        self._arrived = threading.Condition()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                text = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                with stub._arrived:
                    answer = stub._answers.pop(0) if len(stub._answers) > 1 else stub._answers[0]
                    stub.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "raw": raw,
                         "batch": json.loads(text), "at": time.monotonic()}
                    )
                    stub._arrived.notify_all()
                if answer.get("delay"):
                    time.sleep(answer["delay"])
                if answer.get("destroy"):
                    self.close_connection = True
                    self.connection.close()
                    return
                body = json.dumps(answer.get("body", {"accepted": {}})).encode()
                self.send_response(answer["status"])
                for name, value in answer.get("headers", {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, n: int, seconds: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + seconds
        with self._arrived:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {n} requests (got {len(self.requests)})")
                self._arrived.wait(left)
            return list(self.requests)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
