"""Stage 3: Markdown → HTML with pandoc, wrapped in the book's Jinja2 template."""
from __future__ import annotations

import functools
import html as htmllib
import json
import logging
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jinja2

from . import confine
from .citations import Citeproc, find_citations
from .languages import language, latin_words
from .sanitize import inline_media, inlines
from .manifest import Book, Edition
from .sources import Chapter
from .strings import language_notice

PACKAGE = Path(__file__).resolve().parent
API_VERSION = [1, 23, 1, 1]     # pandoc 3.x JSON
FILTERS = PACKAGE / "filters"
_log = logging.getLogger("press.pandoc")

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(PACKAGE / "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]),
                          undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


@dataclass(frozen=True)
class RenderedChapter:
    id: str
    role: str
    lang: str
    label: str | None       # "付録A" for appendices
    title: str              # plain text of the first heading
    running_head: str
    html: str
    dir: str = "ltr"


def chapter_notice(edition: Edition, chapter: Chapter) -> tuple[str | None, str]:
    """The line printed under a chapter's title, and its language.

    A chapter in another language than the edition says so in the edition's language (the
    book's `language_notice`); a translation says it is one, in its own language.
    """
    notice = language_notice(edition.strings, chapter.lang) if chapter.lang != edition.lang else None
    if notice:
        return notice, edition.lang
    if chapter.meta.get("translation"):
        return chapter.meta["translation"], chapter.lang
    return None, edition.lang


def run_pandoc(text: str, to: str, display: str, args: list[str], outputfile: str | None = None,
               fmt: str = "json", cache: Path | None = None) -> str:
    """Run pandoc on a checked AST (sanitize.py), sandboxed and bounded (confine.pandoc); its
    warnings go to the `press.pandoc` logger, which pandoc_warnings() collects. With `cache` (an
    entry file, see output.pandoc_cached), the output and warnings are kept there."""
    from .output import pandoc_cached

    argv = ["-f", fmt, "-t", to, *args]
    if outputfile:
        argv += ["-o", str(Path(outputfile).resolve())]
    said, out = pandoc_cached(cache, argv, text, display)
    for line in said:
        _log.warning(line)
    return out


def document(blocks: list, meta: dict | None = None) -> str:
    """A pandoc JSON document from blocks and metadata (what the press builds itself)."""
    return json.dumps({"pandoc-api-version": API_VERSION, "meta": meta or {}, "blocks": blocks},
                      ensure_ascii=False)


def meta_text(text: str) -> dict:
    """A metadata value pandoc takes literally (never parsed as Markdown)."""
    return {"t": "MetaInlines", "c": inlines(text)}


# Pandoc has no UI strings for some languages; the press takes its strings from the edition
# (pandoc's files, then the book's strings.yaml) and warns once itself, so these say nothing new.
_HARMLESS = re.compile(r"Could not load translations|data file translations/|has no translation defined")


@contextmanager
def pandoc_warnings():
    """Collect pandoc's warnings (run_pandoc logs them) instead of letting them print."""
    logger = _log
    collected: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            for line in record.getMessage().strip().splitlines():
                line = line.strip()
                if line and not _HARMLESS.search(line):
                    collected.append(re.sub(r"^\[WARNING\]\s*", "", line))

    saved, logger.handlers = logger.handlers, [Collect(logging.WARNING)]
    propagate, logger.propagate = logger.propagate, False
    try:
        yield collected
    finally:
        logger.handlers, logger.propagate = saved, propagate


def pandoc_html(ast: str, display: str, id_prefix: str, inline_notes: bool,
                cite_args: list[str] | None = None, lang: str | None = None, cache: Path | None = None) -> str:
    """Convert one chapter's checked AST to an HTML fragment (citations resolved when cite_args).

    With `cache`, the result is kept there under the hash of everything pandoc reads (see
    _cache_key): an edit then costs one pandoc run, not one per chapter.
    """
    args = ["--wrap=none", f"--id-prefix={id_prefix}", *(cite_args or []),
            *(spacing_args([lang], lang) if lang else [])]
    if inline_notes:
        args += [f"--lua-filter={FILTERS / 'inline_notes.lua'}", f"--lua-filter={FILTERS / 'names.lua'}"]
    args.append(f"--lua-filter={FILTERS / 'upright.lua'}")
    if lang:
        args += arrow_args(ast, lang) + cjk_args(ast, lang)
    return run_pandoc(ast, "html5", display, args, cache=cache / f"{_cache_key(ast, args)}.html" if cache else None)


def _cache_key(ast: str, args: list[str]) -> str:
    """The hash of a conversion's inputs: the pandoc binary, the arguments with the content of the
    files they name (bibliography, CSL), every Lua filter of the press (they `require` each
    other), and the AST."""
    import hashlib

    from .output import PANDOC_ENTRY

    h = hashlib.sha256(f"html5\0{PANDOC_ENTRY}\0{confine.pandoc_identity()}\0{_filters_digest()}\0".encode())
    for arg in args:
        name, _, value = arg.partition("=")
        if name in ("--bibliography", "--csl"):
            h.update(name.encode() + b"\0" + Path(value).read_bytes() + b"\0")
        else:
            h.update(arg.encode() + b"\0")
    h.update(ast.encode())
    return h.hexdigest()[:40]


@functools.cache
def _filters_digest() -> str:
    import hashlib

    h = hashlib.sha256()
    for f in sorted(FILTERS.glob("*.lua")):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _languages(ast: str, doc_lang: str) -> list:
    """The languages of a document: its own and any `lang` attribute in its AST."""
    known = []
    for tag in sorted({doc_lang, *re.findall(r'\["lang",\s*"([^"\\]+)"\]', ast)}):
        try:
            known.append(language(tag))
        except ValueError:
            continue
    return known


def arrow_args(ast: str, doc_lang: str) -> list[str]:
    """pandoc arguments for rtl_arrows.lua, if the document has right-to-left text."""
    rtl = [lang.tag for lang in _languages(ast, doc_lang) if lang.dir == "rtl"]
    if not rtl:
        return []
    return [f"--lua-filter={FILTERS / 'rtl_arrows.lua'}", f"--metadata=arrows-lang={doc_lang}",
            f"--metadata=rtl-langs={','.join(rtl)}"]


def cjk_args(ast: str, doc_lang: str) -> list[str]:
    """pandoc arguments for cjk.lua: Korean words kept whole, the CJK–Latin quarter-em, for the
    languages of the chapter (its own and any `lang` attribute in it) that need them."""
    known = _languages(ast, doc_lang)
    whole = [lang.tag for lang in known if lang.whole_words]
    gap = [lang.tag for lang in known if lang.ideographic]
    halt = [lang.tag for lang in known if lang.compress_punctuation]
    if not whole and not gap:
        return []
    latin = [f"--metadata=cjk-latin-words={latin_words()}"] if whole and latin_words() else []
    return [f"--lua-filter={FILTERS / 'cjk.lua'}", f"--metadata=cjk-lang={doc_lang}",
            f"--metadata=cjk-whole-words={','.join(whole)}", f"--metadata=cjk-latin-gap={','.join(gap)}",
            f"--metadata=cjk-halt={','.join(halt)}", *latin]


def _plain(fragment: str) -> str:
    return htmllib.unescape(re.sub(r"<[^>]+>", "", fragment)).strip()


def appendix_letters(edition: Edition) -> str:
    return edition.strings["appendix_letters"]


def appendix_label(edition: Edition, index: int) -> str:
    """付録A, 附录B, الملحق أ …: the label of the index-th appendix, in the edition's language."""
    return edition.strings["appendix"].format(letter=appendix_letters(edition)[index])


def chapter_locale(edition: Edition, chapter: Chapter) -> str:
    """Citation locale of a chapter: the edition's, or that of the chapter's own language."""
    return edition.locale if chapter.lang == edition.lang else language(chapter.lang).locale


def bibliography_blocks(edition: Edition) -> list:
    """The closing bibliography chapter: its title, and the div citeproc fills."""
    title = edition.strings["bibliography"]
    return [{"t": "Header", "c": [1, ["bibliography", [], []], inlines(title)]},
            {"t": "Div", "c": [["refs", [], []], []]}]


def nocite(cite: Citeproc) -> dict:
    """`nocite` metadata listing every source the edition cites, so the bibliography holds them all."""
    cites = [{"citationId": k, "citationPrefix": [], "citationSuffix": [], "citationMode": {"t": "NormalCitation"},
              "citationNoteNum": 0, "citationHash": 0} for k in cite.cited]
    return {"t": "MetaInlines", "c": [{"t": "Cite", "c": [cites, [{"t": "Str", "c": "@"}]]}]}


def chapter_labels(edition: Edition, chapters: list[Chapter]) -> list[str | None]:
    """The label of each chapter (付録A, 附录B … for appendices, None for the others)."""
    labels, n = [], 0
    for ch in chapters:
        labels.append(appendix_label(edition, n) if ch.ref.role == "appendix" else None)
        n += ch.ref.role == "appendix"
    return labels


def convert_chapters(edition: Edition, chapters: list[Chapter], cite: Citeproc | None, *, inline_notes: bool,
                     inline_images: bool, cache: Path | None = None) -> tuple[list[tuple[str, str]], str | None]:
    """Each chapter to HTML, as (title, body with the chapter's notice under its heading), and the
    bibliography (None when nothing is cited): one pandoc run each, side by side (they are
    independent, and each is mostly pandoc's own start-up and citeproc). The PDF inlines notes
    and images; the web pages keep pandoc's endnotes and link their images."""
    from concurrent.futures import ThreadPoolExecutor

    def chapter(i: int) -> tuple[str, str]:
        ch = chapters[i]
        # citeproc costs 0.1-0.3 s a call: only for chapters that cite something
        cite_args = cite.args(chapter_locale(edition, ch)) if cite and find_citations(ch) else None
        ast = inline_media(ch.ast, ch.media) if inline_images else ch.ast
        body = pandoc_html(ast, ch.display, f"ch{i + 1}-", inline_notes=inline_notes, cite_args=cite_args,
                           lang=ch.lang, cache=cache)
        m = re.search(r"<h1[^>]*>(.*?)</h1>", body, re.S)
        notice, notice_lang = chapter_notice(edition, ch)
        if notice:
            body = body.replace("</h1>", f'</h1>\n<p class="chapter-notice" lang="{notice_lang}" '
                                f'dir="{language(notice_lang).dir}">{htmllib.escape(notice)}</p>', 1)
        return (_plain(m.group(1)) if m else ch.display), body

    def bibliography() -> str:
        return pandoc_html(document(bibliography_blocks(edition), {"nocite": nocite(cite)}), "bibliography",
                           "bib-", inline_notes=False, cite_args=cite.args(edition.locale, bibliography_section=True),
                           lang=edition.lang, cache=cache)

    with ThreadPoolExecutor(max_workers=len(chapters) + 1) as threads:
        bib_body = threads.submit(bibliography) if cite and cite.cited else None
        converted = list(threads.map(chapter, range(len(chapters))))
        return converted, bib_body.result() if bib_body else None


def render_chapters(edition: Edition, chapters: list[Chapter], cite: Citeproc | None = None,
                    cache: Path | None = None) -> list[RenderedChapter]:
    """The edition's chapters and bibliography as the PDF sets them (notes inline, running heads)."""
    converted, bib_body = convert_chapters(edition, chapters, cite, inline_notes=True, inline_images=True,
                                           cache=cache)
    out = []
    for i, (ch, label, (title, body)) in enumerate(zip(chapters, chapter_labels(edition, chapters), converted),
                                                   start=1):
        running = ch.short_title or title
        if label:
            running = f"{label} {running}"
        out.append(RenderedChapter(f"ch{i}", ch.ref.role, ch.lang, label, title, running, body, language(ch.lang).dir))
    if bib_body:
        title = edition.strings["bibliography"]
        out.append(RenderedChapter("bibliography", "bibliography", edition.lang, None, title, title, bib_body,
                                   edition.dir))
    return out


def font_css(edition: Edition, langs: list[str] | tuple[str, ...] = ()) -> str:
    """Font stacks per language: every lang="" the document uses gets its script's faces."""
    rules = []
    for tag in sorted({edition.lang, *langs}):
        lang = language(tag)
        serif, sans = lang.serif, lang.sans
        if tag == edition.lang:
            serif, sans = edition.serif, edition.sans
        rules.append(f':lang({tag}) {{ font-family: "{serif}", "Noto Serif", serif; }}')
        rules.append(f':lang({tag}) :is(h1, h2, h3, h4, .chapter-label, .toc-title, .title) '
                     f'{{ font-family: "{sans}", "Noto Sans", sans-serif; }}')
    return "\n".join(rules)


def language_css(langs: list[str], edition: Edition | None = None) -> str:
    """The languages' conventions in CSS, the same in the PDF, the EPUB and the web pages:
    hyphenation where pyphen has a dictionary (WeasyPrint and reading systems hyphenate by the
    element's lang), never inside code or addresses; no justification in scripts written without
    spaces between words; emphasis and cited titles upright where the script has no italics
    (never a synthetic oblique): in its sans face (CJK: gothic, as jlreq; a reading system without
    the face uses its own sans-serif) or bold; the leading a face needs (Nastaliq). `edition`: its own sans face, if the manifest names one."""
    rules = []
    for tag in sorted(set(langs)):
        lang = language(tag)
        sans = edition.sans if edition and tag == edition.lang else lang.sans
        if lang.emphasis == "sans":
            rules.append(f':lang({tag}) :is(em, i, cite) {{ font-style: normal; '
                         f'font-family: "{sans}", "Noto Sans", sans-serif; }}')
        elif lang.emphasis != "italic":
            rules.append(f':lang({tag}) :is(em, i, cite) {{ font-style: normal; font-weight: bold; }}')
        if lang.hyphenate:
            rules.append(f":lang({tag}) {{ hyphens: auto; }} "
                         f":lang({tag}) :is(code, pre, a, h1, h2, h3, h4, .nohyphen) {{ hyphens: manual; }}")
        if lang.line_height:
            rules.append(f":lang({tag}) {{ line-height: {lang.line_height}; }}")
        if lang.unspaced:
            # Pango justifies by stretching spaces: in Thai (spaces between sentences only) or
            # Han text that makes gaps, so its paragraphs are set flush to the start edge.
            rules.append(f".chapter :is(p, li):lang({tag}) {{ text-align: start; }}")
    if latin_words() in langs:
        # A long Latin word inside Korean carries this language, for its hyphenation (cjk.lua),
        # but keeps the face of the text around it (the rule sits with the font stacks: the
        # document's own CSS outranks the stylesheets handed to WeasyPrint). Its hyphen is the
        # face's proportional one: CJK faces draw U+2010, the default, a full em wide.
        rules.append('span.lw { font-family: inherit; hyphenate-character: "-"; }')
    return "\n".join(rules)


def spacing_args(langs: list[str], doc_lang: str) -> list[str]:
    """pandoc arguments for French spacing (french_spacing.lua), if any of the languages uses it."""
    spaced = sorted({t.split("-")[0] for t in langs if language(t).french_spacing})
    if not spaced:
        return []
    return [f"--lua-filter={FILTERS / 'french_spacing.lua'}", f"--metadata=french-spacing={','.join(spaced)}",
            f"--metadata=spacing-lang={doc_lang}"]


def render_book_html(book: Book, edition: Edition, chapters: list[RenderedChapter]) -> str:
    """The whole edition as one HTML document for WeasyPrint."""
    template = _env.get_template("book.html.j2")
    langs = [edition.lang, *(ch.lang for ch in chapters)]
    if latin_words() and any(language(tag).whole_words for tag in langs):
        langs.append(latin_words())     # the hyphenation of Latin words inside Korean (cjk.lua)
    return soft_hyphens(template.render(
        book=book, edition=edition, strings=edition.strings, language=edition.language, chapters=chapters,
        font_css=font_css(edition, langs) + "\n" + language_css(langs, edition),
        page_css=f"@page {{ size: {book.page_width} {book.page_height}; }}"))


# cjk.lua's long Latin word inside Korean, as pandoc writes it
LATIN_WORD = re.compile(r'(<span class="lw" lang="([\w-]+)">)([A-Za-z\u00c0-\u024f]+)(</span>)')


@functools.cache
def hyphenator(tag: str):
    """pyphen's dictionary for a language tag, as WeasyPrint finds it (None if pyphen has none).
    Reading one takes ~0.15 s: the build reads those it needs before forking its workers
    (pipeline.warm_up), and pyphen keeps them for WeasyPrint's line breaking too."""
    import pyphen

    known = pyphen.language_fallback(tag.replace("-", "_"))
    return pyphen.Pyphen(lang=known) if known else None


def soft_hyphens(html: str) -> str:
    """Soft hyphens (U+00AD) at the hyphenation points of the long Latin words inside Korean,
    from the dictionary WeasyPrint would use (pyphen). A bracketed English gloss closed by its
    Korean particle is one unbreakable unit, and WeasyPrint's own hyphenation often leaves it whole
    and stretches the line before it; a soft hyphen is a break opportunity of its own. A soft hyphen not broken
    at draws nothing and stays out of the text layer. Measured on the ko edition: lines with more
    than 1 em added to each space 25 → 14 (of about 1,890), more than 0.5 em 175 → 160."""

    def insert(m: re.Match) -> str:
        words = hyphenator(m.group(2))
        return m.group(0) if words is None else m.group(1) + words.inserted(m.group(3), hyphen="\u00ad") + m.group(4)

    return LATIN_WORD.sub(insert, html)
