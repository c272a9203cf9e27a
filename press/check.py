"""The quality gate: verify every built artifact (screen PDF, EPUB, press PDF and cover) and the
book's text; a table edition × check."""
from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pypdf

from . import qa
from .citations import CITATION
from .citations import load_bibliography
from .html import pandoc_warnings, run_pandoc
from .sanitize import MARKDOWN
from .lint import lint_book
from .manifest import Book, Edition, load_manifest
from .pipeline import artifact_name, artifact_names, select_editions
from .sources import Chapter, load_chapters

REFERENCES = Path(__file__).resolve().parent.parent / "tests" / "references"
ROUND_TRIP_MIN = 0.99
SEARCH_MIN = 0.99             # share of a chapter's words (per script) a search of the PDF finds
VISUAL_DPI = 30
VISUAL_TOLERANCE = 0.003      # share of pixels allowed to differ (anti-aliasing, not layout)


@dataclass
class Result:
    ok: bool
    reason: str = ""


@dataclass
class CheckTable:
    columns: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, Result]] = field(default_factory=dict)
    lint: list = field(default_factory=list)

    def add(self, lang: str, column: str, problems: list[str]) -> None:
        if column not in self.columns:
            self.columns.append(column)
        reason = "; ".join(problems[:3]) + (f" (+{len(problems) - 3} more)" if len(problems) > 3 else "")
        self.rows.setdefault(lang, {})[column] = Result(not problems, reason)

    @property
    def failed(self) -> bool:
        return bool(self.lint) or any(not r.ok for row in self.rows.values() for r in row.values())

    def format(self) -> str:
        width = max(len(c) for c in self.columns)
        lines = ["edition  " + "  ".join(c.ljust(width) for c in self.columns)]
        reasons = []
        for lang, row in self.rows.items():
            cells = ["pass" if row.get(c, Result(True)).ok else "FAIL" for c in self.columns]
            lines.append(f"{lang:<8} " + "  ".join(c.ljust(width) for c in cells))
            reasons += [f"  {lang} {c}: {r.reason}" for c, r in row.items() if not r.ok]
        lines.append(f"lint     {'pass' if not self.lint else f'FAIL ({len(self.lint)} findings)'}")
        reasons += [f"  {f}" for f in self.lint]
        return "\n".join(lines + reasons)


def _plain(chapter: Chapter) -> str:
    """The chapter's text as a reader sees it, without citation keys and note markers."""
    md = re.sub(r"\[@[^\]]*\]|\[\^[^\]]+\](?!:)", "", chapter.markdown)
    md = CITATION.sub("", md)                                   # in-text citations print the author
    md = re.sub(r"(?m)^(-{3,}|\*{3,}|_{3,})\s*$", "", md)     # rules print as an ornament, not as dashes
    with pandoc_warnings():          # unused note definitions, now that the calls are gone
        return run_pandoc(md, "plain", chapter.display, ["--wrap=none"], fmt=MARKDOWN)


def _page_texts(pdf: Path) -> list[str]:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return out.split("\f")


def _reading_texts(pdf: Path) -> list[str]:
    """Each page's text in reading order, as a viewer's search sees it."""
    out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return out.split("\f")


def search_totals(plains: list[str], ranges, reading: list[str]) -> dict[str, list[int]]:
    """Per script, [words found, words] over the chapters (their plain text, `_plain`): each
    chapter's words searched in the text of its own pages (`reading`: per page, _reading_texts)."""
    found: dict[str, list[int]] = {}
    for plain, pages in zip(plains, ranges):
        for script, (hits, total, _) in qa.searchable(plain, "".join(reading[p] for p in pages)).items():
            found.setdefault(script, [0, 0])
            found[script][0] += hits
            found[script][1] += total
    return found


def visual(book: Book, ed: Edition, reader, pdf: Path, count: int, diff_dir: Path, update: bool,
           references: Path = REFERENCES) -> list[str]:
    """First page of each chapter against the reference PNGs (tests/references)."""
    from PIL import Image, ImageChops

    problems = []
    references.mkdir(parents=True, exist_ok=True)
    for i, pages in enumerate(qa.chapter_page_ranges(reader, count), start=1):
        name = f"{book.slug}-{ed.lang}-ch{i}"
        tmp = diff_dir / f"{name}.png"
        subprocess.run(["pdftoppm", "-png", "-gray", "-r", str(VISUAL_DPI), "-f", str(pages.start + 1),
                        "-l", str(pages.start + 1), "-singlefile", str(pdf), str(tmp.with_suffix(""))], check=True)
        ref = references / f"{name}.png"
        if update:
            shutil.copyfile(tmp, ref)
            continue
        if not ref.is_file():
            problems.append(f"no reference image {ref.name} (run make update-references)")
            continue
        new, old = Image.open(tmp).convert("L"), Image.open(ref).convert("L")
        if new.size != old.size:
            problems.append(f"{name}: page size changed {old.size} → {new.size}")
            continue
        diff = ImageChops.difference(new, old).point(lambda v: 255 if v > 60 else 0)
        changed = diff.histogram()[255] / (new.size[0] * new.size[1])
        if changed > VISUAL_TOLERANCE:
            diff.save(diff_dir / f"{name}-diff.png")
            problems.append(f"{name}: {changed:.1%} of pixels differ (diff in {diff_dir / (name + '-diff.png')})")
    return problems


