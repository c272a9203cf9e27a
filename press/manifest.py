"""Stage 1: read book/book.yaml into validated, frozen Book and Edition objects.

Every key is declared once below with its type and a one-line doc (the README's schema
table is written from the same declarations). All problems are collected, then reported
together, each with the manifest's file:line.
"""
from __future__ import annotations

import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import confine
from .errors import BuildError, BuildErrors
from .isbn import BadISBN, parse_isbn
from .languages import Language, UnknownLanguage, fonts_hint, language, script_name
from .schema import Checker as _Checker, Key, compose_yaml
from .schema import plain as _plain
from .strings import edition_strings, load_strings
from .system import installed_families

MANIFEST_NAME = "book.yaml"

PAGE_SIZES = {"A4": ("210mm", "297mm"), "A5": ("148mm", "210mm"), "B5": ("176mm", "250mm"),
              "B6": ("125mm", "176mm"), "letter": ("8.5in", "11in")}
PAGE_RANGE = (50.0, 1000.0)     # mm: a page narrower than 5 cm or wider than 1 m is a typo
MAX_SLUG = 64
MAX_SIGNATURE = 64               # pages in one folded signature (printers use 4 to 64)
_LENGTH = re.compile(r"^\d+(\.\d+)?(mm|cm|in|pt)$")


BOOK_KEYS: dict[str, Key] = {
    "slug": Key(str, True, "file-name stem of every artifact, e.g. `keep4o` → `dist/keep4o-ja.pdf`"),
    "title": Key(str, True, "book title (title page, PDF metadata, running heads)"),
    "authors": Key(list, True, "list of author names"),
    "date": Key((str, dt.date), True, "publication date, YYYY-MM-DD; also fixes artifact timestamps"),
    "links": Key(list, False, "list of `{label, url}` shown on the title page", []),
    "page": Key(dict, False, "`size` (A5, A4, B5, B6, letter) or `width` + `height`", {"size": "A5"}),
    "bibliography": Key(str, False, "CSL YAML (.yaml) or CSL JSON (.json) file of every cited source"),
    "csl": Key(str, False, "citation style (.csl) for the notes and the bibliography"),
    "editions": Key(list, True, "the editions, in build order"),
    "print": Key(dict, False, "press PDF and cover: `bleed`, `signature`, `paper_thickness`, `marks`", {}),
}
LINK_KEYS: dict[str, Key] = {
    "label": Key(str, True, "what the link is (X, GitHub, …)"),
    "url": Key(str, False, "https:// address"),
    "text": Key(str, False, "shown instead of an address (a handle without a URL)"),
}
PAGE_KEYS: dict[str, Key] = {
    "size": Key(str, False, "named trim size"),
    "width": Key(str, False, "trim width, e.g. 148mm"),
    "height": Key(str, False, "trim height, e.g. 210mm"),
}
EDITION_KEYS: dict[str, Key] = {
    "lang": Key(str, True, "BCP 47 language tag that CLDR knows, e.g. ja, zh-Hans, fr, pt-BR"),
    "title": Key(str, False, "title of this edition (default: the book title)"),
    "subtitle": Key(str, False, "subtitle of this edition"),
    "locale": Key(str, False, "citation/date locale (default from the language, e.g. ja-JP)"),
    "dir": Key(str, False, "text direction, ltr or rtl (default from the language)"),
    "fonts": Key(dict, False, "`serif` and `sans` fontconfig family names (default from the language)"),
    "timeline": Key(str, True, "path of the timeline chapter, relative to the book directory"),
    "letter": Key((str, type(None)), False, "path of the letter chapter, or null while there is none"),
    "appendices": Key(list, False, "paths of the appendix chapters, in order", []),
    "opencc": Key(str, False, "derive this edition's Chinese chapters with OpenCC at build time, e.g. s2twp"),
    "opencc_overrides": Key(str, False, "YAML mapping `converter output: preferred term`, applied after OpenCC"),
    "strings": Key(str, False, "path of the edition's strings file (contents, appendix, notices …; see the README)"),
    "isbn": Key((str, int), False, "this edition's ISBN-13, hyphens allowed, e.g. 978-3-16-148410-0: printed as an "
                                   "EAN-13 barcode on the back cover"),
}
OPENCC_CONFIGS = ("s2t", "s2tw", "s2twp", "s2hk", "t2s", "tw2s", "tw2sp", "hk2s")
PRINT_KEYS: dict[str, Key] = {
    "bleed": Key((str, int, float), False, "bleed beyond the trim on every outer edge, a length like 3mm", "3mm"),
    "signature": Key(int, False, "pad the press PDF to a multiple of this many pages; 4 = one sheet folded once", 4),
    "paper_thickness": Key((str, int, float), False,
                           "thickness of one leaf (two pages), a length like 0.1mm (80 g/m² uncoated offset)", "0.1mm"),
    "marks": Key(str, False, "printer's marks on the press PDF and cover: crop or none", "crop"),
}
PRINT_MARKS = ("crop", "none")
_MM_PER = {"mm": 1.0, "cm": 10.0, "in": 25.4, "pt": 25.4 / 72}
FONT_KEYS: dict[str, Key] = {
    "serif": Key(str, False, "body text family"),
    "sans": Key(str, False, "headings family"),
}


