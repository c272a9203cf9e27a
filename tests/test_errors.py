"""Bad input → one clear `error: file:LINE: what (what to do)` line, exit 1, no traceback,
and the output directory exactly as it was.

Every case builds a broken copy of tests/fixtures/minimal with the real CLI in a
subprocess. Expected line numbers are computed from the text each case writes, never
typed in by hand. Cases marked xfail(strict=True) are known bugs of the press: each one
must keep failing until the bug is fixed, and then the mark must go.
"""
from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from conftest import FIXTURES, edit, outputs, overlay, run_cli, snapshot

MANIFEST = (FIXTURES / "minimal" / "book.yaml").read_text(encoding="utf-8")
TIMELINE = (FIXTURES / "minimal" / "ja" / "timeline.md").read_text(encoding="utf-8")

# Stand-ins for earlier good artifacts: a failed build must leave them byte for byte.
PREVIOUS = {"mini-ja.pdf": b"%PDF-1.7\n% previous good build, must survive\n%%EOF\n",
            "mini-ja.epub": b"PK\x03\x04 previous good epub, must survive"}
DEAD_PROXY = "http://127.0.0.1:9"   # nothing listens there: any fetch attempt fails fast


# ---------------------------------------------------------------------------- helpers

def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based number of the nth line of `text` containing `needle`."""
    hits = [n for n, s in enumerate(text.split("\n"), start=1) if needle in s]
    assert len(hits) >= nth, f"{needle!r} not found {nth} time(s)"
    return hits[nth - 1]


@dataclass
class Expect:
    """What the error message must say."""

    file: str                       # path suffix the message names, e.g. "book.yaml"
    line: int | None                # None: the problem has no line (empty file, CLI argument)
    words: tuple[str, ...]          # key words of what is wrong and what to do
    args: tuple[str, ...] = ("pdf", "--lang", "ja")
    book: Path | None = None        # --book override
    out: Path | None = None         # --out override (the default out dir is still checked)


Case = Callable[[Path, Path], Expect]     # (book copy, tmp dir outside the book) -> Expect


def manifest_case(old: str, new: str, needle: str, *words: str, nth: int = 1) -> Case:
    """book.yaml with `old` replaced by `new`; the error is on the line holding `needle`."""
    def case(book: Path, tmp: Path) -> Expect:
        text = edit(MANIFEST, old, new)
        overlay(book, {"book.yaml": text})
        return Expect("book.yaml", line_of(text, needle, nth), words)
    return case


def chapter_case(rel: str, lines: list[str | bytes], marker: str | bytes, *words: str) -> Case:
    """Chapter `rel` written from `lines`; the error is on the (first) line holding `marker`."""
    def case(book: Path, tmp: Path) -> Expect:
        if any(isinstance(s, bytes) for s in lines):
            data = b"\n".join(s if isinstance(s, bytes) else s.encode() for s in lines)
            overlay(book, {rel: data})
        else:
            overlay(book, {rel: "\n".join(lines)})
        enc = [s.encode() if isinstance(s, str) and isinstance(marker, bytes) else s for s in lines]
        line = next(n for n, s in enumerate(enc, start=1) if marker in s)
        return Expect(rel, line, words)
    return case


# ---------------------------------------------------------------------------- cases

def missing_required_timeline(book: Path, tmp: Path) -> Expect:
    text = edit(MANIFEST, "    timeline: ja/timeline.md\n", "")
    overlay(book, {"book.yaml": text})
    # reported where the incomplete edition starts
    return Expect("book.yaml", line_of(text, "- lang: ja"), ("editions[]", "missing the required key 'timeline'"))


def duplicate_edition(book: Path, tmp: Path) -> Expect:
    text = MANIFEST + "  - lang: ja\n    timeline: ja/timeline.md\n"
    overlay(book, {"book.yaml": text})
    return Expect("book.yaml", line_of(text, "- lang: ja", nth=2), ("edition 'ja' is listed twice",))


def missing_chapter_file(book: Path, tmp: Path) -> Expect:
    overlay(book, {"ja/letter.md": None})
    return Expect("book.yaml", line_of(MANIFEST, "letter: ja/letter.md"),
                  ("chapter file 'ja/letter.md' does not exist", "fix the path"))


def symlink_outside(book: Path, tmp: Path) -> Expect:
    outside = tmp / "outside.md"
    outside.write_text("# 外の章\n\n本の外にある。\n", encoding="utf-8")
    os.symlink(outside, book / "ja" / "inside-looking.md")
    text = edit(MANIFEST, "timeline: ja/timeline.md", "timeline: ja/inside-looking.md")
    overlay(book, {"book.yaml": text})
    return Expect("book.yaml", line_of(text, "ja/inside-looking.md"),
                  ("'ja/inside-looking.md'", "leads outside the book directory"))


def empty_manifest(book: Path, tmp: Path) -> Expect:
    overlay(book, {"book.yaml": ""})
    return Expect("book.yaml", None, ("the manifest is empty",))


def book_dir_missing(book: Path, tmp: Path) -> Expect:
    return Expect("no-such-book", None, ("book directory not found", "--book"), book=tmp / "no-such-book")


def manifest_missing(book: Path, tmp: Path) -> Expect:
    overlay(book, {"book.yaml": None})
    return Expect("book.yaml", None, ("no manifest found", "book.yaml"))


def lang_not_in_book(book: Path, tmp: Path) -> Expect:
    return Expect("book.yaml", None, ("the book has no edition 'ko'", "ja", "zh-Hans"),
                  args=("pdf", "--lang", "ko"))


def out_under_a_file(book: Path, tmp: Path) -> Expect:
    # Tests run as root, so a chmod 0o500 directory would still be writable; a path below a
    # regular file can never be created, whoever runs the build.
    (tmp / "afile").write_bytes(b"just a file")
    return Expect("afile/out", None, ("output directory", "--out"), out=tmp / "afile" / "out")


def manifest_not_utf8(book: Path, tmp: Path) -> Expect:
    data = edit(MANIFEST, "size: B6", "size: B\udcff6").encode("utf-8", "surrogateescape")
    overlay(book, {"book.yaml": data})
    return Expect("book.yaml", line_of(MANIFEST, "size: B6"), ("not valid UTF-8", "UTF-8"))


def font_family_typo(book: Path, tmp: Path) -> Expect:
    text = edit(MANIFEST, "    subtitle:", "    fonts: {serif: Noto Serif CJK JQ}\n    subtitle:")
    overlay(book, {"book.yaml": text})
    return Expect("book.yaml", line_of(text, "Noto Serif CJK JQ"), ("Noto Serif CJK JQ", "fonts"))


def unhashable_key(book: Path, tmp: Path) -> Expect:
    text = MANIFEST + "? [a, b]\n: 1\n"
    overlay(book, {"book.yaml": text})
    return Expect("book.yaml", line_of(text, "? [a, b]"), ("key",))


BODY = ["", "# 年表の見出し", "", "2024.05 — 最初の段落です。", ""]

CASES = [
    # --- book.yaml: syntax
    pytest.param(manifest_case("    timeline: ja/timeline.md", "   timeline: ja/timeline.md",
                               "timeline: ja/timeline.md", "malformed YAML", "indentation"),
                 id="yaml-bad-indentation"),
    pytest.param(empty_manifest, id="yaml-empty"),
    pytest.param(manifest_not_utf8, id="yaml-not-utf8"),
    # --- book.yaml: keys and types
    pytest.param(manifest_case("\ntitle:", "\ntitel:", "titel:",
                               "unknown key 'titel'", "did you mean 'title'"), id="unknown-top-key"),
    pytest.param(manifest_case("authors: [テスト著者]", "authors: テスト著者", "authors:",
                               "book.authors must be a list", "not a string"), id="authors-string"),
    pytest.param(manifest_case("page:\n  size: B6", "page: B6", "page:",
                               "book.page must be a mapping", "not a string"), id="page-string"),
    pytest.param(manifest_case("    subtitle:", "    subtitel:", "subtitel:",
                               "unknown key 'subtitel'", "editions[]", "did you mean 'subtitle'"),
                 id="unknown-edition-key"),
    pytest.param(missing_required_timeline, id="missing-timeline"),
    pytest.param(manifest_case("- lang: ja", "- lang: jp", "lang: jp",
                               "unknown language tag 'jp'", "did you mean 'ja'"),
                 id="lang-jp"),
    pytest.param(manifest_case("- lang: zh-Hans", "- lang: zh-hans", "lang: zh-hans",
                               "unknown language tag 'zh-hans'", "did you mean 'zh-Hans'"),
                 id="lang-wrong-case"),
    pytest.param(duplicate_edition, id="duplicate-edition"),
    pytest.param(manifest_case("date: 2026-01-02", "date: 2026-13-45", "date:", "date", "YYYY-MM-DD"),
                 id="date-impossible"),
    pytest.param(manifest_case("\ntitle: ", "\ntitle: !Keep4o ", "title:", "!Keep4o"),
                 id="title-starts-with-bang"),
    pytest.param(unhashable_key,
                 id="unhashable-key"),
    pytest.param(font_family_typo,
                 id="font-family-typo"),
    # --- book.yaml: chapter paths
    pytest.param(missing_chapter_file, id="chapter-missing"),
    pytest.param(manifest_case("timeline: ja/timeline.md", "timeline: ../../etc/passwd", "../../etc/passwd",
                               "'../../etc/passwd'", "leads outside the book directory"),
                 id="chapter-dotdot"),
    pytest.param(manifest_case("timeline: ja/timeline.md", "timeline: /etc/passwd", "/etc/passwd",
                               "'/etc/passwd'", "must be relative to the book directory"),
                 id="chapter-absolute"),
    pytest.param(symlink_outside, id="chapter-symlink-outside"),
    # --- chapters
    pytest.param(chapter_case("ja/timeline.md",
                              ["---", "short_title: 年表", "---", *BODY,
                               "2025.01 — 二番目の".encode() + b"\xff\xfe" + "段落。".encode(), ""],
                              b"\xff", "not valid UTF-8", "0xff", "UTF-8"),
                 id="chapter-not-utf8"),
    pytest.param(chapter_case("ja/letter.md",
                              ["---", "short_title: 手紙", "---", "", "拝啓、見出しのない本文。", "",
                               "# 後ろの見出し", ""],
                              "拝啓", "level-1 heading", "# Title"),
                 id="chapter-no-heading"),
    pytest.param(chapter_case("ja/timeline.md", ["---", "short_title: 年表", "short_titel: 年", "---", *BODY],
                              "short_titel", "unknown front-matter key 'short_titel'", "known keys",
                              "short_title"),
                 id="front-matter-unknown-key"),
    pytest.param(chapter_case("ja/timeline.md", ["---", "short_title: 年表", *BODY], "---",
                              "never closed", "---"),
                 id="front-matter-unclosed"),
    pytest.param(chapter_case("ja/timeline.md", ["---", "short_title: 年表", "lang: jp", "---", *BODY],
                              "lang: jp", "unknown language tag 'jp'"),
                 id="front-matter-lang-line"),
    pytest.param(chapter_case("ja/timeline.md", ["---", "lang: [ja, ko]", "---", *BODY],
                              "lang:", "lang"),
                 id="front-matter-lang-list"),
    pytest.param(chapter_case("ja/timeline.md", [*BODY, "図:", "", "![x](https://example.com/a.png)", ""],
                              "![x]", "'https://example.com/a.png'", "outside the book",
                              "never fetches URLs"),
                 id="image-https"),
    pytest.param(chapter_case("ja/timeline.md", [*BODY, "![x](file:///etc/hostname)", ""],
                              "![x]", "'file:///etc/hostname'", "outside the book", "never fetches URLs"),
                 id="image-file-url"),
    pytest.param(chapter_case("ja/timeline.md",
                              [*BODY, "![x][fig]", "", "[fig]: https://example.com/a.png", ""],
                              "[fig]:", "'https://example.com/a.png'", "never fetches URLs"),
                 id="image-reference-style"),
    # --- command line and file system
    pytest.param(book_dir_missing, id="book-dir-missing"),
    pytest.param(manifest_missing, id="book-yaml-missing"),
    pytest.param(lang_not_in_book, id="lang-not-in-book"),
    pytest.param(out_under_a_file, id="out-dir-not-creatable"),
]


# ---------------------------------------------------------------------------- tests

@pytest.fixture
def offline(monkeypatch):
    """Any attempt to fetch an http(s) URL from the subprocess goes nowhere."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(var, DEAD_PROXY)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def previous_out(tmp_path: Path) -> Path:
    """An output directory holding earlier good artifacts (known bytes)."""
    out = tmp_path / "out"
    out.mkdir()
    for name, data in PREVIOUS.items():
        (out / name).write_bytes(data)
    return out


