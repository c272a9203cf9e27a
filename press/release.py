"""Stage 6: a release directory — the artifacts, SHA256SUMS and manifest.json describing them.

The index is computed from the files present, so the per-edition outputs of several CI runners,
gathered into one directory, are indexed once more by `build.py index`. Nothing in it depends on
the clock: the same files give the same manifest.json and SHA256SUMS.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from .cache import State, sha256_file
from .errors import BuildError
from .output import write_atomic
from .manifest import Book

# artifact kind (pipeline.OUTPUTS) → format named in manifest.json, in the order the index lists them
FORMAT_NAMES = {"pdf": "pdf", "print": "print-pdf", "cover": "cover-pdf", "epub": "epub", "web": "web"}
# The web edition is one site for every edition: <slug>-web.zip, language "mul" (ISO 639-2: several).
WEB_LANGUAGE = "mul"


def source_commit(root: Path) -> str:
    """The commit the press and book were built from; CI's GITHUB_SHA when there is no .git."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if head.returncode != 0:
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _pages(path: Path, state: State) -> int | None:
    """A PDF's page count: as the build recorded it, if the file is the one it wrote (reading a
    tagged PDF's page tree takes pypdf ~0.4 s, 5 s for a release), else read from the file."""
    if path.suffix != ".pdf":
        return None
    recorded = state.pages(path.name, path)
    if recorded is not None:
        return recorded
    from pypdf import PdfReader

    return len(PdfReader(path).pages)


def classify(book: Book, name: str) -> tuple[str, str] | None:
    """(language, format) of a release file name like keep4o-zh-Hans-print.pdf; None if not one."""
    from .pipeline import OUTPUTS

    if name == f"{book.slug}-web.zip":
        return WEB_LANGUAGE, FORMAT_NAMES["web"]
    for ed in book.editions:
        for fmt, outputs in OUTPUTS.items():
            if fmt == "web":
                continue
            for suffix, kind in outputs:
                if name == f"{book.slug}-{ed.lang}{suffix}":
                    return ed.lang, FORMAT_NAMES[kind]
    return None


def write_index(book: Book, out: Path, commit: str) -> list[dict]:
    """Write SHA256SUMS and manifest.json over the release files present in `out`."""
    order = {ed.lang: i for i, ed in enumerate(book.editions)}
    kinds = list(FORMAT_NAMES.values())
    state = State(out)
    entries = []
    for path in sorted(out.iterdir()):
        # a symlink planted in the output directory is not a release file (nor read through)
        what = classify(book, path.name) if path.is_file() and not path.is_symlink() else None
        if what is None:
            continue
        lang, kind = what
        entries.append({"file": path.name, "language": lang, "format": kind, "pages": _pages(path, state),
                        "bytes": path.stat().st_size, "sha256": sha256_file(path)})
    if not entries:
        raise BuildError("no release files to index", out, hint="run `make release` first")
    entries.sort(key=lambda e: (order.get(e["language"], len(order)), kinds.index(e["format"])))
    manifest = {"book": book.slug, "title": book.title, "date": book.date, "source_commit": commit,
                "files": entries}
    _write(out / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
    _write(out / "SHA256SUMS", "".join(f"{e['sha256']}  {e['file']}\n" for e in sorted(entries, key=lambda e: e["file"])))
    return entries


def _write(path: Path, text: str) -> None:
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise BuildError(f"could not write {path.name}: {exc.strerror or exc}", path) from None

