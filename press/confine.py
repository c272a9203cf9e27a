"""Confinement: what the press and the tools it runs may read, and how much of it.

Every file the book names (chapters, images, bibliography, styles, overrides) is resolved and
checked here, every YAML or JSON document the book holds is read here with bounds, and pandoc
runs from here, sandboxed and with time and memory limits. Stages call this module rather than
open a path or start a tool themselves, so a new stage cannot forget a check.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import resource
import stat
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

import yaml

from .errors import BuildError

# Bounds. Each is far above what a real book needs and far below what hurts the machine.
MAX_TEXT_BYTES = 16 * 1024 * 1024       # one chapter (the slow tier builds a 5 MB one)
MAX_DATA_BYTES = 4 * 1024 * 1024        # manifest, bibliography, overrides, strings
MAX_IMAGE_BYTES = 32 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000           # 50 megapixels: a full-bleed A3 page at 400 dpi
MAX_SVG_ELEMENTS = 20_000               # after <use> expansion
MAX_YAML_DEPTH = 32
MAX_YAML_NODES = 200_000                # after alias expansion
MAX_PATH = 1024
MAX_NAME = 200
PANDOC_SECONDS = 120                    # CPU seconds for one pandoc call
PANDOC_MEMORY = 4 * 1024 ** 3           # bytes of heap (pandoc's own -M limit)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_name(rel: str, shown: str | Path | None, line: int | None, what: str) -> None:
    """A path as the book writes it: no control characters, no absurd lengths."""
    m = _CONTROL.search(rel) or _SURROGATE.search(rel)
    if m:
        raise BuildError(f"{what} path contains a control character (U+{ord(m.group(0)):04X})", shown, line,
                         hint="remove it from the path")
    if len(rel) > MAX_PATH or any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME
                                  for part in re.split(r"[/\\]", rel)):
        raise BuildError(f"{what} path is too long ({len(rel)} characters)", shown, line,
                         hint=f"keep each file or folder name under {MAX_NAME} bytes and the path under {MAX_PATH}")


def resolve_in(root: Path, rel: str, shown: str | Path | None, line: int | None, what: str,
               base: Path | None = None) -> Path:
    """Resolve `rel` (relative to `base`, default `root`); it must be a regular file inside `root`.

    Symlinks are followed and the target must still be inside the book: a link to /etc/passwd or
    to a device is refused before anything opens it (opening a FIFO would hang).
    """
    check_name(rel, shown, line, what)
    if not rel or rel.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", rel) or "://" in rel:
        raise BuildError(f"{what} path {rel!r} must be relative to the book directory", shown, line,
                         hint="write it like ja/timeline.md")
    candidate = (base or root) / rel
    try:
        real = candidate.resolve()
    except RuntimeError:          # Python 3.11 reports a symlink loop this way
        raise BuildError(f"{what} path {rel!r} is a symlink loop", shown, line,
                         hint="point the link at a real file inside the book") from None
    except OSError as exc:
        raise BuildError(f"{what} path {rel!r} cannot be read ({exc.strerror})", shown, line) from None
    if not real.is_relative_to(root.resolve()):
        raise BuildError(f"{what} path {rel!r} leads outside the book directory", shown, line,
                         hint=f"{what} files must be inside the book directory")
    try:
        st = os.stat(real)
    except OSError as exc:
        if exc.errno == 40:       # ELOOP
            raise BuildError(f"{what} path {rel!r} is a symlink loop", shown, line,
                             hint="point the link at a real file inside the book") from None
        if exc.errno == 36:       # ENAMETOOLONG
            raise BuildError(f"{what} path {rel!r} is too long", shown, line) from None
        raise BuildError(f"{what} file {rel!r} does not exist", shown, line,
                         hint=f"create {candidate} or fix the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise BuildError(f"{what} path {rel!r} is {_kind(st.st_mode)}, not a regular file", shown, line,
                         hint="name a file")
    return real


def read_bytes(path: Path, shown: str | Path, limit: int, what: str = "file") -> bytes:
    """Read a regular file of at most `limit` bytes (never a FIFO, device or directory)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise BuildError(f"{what} not found", shown) from None
    except OSError as exc:
        raise BuildError(f"cannot read the {what}: {exc.strerror}", shown) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BuildError(f"the {what} is {_kind(st.st_mode)}, not a regular file", shown,
                             hint="name a file")
        if st.st_size > limit:
            raise BuildError(f"the {what} is too large ({st.st_size / 2**20:.1f} MB; at most "
                             f"{limit / 2**20:.0f} MB)", shown, hint="split it or make it smaller")
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit + 1)
    finally:
        os.close(fd)


