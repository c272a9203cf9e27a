"""Stage 4b: the edition's chapters → EPUB 3 with pandoc (through pypandoc)."""
from __future__ import annotations

import datetime as dt
import zipfile
import re
import uuid
from pathlib import Path

import yaml

from .citations import Citeproc
from .html import chapter_labels, chapter_notice, run_pandoc
from .languages import LANGUAGES
from .manifest import Book, Edition
from .sources import Chapter

NAMESPACE = uuid.UUID("6f1c1f2e-4b7a-5d0e-9a51-6b6565703466")


def book_identifier(book: Book, edition: Edition) -> str:
    """A fixed identifier per book and edition, so rebuilds are byte-identical."""
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{book.slug}/{edition.lang}')}"


def source_date_epoch(book: Book) -> str:
    day = dt.datetime.fromisoformat(book.date).replace(tzinfo=dt.timezone.utc)
    return str(int(day.timestamp()))


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
    if chapter.lang != edition.lang and LANGUAGES[chapter.lang].dir != edition.dir and "dir=" not in attrs:
        attrs += f" dir={LANGUAGES[chapter.lang].dir}"
    lines[i] = f"# {text}" + (f" {{{attrs.strip()}}}" if attrs else "")
    notice, notice_lang = chapter_notice(edition, chapter)
    if notice:
        lines[i] += (f"\n\n::: {{.chapter-notice lang={notice_lang} dir={LANGUAGES[notice_lang].dir}}}\n"
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
        "toc-title": edition.language.strings["contents"],
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
        parts.append(f"# {edition.language.strings['bibliography']}\n\n::: {{#refs}}\n:::\n")
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
            f"--metadata=lang={edition.lang}"]
    run_pandoc(text, "epub3", shown, args, outputfile=str(target), fmt=fmt)
    finish_epub(target, edition.dir)


_ASIDE = re.compile(r'(<aside epub:type="footnote"[^>]*\bid="fn(\d+)"[^>]*>\s*<p>)')


def finish_epub(epub: Path, direction: str) -> None:
    """What pandoc's EPUB 3 writer leaves out:

    - every footnote numbered, with a link back to its call (pandoc's notes only link forward);
    - `dir="rtl"` on every document of a right-to-left edition (its template has no `dir`).

    The archive is rewritten member by member in the same order with the same timestamps, and
    `mimetype` stays first and stored, so the file stays byte-for-byte reproducible.
    """
    tmp = epub.with_suffix(".tmp")
    with zipfile.ZipFile(epub) as src, zipfile.ZipFile(tmp, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".xhtml"):
                text = _ASIDE.sub(lambda m: m.group(1) + f'<a href="#fnref{m.group(2)}" '
                                  f'role="doc-backlink">{m.group(2)}</a>. ', data.decode("utf-8"))
                if direction == "rtl":
                    text = re.sub(r"<html (?![^>]*\bdir=)", '<html dir="rtl" ', text, count=1)
                data = text.encode("utf-8")
            dst.writestr(info, data, compress_type=info.compress_type)
    tmp.replace(epub)