def length_mm(length: str) -> float:
    """A length the manifest accepts (`_LENGTH`: 3mm, 0.5cm, 0.125in, 8.5pt) in millimetres."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(mm|cm|in|pt)", length)
    if not m:
        raise ValueError(f"not a length: {length!r}")
    return float(m.group(1)) * _MM_PER[m.group(2)]


@dataclass(frozen=True)
class PrintSettings:
    """The `print:` section: what the press PDF and the cover need beyond the screen PDF."""

    bleed_mm: float = 3.0
    signature: int = 4
    paper_thickness_mm: float = 0.1
    marks: str = "crop"


@dataclass(frozen=True)
class Link:
    label: str
    url: str | None
    text: str | None


@dataclass(frozen=True)
class ChapterRef:
    """A chapter as the manifest names it: role, path and the manifest line naming it."""

    role: str               # timeline | letter | appendix
    path: Path              # absolute, inside the book
    rel: str                # as written in the manifest
    line: int


@dataclass(frozen=True)
class Edition:
    lang: str
    language: Language
    title: str
    subtitle: str | None
    locale: str
    dir: str
    serif: str
    sans: str
    chapters: tuple[ChapterRef, ...]
    has_letter: bool
    opencc: str | None = None
    opencc_overrides: Path | None = None
    # Fixed strings: pandoc's for the language, then the book's strings file (strings.py).
    strings: dict[str, Any] = field(default_factory=dict, hash=False)
    strings_file: Path | None = None
    strings_missing: tuple[str, ...] = ()    # still English: pandoc has none, nor the book
    isbn: str | None = None                  # as written (hyphens kept); isbn.parse_isbn gives the digits


@dataclass(frozen=True)
class Book:
    root: Path
    manifest: Path
    slug: str
    title: str
    authors: tuple[str, ...]
    date: str
    links: tuple[Link, ...]
    page_width: str
    page_height: str
    editions: tuple[Edition, ...] = field(default=())
    bibliography: Path | None = None
    bibliography_line: int | None = None
    csl: Path | None = None
    print: PrintSettings = PrintSettings()
    manifest_text: str = ""     # as written, to point at a line of it

    def edition(self, lang: str) -> Edition:
        for ed in self.editions:
            if ed.lang == lang:
                return ed
        raise BuildError(f"the book has no edition {lang!r}", self.manifest,
                         hint="editions: " + ", ".join(e.lang for e in self.editions))


def _compose(path: Path) -> tuple[yaml.Node, str]:
    return compose_yaml(path, "manifest", f"a book directory holds a {MANIFEST_NAME}")


def display_path(path: Path) -> Path:
    """The path as the user would type it: relative to the working directory when inside it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def resolve_in_book(root: Path, rel: str, manifest: Path, line: int | None, what: str = "chapter") -> Path:
    """Resolve a path named by the manifest: a regular file inside the book directory (symlinks included)."""
    return confine.resolve_in(root, rel, manifest, line, what)


