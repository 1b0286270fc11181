"""A Slack-webhook receiver that records every POST and shows it on a page and as JSON.

Run it with ``python -m twin.receiver --port 8090``. Endpoints:

- ``POST <any path>``: records the body (JSON or form) and answers like Slack (``ok``), unless a fault
  mode is set.
- ``GET /`` an auto-refreshing HTML page of the messages, drawn as Slack draws them: Block Kit headers,
  sections with fields, context lines, dividers and buttons, with mrkdwn (``*bold*``, ``_italic_``,
  ``~strike~``, `` `code` ``, code blocks, ``<url|text>`` links, mentions) and clickable links. Everything
  is HTML-escaped; only http(s) and mailto links become clickable. The text fallback is one click away.
  ``GET /messages`` the same as JSON; ``DELETE /messages`` clears them.
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
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

PAGE = """<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">
<title>Slack receiver</title><style>
body{{font-family:system-ui,sans-serif;margin:2rem;background:#f8f8fa}}
.msg{{background:#fff;border-left:4px solid #4a154b;margin:0 0 1rem;padding:.75rem 1rem}}
.meta{{color:#666;font-size:.8rem}}
.msg h3{{margin:.25rem 0 .5rem;font-size:1.1rem}}
.section{{margin:.35rem 0}}
.fields{{display:grid;grid-template-columns:1fr 1fr;gap:.35rem 1.5rem;margin:.35rem 0}}
.context{{color:#616061;font-size:.8rem;margin:.35rem 0}}
.button{{display:inline-block;border:1px solid #bbb;border-radius:4px;padding:.2rem .6rem;margin:.2rem}}
code{{background:#f3f3f3;border:1px solid #ddd;border-radius:3px;padding:0 .2rem;color:#c0254f}}
pre{{white-space:pre-wrap;margin:.25rem 0 0;background:#f6f6f6;border:1px solid #ddd;padding:.4rem}}
details{{margin-top:.4rem;color:#666;font-size:.8rem}}</style></head><body><h1>Slack receiver</h1>
<p>{count} message(s) received. JSON: <a href="messages">/messages</a>. This page refreshes every 3 s.</p>
{items}</body></html>"""

#: Emoji codes the kit's alerts use, drawn as Slack draws them (others stay as ``:code:``).
EMOJI = {
    ":warning:": "\u26a0\ufe0f",
    ":white_check_mark:": "\u2705",
    ":red_circle:": "\U0001f534",
    ":large_green_circle:": "\U0001f7e2",
    ":rotating_light:": "\U0001f6a8",
    ":x:": "\u274c",
    ":information_source:": "\u2139\ufe0f",
    ":hourglass:": "\u231b",
}
#: Only these links become clickable; anything else (``javascript:``...) is shown as text.
SAFE_SCHEMES = ("http://", "https://", "mailto:")
_INLINE = re.compile(
    r"(?P<code>`[^`\n]+`)"
    r"|(?P<url>https?://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]])"
    r"|(?<![\w*])\*(?P<bold>[^*\n]+)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>[^_\n]+)_(?![\w_])"
    r"|(?<![\w~])~(?P<strike>[^~\n]+)~(?![\w~])"
)


def _unescape(text: str) -> str:
    """Slack's own escaping (``&amp;``, ``&lt;``, ``&gt;``) undone, before HTML-escaping."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _emoji(text: str) -> str:
    return re.sub(r":[a-z0-9_+-]+:", lambda m: EMOJI.get(m.group(0), m.group(0)), text)


def _link(url: str, label_html: str) -> str:
    if url.lower().startswith(SAFE_SCHEMES):
        return f'<a href="{html.escape(url, quote=True)}">{label_html}</a>'
    return label_html  # not a scheme a page may link to: the text only


def _format(text: str) -> str:
    """Inline mrkdwn of plain (already unescaped) text: code, bare links, bold, italic, strike."""
    out, pos = [], 0
    for match in _INLINE.finditer(text):
        out.append(html.escape(_emoji(text[pos : match.start()])))
        if match.group("code"):
            out.append(f"<code>{html.escape(match.group('code')[1:-1])}</code>")
        elif match.group("url"):
            out.append(_link(match.group("url"), html.escape(match.group("url"))))
        else:
            tag = {"bold": "b", "italic": "i", "strike": "s"}[match.lastgroup]
            out.append(f"<{tag}>{_format(match.group(match.lastgroup))}</{tag}>")
        pos = match.end()
    out.append(html.escape(_emoji(text[pos:])))
    return "".join(out)


def _control(inner: str) -> str:
    """One ``<...>`` sequence: a link ``url|text``, a user/channel mention or a special mention."""
    target, _, label = inner.partition("|")
    if target.startswith(("@U", "@W", "#C")):
        return html.escape(f"{target[0]}{label or target[1:]}")
    if target.startswith("!"):
        name = label or target[1:].split("^")[0]
        return html.escape(f"@{name.lstrip('@')}")
    url = _unescape(target)
    return _link(url, _format(_unescape(label)) if label else html.escape(url))


def mrkdwn(text: str) -> str:
    """Slack mrkdwn as safe HTML: every character escaped, links clickable (http, https, mailto only)."""
    out = []
    for part in re.split(r"(```.*?```)", text, flags=re.S):
        if len(part) >= 6 and part.startswith("```") and part.endswith("```"):
            out.append(f"<pre>{html.escape(_unescape(part[3:-3]))}</pre>")
            continue
        for piece in re.split(r"(<[^<>\n]+>)", part):
            if piece.startswith("<") and piece.endswith(">"):
                out.append(_control(piece[1:-1]))
            else:
                out.append(_format(_unescape(piece)))
    return "".join(out).replace("\n", "<br>")


def _text(obj: object) -> str:
    """A Block Kit text object (``mrkdwn`` or ``plain_text``) as HTML."""
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn(text)
    return html.escape(_emoji(_unescape(text))).replace("\n", "<br>")


def _block(block: dict) -> str:
    kind = block.get("type")
    if kind == "header":
        return f"<h3>{_text(block.get('text'))}</h3>"
    if kind == "divider":
        return "<hr>"
    if kind == "section":
        parts = []
        if block.get("text"):
            parts.append(f'<div class="section">{_text(block["text"])}</div>')
        if block.get("fields"):
            cells = "".join(f"<div>{_text(f)}</div>" for f in block["fields"])
            parts.append(f'<div class="fields">{cells}</div>')
        accessory = block.get("accessory") or {}
        if accessory.get("type") == "button" and accessory.get("url"):
            parts.append(
                _link(str(accessory["url"]), f'<span class="button">{_text(accessory.get("text"))}</span>')
            )
        return "".join(parts)
    if kind == "context":
        items = " ".join(_text(e) for e in block.get("elements") or [] if isinstance(e, dict))
        return f'<div class="context">{items}</div>'
    if kind == "actions":
        buttons = [
            _link(str(e["url"]), f'<span class="button">{_text(e.get("text"))}</span>')
            for e in block.get("elements") or []
            if isinstance(e, dict) and e.get("url")
        ]
        return f'<div class="section">{"".join(buttons)}</div>'
    return ""  # other block types: the text fallback below still shows the message


def render_message(body: dict | str) -> str:
    """One received message as HTML: its blocks as Slack shows them, else its text (mrkdwn)."""
    if not isinstance(body, dict):
        return f"<pre>{html.escape(str(body))}</pre>"
    blocks = body.get("blocks")
    text = str(body.get("text", "")) if "text" in body else json.dumps(body)
    if isinstance(blocks, list) and blocks:
        drawn = "".join(_block(b) for b in blocks if isinstance(b, dict))
        fallback = (
            f"<details><summary>text fallback</summary><pre>{html.escape(_unescape(text))}</pre></details>"
        )
        return drawn + fallback
    return f'<div class="section">{mrkdwn(text)}</div>'


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
                    '<div class="msg"><div class="meta">{} &middot; {}</div>{}</div>'.format(
                        time.strftime("%H:%M:%S", time.localtime(m["received_at"])),
                        html.escape(_redact_path(m["path"])),
                        render_message(m["body"]),
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
