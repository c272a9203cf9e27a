"""The live preview: pipeline.build (web) in a loop, driven by a file watcher, behind a small server.

`build.py preview` builds the web edition into `<out>/preview/` (fonts: the installed ones, so an
edit costs only its edition's pages), serves it on 127.0.0.1, and watches the book, the styles and
the templates. After a change it rebuilds what the content keys say changed, the editions open in
a browser first; each open page learns it through a server-sent event stream and reloads itself.
A BuildError is printed in the terminal and shown on the open pages, word for word; the preview
keeps running and the pages reload when the file is fixed. The PDF of an edition is built on
request, in the background, into `<out>/preview-pdf/`.

The server answers only for files inside the site (and the PDFs it built): a path that resolves
outside them is refused with 403.
"""
from __future__ import annotations

import json
import mimetypes
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .errors import BuildError
from .manifest import load_manifest

PRESS_ROOT = Path(__file__).resolve().parent.parent
CLIENT = Path(__file__).resolve().parent / "templates" / "web" / "preview.js"
WATCHED_PRESS = [PRESS_ROOT / "styles", PRESS_ROOT / "press" / "templates"]


class Preview:
    """The state the server shows: versions per edition, the current error, PDFs on request."""

    def __init__(self, book_dir: str | Path, out_dir: str | Path, langs: list[str] | None, draft: bool = False,
                 log=None):
        self.book_dir = Path(book_dir)
        self.out = Path(out_dir) / "preview"
        self.pdf_out = Path(out_dir) / "preview-pdf"
        self.site = self.out / "web"
        self.langs = langs
        self.draft = draft
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        self.cond = threading.Condition()
        self.seq = 0                        # bumped on every change of what the pages may show
        self.versions: dict[str, int] = {"*": 0}    # edition (or "*": any) → version it last changed
        self.error: str | None = None
        self.pdfs: dict[str, dict] = {}     # lang → {"state": building|ready|error, "url"|"error"}
        self.viewers: dict[str, int] = {}   # lang → pages open on it (event streams)
        self.build_lock = threading.Lock()
        self.last_build_seconds = 0.0
        self._search_pending = threading.Event()

    # -- building ---------------------------------------------------------------------------
    def _changed(self, langs: list[str]) -> None:
        with self.cond:
            self.seq += 1
            for lang in [*langs, "*"]:
                self.versions[lang] = self.seq
            self.cond.notify_all()

    def rebuild(self) -> bool:
        """Build what changed, the editions being read first; True if it built cleanly."""
        from .pipeline import build

        with self.build_lock:
            t0 = time.perf_counter()
            try:
                book = load_manifest(self.book_dir)
                chosen = self.langs or [ed.lang for ed in book.editions]
                open_first = [lang for lang in sorted(self.viewers, key=lambda k: -self.viewers[k])
                              if lang in chosen and self.viewers[lang] > 0]
                built: list[str] = []
                for langs in ([open_first] if open_first else []) + [chosen]:
                    report = build(self.book_dir, self.out, formats=("web",), langs=langs, jobs=0,
                                   draft=self.draft, preview=True)
                    done = [a.lang for a in report.artifacts]
                    built += done
                    if done or self.error:
                        was_error, self.error = self.error, None
                        self._changed(done if not was_error else chosen)
            except BuildError as exc:
                message = f"error: {exc}"
                self.log(message)
                with self.cond:
                    self.error = message
                    self.seq += 1
                    self.cond.notify_all()
                return False
            self.last_build_seconds = time.perf_counter() - t0
            if built:
                self.log(f"rebuilt {', '.join(dict.fromkeys(built))} in {self.last_build_seconds:.2f} s")
                self._search_pending.set()
            return True

    def index_search_forever(self, stop: threading.Event) -> None:
        """Pagefind after a rebuild, off the reload's path (it indexes the whole site)."""
        from .web import index_search

        while not stop.is_set():
            if not self._search_pending.wait(0.2):
                continue
            # after a quiet moment, and without the build lock: a save is never kept waiting
            while self._search_pending.wait(1.0) and not stop.is_set():
                self._search_pending.clear()
            try:
                if self.site.is_dir():
                    index_search(self.site)
            except BuildError as exc:
                self.log(f"warning: search index: {exc}")

    def request_pdf(self, lang: str) -> dict:
        """Start the edition's PDF in the background (once at a time per edition)."""
        book = load_manifest(self.book_dir)
        book.edition(lang)      # BuildError for an unknown edition
        with self.cond:
            if self.pdfs.get(lang, {}).get("state") == "building":
                return self.pdfs[lang]
            self.pdfs[lang] = {"state": "building"}
            self.seq += 1
            self.cond.notify_all()

        def work():
            from .pipeline import artifact_name, build

            try:
                build(self.book_dir, self.pdf_out, formats=("pdf",), langs=[lang], jobs=1, draft=self.draft)
                name = artifact_name(book, book.edition(lang), "pdf")
                result = {"state": "ready", "url": f"/__preview/pdf/{urllib.parse.quote(name)}"}
            except BuildError as exc:
                result = {"state": "error", "error": f"error: {exc}"}
                self.log(result["error"])
            except Exception as exc:   # noqa: BLE001 - shown on the page, the preview goes on
                result = {"state": "error", "error": f"PDF failed: {exc!r}"}
                self.log(result["error"])
            with self.cond:
                self.pdfs[lang] = result
                self.seq += 1
                self.cond.notify_all()

        threading.Thread(target=work, daemon=True, name=f"pdf-{lang}").start()
        return {"state": "building"}

    def status(self) -> dict:
        return {"seq": self.seq, "versions": dict(self.versions), "error": self.error, "pdfs": dict(self.pdfs)}

    # -- watching ---------------------------------------------------------------------------
    def watch_forever(self, stop: threading.Event) -> None:
        from watchfiles import watch

        paths = [self.book_dir.resolve(), *[p for p in WATCHED_PRESS if p.is_dir()]]
        out = self.out.resolve().parent
        for changes in watch(*paths, stop_event=stop, debounce=40, step=20, yield_on_timeout=False,
                             raise_interrupt=False):
            if all(Path(p).resolve().is_relative_to(out) for _, p in changes):
                continue
            self.rebuild()