def decode(data: bytes, shown: str | Path, what: str = "file") -> str:
    """UTF-8 text, a leading byte-order mark dropped, CRLF as LF; no control characters."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BuildError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", shown, line,
                         hint=f"save the {what} as UTF-8") from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    check_text(text, shown)
    return text


def check_text(text: str, shown: str | Path | None, first_line: int = 1) -> None:
    """No control characters (NUL …) and no lone surrogates in text the press will print."""
    m = _CONTROL.search(text) or _SURROGATE.search(text)
    if m:
        line = first_line + text.count("\n", 0, m.start())
        kind = "a lone surrogate" if _SURROGATE.match(m.group(0)) else "a control character"
        raise BuildError(f"{kind} (U+{ord(m.group(0)):04X}) is in the text", shown, line,
                         hint="remove it; it cannot be printed")


def read_text(path: Path, shown: str | Path, what: str = "file", limit: int = MAX_TEXT_BYTES) -> str:
    return decode(read_bytes(path, shown, limit, what), shown, what)


# ------------------------------------------------------------------------------ YAML and JSON

class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses tags it does not know instead of failing later."""


def _line(node: yaml.Node | None, offset: int) -> int | None:
    return node.start_mark.line + 1 + offset if node is not None else None


def _deep_line(text: str, limit: int) -> int:
    """Where YAML or JSON nests deeper than `limit` (flow brackets or indentation), for messages."""
    depth = 0
    for n, line in enumerate(text.split("\n"), start=1):
        indent = (len(line) - len(line.lstrip(" -"))) // 2
        for ch in line:
            depth += ch in "[{"
            depth -= ch in "]}"
            if depth + indent > limit:
                return n
        if indent > limit:
            return n
    return 1


_STANDARD_TAGS = {"tag:yaml.org,2002:" + t for t in
                  ("str", "int", "float", "bool", "null", "map", "seq", "timestamp", "binary", "set", "omap", "merge")}


def compose_yaml(text: str, shown: str | Path, offset: int = 0, what: str = "YAML") -> yaml.Node | None:
    """Parse YAML to nodes with every bound checked: depth, alias expansion, tags, characters.

    `offset` is added to line numbers (front matter starts below the chapter's first line).
    """
    try:
        node = yaml.compose(text, Loader=_BoundedLoader)
    except RecursionError:
        raise BuildError(f"{what} is nested too deeply (more than {MAX_YAML_DEPTH} levels)", shown,
                         _deep_line(text, MAX_YAML_DEPTH) + offset, hint="flatten it") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise BuildError(f"malformed {what}: {exc.problem or exc}", shown,
                         mark.line + 1 + offset if mark else None,
                         hint="check the indentation and quoting on that line") from None
    except yaml.YAMLError as exc:
        raise BuildError(f"malformed {what}: {exc}", shown) from None
    if node is not None:
        _check_nodes(node, shown, offset, what)
    return node


def _check_nodes(root: yaml.Node, shown, offset: int, what: str) -> None:
    count = 0
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_YAML_NODES:
            raise BuildError(f"{what} expands to more than {MAX_YAML_NODES} values (aliases)", shown,
                             _line(node, offset), hint="anchors and aliases must not multiply the document")
        if depth > MAX_YAML_DEPTH:
            raise BuildError(f"{what} is nested too deeply (more than {MAX_YAML_DEPTH} levels)", shown,
                             _line(node, offset), hint="flatten it")
        if node.tag not in _STANDARD_TAGS:
            raise BuildError(f"unknown YAML tag {node.tag!r} in {what}", shown, _line(node, offset),
                             hint="remove the tag; only plain values, lists and mappings are read")
        if isinstance(node, yaml.ScalarNode):
            m = _CONTROL.search(node.value) or _SURROGATE.search(node.value)
            if m:
                kind = "a lone surrogate" if _SURROGATE.match(m.group(0)) else "a control character"
                raise BuildError(f"{kind} (U+{ord(m.group(0)):04X}) in a value", shown, _line(node, offset),
                                 hint="remove it; it cannot be printed")
            continue
        children = node.value if isinstance(node, yaml.SequenceNode) else \
            [n for pair in node.value for n in pair]
        # An alias is the same node object again: it is walked (and counted) each time it is used.
        stack.extend((child, depth + 1) for child in children)


def construct(node: yaml.Node | None, shown: str | Path, offset: int = 0) -> Any:
    """Python values from checked nodes; an impossible date is reported at its line."""
    if node is None:
        return None
    try:
        return yaml.constructor.SafeConstructor().construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise BuildError(f"cannot read the value: {exc.problem or exc}", shown,
                         mark.line + 1 + offset if mark else _line(node, offset)) from None
    except (ValueError, TypeError, OverflowError) as exc:
        bad = _first_bad_scalar(node)
        raise BuildError(f"cannot read the value: {exc} (a date that is no date?)", shown,
                         _line(bad, offset), hint="write dates as YYYY-MM-DD with a real day") from None


