"""Issue 17, second hostile round: every class of the issue, against /work/tmp/HOSTILE-CONTRACT.md.

Every case runs the real CLI in a subprocess on a copy of tests/fixtures/minimal and checks:
- the exit code, and for a refused input the FIRST line of stderr: `error: <file>:<line>: …`,
  with the line computed from the text the case writes (never typed by hand);
- no `Traceback` anywhere;
- the output directory: previous artifacts byte for byte, no `.press-*` scratch left;
- no byte of a marker file that lives outside the book (a random token) in any artifact
  (EPUBs unzipped, PDF streams decompressed with pypdf, PDF text extracted);
- no request on a loopback listener: every URL a case writes points at it, and the proxy
  variables point at it too, so a fetch of any other host lands there as well.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socketserver
import struct
import subprocess
import sys
import threading
import time
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from conftest import FIXTURES, ROOT, edit, overlay, snapshot

MANIFEST = (FIXTURES / "minimal" / "book.yaml").read_text(encoding="utf-8")
BIBLIOGRAPHY = (FIXTURES / "minimal" / "bibliography.yaml").read_text(encoding="utf-8")
CLI_SOURCE_NEEDLE = b"def build_command(args)"      # a line of press/cli.py, for the cwd-relative case

PREVIOUS = {"mini-ja.pdf": b"%PDF-1.7\n% previous good build, must survive\n%%EOF\n",
            "mini-ja.epub": b"PK\x03\x04 previous good epub, must survive"}
FAST = 60          # seconds: the contract's bound for every refused input (class 3 included)

# The chapter every case starts from (ja edition of the minimal book), hostile lines appended.
HEAD = ["---", "short_title: 年表", "---", "", "# 年表の見出し", "", "2024.05 — 最初の段落です。", ""]

ZH_HANT = ("  - lang: zh-Hant\n    timeline: zh/timeline.md\n    opencc: s2twp\n"
           "    opencc_overrides: zh/overrides.yaml\n    appendices: [ko/appendix.md]\n")


# ------------------------------------------------------------------------------ small files

def png(width: int = 4, height: int = 4, text: bytes = b"") -> bytes:
    """A valid grey PNG (optionally with a tEXt chunk); width/height may lie for a header-only bomb."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = min(height, 4)
    raw = b"".join(b"\x00" + bytes([0x80]) * min(width, 4) for _ in range(rows))
    extra = chunk(b"tEXt", b"Comment\x00" + text) if text else b""
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


SVG_NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'


def svg_use_bomb(levels: int = 10, uses: int = 10) -> str:
    groups = ['<g id="l0"><rect width="1" height="1"/></g>']
    for n in range(1, levels + 1):
        groups.append(f'<g id="l{n}">' + f'<use xlink:href="#l{n - 1}"/>' * uses + "</g>")
    return (f'<svg {SVG_NS} width="10" height="10" viewBox="0 0 10 10"><defs>{"".join(groups)}</defs>'
            f'<use xlink:href="#l{levels}"/></svg>\n')


def deep(n: int = 10_000) -> str:
    return "[" * n + "]" * n


def line_of(text: str, needle: str | bytes, nth: int = 1) -> int:
    """1-based number of the nth line of `text` containing `needle`."""
    sep = b"\n" if isinstance(text, bytes) else "\n"
    hits = [n for n, s in enumerate(text.split(sep), start=1) if needle in s]
    assert len(hits) >= nth, f"{needle!r} not found {nth} time(s)"
    return hits[nth - 1]


# ------------------------------------------------------------------------------ fixtures

class Listener:
    """A loopback TCP listener that records every connection (and answers HTTP with the token)."""

    def __init__(self, token: str):
        hits = self.hits = []
        body = f"{token}\n".encode()

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                hits.append(self.client_address)
                self.request.settimeout(2)
                try:
                    hits[-1] = (self.client_address, self.request.recv(4096)[:200])
                    self.request.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: image/png\r\nContent-Length: "
                                         + str(len(body)).encode() + b"\r\n\r\n" + body)
                except OSError:
                    pass

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def seen(self) -> list:
        time.sleep(0.3)             # a connection accepted just before the CLI exited is handled by now
        return list(self.hits)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Marker:
    """Files outside the book carrying a random token: nothing of them may reach an artifact."""

    dir: Path
    token: str

    @property
    def png(self) -> Path:
        return self.dir / "secret.png"

    @property
    def text(self) -> Path:
        return self.dir / "secret.txt"

    @property
    def css(self) -> Path:
        return self.dir / "evil.css"

    @property
    def csl(self) -> Path:
        return self.dir / "parent.csl"


@pytest.fixture
def marker(tmp_path: Path) -> Marker:
    m = Marker(tmp_path / "outside", "MARKER" + uuid.uuid4().hex.upper())
    m.dir.mkdir()
    m.png.write_bytes(png(text=m.token.encode()))
    m.text.write_text(m.token + "\n", encoding="utf-8")
    m.css.write_text(f'body::before {{ content: "{m.token}"; }}\n', encoding="utf-8")
    csl = (FIXTURES / "minimal" / "csl" / "notes.csl").read_text(encoding="utf-8")
    m.csl.write_text(re.sub(r"<title>[^<]*</title>", f"<title>{m.token}</title>", csl, count=1), encoding="utf-8")
    return m


@pytest.fixture
def listener(marker: Marker, monkeypatch):
    """The loopback listener; every proxy variable points at it, so any fetch is seen."""
    lst = Listener(marker.token)
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(var, lst.url)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    yield lst
    lst.close()


@dataclass
class Ctx:
    book: Path
    out: Path
    tmp: Path                   # outside the book: cwd for some cases, symlink targets
    marker: Marker
    listener: Listener
    needles: list[bytes] = field(default_factory=list)   # extra bytes that must not leak