def _safe_file(root: Path, rel: str) -> Path | None:
    """The file `rel` names inside `root`, or None if it resolves anywhere else."""
    if "\x00" in rel:
        return None
    root = root.resolve()
    try:
        path = (root / rel.lstrip("/")).resolve()
    except (OSError, RuntimeError):
        return None
    if path != root and not path.is_relative_to(root):
        return None
    return path


def make_handler(preview: Preview):
    class Handler(BaseHTTPRequestHandler):
        server_version = "keep4o-preview"
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):     # noqa: A002 - the terminal shows builds, not requests
            pass

        def _send(self, status: int, body: bytes, ctype: str, extra: dict | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, data: dict, status: int = 200) -> None:
            self._send(status, json.dumps(data, ensure_ascii=False).encode(), "application/json; charset=utf-8")

        def do_HEAD(self):
            self.do_GET()

        def do_POST(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/__preview/pdf":
                lang = urllib.parse.parse_qs(url.query).get("lang", [""])[0]
                try:
                    self._json(preview.request_pdf(lang))
                except BuildError as exc:
                    self._json({"state": "error", "error": f"error: {exc}"}, 400)
                return
            self._send(404, b"not found", "text/plain")

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            path = urllib.parse.unquote(url.path)
            if path == "/__preview/events":
                return self._events(urllib.parse.parse_qs(url.query).get("page", ["*"])[0])
            if path == "/__preview/status":
                return self._json(preview.status())
            if path == "/__preview/client.js":
                return self._send(200, CLIENT.read_bytes(), "text/javascript; charset=utf-8")
            if path.startswith("/__preview/pdf/"):
                return self._file(preview.pdf_out, path[len("/__preview/pdf/"):], inject=False)
            return self._file(preview.site, path, inject=True)

        def _file(self, root: Path, rel: str, inject: bool) -> None:
            file = _safe_file(root, rel)
            if file is None:
                return self._send(403, b"forbidden: outside the preview", "text/plain; charset=utf-8")
            if file.is_dir():
                if not self.path.split("?")[0].endswith("/"):
                    return self._send(301, b"", "text/plain", {"Location": self.path.split("?")[0] + "/"})
                file = file / "index.html"
            if not file.is_file():
                if inject and preview.error and file.suffix in (".html", ""):
                    return self._page(_error_page(preview.error), rel)
                return self._send(404, b"not found", "text/plain; charset=utf-8")
            data = file.read_bytes()
            ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            if ctype == "text/html" and inject:
                return self._page(data.decode("utf-8"), rel)
            if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
                ctype += "; charset=utf-8"
            self._send(200, data, ctype)

        def _page(self, text: str, rel: str) -> None:
            """An HTML page with the preview's client: it reloads on a newer version of its edition."""
            first = rel.strip("/").split("/")[0]
            page = first if first not in ("", "assets", "pagefind") and (preview.site / first).is_dir() else "*"
            version = preview.versions.get(page, 0)
            tag = (f'<script src="/__preview/client.js" data-page="{page}" data-version="{version}" '
                   f'defer></script>\n')
            text = text.replace("</head>", tag + "</head>", 1) if "</head>" in text else tag + text
            self._send(200, text.encode("utf-8"), "text/html; charset=utf-8")

        def _events(self, page: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            with preview.cond:
                preview.viewers[page] = preview.viewers.get(page, 0) + 1
            try:
                seen = -1
                while True:
                    with preview.cond:
                        if preview.seq == seen:
                            preview.cond.wait(15)
                        status, seen = preview.status(), preview.seq
                    self.wfile.write(f"data: {json.dumps(status, ensure_ascii=False)}\n\n".encode())
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, OSError):
                pass
            finally:
                with preview.cond:
                    preview.viewers[page] -= 1

    return Handler


def _error_page(error: str) -> str:
    import html

    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>build error</title></head>"
            f"<body><main><h1>The book does not build</h1><pre id=\"press-build-error\">{html.escape(error)}</pre>"
            "</main></body></html>\n")