def assert_error(proc, expect: Expect) -> str:
    err = proc.stderr
    assert proc.returncode == 1, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{err}"
    assert "Traceback" not in err, err
    assert err.startswith("error: "), err
    if expect.line is not None:
        assert f"{expect.file}:{expect.line}:" in err, f"expected {expect.file}:{expect.line}: in\n{err}"
    else:
        assert re.search(re.escape(expect.file) + r": ", err), f"expected {expect.file}: in\n{err}"
    for word in expect.words:
        assert word in err, f"expected {word!r} in\n{err}"
    return err


@pytest.mark.parametrize("make", CASES)
def test_bad_input(make: Case, minimal_book: Path, previous_out: Path, tmp_path: Path, offline) -> None:
    elsewhere = tmp_path / "elsewhere"       # outside the book, for symlink targets and bad --out
    elsewhere.mkdir()
    expect = make(minimal_book, elsewhere)
    before_elsewhere = snapshot(elsewhere)
    out = expect.out or previous_out
    book = expect.book or minimal_book

    proc = run_cli(*expect.args, "--book", str(book), "--out", str(out))

    assert_error(proc, expect)
    assert snapshot(previous_out) == PREVIOUS, "the previous artifacts were touched"
    assert not list(previous_out.glob(".press-*"))
    assert snapshot(elsewhere) == before_elsewhere, "a failed build left files behind"


