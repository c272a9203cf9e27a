"""Stage 4b: the edition's chapters → EPUB 3 with pandoc (through pypandoc)."""
from __future__ import annotations

import html
import json
import re
import shutil
import zipfile
import xml.etree.ElementTree as ET
import uuid
from pathlib import Path

from .citations import Citeproc
from .html import (FILTERS, arrow_args, bibliography_blocks, chapter_labels, chapter_notice, document, language_css,
                   meta_text, nocite, run_pandoc, spacing_args)
from .languages import UnknownLanguage, language
from .sanitize import inlines, prefix_ids
from .manifest import Book, Edition
from .sources import Chapter

NAMESPACE = uuid.UUID("6f1c1f2e-4b7a-5d0e-9a51-6b6565703466")


def book_identifier(book: Book, edition: Edition) -> str:
    """A fixed identifier per book and edition, so rebuilds are byte-identical."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{book.slug}/{edition.lang}')}"


def _chapter_blocks(chapter: Chapter, edition: Edition, label: str | None, index: int) -> list:
    """The chapter's checked AST, ids prefixed, its first heading marked with the chapter's
    language and, for appendices, the label; the chapter's notice (another language / a
    translation) right under it. Everything the press adds is literal text, never Markdown."""
    blocks = prefix_ids(json.loads(chapter.ast)["blocks"], f"ch{index}-")
    i, head = next((n, b) for n, b in enumerate(blocks) if b["t"] == "Header")
    attr = head["c"][1]
    keys = dict(attr[2])
    if chapter.lang != edition.lang and "lang" not in keys:
        attr[2].append(["lang", chapter.lang])
    if chapter.lang != edition.lang and language(chapter.lang).dir != edition.dir and "dir" not in keys:
        attr[2].append(["dir", language(chapter.lang).dir])
    if label:
        span = {"t": "Span", "c": [["", ["chapter-label"], [["lang", edition.lang]]], inlines(label)]}
        head["c"][2] = [span, {"t": "Space"}, *head["c"][2]]
    notice, notice_lang = chapter_notice(edition, chapter)
    if notice:
        note_attr = ["", ["chapter-notice"], [["lang", notice_lang], ["dir", language(notice_lang).dir]]]
        blocks.insert(i + 1, {"t": "Div", "c": [note_attr, [{"t": "Para", "c": inlines(notice)}]]})
    return blocks


def edition_document(book: Book, edition: Edition, chapters: list[Chapter], cite: Citeproc | None = None) -> str:
    """The whole edition as one pandoc JSON document: metadata the press sets, then each chapter."""
    def strings(values):
        return {"t": "MetaList", "c": [{"t": "MetaString", "c": v} for v in values]}

    meta = {
        "title": meta_text(edition.title),
        "author": {"t": "MetaList", "c": [meta_text(a) for a in book.authors]},
        "date": {"t": "MetaString", "c": book.date},
        "lang": {"t": "MetaString", "c": edition.lang},
        "dir": {"t": "MetaString", "c": edition.dir},
        "identifier": {"t": "MetaList", "c": [{"t": "MetaMap", "c": {
            "scheme": {"t": "MetaString", "c": "URN"},
            "text": {"t": "MetaString", "c": book_identifier(book, edition)}}}]},
        "toc-title": meta_text(edition.strings["contents"]),
        # schema.org accessibility metadata (pandoc writes it into the package document)
        "accessModes": strings(["textual"]),
        "accessModeSufficient": strings(["textual"]),
        "accessibilityFeatures": strings(["structuralNavigation", "tableOfContents", "readingOrder",
                                          "displayTransformability"]),
        "accessibilityHazards": strings(["none"]),
        "accessibilitySummary": {"t": "MetaString", "c":
                                 "Text-only book with headings, a navigation document, a table of contents "
                                 "and footnotes linked both ways; no media or hazards."},
    }
    media = {m.path: m for ch in chapters for m in ch.media}
    if media:
        meta["press-media"] = {"t": "MetaList", "c": [{"t": "MetaMap", "c": {
            "path": {"t": "MetaString", "c": str(m.path)}, "mime": {"t": "MetaString", "c": m.mime}}}
            for m in media.values()]}
        meta["accessModes"] = strings(["textual", "visual"])
    if edition.subtitle:
        meta["subtitle"] = meta_text(edition.subtitle)
    if edition.dir == "rtl":
        meta["page-progression-direction"] = {"t": "MetaString", "c": "rtl"}
    blocks: list = []
    for n, (ch, label) in enumerate(zip(chapters, chapter_labels(edition, chapters)), start=1):
        blocks += _chapter_blocks(ch, edition, label, n)
    if cite and cite.cited:
        blocks += bibliography_blocks(edition)
        meta["nocite"] = nocite(cite)
    return document(blocks, meta)


NAV_DEPTH = 4


def write_epub(book: Book, edition: Edition, chapters: list[Chapter], css: Path, target: Path,
               cite: Citeproc | None = None) -> None:
    """Write the EPUB to `target` from the chapters' checked ASTs.

    Pandoc runs sandboxed: it reads only the bibliography and CSL it is given and the images
    media.lua puts in its media bag; the stylesheet is put in by finish_epub. Timestamps come
    from SOURCE_DATE_EPOCH, which the pipeline sets from the book date.
    """
    text = edition_document(book, edition, chapters, cite)
    shown = f"{edition.lang} EPUB"
    if cite and cite.cited:
        # Citeproc reads its locale from `lang` (ja-JP), but dc:language must be the edition's
        # tag (ja): resolve the citations in a first pass, then write the EPUB from that AST.
        text = run_pandoc(text, "json", shown, cite.args(edition.locale, bibliography_section=True))
    # The navigation document lists the chapters and their sections down to level 4 (appendix B:
    # factors, podcast sections, Show Notes / Timestamps / Transcript, the transcript's sections),
    # as the PDF outline does (WeasyPrint bookmarks h1–h6); one file per chapter.
    args = ["--toc", f"--toc-depth={NAV_DEPTH}", "--split-level=1", "--epub-title-page=true",
            f"--metadata=lang={edition.lang}", f"--lua-filter={FILTERS / 'media.lua'}",
            *spacing_args([edition.lang, *(ch.lang for ch in chapters)], edition.lang),
            *arrow_args(text, edition.lang)]
    run_pandoc(text, "epub3", shown, args, outputfile=str(target))
    finish_epub(target, edition, chapters, css)


_ASIDE = re.compile(r'(<aside epub:type="footnote"[^>]*\bid="fn(\d+)"[^>]*>\s*<p>)')


def finish_epub(epub: Path, edition: Edition, chapters: list[Chapter], css: Path) -> None:
    """What pandoc's EPUB 3 writer leaves out:

    - every footnote numbered, with a link back to its call (pandoc's notes only link forward);
    - `dir="rtl"` on every document of a right-to-left edition (its template has no `dir`);
    - the book's `title_note` on the title page (pandoc's title page has no place for it);
    - fonts: reading systems do not have ours, so the faces the text needs are embedded,
      subset to the characters each one renders (see fonts.py), with @font-face rules;
    - the book's stylesheet in place of pandoc's default one (a sandboxed pandoc reads no CSS).

    The archive is rewritten member by member in the same order with the same timestamps, and
    `mimetype` stays first and stored, so the file stays byte-for-byte reproducible.
    """
    tmp = epub.with_suffix(".tmp")
    with zipfile.ZipFile(epub) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    texts: dict[str, list[str]] = {}
    for i, (info, data) in enumerate(members):
        if info.filename.endswith(".xhtml"):
            text = _ASIDE.sub(lambda m: m.group(1) + f'<a href="#fnref{m.group(2)}" '
                              f'role="doc-backlink">{m.group(2)}</a>. ', data.decode("utf-8"))
            if edition.dir == "rtl":
                text = re.sub(r"<html (?![^>]*\bdir=)", '<html dir="rtl" ', text, count=1)
            if info.filename.endswith("title_page.xhtml") and edition.strings.get("title_note"):
                note = html.escape(edition.strings["title_note"])
                text = text.replace("</section>", f'  <p class="title-note">{note}</p>\n</section>', 1)
            members[i] = (info, text.encode("utf-8"))
            _collect_text(ET.fromstring(members[i][1]), edition.lang, texts)
    fonts_dir = epub.parent / (epub.name + ".fonts")
    try:
        embedded, rules = _fonts_for(edition, texts, chapters, fonts_dir)
        stamp = (1980, 1, 1, 0, 0, 0)
        with zipfile.ZipFile(tmp, "w") as dst:
            for info, data in members:
                if info.filename.endswith(".opf"):
                    items = "".join(f'<item id="font-{n}" href="fonts/{f.path.name}" media-type="{_font_type(f.path)}" />\n'
                                    for n, f in enumerate(embedded, 1))
                    data = data.replace(b"</manifest>", items.encode() + b"</manifest>", 1)
                    stamp = info.date_time
                elif info.filename.endswith(".css"):
                    data = rules.encode("utf-8") + b"\n" + css.read_bytes()
                dst.writestr(info, data, compress_type=info.compress_type)
            for f in embedded:
                member = zipfile.ZipInfo(f"EPUB/fonts/{f.path.name}", date_time=stamp)
                dst.writestr(member, f.path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
        tmp.replace(epub)
    finally:
        shutil.rmtree(fonts_dir, ignore_errors=True)
        tmp.unlink(missing_ok=True)


_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _collect_text(element: ET.Element, lang: str, out: dict[str, list[str]]) -> None:
    """The text of an XHTML document by language (lang attributes inherited), head left out."""
    if element.tag.endswith("}head"):
        return
    lang = element.get("lang") or element.get(_XML_LANG) or lang
    out.setdefault(lang, []).append(element.text or "")
    for child in element:
        _collect_text(child, lang, out)
        out.setdefault(lang, []).append(child.tail or "")


def _stack_language(tag: str, edition: Edition) -> str:
    """The language whose fonts a lang="" value gets (ja-JP → ja; zh → the edition's zh)."""
    primary = tag.split("-")[0].lower()
    if tag == edition.lang or primary == edition.lang.split("-")[0]:
        return edition.lang
    try:
        return language(tag).tag
    except UnknownLanguage:
        return edition.lang


def _fonts_for(edition: Edition, texts: dict[str, list[str]], chapters: list[Chapter], work: Path):
    """Subset the faces each language's text needs; return them and the CSS that uses them.

    Each language's stack is the PDF's body stack (its serif, then Noto Serif); a character
    neither has goes to a face already embedded that has it, else to the face fontconfig finds,
    and its family joins that language's stack.
    """
    from .fonts import (body_stack, check_coverage, cmap_of, fallback_face, font_face_css, plan,
                        subset_for_epub, uncovered)

    stacks: dict[str, list] = {}
    by_lang: dict[str, str] = {}
    for tag, parts in texts.items():
        lang = _stack_language(tag, edition)
        by_lang[lang] = by_lang.get(lang, "") + "".join(parts)
    for lang in sorted(by_lang):
        serif = edition.serif if lang == edition.lang else language(lang).serif
        stacks[lang] = body_stack(serif)
    for lang, text in sorted(by_lang.items()):
        for char in uncovered(text, stacks[lang]):
            face = next((f for faces in stacks.values() for f in faces if ord(char) in cmap_of(f)), None)
            face = face or fallback_face(char)
            if face is None:
                sources = [(ch.display, ch.numbered_text) for ch in chapters]
                check_coverage(sources + [("(text the press adds)", char)], stacks[lang], allow_fallback=False)
            if face not in stacks[lang]:
                stacks[lang].append(face)
    needs = plan((stacks[lang], text) for lang, text in sorted(by_lang.items()))
    embedded = subset_for_epub(needs, work)
    rules = [font_face_css(embedded), language_css(list(stacks), edition)]
    for lang, faces in sorted(stacks.items()):
        families = ", ".join(f'"{f}"' for f in dict.fromkeys(face.family for face in faces))
        rules.append(f":lang({lang}) {{ font-family: {families}, serif; }}")
    return embedded, "\n".join(rules)


def _font_type(path: Path) -> str:
    return "font/otf" if path.suffix == ".otf" else "font/ttf"


def split_sources(chapters: list[Chapter]) -> list[tuple[Chapter, int]]:
    """(chapter, line) of each level-1 heading in order: pandoc starts an EPUB file
    (text/ch001.xhtml, ch002 …) at each one (--split-level=1)."""
    out = []
    for ch in chapters:
        fenced = False
        for n, line in enumerate(ch.markdown.split("\n")):
            if line.lstrip().startswith(("```", "~~~")):
                fenced = not fenced
            elif not fenced and re.match(r"#\s", line):
                out.append((ch, ch.body_line + n))
    return out


def locate_findings(findings: list, epub: Path, chapters: list[Chapter]) -> list:
    """epubcheck's findings at the chapter and line they come from, not in pandoc's files.

    The EPUB file tells the chapter (one per level-1 heading); the text of the reported line, when
    found in the chapter, tells the line; else the heading's line is given.
    """
    from .errors import Finding

    sources = split_sources(chapters)
    try:
        with zipfile.ZipFile(epub) as z:
            files = {n: z.read(n).decode("utf-8", "replace").split("\n") for n in z.namelist() if n.endswith(".xhtml")}
    except (OSError, zipfile.BadZipFile):
        return findings
    out = []
    for f in findings:
        m = re.search(r"text/ch(\d+)\.xhtml$", f.path or "")
        if not m or not 0 < int(m.group(1)) <= len(sources):
            out.append(f)
            continue
        chapter, line = sources[int(m.group(1)) - 1]
        xhtml = files.get(f.path, [])
        if f.line and f.line <= len(xhtml):
            words = [w for w in re.split(r"<[^>]+>|\s{2,}", xhtml[f.line - 1]) if len(w.strip()) >= 6]
            for word in words:
                pos = chapter.markdown.find(word.strip()[:40])
                if pos >= 0:
                    line = chapter.body_line + chapter.markdown.count("\n", 0, pos)
                    break
        out.append(Finding(f.code, chapter.display, line, f"{f.message} (in the EPUB: {f.path}:{f.line})"))
    return out