def check_csl(csl: Path, manifest: Path, line: int) -> None:
    """A CSL style pandoc can use without reading anything else: independent, no DTD or entities."""
    text = confine.read_text(csl, display_path(csl), "citation style", confine.MAX_DATA_BYTES)
    if re.search(r'rel\s*=\s*["\']independent-parent["\']', text):
        raise BuildError("csl names a dependent style (its rules are in a parent style pandoc would fetch)",
                         manifest, line, hint="use the independent parent style's file itself, copied into the book")
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise BuildError("csl declares a DTD or entities", manifest, line, hint="use a plain CSL file")


def _print_settings(chk: _Checker, node: yaml.Node) -> PrintSettings:
    """Validate the `print:` section; a bad value is reported and its default kept."""
    pr = chk.mapping(node, PRINT_KEYS, "print")
    lengths = {}
    # (key, smallest, largest) in mm: outside this a value is a typo, not a real press setting.
    for key, low, high in (("bleed", 0.0, 20.0), ("paper_thickness", 0.02, 1.0)):
        value = pr[key][0] if key in pr else PRINT_KEYS[key].default
        if not isinstance(value, str) or not _LENGTH.match(value):
            chk.error(pr[key][1], f"print.{key} must be a length with its unit (mm, cm, in or pt), not {value!r}",
                      PRINT_KEYS[key].doc)
            value = PRINT_KEYS[key].default
        elif not low <= length_mm(value) <= high:
            chk.error(pr[key][1], f"print.{key} {value} is out of range ({low:g}mm to {high:g}mm)",
                      PRINT_KEYS[key].doc)
            value = PRINT_KEYS[key].default
        lengths[key] = length_mm(value)
    signature = pr["signature"][0] if "signature" in pr else PRINT_KEYS["signature"].default
    if isinstance(signature, bool) or not 1 <= signature <= MAX_SIGNATURE:
        chk.error(pr["signature"][1], f"print.signature must be a whole number of pages from 1 to {MAX_SIGNATURE}, "
                  f"not {signature!r}",
                  PRINT_KEYS["signature"].doc + ", offset printers often use 16 or 32")
        signature = PRINT_KEYS["signature"].default
    marks = pr["marks"][0] if "marks" in pr else PRINT_KEYS["marks"].default
    if marks not in PRINT_MARKS:
        near = difflib.get_close_matches(marks, PRINT_MARKS, n=1)
        chk.error(pr["marks"][1], f"unknown print.marks {marks!r}",
                  (f"did you mean {near[0]!r}? " if near else "") + "one of: " + ", ".join(PRINT_MARKS))
        marks = PRINT_KEYS["marks"].default
    return PrintSettings(bleed_mm=lengths["bleed"], signature=signature,
                         paper_thickness_mm=lengths["paper_thickness"], marks=marks)