def test_problems_are_reported_together(minimal_book: Path, previous_out: Path) -> None:
    text = edit(MANIFEST, "\ntitle:", "\ntitel:")
    text = edit(text, "    subtitle:", "    subtitel:")
    overlay(minimal_book, {"book.yaml": text})
    first, second = line_of(text, "titel:"), line_of(text, "subtitel:")
    assert first != second

    proc = run_cli("pdf", "--lang", "ja", "--book", str(minimal_book), "--out", str(previous_out))

    err = assert_error(proc, Expect("book.yaml", first, ("unknown key 'titel'", "did you mean 'title'")))
    assert f"book.yaml:{second}:" in err and "unknown key 'subtitel'" in err, err
    assert snapshot(previous_out) == PREVIOUS


def test_raw_html_comes_out_as_text(minimal_book: Path, tmp_path: Path) -> None:
    overlay(minimal_book, {"ja/timeline.md": TIMELINE + "\n<script>alert(1)</script>\n\n"
                                                        '<p onclick="x()">hi</p>\n'})
    out = tmp_path / "out"

    proc = run_cli("epub", "--lang", "ja", "--book", str(minimal_book), "--out", str(out))

    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    epub = out / "mini-ja.epub"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["mini-ja.epub"]
    with zipfile.ZipFile(epub) as z:
        pages = {n: z.read(n).decode("utf-8") for n in z.namelist() if n.endswith((".xhtml", ".html"))}
    assert pages
    for name, text in pages.items():
        assert not re.search(r"<\s*script", text, re.I), name
        for el in ET.fromstring(text.encode()).iter():
            assert el.tag.rsplit("}", 1)[-1].lower() != "script", name
            handlers = [a for a in el.attrib if a.rsplit("}", 1)[-1].lower().startswith("on")]
            assert not handlers, f"{name}: <{el.tag}> has {handlers}"
    # the chapter's text is kept, escaped, not dropped
    assert any("alert(1)" in text for text in pages.values())


