"""Shared fixtures: the small fixture book, book overlays, the real book built once."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(ROOT))


@pytest.fixture
def minimal_book(tmp_path: Path) -> Path:
    """A writable copy of tests/fixtures/minimal."""
    dest = tmp_path / "book"
    shutil.copytree(FIXTURES / "minimal", dest)
    return dest


def overlay(book: Path, files: dict[str, str | bytes | None]) -> Path:
    """Change a book copy: write (str/bytes) or delete (None) the given files."""
    for rel, content in files.items():
        path = book / rel
        if content is None:
            path.unlink()
        elif isinstance(content, bytes):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    return book


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the real CLI (`python build.py …`) in a subprocess."""
    return subprocess.run([sys.executable, str(ROOT / "build.py"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="session")
def real_book(tmp_path_factory) -> Path:
    """The real book/ built once (PDF + EPUB, every edition).

    epubcheck runs once per EPUB in test_book.py::test_epub_passes_epubcheck, not here too.
    """
    out = tmp_path_factory.mktemp("dist")
    proc = run_cli("all", "--book", str(ROOT / "book"), "--out", str(out), "--no-epubcheck")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="session")
def minimal_built(tmp_path_factory) -> Path:
    """The fixture book built once, into a directory of its own."""
    out = tmp_path_factory.mktemp("mini")
    proc = run_cli("all", "--book", str(FIXTURES / "minimal"), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def layout_lines(pages) -> list[str]:
    """The text of each line WeasyPrint laid out (pages of a rendered Document), in order:
    where lines really break, which the PDF's text layer does not say reliably."""
    def texts(box):
        if hasattr(box, "text"):
            yield box.text
        for child in getattr(box, "children", []) or []:
            yield from texts(child)

    def lines(box):
        if type(box).__name__ == "LineBox":
            yield "".join(texts(box))
            return
        for child in getattr(box, "children", []) or []:
            yield from lines(child)

    return [line for page in pages for line in lines(page._page_box)]


def outputs(directory: Path) -> dict[str, bytes]:
    """The files a build left directly in an output directory, pandoc's cache aside (a build that
    fails later may have added the chapters it parsed to output.PANDOC_CACHE: not an artifact)."""
    from press.output import PANDOC_CACHE

    return {p.name: p.read_bytes() for p in directory.iterdir() if p.name != PANDOC_CACHE}


def edit(text: str, old: str, new: str) -> str:
    """Replace the one occurrence of `old` (the test is wrong if it is not there once)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def snapshot(directory: Path) -> dict[str, bytes]:
    """Everything under `directory` (a link as its target's name, not followed) but pandoc's cache,
    which a build that fails later may add to (the chapters parsed before the error)."""
    import os

    from press.output import PANDOC_CACHE

    return {str(p.relative_to(directory)): (b"<link>" + os.readlink(p).encode()) if p.is_symlink()
            else p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(directory.rglob("*")) if PANDOC_CACHE not in p.relative_to(directory).parts}
