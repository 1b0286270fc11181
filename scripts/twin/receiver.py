"""A Slack-webhook receiver that records every POST and shows it on a page and as JSON.

Run it with ``python -m twin.receiver --port 8090``. Endpoints:

- ``POST <any path>``: records the body (JSON or form) and answers like Slack (``ok``), unless a fault
  mode is set.
- ``GET /`` an auto-refreshing HTML page of the messages; ``GET /messages`` the same as JSON;
  ``DELETE /messages`` clears them.
- ``POST /_control`` sets a fault mode for tests: ``{"status": 500}``, ``{"status": 429,
  "retry_after": 1}``, ``{"hang": true}`` (accept, never answer), ``{"rate_per_second": 1}`` (429 with
  ``Retry-After`` above that rate) or ``{}`` to reset. The receiver uses only the standard library so the
  compose sandbox can run it from the stock Airflow image.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

PAGE = """<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">
<title>Slack receiver</title><style>
body{{font-family:system-ui,sans-serif;margin:2rem;background:#f8f8fa}}
.msg{{background:#fff;border-left:4px solid #4a154b;margin:0 0 1rem;padding:.75rem 1rem}}
.meta{{color:#666;font-size:.8rem}}
pre{{white-space:pre-wrap;margin:.25rem 0 0}}</style></head><body><h1>Slack receiver</h1>
<p>{count} message(s) received. JSON: <a href="messages">/messages</a>. This page refreshes every 3 s.</p>
{items}</body></html>"""


def _redact_path(path: str) -> str:
    """``/services/T0/B0/secret`` -> ``/services/T0/B0/***``: the page never shows a webhook token."""
    head, sep, _ = path.rpartition("/")
    return f"{head}/***" if sep and head.count("/") >= 2 else path


class Receiver:
    """Thread-safe store of received messages plus the active fault mode."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[dict] = []
        self.mode: dict = {}
        self.accepted_at: list[float] = []
        self.attempts = 0

    def record(self, path: str, body: dict | str) -> None:
        with self.lock:
            self.messages.append({"path": path, "received_at": time.time(), "body": body})


def make_handler(state: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Without it every answer on a kept-alive connection waits ~40 ms (Nagle vs delayed ACK).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args) -> None:
            pass

        def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def _read_body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:
            with state.lock:
                messages = list(state.messages)
            if self.path.rstrip("/") == "/messages":
                payload = {"count": len(messages), "messages": messages, "attempts": state.attempts}
                self._send(200, json.dumps(payload).encode(), "application/json")
            elif self.path in ("/", "/index.html"):
                items = "".join(
                    '<div class="msg"><div class="meta">{} &middot; {}</div><pre>{}</pre></div>'.format(
                        time.strftime("%H:%M:%S", time.localtime(m["received_at"])),
                        html.escape(_redact_path(m["path"])),
                        html.escape(
                            m["body"].get("text", json.dumps(m["body"]))
                            if isinstance(m["body"], dict)
                            else str(m["body"])
                        ),
                    )
                    for m in reversed(messages)
                )
                self._send(200, PAGE.format(count=len(messages), items=items).encode(), "text/html")
            elif self.path == "/health":
                self._send(200, b"ok", "text/plain")
            else:
                self._send(404, b"not found", "text/plain")

        def do_DELETE(self) -> None:
            with state.lock:
                state.messages.clear()
                state.accepted_at.clear()
                state.attempts = 0
            self._send(200, b"ok", "text/plain")

        def do_POST(self) -> None:
            raw = self._read_body()
            if self.path == "/_control":
                with state.lock:
                    state.mode = json.loads(raw or b"{}")
                self._send(200, b"ok", "text/plain")
                return
            with state.lock:
                state.attempts += 1
                mode = dict(state.mode)
            if mode.get("hang"):
                time.sleep(float(mode.get("hang_seconds", 3600)))
                return
            status = int(mode.get("status", 200))
            if status != 200:
                headers = {"Retry-After": str(mode["retry_after"])} if "retry_after" in mode else {}
                self._send(
                    status, b"rollup_error" if status >= 500 else b"rate_limited", "text/plain", headers
                )
                return
            rate = mode.get("rate_per_second")
            if rate:
                now = time.time()
                with state.lock:
                    recent = [t for t in state.accepted_at if now - t < 1.0]
                    limited = len(recent) >= rate
                    if not limited:
                        state.accepted_at = [*recent, now]
                if limited:
                    self._send(429, b"rate_limited", "text/plain", {"Retry-After": "1"})
                    return
            ctype = self.headers.get("Content-Type", "")
            if "json" in ctype:
                body: dict | str = json.loads(raw or b"{}")
            elif "form" in ctype:
                body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            else:
                body = raw.decode(errors="replace")
            state.record(self.path, body)
            self._send(200, b"ok", "text/plain")

    return Handler


class _Listener(ThreadingHTTPServer):
    # The default backlog of 5 drops SYNs when a DAG fails 100 tasks at once, which Slack never does;
    # clients would then see connect timeouts that are the receiver's fault, not theirs.
    request_queue_size = 256


class ReceiverServer:
    """A receiver served from a background thread; ``url`` is its base address."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = Receiver()
        self.httpd = _Listener((host, port), make_handler(self.state))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ReceiverServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args()
    server = ReceiverServer(args.host, args.port)
    print(f"Slack receiver on {server.url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.httpd.serve_forever()


if __name__ == "__main__":
    main()