# --------------------------------------------------------- more hostile books, beyond the table

def test_character_no_font_has(minimal_book, tmp_path):
    """U+E000 (private use) is in no installed font: the build stops and says where, no tofu."""
    text = (minimal_book / "ja" / "timeline.md").read_text(encoding="utf-8")
    text = text.replace("2025.01 — 二番目の段落。", "2025.01 — 二番目の段落\ue000。")
    line = next(n for n, s in enumerate(text.split("\n"), 1) if "\ue000" in s)
    overlay(minimal_book, {"ja/timeline.md": text})
    out = tmp_path / "out"
    out.mkdir()
    (out / "mini-ja.pdf").write_bytes(PREVIOUS["mini-ja.pdf"])
    proc = run_cli("pdf", "--lang", "ja", "--book", str(minimal_book), "--out", str(out))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"ja/timeline.md:{line}:" in proc.stderr and "U+E000" in proc.stderr
    assert (out / "mini-ja.pdf").read_bytes() == PREVIOUS["mini-ja.pdf"]
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["mini-ja.pdf"]


def test_book_without_editions(minimal_book, tmp_path):
    text = MANIFEST.split("editions:")[0] + "editions: []\n"
    overlay(minimal_book, {"book.yaml": text})
    proc = run_cli("pdf", "--book", str(minimal_book), "--out", str(tmp_path / "out"))
    line = next(n for n, s in enumerate(text.split("\n"), 1) if s.startswith("editions:"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"book.yaml:{line}: the book has no editions" in proc.stderr


def test_interrupted_build_leaves_no_partial_files(tmp_path):
    """Ctrl-C while rendering: exit 130, the previous artifacts as they were, no scratch files."""
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT

    out = tmp_path / "out"
    out.mkdir()
    for name, data in PREVIOUS.items():
        (out / name).write_bytes(data)
    # As Ctrl-C in a terminal: a run started in the background (CI) inherits SIGINT ignored, and
    # Python then keeps ignoring it, so the build is started with the default disposition.
    proc = subprocess.Popen([sys.executable, str(ROOT / "build.py"), "all", "--book", str(FIXTURES / "minimal"),
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".press-") for p in out.iterdir()):
        time.sleep(0.1)
    time.sleep(1.5)                                   # well inside rendering
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert outputs(out) == PREVIOUS


def test_an_error_while_rendering_stops_the_build_without_hanging(tmp_path):
    """An error in the build's own process while workers render (here: printing a finished
    artifact fails, as when stdout is a closed pipe): the error surfaces and the process exits.
    Jobs still queued for the stopped workers once held the exit forever (their queue waited to
    finish writing a job no worker would read); it takes jobs of real size to show it."""
    import subprocess
    import sys

    from conftest import ROOT

    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from press.pipeline import Reporter, build
class Failing(Reporter):
    def done(self, artifact):
        raise RuntimeError("the terminal went away")
try:
    build({str(ROOT / "book")!r}, {str(tmp_path / "out")!r}, formats=("pdf", "epub"), langs=["ja", "ko", "en", "ar"],
          reporter=Failing(), check_epub=False)
except RuntimeError as exc:
    print("stopped:", exc)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0 and "stopped: the terminal went away" in proc.stdout, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".press-")]