def _first_bad_scalar(node: yaml.Node) -> yaml.Node | None:
    stack = [node]
    while stack:
        n = stack.pop(0)
        if isinstance(n, yaml.ScalarNode):
            try:
                yaml.constructor.SafeConstructor().construct_document(n)
            except Exception:
                return n
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
        elif isinstance(n, yaml.MappingNode):
            stack.extend(v for pair in n.value for v in pair)
    return node


def load_yaml(text: str, shown: str | Path, offset: int = 0, what: str = "YAML") -> Any:
    return construct(compose_yaml(text, shown, offset, what), shown, offset)


def load_json(text: str, shown: str | Path, what: str = "JSON") -> Any:
    """JSON with bounded depth; errors carry the line."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise BuildError(f"{what} is nested too deeply", shown, _deep_line(text, MAX_YAML_DEPTH),
                         hint="flatten it") from None
    except json.JSONDecodeError as exc:
        raise BuildError(f"malformed {what}: {exc.msg}", shown, exc.lineno) from None
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_YAML_DEPTH:
            raise BuildError(f"{what} is nested too deeply (more than {MAX_YAML_DEPTH} levels)", shown,
                             _deep_line(text, MAX_YAML_DEPTH), hint="flatten it")
        if isinstance(value, str):
            check_text(value, shown)
        elif isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return data


def check_date(value: Any, shown, line: int | None, what: str = "date") -> str:
    """A publication date the artifacts can carry: YYYY-MM-DD between 1980 and 2099 (ZIP and PDF dates)."""
    text = value.isoformat() if isinstance(value, dt.date) else str(value)
    try:
        day = dt.date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:
        day = None
    if day is None:
        raise BuildError(f"{what} {text!r} is not a date", shown, line, hint="write it as YYYY-MM-DD, a real day")
    if not dt.date(1980, 1, 1) <= day <= dt.date(2099, 12, 31):
        raise BuildError(f"{what} {text} is out of range", shown, line,
                         hint="between 1980-01-01 and 2099-12-31 (EPUB and PDF dates cannot hold others)")
    return text


# ------------------------------------------------------------------------------ pandoc

def pandoc_binary() -> str:
    import pypandoc

    return pypandoc.get_pandoc_path()


_NEUTRAL = None
_NEUTRAL_LOCK = threading.Lock()


@functools.cache
def pandoc_identity() -> str:
    """The pinned pandoc binary as a cache key's part: its path, size and time."""
    binary = Path(pandoc_binary())
    st = binary.stat()
    return f"{binary}\0{st.st_size}\0{st.st_mtime_ns}"


def _neutral_dir() -> str:
    """An empty directory to run pandoc in and use as its data directory: nothing to find there.

    One per process, removed when the process that made it exits (forked workers share it).
    """
    global _NEUTRAL
    with _NEUTRAL_LOCK:     # chapters are converted by several threads at once
        if _NEUTRAL is None or not os.path.isdir(_NEUTRAL):
            import atexit
            import shutil

            _NEUTRAL = tempfile.mkdtemp(prefix="press-pandoc-")
            owner = os.getpid()
            atexit.register(lambda path=_NEUTRAL: os.getpid() == owner and shutil.rmtree(path, ignore_errors=True))
        return _NEUTRAL


def _limits():
    resource.setrlimit(resource.RLIMIT_CPU, (PANDOC_SECONDS, PANDOC_SECONDS + 5))


def pandoc(args: list[str], stdin: str | None, shown: str | Path | None) -> tuple[str, str]:
    """Run the pinned pandoc (pypandoc-binary) sandboxed: it reads only the files named in
    `args` (and media a press filter put in its media bag), fetches nothing, runs in an empty
    directory, and is stopped past PANDOC_SECONDS of CPU or PANDOC_MEMORY of heap.

    pypandoc's own converters start pandoc without limits, hence this runner. Returns
    (stdout, stderr).
    """
    neutral = _neutral_dir()
    argv = [pandoc_binary(), "+RTS", f"-M{PANDOC_MEMORY // 2**20}m", "-RTS", "--sandbox",
            f"--data-dir={neutral}", *args]
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, encoding="utf-8",
                              cwd=neutral, preexec_fn=_limits, timeout=PANDOC_SECONDS * 3)
    except subprocess.TimeoutExpired:
        proc = None
    if proc is None or proc.returncode in (-9, -24, 251) or "Heap exhausted" in (proc.stderr or ""):
        raise BuildError("pandoc could not finish this text within its time and memory limits", shown,
                         hint="look for very deep nesting (lists, quotes, brackets) or very long paragraphs")
    if proc.returncode != 0:
        raise BuildError(f"pandoc failed: {proc.stderr.strip()[:400]}", shown)
    return proc.stdout, proc.stderr