def serve(preview: Preview, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Start the server in a thread; its address is server.server_address."""
    server = ThreadingHTTPServer((host, port), make_handler(preview))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="preview-http").start()
    return server


def run_preview(book_dir: str, out_dir: str, langs: list[str] | None, host: str = "127.0.0.1", port: int = 0,
                draft: bool = False, quiet: bool = False) -> int:
    """`build.py preview`: build, serve, watch, until Ctrl-C."""
    preview = Preview(book_dir, out_dir, langs, draft)
    if host not in ("127.0.0.1", "localhost", "::1"):
        preview.log(f"warning: listening on {host}: other machines can read the preview")
    if preview.rebuild():
        try:
            from .web import index_search

            index_search(preview.site)  # the first index before serving: the search box works at once
        except BuildError as exc:
            preview.log(f"warning: search index: {exc}")
    server = serve(preview, host, port)
    shown = server.server_address[0]
    url = f"http://{shown if ':' not in shown else '[' + shown + ']'}:{server.server_address[1]}/"
    print(f"preview: serving {url} (Ctrl-C stops); watching {Path(book_dir)}/, styles/, templates",
          file=sys.stderr, flush=True)
    stop = threading.Event()
    threading.Thread(target=preview.index_search_forever, args=(stop,), daemon=True, name="search").start()
    try:
        preview.watch_forever(stop)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.shutdown()
    return 0