@pytest.fixture
def ctx(minimal_book: Path, tmp_path: Path, marker: Marker, listener: Listener) -> Ctx:
    out = tmp_path / "out"
    out.mkdir()
    for name, data in PREVIOUS.items():
        (out / name).write_bytes(data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return Ctx(minimal_book, out, elsewhere, marker, listener)


def cli(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real CLI in its own process group: a case that hangs is killed whole (pandoc included)."""
    argv = [sys.executable, str(ROOT / "build.py"), *args]
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"the CLI did not finish in {timeout} s: {' '.join(args)}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


# ------------------------------------------------------------------------------ artifact scans

def blobs_of(path: Path) -> list[tuple[str, bytes]]:
    """Every byte string a reader could get out of an artifact: raw, unzipped, PDF streams and text."""
    data = path.read_bytes()
    out = [(str(path), data)]
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            out += [(f"{path}!{n}", z.read(n)) for n in z.namelist()]
    if data.startswith(b"%PDF"):
        from pypdf import PdfReader
        from pypdf.generic import StreamObject
        try:
            reader = PdfReader(path)
            for num in range(1, int(reader.trailer["/Size"])):
                try:
                    obj = reader.get_object(num)
                    if isinstance(obj, StreamObject):
                        out.append((f"{path}#obj{num}", obj.get_data()))
                except Exception:           # a free object number, an unsupported filter
                    continue
            out.append((f"{path}#text", "\n".join(p.extract_text() or "" for p in reader.pages).encode()))
            out.append((f"{path}#info", repr(reader.metadata).encode()))
        except Exception as exc:            # the stand-in PREVIOUS bytes are not a real PDF
            if data not in PREVIOUS.values():
                raise AssertionError(f"{path} is not a readable PDF: {exc}") from None
    return out


def leaks(directories: list[Path], needles: list[bytes], artifacts_only: bool = False) -> list[str]:
    """Where a needle occurs in the files of `directories` (artifacts_only: not the press's own
    hidden state, which names the book's files by path on purpose and is never published)."""
    forms = [n for needle in needles for n in (needle, needle.decode().encode("utf-16-be"))]
    found = []
    for directory in directories:
        for p in sorted(directory.rglob("*")):
            if artifacts_only and p.name.startswith("."):
                continue
            if p.is_file() and not p.is_symlink():
                for where, blob in blobs_of(p):
                    found += [f"{where}: {n!r}" for n in forms if n in blob]
    return found


def assert_clean(c: Ctx, *dirs: Path) -> None:
    """No byte of the marker (or the case's other needles) anywhere; the listener saw nothing."""
    found = leaks([c.out, *dirs], [c.marker.token.encode(), *c.needles])
    assert not found, "outside bytes in the artifacts:\n" + "\n".join(found)
    assert c.listener.seen() == [], f"the build made requests: {c.listener.seen()}"


def assert_no_traceback(proc) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr[-3000:]


# ------------------------------------------------------------------------------ refused inputs

@dataclass
class Expect:
    file: str | None                # path suffix the first line names (None: an option, no file)
    line: int | None                # None: the message has no line (`book.yaml: …`)
    words: tuple[str, ...]
    args: tuple[str, ...] = ("pdf", "--lang", "ja")
    cwd: Path | None = None
    out: Path | None = None         # --out override (the default out is still checked)
    out_arg: str | None = None      # --out given literally (e.g. '')


Case = Callable[[Ctx], Expect]


def first_line_ok(proc, expect: Expect) -> str:
    err = proc.stderr
    assert proc.returncode == 1, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\nstderr:\n{err[-3000:]}"
    assert_no_traceback(proc)
    first = err.split("\n")[0]
    assert first.startswith("error: "), err[-3000:]
    if expect.file is not None:
        where = f"{expect.file}:{expect.line}: " if expect.line is not None else f"{expect.file}: "
        assert re.search(r"(^error: |/)" + re.escape(where), first), f"expected {where!r} in the first line:\n{err[:3000]}"
    for word in expect.words:
        assert word in first, f"expected {word!r} in the first line:\n{err[:3000]}"
    return first


def chapter(c: Ctx, lines: list[str | bytes], marker: str | bytes, rel: str = "ja/timeline.md",
            head: list[str] = HEAD) -> int:
    """Write chapter `rel` as HEAD + lines; return the line of the first line holding `marker`."""
    all_lines = [*head, *lines, ""]
    if any(isinstance(s, bytes) for s in all_lines) or isinstance(marker, bytes):
        data = b"\n".join(s if isinstance(s, bytes) else s.encode() for s in all_lines)
        overlay(c.book, {rel: data})
        return line_of(data, marker if isinstance(marker, bytes) else marker.encode())
    text = "\n".join(all_lines)
    overlay(c.book, {rel: text})
    return line_of(text, marker)


def fill(text: str, c: Ctx) -> str:
    """Put the listener's URL and the marker files' paths into a case's text."""
    for key, value in (("{url}", c.listener.url), ("{outside}", c.marker.dir), ("{png}", c.marker.png),
                       ("{css}", c.marker.css), ("{csl}", c.marker.csl), ("{text}", c.marker.text)):
        text = text.replace(key, str(value))
    return text


def in_chapter(lines: list[str], marker: str, *words: str, args=("pdf", "--lang", "ja")) -> Case:
    def case(c: Ctx) -> Expect:
        return Expect("ja/timeline.md", chapter(c, [fill(s, c) for s in lines], marker), words, args)
    return case


def in_manifest(old: str, new: str, needle: str, *words: str, args=("pdf", "--lang", "ja")) -> Case:
    def case(c: Ctx) -> Expect:
        text = edit(MANIFEST, old, fill(new, c))
        overlay(c.book, {"book.yaml": text})
        return Expect("book.yaml", line_of(text, needle), words, args)
    return case


def in_bibliography(old: str, new: str, needle: str, *words: str) -> Case:
    def case(c: Ctx) -> Expect:
        text = edit(BIBLIOGRAPHY, old, new)
        overlay(c.book, {"bibliography.yaml": text})
        return Expect("bibliography.yaml", line_of(text, needle), words)
    return case


def in_overrides(text: str, needle: str, *words: str) -> Case:
    """The zh-Hant edition (OpenCC) added to the minimal book, with this overrides file."""
    def case(c: Ctx) -> Expect:
        overlay(c.book, {"book.yaml": MANIFEST + ZH_HANT, "zh/overrides.yaml": text})
        return Expect("zh/overrides.yaml", line_of(text, needle), words, ("pdf", "--lang", "zh-Hant"))
    return case


ALL = ("all", "--lang", "ja", "--no-epubcheck")
EPUB = ("epub", "--lang", "ja", "--no-epubcheck")
PDF = ("pdf", "--lang", "ja")


# --- class 1: confinement

def image_symlink_outside(c: Ctx) -> Expect:
    os.symlink(c.marker.png, c.book / "ja" / "figure.png")
    return Expect("ja/timeline.md", chapter(c, ["![図](figure.png)"], "![図]"), ("is outside the book",), ALL)


def image_symlink_dir_outside(c: Ctx) -> Expect:
    os.symlink(c.marker.dir, c.book / "ja" / "pics")
    return Expect("ja/timeline.md", chapter(c, ["![図](pics/secret.png)"], "![図]"), ("is outside the book",), ALL)


def image_only_beside_cwd(c: Ctx) -> Expect:
    cwd = c.tmp / "cwd"
    (cwd / "assets").mkdir(parents=True)
    shutil.copy(c.marker.png, cwd / "assets" / "secret.png")
    line = chapter(c, ["文章。", "", "![図](assets/secret.png)"], "![図]")
    return Expect("ja/timeline.md", line, ("not found",), ALL, cwd=cwd)


def image_press_source_from_checkout(c: Ctx) -> Expect:
    c.needles.append(CLI_SOURCE_NEEDLE)
    return Expect("ja/timeline.md", chapter(c, ["![図](press/cli.py)"], "![図]"), ("not found",), ALL, cwd=ROOT)


def image_git_config_from_checkout(c: Ctx) -> Expect:
    return Expect("ja/timeline.md", chapter(c, ["![図](.git/config)"], "![図]"), ("not found",), ALL, cwd=ROOT)


def image_is_directory(c: Ctx) -> Expect:
    (c.book / "ja" / "adir.png").mkdir()
    return Expect("ja/timeline.md", chapter(c, ["![図](adir.png)"], "![図]"), ("not a regular file",), ALL)


def metadata_block(key: str, value: str, close: str = "---") -> Case:
    def case(c: Ctx) -> Expect:
        v = fill(value, c)
        lines = ["段落。", "", "---", f"{key}: {v}", close, "", "次の段落。"]
        # the line of the opening --- (the front matter's two --- lines come before it)
        text_lines = [*HEAD, *lines]
        opening = next(n for n, s in enumerate(text_lines, 1) if s == "---" and n > 3)
        chapter(c, lines, "段落。")
        return Expect("ja/timeline.md", opening, ("metadata block",), ALL)
    return case


def dependent_csl(parent: Callable[[Ctx], str]) -> Case:
    def case(c: Ctx) -> Expect:
        csl = ('<?xml version="1.0" encoding="utf-8"?>\n'
               '<style xmlns="http://purl.org/net/xbiblio/csl" class="note" version="1.0" default-locale="en-US">\n'
               '  <info>\n    <title>Dependent test style</title>\n    <id>http://example.org/dep</id>\n'
               f'    <link href="{parent(c)}" rel="independent-parent"/>\n'
               '    <updated>2026-01-01T00:00:00+00:00</updated>\n  </info>\n</style>\n')
        overlay(c.book, {"csl/dependent.csl": csl})
        text = edit(MANIFEST, "csl: csl/notes.csl", "csl: csl/dependent.csl")
        overlay(c.book, {"book.yaml": text})
        return Expect("book.yaml", line_of(text, "csl:"), ("dependent style",), ALL)
    return case


CLASS1 = [
    pytest.param(image_symlink_outside, id="1-image-symlink-to-outside-file"),
    pytest.param(image_symlink_dir_outside, id="1-image-through-symlinked-dir"),
    pytest.param(in_chapter(["![図](%2e%2e/%2e%2e/outside/secret.png)"], "![図]", "is outside the book", args=ALL),
                 id="1-image-percent-encoded-dotdot"),
    pytest.param(in_chapter(["![図](%2E%2E%2F%2E%2E%2Foutside%2Fsecret.png)"], "![図]", "is outside the book",
                            args=ALL), id="1-image-percent-encoded-slashes"),
    pytest.param(in_chapter(["![図]({png})"], "![図]", "is outside the book", args=ALL), id="1-image-absolute"),
    pytest.param(in_chapter(["![図]({url}/a.png)"], "![図]", "is outside the book", args=ALL), id="1-image-url"),
    pytest.param(in_chapter(["![図](<{url}/b.png>)"], "![図]", "is outside the book", args=EPUB),
                 id="1-image-url-angle-brackets"),
    pytest.param(image_only_beside_cwd, id="1-image-exists-only-beside-cwd"),
    pytest.param(image_press_source_from_checkout, id="1-image-press-cli-from-checkout"),
    pytest.param(image_git_config_from_checkout, id="1-image-git-config-from-checkout"),
    pytest.param(image_is_directory, id="1-image-is-directory"),
    pytest.param(metadata_block("cover-image", "{png}"), id="1-metadata-cover-image"),
    pytest.param(metadata_block("css", "{css}"), id="1-metadata-css"),
    pytest.param(metadata_block("stylesheet", "{url}/evil.css", close="..."), id="1-metadata-stylesheet-url-dots"),
    pytest.param(metadata_block("csl", "{csl}"), id="1-metadata-csl"),
    pytest.param(metadata_block("citation-abbreviations", "{text}"), id="1-metadata-citation-abbreviations"),
    pytest.param(metadata_block("bibliography", "{url}/refs.yaml"), id="1-metadata-bibliography-url"),
    pytest.param(dependent_csl(lambda c: f"{c.listener.url}/parent.csl"), id="1-csl-dependent-url-parent"),
    pytest.param(dependent_csl(lambda c: c.marker.csl.as_uri()), id="1-csl-dependent-file-parent"),
]

# --- class 2: links and attributes that run script (pdf alone, and epub without epubcheck)

SCHEME_HINT = ("link", "is not allowed", "https:", "mailto:")

CLASS2 = [
    pytest.param(in_chapter(["[押す](javascript:alert(1))"], "[押す]", *SCHEME_HINT, args=EPUB), id="2-javascript-epub"),
    pytest.param(in_chapter(["[押す](javascript:alert(1))"], "[押す]", *SCHEME_HINT, args=PDF), id="2-javascript-pdf"),
    pytest.param(in_chapter(["[押す](JaVaScRiPt:alert(1))"], "[押す]", *SCHEME_HINT, args=PDF), id="2-javascript-mixed-case"),
    pytest.param(in_chapter(["[押す](data:text/html,<script>alert(1)</script>)"], "[押す]", "link", "is not allowed",
                            args=EPUB), id="2-data-url"),
    pytest.param(in_chapter(["[押す](vbscript:msgbox(1))"], "[押す]", *SCHEME_HINT, args=EPUB), id="2-vbscript"),
    pytest.param(in_chapter(["[押す](<\tjava\tscript:alert(1)>)"], "[押す]", "link", "is not allowed", args=PDF),
                 id="2-javascript-with-tabs"),
    pytest.param(in_chapter(["[押す](&#32;java&#9;script:alert(1))"], "[押す]", "link", "is not allowed", args=EPUB),
                 id="2-javascript-entities"),
    pytest.param(in_chapter(["[押す][ref]", "", "[ref]: javascript:alert(1)"], "[ref]:", "link", "is not allowed",
                            args=EPUB), id="2-javascript-reference-definition"),
    pytest.param(in_chapter(["<javascript:alert(1)>"], "<javascript:", "link", "is not allowed", args=EPUB),
                 id="2-javascript-autolink"),
    pytest.param(in_chapter(["[別の章](other.md)"], "[別の章]", "link", "is not allowed", args=EPUB),
                 id="2-relative-file-link"),
    pytest.param(in_chapter(["[ここ](/url)"], "[ここ]", "link", "is not allowed", args=PDF), id="2-root-relative-link"),
    pytest.param(in_chapter(["[ここ](url)"], "[ここ]", "link", "is not allowed", args=EPUB), id="2-bare-relative-link"),
    pytest.param(in_chapter(["[押す]{onclick=alert(1)}"], "[押す]", "attribute 'onclick' is not allowed", args=EPUB),
                 id="2-onclick-span-epub"),
    pytest.param(in_chapter(["[押す]{onclick=alert(1)}"], "[押す]", "attribute 'onclick' is not allowed", args=PDF),
                 id="2-onclick-span-pdf"),
    pytest.param(in_chapter(["## 見出し {onmouseover=alert(1)}"], "## 見出し", "attribute 'onmouseover' is not allowed",
                            args=EPUB), id="2-onmouseover-heading"),
    pytest.param(in_chapter(["::: {onload=alert(1)}", "囲み。", ":::"], "::: {onload", "attribute", "onload",
                            "is not allowed", args=PDF), id="2-onload-div"),
    pytest.param(in_chapter(["[押す]{OnClick=alert(1)}"], "[押す]", "attribute", "is not allowed", args=EPUB),
                 id="2-onclick-mixed-case"),
    pytest.param(in_chapter(["[大]{style=\"font-size: 10000000px\"}"], "[大]", "attribute 'style' is not allowed",
                            args=PDF), id="2-style-attribute"),
    pytest.param(in_chapter(["[添付](https://example.org/a.pdf){rel=attachment}"], "[添付]",
                            "attribute 'rel' is not allowed", args=PDF), id="2-rel-attachment"),
]

# --- class 3: inputs that hang or exhaust memory (each must be refused in well under a minute)


def manifest_fifo(c: Ctx) -> Expect:
    (c.book / "book.yaml").unlink()
    os.mkfifo(c.book / "book.yaml")
    return Expect("book.yaml", None, ("not a regular file",))


def image_fifo(c: Ctx) -> Expect:
    os.mkfifo(c.book / "ja" / "pipe.png")
    return Expect("ja/timeline.md", chapter(c, ["![図](pipe.png)"], "![図]"), ("not a regular file",), ALL)


def image_device(c: Ctx) -> Expect:
    try:
        os.mknod(c.book / "ja" / "zero.png", 0o666 | 0o020000, os.makedev(1, 5))   # a /dev/zero twin
    except (PermissionError, OSError) as exc:
        pytest.skip(f"cannot make a device node here: {exc}")
    return Expect("ja/timeline.md", chapter(c, ["![図](zero.png)"], "![図]"), ("not a regular file",), ALL)


def svg_bomb(c: Ctx) -> Expect:
    overlay(c.book, {"ja/bomb.svg": svg_use_bomb()})
    return Expect("ja/timeline.md", chapter(c, ["![図](bomb.svg)"], "![図]"), ("SVG",), ALL)


def alias_bomb(c: Ctx) -> Expect:
    # Every alias on one line (after a comment): the only right line is 2.
    levels = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"a{n}: &a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 10)]
    text = ("# a billion laughs\nreferences: [{id: bomb, type: book, title: boom, "
            + "note: {" + ", ".join(levels) + "}}]\n")
    overlay(c.book, {"bibliography.yaml": text})
    return Expect("bibliography.yaml", line_of(text, "&a9"), ("aliases",))


def paragraph_of(chars: int, per_line: int) -> list[str]:
    sentence = "組版の試験のための長い段落です。"
    body = (sentence * (chars // len(sentence) + 1))[:chars]
    return [body[i:i + per_line] for i in range(0, len(body), per_line)]


CLASS3 = [
    pytest.param(manifest_fifo, id="3-manifest-is-fifo"),
    pytest.param(image_fifo, id="3-image-is-fifo"),
    pytest.param(image_device, id="3-image-is-device"),
    pytest.param(in_chapter(["- " * 10_000 + "深い"], "深い", "nested too deeply"), id="3-nested-lists-10000"),
    pytest.param(in_chapter(["1. " * 10_000 + "深い"], "深い", "nested too deeply"), id="3-nested-ordered-10000"),
    pytest.param(in_chapter(["> " * 10_000 + "深い"], "深い", "nested too deeply"), id="3-nested-quotes-10000"),
    pytest.param(in_chapter(["[" * 10_000 + "深い" + "](#x)" * 3], "深い", "nested too deeply"),
                 id="3-nested-brackets-10000"),
    pytest.param(in_chapter(["前の段落。", "", "二" * (2 * 1024 * 1024 // 3 + 1), ""], "二二二",
                            "paragraph is too long"), id="3-one-2MB-line"),
    pytest.param(in_chapter(["前の段落。", "", *paragraph_of(700_000, 80), ""], "組版の試験",
                            "paragraph is too long"), id="3-paragraph-700000-chars"),
    pytest.param(alias_bomb, id="3-bibliography-alias-bomb"),
    pytest.param(svg_bomb, id="3-svg-use-bomb"),
    pytest.param(in_manifest("page:\n  size: B6", "page:\n  size: B6\nprint:\n  signature: 100000",
                             "signature:", "print.signature", args=("print", "--lang", "ja")),
                 id="3-print-signature-100000"),
]

# --- class 4: tracebacks → errors


def deep_json_bibliography(c: Ctx) -> Expect:
    text = '[\n{"id": "deep", "type": "book", "title": "x", "note": ' + deep() + '},\n' \
           '{"id": "report-2025", "type": "book", "title": "a"},\n{"id": "post-2024", "type": "book", "title": "b"},\n' \
           '{"id": "talk-2026", "type": "book", "title": "c"}\n]\n'
    overlay(c.book, {"bibliography.json": text, "bibliography.yaml": None})
    manifest = edit(MANIFEST, "bibliography: bibliography.yaml", "bibliography: bibliography.json")
    overlay(c.book, {"book.yaml": manifest})
    return Expect("bibliography.json", line_of(text, "[[[["), ("nested too deeply",))


def manifest_is_directory(c: Ctx) -> Expect:
    (c.book / "book.yaml").unlink()
    (c.book / "book.yaml").mkdir()
    return Expect("book.yaml", None, ("not a regular file",))


def symlink_loop_chapter(c: Ctx) -> Expect:
    os.symlink("loop.md", c.book / "ja" / "loop.md")
    text = edit(MANIFEST, "timeline: ja/timeline.md", "timeline: ja/loop.md")
    overlay(c.book, {"book.yaml": text})
    return Expect("book.yaml", line_of(text, "ja/loop.md"), ("symlink loop",))


def symlink_loop_pair_bibliography(c: Ctx) -> Expect:
    (c.book / "bibliography.yaml").unlink()
    os.symlink("refs-b.yaml", c.book / "bibliography.yaml")
    os.symlink("bibliography.yaml", c.book / "refs-b.yaml")
    return Expect("book.yaml", line_of(MANIFEST, "bibliography:"), ("symlink loop",))


def too_many_appendices(c: Ctx) -> Expect:
    names = [f"ko/appendix-{n:02d}.md" for n in range(1, 28)]
    source = (c.book / "ko" / "appendix.md").read_text(encoding="utf-8")
    overlay(c.book, {n: source for n in names})
    block = "    appendices:\n" + "".join(f"      - {n}\n" for n in names)
    text = edit(MANIFEST, "    appendices: [ko/appendix.md]\n    strings: ja/strings.yaml\n",
                block + "    strings: ja/strings.yaml\n")
    overlay(c.book, {"book.yaml": text})
    return Expect("book.yaml", line_of(text, names[26]), ("appendices",))


def long_component(c: Ctx) -> Expect:
    rel = "ja/" + "a" * 300 + ".md"
    text = edit(MANIFEST, "timeline: ja/timeline.md", f"timeline: {rel}")
    overlay(c.book, {"book.yaml": text})
    return Expect("book.yaml", line_of(text, "a" * 300), ("too long",))


def long_path(c: Ctx) -> Expect:
    rel = "/".join(["abcdefghi"] * 400) + "/t.md"        # 4,004 characters, no component over 9
    text = edit(MANIFEST, "timeline: ja/timeline.md", f"timeline: {rel}")
    overlay(c.book, {"book.yaml": text})
    return Expect("book.yaml", line_of(text, "abcdefghi/abcdefghi"), ("too long",))


CLASS4 = [
    pytest.param(in_manifest("authors: [テスト著者]", f"authors: {deep()}", "authors:", "nested too deeply"),
                 id="4-manifest-flow-10000-deep"),
    pytest.param(in_manifest("page:\n  size: B6", "page:\n  size: B6\nlinks: [" + "{a: " * 10_000 + "1" + "}" * 10_000 + "]",
                             "links:", "nested too deeply"), id="4-manifest-flow-mapping-10000-deep"),
    pytest.param(lambda c: Expect("ja/timeline.md", chapter(c, [], "short_title:", head=[
        "---", f"short_title: {deep()}", "---", "", "# 年表", "", "本文。"]), ("nested too deeply",)),
        id="4-front-matter-10000-deep"),
    pytest.param(in_bibliography("    title: her\n", f"    title: her\n    note: {deep()}\n", "note:",
                                 "nested too deeply"), id="4-bibliography-10000-deep"),
    pytest.param(deep_json_bibliography, id="4-json-bibliography-10000-deep"),
    pytest.param(in_overrides(f"# overrides\n帖子: {deep()}\n", "帖子", "nested too deeply"),
                 id="4-opencc-overrides-10000-deep"),
    pytest.param(in_manifest("title: ミニ本", 'title: "ミニ\\0本"', "title:", "control character"),
                 id="4-nul-in-title"),
    pytest.param(lambda c: Expect("ja/timeline.md", chapter(c, ["2025.01 — 二番目\x00の段落。".encode()], b"\x00"),
                                  ("control character",)), id="4-nul-in-chapter"),
    pytest.param(in_manifest("timeline: ja/timeline.md", 'timeline: "ja/time\\0line.md"', "time\\0line",
                             "control character"), id="4-nul-in-chapter-path"),
    pytest.param(in_manifest("title: ミニ本", 'title: "\\ud800"', "title:", "surrogate"), id="4-lone-surrogate-title"),
    pytest.param(in_manifest("date: 2026-01-02", "date: 2026-02-30", "date:", "date"), id="4-date-feb-30"),
    pytest.param(in_manifest("date: 2026-01-02", 'date: "2026-13-45"', "date:", "date"), id="4-date-quoted-13-45"),
    pytest.param(in_manifest("date: 2026-01-02", 'date: "0000-01-01"', "date:", "date"), id="4-date-year-0"),
    pytest.param(in_bibliography("    title: her\n", "    title: her\n    issued: 2026-02-30\n", "issued: 2026-02-30",
                                 "date"), id="4-bibliography-timestamp-feb-30"),
    pytest.param(in_bibliography("date-parts: [[2024, 5]]", "date-parts: [[2026, 13, 45]]", "[[2026, 13, 45]]",
                                 "date"), id="4-bibliography-date-parts-13-45"),
    pytest.param(in_bibliography("    title: her\n", "    title: !!python/object:os.system her\n",
                                 "!!python", "tag"), id="4-bibliography-python-tag"),
    pytest.param(in_bibliography("    title: her\n", "    title: !custom her\n", "!custom", "tag"),
                 id="4-bibliography-custom-tag"),
    pytest.param(manifest_is_directory, id="4-manifest-is-directory"),
    pytest.param(long_component, id="4-path-component-300"),
    pytest.param(long_path, id="4-path-4000-chars"),
    pytest.param(symlink_loop_chapter, id="4-symlink-loop-chapter"),
    pytest.param(symlink_loop_pair_bibliography, id="4-symlink-loop-bibliography"),
    pytest.param(too_many_appendices, id="4-27-appendices"),
    pytest.param(in_chapter(["> " * 300 + "深い引用"], "深い引用", "nested too deeply"), id="4-300-nested-quotes"),
    pytest.param(in_chapter(["[背景]{style=\"background: url(" + "{url}" + "/bg.png)\"}"], "[背景]",
                            "attribute 'style' is not allowed", args=ALL), id="4-style-url"),
]

# --- class 5: the output directory (refused before any work)


def out_is(where: Callable[[Ctx], Path], *words: str) -> Case:
    def case(c: Ctx) -> Expect:
        target = where(c)
        target.mkdir(exist_ok=True)
        for name, data in PREVIOUS.items():
            (target / name).write_bytes(data)
        return Expect(None, None, words, out=target)
    return case


def lang_twice(c: Ctx) -> Expect:
    return Expect(None, None, ("given twice",), args=("all", "--lang", "ja", "--lang", "ja", "--no-epubcheck"))


def out_empty(c: Ctx) -> Expect:
    return Expect(None, None, ("--out",), cwd=c.tmp, out_arg="")


CLASS5 = [
    pytest.param(out_is(lambda c: c.book, "contains the book"), id="5-out-is-book-dir"),
    pytest.param(out_is(lambda c: c.book.parent, "contains the book"), id="5-out-is-book-parent"),
    pytest.param(out_is(lambda c: c.book / "dist", "inside the book"), id="5-out-inside-book"),
    pytest.param(out_empty, id="5-out-empty-string"),
    pytest.param(lang_twice, id="5-lang-given-twice"),
]

# --- class 6: reproducibility leaks refused at the chapter line

CLASS6 = [
    pytest.param(in_chapter(["[付録](../ko/appendix.md)"], "[付録]", "link", "is not allowed", args=PDF),
                 id="6-relative-link-to-book-file"),
    pytest.param(in_chapter(["[手紙](letter.md#x)"], "[手紙]", "link", "is not allowed", args=EPUB),
                 id="6-relative-link-to-book-file-with-anchor"),
    pytest.param(in_chapter(["[付録](../ko/appendix.md){rel=attachment}"], "[付録]", "is not allowed", args=PDF),
                 id="6-attachment-of-book-file"),
]

# --- class 7: one rule for missing images

CLASS7 = [
    pytest.param(in_chapter(["![図](img/missing.png)"], "![図]", "not found", args=PDF), id="7-missing-image-pdf"),
    pytest.param(in_chapter(["![図](img/missing.png)"], "![図]", "not found", args=EPUB), id="7-missing-image-epub"),
]

# --- class 8: smaller things


def page_size_zero(c: Ctx) -> Expect:
    text = edit(MANIFEST, "page:\n  size: B6", "page:\n  width: 0mm\n  height: 1mm")
    overlay(c.book, {"book.yaml": text})
    return Expect("book.yaml", line_of(text, "width: 0mm"), ("page.width",))


def svg_script(c: Ctx) -> Expect:
    overlay(c.book, {"ja/script.svg": f'<svg {SVG_NS} width="4" height="4"><script>alert(1)</script>'
                                      f'<image xlink:href="{c.listener.url}/x.png" width="4" height="4"/>'
                                      '<rect width="4" height="4"/></svg>\n'})
    return Expect("ja/timeline.md", chapter(c, ["![図](script.svg)"], "![図]"), ("SVG",), ALL)


def png_header_bomb(c: Ctx) -> Expect:
    overlay(c.book, {"ja/huge.png": png(30_000, 30_000)})
    return Expect("ja/timeline.md", chapter(c, ["段落。", "", "![図](huge.png)"], "![図]"), ("pixels",), ALL)


def title_glyph(c: Ctx) -> Expect:
    text = edit(MANIFEST, "title: ミニ本", "title: ミニ\ue000本")
    overlay(c.book, {"book.yaml": text})
    return Expect("book.yaml", line_of(text, "\ue000"), ("U+E000",))


CLASS8 = [
    pytest.param(page_size_zero, id="8-page-size-0mm"),
    pytest.param(in_overrides('# overrides\n"": 空\n帖子: 貼文\n', '"": 空', "empty"), id="8-opencc-empty-key"),
    pytest.param(in_manifest("slug: mini", "slug: " + "m" * 200, "slug:", "slug"), id="8-slug-200-chars"),
    pytest.param(in_manifest("date: 2026-01-02", "date: 9999-12-31", "date:", "date"), id="8-date-9999"),
    pytest.param(svg_script, id="8-svg-with-script"),
    pytest.param(png_header_bomb, id="8-png-30000x30000"),
    pytest.param(title_glyph, id="8-glyph-error-in-title-line"),
    pytest.param(lambda c: Expect("ja/timeline.md", chapter(c, [], "short_title", head=[
        "---", "short_title: 年\ue000表", "---", "", "# 年表", "", "本文。"]), ("U+E000",)),
        id="8-glyph-error-in-short-title-line"),
]


@pytest.mark.parametrize("make", CLASS1 + CLASS2 + CLASS3 + CLASS4 + CLASS5 + CLASS6 + CLASS7 + CLASS8)
def test_refused(make: Case, ctx: Ctx) -> None:
    expect = make(ctx)
    out = ctx.out if expect.out is None else expect.out
    watched = [ctx.out] + ([expect.out] if expect.out is not None else [])
    before = {d: snapshot(d) for d in watched}
    before_cwd = snapshot(expect.cwd) if expect.cwd else None
    t0 = time.monotonic()

    out_arg = str(out) if expect.out_arg is None else expect.out_arg
    proc = cli(*expect.args, "--book", str(ctx.book), "--out", out_arg, cwd=expect.cwd or ROOT, timeout=2 * FAST)

    seconds = time.monotonic() - t0
    first_line_ok(proc, expect)
    assert seconds < FAST, f"took {seconds:.0f} s"
    for d in watched:
        assert snapshot(d) == before[d], f"{d} was touched"
        assert not list(d.glob(".press-*")), f"scratch left in {d}"
    assert snapshot(ctx.out) == PREVIOUS
    if expect.cwd:
        assert snapshot(expect.cwd) == before_cwd, "the build wrote into the working directory"
    assert_clean(ctx)


# ------------------------------------------------------------------------------ builds that succeed

def epub_members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def pdf_image_count(path: Path) -> int:
    from pypdf import PdfReader

    def count(resources, seen) -> int:
        n = 0
        xobjects = (resources or {}).get("/XObject") or {}
        for _, ref in xobjects.items():
            obj = ref.get_object()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.get("/Subtype") == "/Image":
                n += 1
            elif obj.get("/Subtype") == "/Form":
                n += count(obj.get("/Resources"), seen)
        return n

    seen: set = set()
    return sum(count(page.get("/Resources"), seen) for page in PdfReader(path).pages)


def built_ok(proc, out: Path, names: list[str]) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_no_traceback(proc)
    for name in names:
        assert (out / name).is_file() and not (out / name).is_symlink(), name
        assert (out / name).stat().st_size > 1000, name
    assert not list(out.glob(".press-*"))


def test_1_markup_in_title_and_subtitle_is_text(ctx: Ctx) -> None:
    title = f"![x]({ctx.marker.png})"
    subtitle = f"![y]({ctx.listener.url}/s.png) [z]({ctx.marker.css})"
    text = edit(MANIFEST, "title: ミニ本", f'title: "{title}"')
    text = edit(text, "subtitle: 試験用", f'subtitle: "{subtitle}"')
    overlay(ctx.book, {"book.yaml": text})

    proc = cli(*ALL, "--book", str(ctx.book), "--out", str(ctx.out))

    built_ok(proc, ctx.out, ["mini-ja.pdf", "mini-ja.epub"])
    members = epub_members(ctx.out / "mini-ja.epub")
    assert not [n for n in members if "/media/" in n or n.startswith("media/")], sorted(members)
    opf = next(v for n, v in members.items() if n.endswith(".opf")).decode()
    assert "![x](" in opf, "the title is not printed literally"
    from pypdf import PdfReader
    assert "![x](" in (PdfReader(ctx.out / "mini-ja.pdf").metadata.title or "")
    assert_clean(ctx)


def test_1_markup_in_translation_notice_is_text(ctx: Ctx) -> None:
    chapter(ctx, ["本文。"], "本文", head=[
        "---", "short_title: 年表", f'translation: "![x]({ctx.marker.png}) 試験のための翻訳。"', "---", "",
        "# 年表の見出し", ""])

    proc = cli(*ALL, "--book", str(ctx.book), "--out", str(ctx.out))

    built_ok(proc, ctx.out, ["mini-ja.pdf", "mini-ja.epub"])
    members = epub_members(ctx.out / "mini-ja.epub")
    assert not [n for n in members if "/media/" in n], sorted(members)
    pages = b"".join(v for n, v in members.items() if n.endswith(".xhtml")).decode()
    assert "試験のための翻訳" in pages and "![x](" in pages
    assert_clean(ctx)


@pytest.mark.parametrize("where", ["beside-chapter-dir", "book-root-chapter"])
def test_1_own_images_found_from_another_cwd(ctx: Ctx, where: str) -> None:
    dot = png(6, 6)
    overlay(ctx.book, {"img/dot.png": dot})
    if where == "beside-chapter-dir":
        chapter(ctx, ["![A dot](../img/dot.png)"], "dot")
        lang = "ja"
    else:
        overlay(ctx.book, {"timeline.md": "# 中文\n\n第一段。\n\n![A dot](img/dot.png)\n\n第二段。\n",
                           "book.yaml": edit(MANIFEST, "timeline: zh/timeline.md", "timeline: timeline.md")})
        lang = "zh-Hans"
    cwd = ctx.tmp / "cwd"
    cwd.mkdir()

    proc = cli("all", "--lang", lang, "--no-epubcheck", "--book", str(ctx.book), "--out", str(ctx.out), cwd=cwd)

    built_ok(proc, ctx.out, [f"mini-{lang}.pdf", f"mini-{lang}.epub"])
    members = epub_members(ctx.out / f"mini-{lang}.epub")
    media = [n for n in members if n.startswith("EPUB/media/")]
    assert media, f"the book's own image is not in the EPUB: {sorted(members)}"
    assert pdf_image_count(ctx.out / f"mini-{lang}.pdf") >= 1, "the book's own image is not in the PDF"
    assert list(cwd.iterdir()) == [], "the build wrote into the working directory"
    assert_clean(ctx)


def test_4_unused_symlink_loop_in_book_builds(ctx: Ctx) -> None:
    os.symlink("loop-a", ctx.book / "loop-b")
    os.symlink("loop-b", ctx.book / "loop-a")
    os.symlink("self", ctx.book / "ja" / "self")

    proc = cli(*PDF, "--book", str(ctx.book), "--out", str(ctx.out))

    built_ok(proc, ctx.out, ["mini-ja.pdf"])
    assert (ctx.out / "mini-ja.pdf").read_bytes() != PREVIOUS["mini-ja.pdf"]
    assert_clean(ctx)


def test_5_symlinks_planted_in_out_are_not_written_through(ctx: Ctx) -> None:
    targets = {name: ctx.tmp / f"target-{n}" for n, name in
               enumerate(["mini-ja.pdf", "mini-ja.epub", ".build-state.json.tmp"])}
    for name, target in targets.items():
        target.write_bytes(b"must stay as it is " + name.encode())
        (ctx.out / name).unlink(missing_ok=True)
        os.symlink(target, ctx.out / name)

    proc = cli(*ALL, "--book", str(ctx.book), "--out", str(ctx.out))

    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_no_traceback(proc)
    for name, target in targets.items():
        assert target.read_bytes() == b"must stay as it is " + name.encode(), f"written through {name}"
    for name in ("mini-ja.pdf", "mini-ja.epub"):
        assert (ctx.out / name).is_file() and not (ctx.out / name).is_symlink()
        assert (ctx.out / name).stat().st_size > 1000
    assert not list(ctx.out.glob(".press-*"))
    assert_clean(ctx)


def test_5_symlinked_state_file_is_not_written_through(ctx: Ctx) -> None:
    """The contract does not say whether this builds or is refused; either way, never write through it."""
    target = ctx.tmp / "target-state"
    target.write_bytes(b"{}")
    os.symlink(target, ctx.out / ".build-state.json")

    proc = cli(*PDF, "--book", str(ctx.book), "--out", str(ctx.out))

    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    assert_no_traceback(proc)
    assert target.read_bytes() == b"{}", "written through the symlinked .build-state.json"
    assert not list(ctx.out.glob(".press-*"))
    if proc.returncode == 1:
        assert proc.stderr.startswith("error: ") and snapshot(ctx.out) == {**PREVIOUS, ".build-state.json":
                                                                           b"<link>" + str(target).encode()}


def test_6_two_copies_build_identical_artifacts(ctx: Ctx, tmp_path: Path) -> None:
    """The same book in two directories, built from two working directories: byte-identical."""
    overlay(ctx.book, {"img/dot.png": png(6, 6)})
    chapter(ctx, ["[最初へ](#年表の見出し) と [外](https://example.org/) 。", "", "![A dot](../img/dot.png)"], "最初へ")
    copies = []
    for n in (1, 2):
        book = tmp_path / f"clone{n}" / ("deeper-" * n) / "book"      # different lengths too
        shutil.copytree(ctx.book, book, symlinks=True)
        out = tmp_path / f"out{n}"
        cwd = tmp_path / f"cwd{n}"
        cwd.mkdir()
        proc = cli(*ALL, "--book", str(book), "--out", str(out), cwd=cwd)
        built_ok(proc, out, ["mini-ja.pdf", "mini-ja.epub"])
        copies.append((book, out))
        ctx.needles += [str(book).encode(), str(book.parent).encode()]
    for name in ("mini-ja.pdf", "mini-ja.epub"):
        assert (copies[0][1] / name).read_bytes() == (copies[1][1] / name).read_bytes(), f"{name} differs"
    found = leaks([copies[0][1], copies[1][1]], [b"file://", *ctx.needles], artifacts_only=True)
    assert not found, found
    assert_clean(ctx)


def test_7_colliding_headings_pass_epubcheck(ctx: Ctx) -> None:
    chapter(ctx, ["本文に注。[^b]", "", "## Footnotes", "", "注の見出し。", "", "## Contents", "", "目次の見出し。", "",
                  "## References", "", "文献。", "", "## Footnotes", "", "二度目。", "", "[^b]: 注の本文。"], "本文に注")

    proc = cli("epub", "--lang", "ja", "--book", str(ctx.book), "--out", str(ctx.out))

    built_ok(proc, ctx.out, ["mini-ja.epub"])
    assert_clean(ctx)


def test_8_chapter_with_byte_order_mark_builds(ctx: Ctx) -> None:
    text = (FIXTURES / "minimal" / "ja" / "timeline.md").read_text(encoding="utf-8")
    overlay(ctx.book, {"ja/timeline.md": b"\xef\xbb\xbf" + text.encode("utf-8")})

    proc = cli(*PDF, "--book", str(ctx.book), "--out", str(ctx.out))

    built_ok(proc, ctx.out, ["mini-ja.pdf"])
    from pypdf import PdfReader
    pdf_text = "".join(p.extract_text() or "" for p in PdfReader(ctx.out / "mini-ja.pdf").pages)
    assert "年表の見出し" in pdf_text and "\ufeff" not in pdf_text
    assert_clean(ctx)


def test_8_stale_scratch_dir_of_dead_build_is_removed(ctx: Ctx) -> None:
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    dead = next(p for p in range(pid_max - 1, 1, -1) if not Path(f"/proc/{p}").exists())
    stale = ctx.out / f".press-{dead}-abc"
    stale.mkdir()
    (stale / "mini-ja.pdf").write_bytes(b"half a pdf")

    proc = cli(*PDF, "--book", str(ctx.book), "--out", str(ctx.out))

    built_ok(proc, ctx.out, ["mini-ja.pdf"])
    assert not stale.exists(), "the stale scratch directory of a dead build is still there"
    assert_clean(ctx)


# ------------------------------------------------------------------------------ processes (class 5)

def big_book(c: Ctx) -> None:
    """Rendering takes tens of seconds: 3,000 paragraphs."""
    chapter(c, [f"段落{n}。組版の試験のために同じ文を繰り返します。\n" for n in range(3000)], "段落0。")


def descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def processes_naming(text: str) -> list[int]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes() and alive(int(cmdline.parent.name)):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


def start_rendering(c: Ctx) -> tuple[subprocess.Popen, set[int]]:
    """Start `all -j 2` on the big book; return once two workers render (and their process tree)."""
    big_book(c)
    # Files, not pipes: a worker that outlives the parent would hold a pipe open and hang the test.
    log = open(c.tmp / "stderr.txt", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "build.py"), *ALL, "-j", "2", "--book", str(c.book),
                             "--out", str(c.out)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, text=True)
    log.close()
    deadline = time.monotonic() + 90
    tree: set[int] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        tree = descendants(proc.pid)
        if len([p for p in tree if str(c.book).encode() in cmdline(p)]) >= 2 \
                and list(c.out.glob(".press-*")):
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"the build never had two workers rendering (exit {proc.wait()}): "
                    f"{(c.tmp / 'stderr.txt').read_text()[-2000:]}")
    time.sleep(1.5)                          # well inside rendering
    return proc, tree | descendants(proc.pid)


def test_5_kill_9_of_parent_leaves_no_worker(ctx: Ctx) -> None:
    proc, tree = start_rendering(ctx)
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and ([p for p in tree if alive(p)] or processes_naming(str(ctx.book))):
            time.sleep(0.1)
        left = [p for p in tree if alive(p)] + processes_naming(str(ctx.book))
        assert not left, f"processes still running 5 s after kill -9 of the parent: {sorted(set(left))}"
    finally:
        for p in tree:
            if alive(p):
                os.kill(p, signal.SIGKILL)
    for name, data in PREVIOUS.items():
        assert (ctx.out / name).read_bytes() == data


def test_5_sigterm_cleans_the_scratch_dir(ctx: Ctx) -> None:
    proc, tree = start_rendering(ctx)
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        err = (ctx.tmp / "stderr.txt").read_text()
        assert proc.returncode != 0
        assert "Traceback" not in err, err[-3000:]
        assert snapshot(ctx.out) == PREVIOUS
        assert not list(ctx.out.glob(".press-*"))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and [p for p in tree if alive(p)]:
            time.sleep(0.1)
        assert not [p for p in tree if alive(p)], "workers outlived a SIGTERM'd build"
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in tree:
            if alive(p):
                os.kill(p, signal.SIGKILL)
    assert_clean(ctx)
