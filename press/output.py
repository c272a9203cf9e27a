"""Placing artifacts: render into a scratch directory, then move each file into place atomically.

Nothing is ever written through a name that already exists in the output directory: files are
created under fresh random names (O_EXCL) and renamed over their targets, so a symlink planted
there is replaced, never followed.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from .errors import BuildError

SCRATCH_PREFIX = ".press-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_scratch(out_dir: Path) -> None:
    """Scratch directories left by a build that was killed (its process is gone)."""
    try:
        entries = list(os.scandir(out_dir))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(SCRATCH_PREFIX) or not entry.is_dir(follow_symlinks=False):
            continue
        pid = entry.name[len(SCRATCH_PREFIX):].split("-")[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        if not pid.isdigit() and time.time() - entry.stat(follow_symlinks=False).st_mtime < 3600:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)


@contextmanager
def scratch_dir(out_dir: Path):
    """A temporary directory beside the outputs (same file system, so os.replace is atomic).

    It is removed however the build ends, Ctrl-C and SIGTERM included, so no partial file is
    left; one left by a killed build is removed by the next.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_scratch(out_dir)
        tmp = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=out_dir)).resolve()
    except OSError as exc:
        raise BuildError(f"cannot write to the output directory: {exc.strerror or exc}", out_dir,
                         hint="choose a writable directory with --out") from None
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def place(tmp_file: Path, target: Path) -> None:
    """Move a finished artifact over the previous one in a single step."""
    try:
        os.replace(tmp_file, target)
    except OSError as exc:
        raise BuildError(f"could not place the artifact: {exc.strerror or exc}", target) from None


def write_atomic(target: Path, data: bytes) -> None:
    """Write a small file (state, index) under a fresh name, then rename it over `target`."""
    fd, tmp = tempfile.mkstemp(prefix=SCRATCH_PREFIX, suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- caches beside the artifacts (.pandoc-cache, .web-fonts): losing one only costs time --------

# pandoc's output by the hash of all it reads: each chapter's parse (sanitize.parse) and HTML
# (html.pandoc_html), for the PDF and the web pages. An unchanged chapter is not converted again.
PANDOC_CACHE = ".pandoc-cache"

CACHE_DAYS = 30                  # an entry not used for this long is deleted (prune_cache)
CACHE_BYTES = 512 * 2**20        # and the least recently used beyond this size (each edit adds one)


def cached(entry: Path) -> bool:
    """Whether the cache has `entry` (a regular file, never read through a link, its own or the
    cache directory's: `keep` does not write through one either); marks it used."""
    if entry.parent.is_symlink() or entry.is_symlink() or not entry.is_file():
        return False
    try:
        os.utime(entry)
    except OSError:
        pass
    return True


def keep(entry: Path, data: bytes) -> None:
    """Store a cache entry; a cache that cannot be written only costs time, and one that is a
    link is not written through (it could lead out of the output directory)."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        if entry.parent.is_symlink():
            return
        write_atomic(entry, data)
    except OSError:
        pass


# The form of a pandoc_cached entry, part of every key: entries written in another form are never read.
PANDOC_ENTRY = "noted"


def pandoc_cached(entry: Path | None, argv: list[str], text: str, display: str) -> tuple[list[str], str]:
    """pandoc's (warnings, output) for `argv` on `text` (confine.pandoc), kept in the cache file
    `entry` (None: no cache). The entry's first line lists the warnings (JSON): a build from the
    cache says and counts the same warnings as the build that filled it. An entry that cannot be
    read back (damaged, not UTF-8) is made again."""
    import json

    from . import confine

    if entry is not None and cached(entry):
        try:
            found = _noted(entry.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            found = None
        if found is not None:
            return found
    out, err = confine.pandoc(argv, text, display)
    said = [line for line in err.splitlines() if line.strip()]
    if entry is not None:
        keep(entry, (json.dumps(said, ensure_ascii=False) + "\n" + out).encode("utf-8"))
    return said, out


def _noted(text: str):
    """(warnings, output) of a pandoc_cached entry; None if it is not one (a damaged entry)."""
    import json

    head, newline, out = text.partition("\n")
    try:
        said = json.loads(head)
    except ValueError:
        return None
    if not newline or not isinstance(said, list) or not all(isinstance(line, str) for line in said):
        return None
    return said, out


def prune_cache(cache: Path, days: float = CACHE_DAYS, limit: int = CACHE_BYTES) -> None:
    """Delete the cache's entries not used for `days` (`cached` marks a hit), then the least
    recently used beyond `limit` bytes. Only regular files directly in it; never follows a link."""
    if not cache.is_dir() or cache.is_symlink():
        return
    entries = []
    for entry in os.scandir(cache):
        try:
            if entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                entries.append((st.st_mtime, st.st_size, Path(entry.path)))
        except OSError:
            continue
    entries.sort(reverse=True)                      # the most recently used first
    oldest, total = time.time() - days * 86400, 0
    for mtime, size, path in entries:
        total += size
        if mtime < oldest or total > limit:
            path.unlink(missing_ok=True)
