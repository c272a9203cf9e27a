"""Stage 4b: the edition's chapters → EPUB 3 with pandoc (through pypandoc)."""
from __future__ import annotations

import html
import re
import shutil
import zipfile
import xml.etree.ElementTree as ET
import uuid
from pathlib import Path

import yaml

from .citations import Citeproc
from .html import chapter_labels, chapter_notice, language_css, run_pandoc, spacing_args
from .languages import UnknownLanguage, language
from .manifest import Book, Edition
from .sources import Chapter

NAMESPACE = uuid.UUID("6f1c1f2e-4b7a-5d0e-9a51-6b6565703466")


def book_identifier(book: Book, edition: Edition) -> str:
    """A fixed identifier per book and edition, so rebuilds are byte-identical."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{book.slug}/{edition.lang}')}"


def _heading(chapter: Chapter, edition: Edition, label: str | None) -> str:
    """Mark the chapter's first heading with its language and, for appendices, the label;
    put the chapter's notice (in Korean / a translation) right under it."""
    lines = chapter.markdown.split("\n")
    i = next(n for n, s in enumerate(lines) if s.strip())
    text = re.sub(r"^#\s+", "", lines[i])
    attrs = ""
    m = re.search(r"\s*\{([^{}]*)\}\s*$", text)
    if m:
        text, attrs = text[: m.start()], m.group(1)
    if chapter.lang != edition.lang and "lang=" not in attrs:
        attrs = (attrs + f" lang={chapter.lang}").strip()
    if label:
        text = f"[{label}]{{.chapter-label lang={edition.lang}}} {text}"
    if chapter.lang != edition.lang and language(chapter.lang).dir != edition.dir and "dir=" not in attrs:
        attrs += f" dir={language(chapter.lang).dir}"
    lines[i] = f"# {text}" + (f" {{{attrs.strip()}}}" if attrs else "")
    notice, notice_lang = chapter_notice(edition, chapter)
    if notice:
        lines[i] += (f"\n\n::: {{.chapter-notice lang={notice_lang} dir={language(notice_lang).dir}}}\n"
                     f"{notice}\n:::\n")
    return "\n".join(lines)


def edition_markdown(book: Book, edition: Edition, chapters: list[Chapter], cite: Citeproc | None = None) -> str:
    meta = {
        "title": edition.title,
        "author": list(book.authors),
        "date": book.date,
        "lang": edition.lang,
        "dir": edition.dir,
        "identifier": [{"scheme": "URN", "text": book_identifier(book, edition)}],
        "toc-title": edition.strings["contents"],
        # schema.org accessibility metadata (pandoc writes it into the package document)
        "accessModes": ["textual"],
        "accessModeSufficient": ["textual"],
        "accessibilityFeatures": ["structuralNavigation", "tableOfContents", "readingOrder",
                                  "displayTransformability"],
        "accessibilityHazards": ["none"],
        "accessibilitySummary": "Text-only book with headings, a navigation document, a table of contents "
                                "and footnotes linked both ways; no images, media or hazards.",
    }
    if edition.subtitle:
        meta["subtitle"] = edition.subtitle
    if edition.dir == "rtl":
        meta["page-progression-direction"] = "rtl"
    parts = ["---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=True) + "---\n"]
    for ch, label in zip(chapters, chapter_labels(edition, chapters)):
        parts.append(_heading(ch, edition, label))
    if cite and cite.cited:
        parts.append(f"# {edition.strings['bibliography']}\n\n::: {{#refs}}\n:::\n")
    return "\n\n".join(parts)


def write_epub(book: Book, edition: Edition, chapters: list[Chapter], css: Path, target: Path,
               cite: Citeproc | None = None) -> None:
    """Write the EPUB to `target`; images only from the book (confine_media.lua).

    Timestamps come from SOURCE_DATE_EPOCH, which the pipeline sets from the book date.
    """
    text = edition_markdown(book, edition, chapters, cite)
    shown = f"{edition.lang} EPUB"
    fmt = "markdown"
    if cite and cite.cited:
        # Citeproc reads its locale from `lang` (ja-JP), but dc:language must be the edition's
        # tag (ja): resolve the citations in a first pass, then write the EPUB from that AST.
        text = run_pandoc(text, "json", shown, cite.args(edition.locale, bibliography_section=True))
        fmt = "json"
    args = ["--toc", "--toc-depth=1", "--split-level=1", f"--css={css}", "--epub-title-page=true",
            f"--metadata=lang={edition.lang}",
            *spacing_args([edition.lang, *(ch.lang for ch in chapters)], edition.lang)]
    run_pandoc(text, "epub3", shown, args, outputfile=str(target), fmt=fmt)
    finish_epub(target, edition, chapters)


_ASIDE = re.compile(r'(<aside epub:type="footnote"[^>]*\bid="fn(\d+)"[^>]*>\s*<p>)')


def finish_epub(epub: Path, edition: Edition, chapters: list[Chapter]) -> None:
    """What pandoc's EPUB 3 writer leaves out:

    - every footnote numbered, with a link back to its call (pandoc's notes only link forward);
    - `dir="rtl"` on every document of a right-to-left edition (its template has no `dir`);
    - the book's `title_note` on the title page (pandoc's title page has no place for it);
    - fonts: reading systems do not have ours, so the faces the text needs are embedded,
      subset to the characters each one renders (see fonts.py), with @font-face rules.

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
                    data = rules.encode("utf-8") + b"\n" + data
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
    rules = [font_face_css(embedded), language_css(list(stacks))]
    for lang, faces in sorted(stacks.items()):
        families = ", ".join(f'"{f}"' for f in dict.fromkeys(face.family for face in faces))
        rules.append(f":lang({lang}) {{ font-family: {families}, serif; }}")
    return embedded, "\n".join(rules)


def _font_type(path: Path) -> str:
    return "font/otf" if path.suffix == ".otf" else "font/ttf"