def load_manifest(book_dir: str | Path) -> Book:
    """Read and validate `<book_dir>/book.yaml`; raise BuildError(s) naming file and line."""
    root = Path(book_dir).resolve()
    path = display_path(root / MANIFEST_NAME)
    if not root.is_dir():
        raise BuildError("book directory not found", book_dir, hint="pass --book DIR with a book.yaml inside")
    doc, text = _compose(path)
    chk = _Checker(path)
    top = chk.mapping(doc, BOOK_KEYS, "book")

    def get(m: dict, key: str, default: Any = None) -> Any:
        return m[key][0] if key in m else default

    links = []
    for item in (top["links"][1].value if "links" in top else []):
        lk = chk.mapping(item, LINK_KEYS, "links[]")
        if lk and "url" in lk and not str(get(lk, "url")).startswith("https://"):
            chk.error(lk["url"][1], "links[].url must start with https://")
        links.append(Link(get(lk, "label", ""), get(lk, "url"), get(lk, "text")))

    width, height = PAGE_SIZES["A5"]
    if "page" in top:
        pg = chk.mapping(top["page"][1], PAGE_KEYS, "page")
        if "size" in pg:
            size = get(pg, "size")
            if size not in PAGE_SIZES:
                chk.error(pg["size"][1], f"unknown page size {size!r}", "one of: " + ", ".join(PAGE_SIZES))
            else:
                width, height = PAGE_SIZES[size]
        if "width" in pg or "height" in pg:
            if not ("width" in pg and "height" in pg):
                chk.error(top["page"][1], "page needs both width and height")
            for key in ("width", "height"):
                if key in pg and not _LENGTH.match(get(pg, key)):
                    chk.error(pg[key][1], f"page.{key} must be a length like 148mm")
                elif key in pg and not PAGE_RANGE[0] <= length_mm(get(pg, key)) <= PAGE_RANGE[1]:
                    chk.error(pg[key][1], f"page.{key} {get(pg, key)} is out of range",
                              f"a page is {PAGE_RANGE[0]:g}mm to {PAGE_RANGE[1]:g}mm on each side")
            width, height = get(pg, "width", width), get(pg, "height", height)

    print_settings = _print_settings(chk, top["print"][1]) if "print" in top else PrintSettings()

    date = get(top, "date")
    if date is not None:
        try:
            date = confine.check_date(date, path, top["date"][1].start_mark.line + 1)
        except BuildError as exc:
            chk.errors.append(exc)
    slug = get(top, "slug")
    if slug is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]*", slug):
        chk.error(top["slug"][1], "slug must be lower-case letters, digits and hyphens")
    elif slug is not None and len(slug) > MAX_SLUG:
        chk.error(top["slug"][1], f"slug is too long ({len(slug)} characters; at most {MAX_SLUG})",
                  "artifact names are <slug>-<lang>-print.pdf: keep them short")
    authors = get(top, "authors", [])
    if not all(isinstance(a, str) for a in authors):
        chk.error(top["authors"][1], "authors must be a list of names")

    editions: list[Edition] = []
    seen: set[str] = set()
    for enode in (top["editions"][1].value if "editions" in top else []):
        ed = chk.mapping(enode, EDITION_KEYS, "editions[]")
        if not ed or "lang" not in ed:
            continue
        tag, tag_node = ed["lang"]
        try:
            lang = language(tag)
        except UnknownLanguage as exc:
            chk.error(tag_node, str(exc), exc.hint)
            continue
        if tag in seen:
            chk.error(tag_node, f"edition {tag!r} is listed twice")
            continue
        seen.add(tag)
        direction = get(ed, "dir", lang.dir)
        if direction not in ("ltr", "rtl"):
            chk.error(ed["dir"][1], f"dir must be ltr or rtl, not {direction!r}")
        fonts = chk.mapping(ed["fonts"][1], FONT_KEYS, "editions[].fonts") if "fonts" in ed else {}
        for key, (family, fnode) in fonts.items():
            if installed_families() and family not in installed_families():
                near = difflib.get_close_matches(family, sorted(installed_families()), n=1)
                chk.error(fnode, f"font family {family!r} (editions[].fonts.{key}) is not installed",
                          (f"did you mean {near[0]!r}? " if near else "") + "list installed families with fc-list : family")
        if not lang.fonts_installed and not ("serif" in fonts and "sans" in fonts):
            chk.error(tag_node, f"no installed font for {tag!r}: the {script_name(lang.script)} script "
                      f"({lang.script}) is set in {lang.serif} / {lang.sans}", fonts_hint(lang))
        chapters: list[ChapterRef] = []

        def chapter(role: str, value: str, node: yaml.Node) -> None:
            line = node.start_mark.line + 1
            try:
                chapters.append(ChapterRef(role, resolve_in_book(root, value, path, line), value, line))
            except BuildError as exc:
                chk.errors.append(exc)

        if "timeline" in ed:
            chapter("timeline", *ed["timeline"])
        if get(ed, "letter"):
            chapter("letter", *ed["letter"])
        for anode in (ed["appendices"][1].value if "appendices" in ed else []):
            value = _plain(anode)
            if not isinstance(value, str):
                chk.error(anode, "appendices must be a list of chapter paths")
                continue
            chapter("appendix", value, anode)
        opencc, overrides = get(ed, "opencc"), None
        if opencc is not None and opencc not in OPENCC_CONFIGS:
            chk.error(ed["opencc"][1], f"unknown OpenCC configuration {opencc!r}", "one of: " + ", ".join(OPENCC_CONFIGS))
        if "opencc_overrides" in ed:
            value, node = ed["opencc_overrides"]
            try:
                overrides = resolve_in_book(root, value, path, node.start_mark.line + 1, what="opencc_overrides")
            except BuildError as exc:
                chk.errors.append(exc)
        isbn = None
        if "isbn" in ed:
            value, node = ed["isbn"]
            try:
                parse_isbn(str(value))
                isbn = str(value).strip()
            except BadISBN as exc:
                chk.error(node, f"editions[].{exc}", EDITION_KEYS["isbn"].doc)
        own_strings, strings_file = {}, None
        if "strings" in ed:
            value, node = ed["strings"]
            try:
                strings_file = resolve_in_book(root, value, path, node.start_mark.line + 1, what="strings")
                own_strings = load_strings(display_path(strings_file))
            except BuildErrors as exc:
                chk.errors.extend(exc.errors)
            except BuildError as exc:
                chk.errors.append(exc)
        strings, strings_missing = edition_strings(lang, own_strings)
        appendices = [c for c in chapters if c.role == "appendix"]
        letters = strings["appendix_letters"]
        if len(appendices) > len(letters):
            # reported at the first appendix that has no letter left
            chk.errors.append(BuildError(f"{len(appendices)} appendices but only {len(letters)} appendix letters",
                                         path, appendices[len(letters)].line,
                                         "add letters to `appendix_letters:` in the edition's strings file"))
        editions.append(Edition(
            lang=tag, language=lang, title=get(ed, "title", get(top, "title", "")),
            subtitle=get(ed, "subtitle"), locale=get(ed, "locale", lang.locale), dir=direction,
            serif=get(fonts, "serif", lang.serif), sans=get(fonts, "sans", lang.sans),
            chapters=tuple(chapters), has_letter=bool(get(ed, "letter")),
            opencc=opencc, opencc_overrides=overrides,
            strings=strings, strings_file=strings_file, strings_missing=strings_missing, isbn=isbn,
        ))
    if "editions" in top and not top["editions"][0]:
        chk.error(top["editions"][1], "the book has no editions", "add at least one edition")
    bib_path = csl_path = bib_line = None
    for key in ("bibliography", "csl"):
        if key in top:
            value, node = top[key]
            line = node.start_mark.line + 1
            suffixes = (".yaml", ".yml", ".json") if key == "bibliography" else (".csl",)
            if not value.endswith(suffixes):
                chk.error(node, f"{key} must be a {' or '.join(suffixes)} file", BOOK_KEYS[key].doc)
                continue
            try:
                resolved = resolve_in_book(root, value, path, line, what=key)
            except BuildError as exc:
                chk.errors.append(exc)
                continue
            if key == "bibliography":
                bib_path, bib_line = resolved, line
            else:
                try:
                    check_csl(resolved, path, line)
                    csl_path = resolved
                except BuildError as exc:
                    chk.errors.append(exc)
    if csl_path and not bib_path:
        chk.error(top["csl"][1], "csl is set but there is no bibliography", "add `bibliography:`")
    if chk.errors:
        raise chk.errors[0] if len(chk.errors) == 1 else BuildErrors(chk.errors)
    return Book(root=root, manifest=path, slug=slug, title=get(top, "title"), authors=tuple(authors),
                date=date, links=tuple(links), page_width=width, page_height=height,
                editions=tuple(editions), bibliography=bib_path, bibliography_line=bib_line, csl=csl_path,
                print=print_settings, manifest_text=text)
