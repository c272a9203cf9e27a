"""Stage 2: read each edition's chapters (UTF-8, front matter, first heading)."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from . import confine
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
    ast: str = ""                      # the checked pandoc AST (sanitize.py), what is rendered
    media: tuple = ()                  # sanitize.Media: the book's images the chapter shows
    head: str = ""                     # the front matter as written (short_title, translation …)
    warnings: tuple = ()               # pandoc's while reading it (sanitize.located)

    @property
    def numbered_text(self) -> str:
        """Front matter and body, so that a line number in it is the line number in the file."""
        return (self.head or "\n" * (self.body_line - 1)) + self.markdown


def _display(path: Path, root: Path) -> str:
    return str(display_path(path))


def read_text(path: Path, display: str) -> str:
    """Read a UTF-8 text file of the book (bounded; a bad byte or character reported with its line)."""
    return confine.read_text(path, display)


def split_front_matter(text: str, display: str) -> tuple[dict, str, int]:
    """Return (front matter, body, line number where the body starts)."""
    if not text.startswith("---\n"):
        return {}, text, 1
    end = text.find("\n---\n", 4)
    if end < 0:
        raise BuildError("front matter opened with --- is never closed", display, 1,
                         hint="end it with a line holding only ---")
    block = text[4:end]
    meta = confine.load_yaml(block, display, offset=1, what="front matter") or {}
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


def load_chapter(ref: ChapterRef, edition: Edition, book: Book, cache: Path | None = None) -> Chapter:
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
    short_title = meta.get("short_title")
    derived = None
    # In a derived edition, chapters in the source language (or with no language of their own,
    # which would default to the edition's) are converted; the Korean appendices are not.
    if edition.opencc and meta.get("lang", "zh-Hans") == "zh-Hans" and edition.lang != "zh-Hans":
        convert = converter(edition.opencc, edition.opencc_overrides)
        body, short_title = convert(body), convert(short_title) if short_title else None
        derived, lang = f"zh-Hans via OpenCC {edition.opencc}", edition.lang
    parsed = _parse(body, display, body_line, book.root, ref.path.parent, cache)
    head = "".join(text.splitlines(keepends=True)[: body_line - 1])
    return Chapter(ref, display, lang, short_title, body, body_line, meta, derived, parsed.ast, parsed.media, head,
                   parsed.warnings)


@functools.lru_cache(maxsize=64)
def _parse(body: str, display: str, body_line: int, root: Path, base: Path, cache: Path | None):
    """One pandoc parse per distinct chapter text (a shared appendix is parsed once per build)."""
    from .sanitize import parse

    return parse(body, display, body_line, root, base, cache)


@functools.cache
def converter(config: str, overrides: Path | None):
    """OpenCC with the book's overrides applied after it (terms the converter gets wrong)."""
    import opencc

    cc = opencc.OpenCC(config)
    table: dict[str, str] = {}
    if overrides:
        shown = str(display_path(overrides))
        text = read_text(overrides, shown)
        table = confine.load_yaml(text, shown, what="overrides") or {}
        if not isinstance(table, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()):
            raise BuildError("overrides must map converter output to the preferred term", shown, 1,
                             hint="e.g.  網絡: 網路")
        if "" in table:
            line = next((n for n, s in enumerate(text.split("\n"), 1) if re.match(r"\s*(''|\"\")\s*:", s)), 1)
            raise BuildError("an override has an empty key (it would be inserted between every character)",
                             shown, line, hint="give the term the converter outputs, or remove the line")
    pattern = re.compile("|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))) if table else None

    def convert(text: str) -> str:
        out = cc.convert(text)
        return pattern.sub(lambda m: table[m.group(0)], out) if pattern else out

    return convert


def load_chapters(book: Book, edition: Edition, cache: Path | None = None) -> list[Chapter]:
    """The edition's chapters in reading order: timeline, letter, appendices (`cache`: pandoc's
    parse of each kept there, see sanitize.parse)."""
    return [load_chapter(ref, edition, book, cache) for ref in edition.chapters]