def _previous_in(out):
    out.mkdir(exist_ok=True)
    for name, data in PREVIOUS.items():
        (out / name).write_bytes(data)


def test_read_only_output_directory(tmp_path):
    """An immutable output directory (chattr +i holds even for root): a clear message, nothing changed."""
    import subprocess

    out = tmp_path / "out"
    _previous_in(out)
    if subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        proc = run_cli("pdf", "--lang", "ja", "--book", str(FIXTURES / "minimal"), "--out", str(out))
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "cannot write to the output directory" in proc.stderr and "--out" in proc.stderr
        assert outputs(out) == PREVIOUS
    finally:
        subprocess.run(["chattr", "-i", str(out)])


def test_disk_full(tmp_path):
    """A 300 KB file system as the output (the PDF is about 600 KB): it cannot be written; the old
    files stay, no scratch."""
    import subprocess

    out = tmp_path / "small"
    out.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(out)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        _previous_in(out)
        proc = run_cli("pdf", "--lang", "ja", "--book", str(FIXTURES / "minimal"), "--out", str(out))
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "No space left on device" in proc.stderr and "disk has room" in proc.stderr
        assert outputs(out) == PREVIOUS
    finally:
        subprocess.run(["umount", str(out)])


def test_notes_pandoc_drops_are_warned_at_their_lines(minimal_book: Path, tmp_path: Path) -> None:
    """A note defined twice, or never called, loses its text without a word from pandoc's output:
    its reader's warnings are said at the chapter's own lines, on a rebuild from the cache too."""
    timeline = minimal_book / "ja" / "timeline.md"
    text = timeline.read_text(encoding="utf-8") + "\n本文[^dup]。\n\n[^dup]: 一つ目。\n[^dup]: 二つ目。\n[^lost]: 呼ばれない注。\n"
    timeline.write_text(text, encoding="utf-8")
    lines = text.split("\n")
    twice = lines.index("[^dup]: 二つ目。") + 1
    lost = lines.index("[^lost]: 呼ばれない注。") + 1
    out = tmp_path / "out"
    args = ("pdf", "--book", str(minimal_book), "--out", str(out), "--lang", "ja")
    for run in (run_cli(*args), run_cli(*args, "--force")):
        assert run.returncode == 0, run.stderr
        assert f"ja/timeline.md:{twice}: pandoc: Duplicate note reference 'dup'" in run.stderr
        assert f"ja/timeline.md:{lost}: pandoc: Note with key 'lost' defined but not used" in run.stderr
        assert "Traceback" not in run.stderr
