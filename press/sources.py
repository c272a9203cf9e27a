"""Stage 2: read each edition's chapters (UTF-8, front matter, first heading)."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import BuildError
from .languages import UnknownLanguage, fonts_hint, language
from .manifest import Book, ChapterRef, Edition, display_path

FRONT_KEYS = {
    "lang": "language of the chapter text when it differs from the edition (e.g. ko for the appendices)",
    "short_title": "short title for running heads and the table of contents",
    "source": "the file this chapter was imported or translated from (a seed, or another chapter)",
    "source_sha256": "sha256 of that source when imported or translated (translation status compares it)",
    "translation": "marks a translation: one sentence, in the chapter's language, printed under its title",
    "translation_notes": "the translator's notes (where the sources differ); not printed",
}


@dataclass(frozen=True)
class Chapter:
    ref: ChapterRef
    display: str            # path shown in messages (relative to the book when possible)
    lang: str
    short_title: str | None
    markdown: str           # body without front matter
    body_line: int          # line number of the body's first line in the file
    meta: dict
    derived_from: str | None = None    # "zh-Hans via OpenCC s2twp" for derived chapters

    @property
    def numbered_text(self) -> str:
        """The body, padded so that a line number in it is the line number in the file."""
        return "\n" * (self.body_line - 1) + self.markdown


def _display(path: Path, root: Path) -> str:
    return str(display_path(path))


def read_text(path: Path, display: str) -> str:
    """Read a UTF-8 text file; a bad byte is reported with its line."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise BuildError(f"not valid UTF-8 (byte 0x{data[exc.start]:02x})", display, line,
                         hint="save the file as UTF-8") from None
    return text.replace("\r\n", "\n")


def split_front_matter(text: str, display: str) -> tuple[dict, str, int]:
    """Return (front matter, body, line number where the body starts)."""
    if not text.startswith("---\n"):
        return {}, text, 1
    end = text.find("\n---\n", 4)
    if end < 0:
        raise BuildError("front matter opened with --- is never closed", display, 1,
                         hint="end it with a line holding only ---")
    block = text[4:end]
    try:
        meta = yaml.safe_load(block) or {}
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise BuildError(f"malformed front matter: {exc.problem}", display,
                         (mark.line + 2) if mark else 1) from None
    if not isinstance(meta, dict):
        raise BuildError("front matter must be a mapping of keys", display, 2)
    for key, value in meta.items():
        line = key_line(block, key)
        if key not in FRONT_KEYS:
            raise BuildError(f"unknown front-matter key {key!r}", display, line,
                             hint="known keys: " + ", ".join(map(str, FRONT_KEYS)))
        if not isinstance(value, str):
            raise BuildError(f"front-matter key {key!r} must be a single text value", display, line,
                             hint=FRONT_KEYS[key])
    body_line = text[: end + 5].count("\n") + 1
    return meta, text[end + 5:], body_line


def key_line(block: str, key: object) -> int:
    """Line of `key:` in the file, counting the opening --- as line 1."""
    return next((n + 2 for n, s in enumerate(block.split("\n")) if s.startswith(f"{key}:")), 2)


_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)")
_IMAGE_REF = re.compile(r"!\[([^\]]*)\](?:\[([^\]]*)\])?(?!\()")
_REF_DEF = re.compile(r"^ {0,3}\[([^\]]+)\]:\s*<?(\S+?)>?(?:\s|$)")


def outside_book(src: str) -> bool:
    """A URL (any scheme), an absolute path or a `..` step: not a file inside the book."""
    return bool(re.match(r"^[A-Za-z][\w+.-]*:", src) or src.startswith(("/", "\\"))
                or ".." in re.split(r"[/\\]", src))


def check_media(body: str, display: str, first_line: int) -> None:
    """Images must be relative paths inside the book: nothing is fetched or read from outside."""
    lines = body.split("\n")
    used_refs = {(m.group(2) or m.group(1)).strip().lower()
                 for line in lines for m in _IMAGE_REF.finditer(line)}
    for n, line in enumerate(lines):
        sources = [m.group(1) for m in _IMAGE.finditer(line)]
        d = _REF_DEF.match(line)
        if d and d.group(1).strip().lower() in used_refs:
            sources.append(d.group(2))
        for src in sources:
            if outside_book(src):
                raise BuildError(f"image {src!r} is outside the book", display, first_line + n,
                                 hint="images must be files inside the book directory, named by a relative path; "
                                      "the press never fetches URLs")


def load_chapter(ref: ChapterRef, edition: Edition, book: Book) -> Chapter:
    display = _display(ref.path, book.root)
    text = read_text(ref.path, display)
    meta, body, body_line = split_front_matter(text, display)
    lang = meta.get("lang", edition.lang)
    try:
        if not language(lang).fonts_installed:
            raise BuildError(f"no installed font for {lang!r}", display, key_line(text[4:], "lang"),
                             hint=fonts_hint(language(lang)))
    except UnknownLanguage as exc:
        raise BuildError(f"{exc} in front matter", display, key_line(text[4:], "lang"), hint=exc.hint) from None
    first = next(((n, s) for n, s in enumerate(body.split("\n")) if s.strip()), None)
    if first is None:
        raise BuildError("the chapter is empty", display, body_line, hint="a chapter starts with a # heading")
    if not re.match(r"#\s", first[1]):
        raise BuildError("a chapter must start with a level-1 heading", display, body_line + first[0],
                         hint="begin the text with a line like '# Title'")
    check_media(body, display, body_line)
    short_title = meta.get("short_title")
    derived = None
    # In a derived edition, chapters in the source language (or with no language of their own,
    # which would default to the edition's) are converted; the Korean appendices are not.
    if edition.opencc and meta.get("lang", "zh-Hans") == "zh-Hans" and edition.lang != "zh-Hans":
        convert = converter(edition.opencc, edition.opencc_overrides)
        body, short_title = convert(body), convert(short_title) if short_title else None
        derived, lang = f"zh-Hans via OpenCC {edition.opencc}", edition.lang
    return Chapter(ref, display, lang, short_title, body, body_line, meta, derived)


@functools.cache
def converter(config: str, overrides: Path | None):
    """OpenCC with the book's overrides applied after it (terms the converter gets wrong)."""
    import opencc

    cc = opencc.OpenCC(config)
    table: dict[str, str] = {}
    if overrides:
        shown = str(display_path(overrides))
        try:
            table = yaml.safe_load(read_text(overrides, shown)) or {}
        except yaml.MarkedYAMLError as exc:
            raise BuildError(f"malformed overrides: {exc.problem}", shown,
                             exc.problem_mark.line + 1 if exc.problem_mark else None) from None
        if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
            raise BuildError("overrides must map converter output to the preferred term", shown, 1,
                             hint="e.g.  斯嘉麗·約翰遜: 史嘉蕾·喬韓森")
    pattern = re.compile("|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))) if table else None

    def convert(text: str) -> str:
        out = cc.convert(text)
        return pattern.sub(lambda m: table[m.group(0)], out) if pattern else out

    return convert


def load_chapters(book: Book, edition: Edition) -> list[Chapter]:
    """The edition's chapters in reading order: timeline, letter, appendices."""
    return [load_chapter(ref, edition, book) for ref in edition.chapters]