def press_files(book: Book, ed: Edition, out: Path) -> list[str]:
    """The press PDF and the cover as a print shop's preflight reads them (qa.pdf_x4)."""
    from .pdfx import PROFILE_NAME

    problems = []
    for name in artifact_names(book, ed, "print"):
        if not (out / name).is_file():
            problems.append(f"{name} is missing (build.py print)")
            continue
        problems += [f"{name}: {p}" for p in qa.pdf_x4(pypdf.PdfReader(out / name), PROFILE_NAME)]
    return problems


def run_checks(book_dir: str | Path, out_dir: str | Path, langs: list[str] | None,
               update_references: bool = False, references: Path = REFERENCES, ace: bool = True) -> CheckTable:
    """Verify the artifacts in out_dir (built beforehand) and lint the book."""
    book = load_manifest(book_dir)
    out = Path(out_dir)
    diff_dir = out / "check"
    diff_dir.mkdir(parents=True, exist_ok=True)
    table = CheckTable()
    bib = load_bibliography(book)
    all_chapters: list[Chapter] = []
    editions = select_editions(book, langs)
    with qa.EpubCheck() as checker:      # one JVM checks every EPUB, beside the other checks
        verdicts = {ed.lang: checker.submit(out / artifact_name(book, ed, "epub")) for ed in editions}
        for ed in editions:
            chapters = load_chapters(book, ed)
            all_chapters += [c for c in chapters if not c.derived_from]
            check_edition(book, ed, chapters, out, bib, table, verdicts[ed.lang], diff_dir, update_references,
                          references, ace)
    table.lint = lint_book(book, all_chapters, bib)
    return table


def check_edition(book: Book, ed: Edition, chapters: list[Chapter], out: Path, bib, table: CheckTable,
                  verdict, diff_dir: Path, update_references: bool, references: Path, ace: bool) -> None:
    """Every column of one edition's row (`verdict`: the future of its epubcheck findings)."""
    epub = out / artifact_name(book, ed, "epub")
    pdf = out / artifact_name(book, ed, "pdf")
    table.add(ed.lang, "epubcheck", [str(f) for f in verdict.result()])
    table.add(ed.lang, "epub-a11y", qa.epub_accessibility(epub))
    if ace:
        table.add(ed.lang, "ace", qa.run_ace(epub, diff_dir / f"ace-{ed.lang}"))
    table.add(ed.lang, "epub-links", qa.epub_links(epub))
    reader = pypdf.PdfReader(pdf)
    table.add(ed.lang, "pdf-fonts", qa.pdf_fonts(reader))
    table.add(ed.lang, "pdf-meta", qa.pdf_metadata(reader, ed.lang, ed.title))
    table.add(ed.lang, "pdf-links", qa.pdf_links(reader))
    texts = _page_texts(pdf)
    has_bib = bool(bib) and any("@" in c.markdown for c in chapters)
    ranges = qa.chapter_page_ranges(reader, len(chapters) + (1 if has_bib else 0))
    trip, glyphs = [], []
    plains = [_plain(ch) for ch in chapters]
    for ch, plain, pages in zip(chapters, plains, ranges):
        ratio, missing = qa.round_trip(plain, "".join(texts[p] for p in pages))
        if ratio < ROUND_TRIP_MIN:
            trip.append(f"{ch.display}: {ratio:.1%} of its characters in the PDF")
        glyphs += [f"{ch.display}: {m}" for m in missing]
    table.add(ed.lang, "text-trip", trip)
    table.add(ed.lang, "glyphs", glyphs)
    found = search_totals(plains, ranges, _reading_texts(pdf))
    table.add(ed.lang, "search", [f"{script.lower()}: {hits / total:.1%} of the words found"
                                  for script, (hits, total) in sorted(found.items())
                                  if hits / total < SEARCH_MIN])
    table.add(ed.lang, "oblique", qa.synthetic_obliques(pdf))
    table.add(ed.lang, "visual", visual(book, ed, reader, pdf, len(ranges), diff_dir, update_references,
                                        references))
    table.add(ed.lang, "pdf-x4", press_files(book, ed, out))
