"""Runs the stages top to bottom; the only module that knows their order."""
from __future__ import annotations

import multiprocessing
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from . import epub as epub_stage
from . import html as html_stage
from .citations import Citeproc, check_citations, load_bibliography
from .errors import BuildError
from .manifest import Book, Edition, load_manifest
from .output import place, scratch_dir
from .qa import run_epubcheck
from .sources import converter, load_chapters
from .system import has_harfbuzz_subset, require_fonts, INSTALL_HINT

PRESS_ROOT = Path(__file__).resolve().parent.parent
STYLES = PRESS_ROOT / "styles"
FORMATS = ("pdf", "epub")


@dataclass
class Artifact:
    lang: str
    format: str
    path: Path
    bytes: int
    seconds: float
    pages: int | None = None


@dataclass
class Report:
    """What a build did: artifacts written and warnings, for the CLI to print."""

    artifacts: list[Artifact] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str, reporter: "Reporter") -> None:
        """Count a warning and show it as it happens."""
        self.warnings.append(message)
        reporter.warn(message)


class Reporter:
    """Receives progress; the CLI prints it, tests can ignore it."""

    def start(self, lang: str, fmt: str) -> None: ...
    def done(self, artifact: Artifact) -> None: ...
    def warn(self, message: str) -> None: ...
    def info(self, message: str) -> None: ...


def artifact_name(book: Book, edition: Edition, fmt: str) -> str:
    return f"{book.slug}-{edition.lang}.{fmt}"


def select_editions(book: Book, langs: list[str] | None) -> list[Edition]:
    if not langs:
        return list(book.editions)
    return [book.edition(lang) for lang in langs]


def preflight(book: Book, editions: list[Edition], reporter: Reporter, report: Report) -> None:
    families = set()
    for ed in editions:
        families |= {ed.serif, ed.sans}
    require_fonts(families)
    if not has_harfbuzz_subset():
        msg = ("libharfbuzz-subset0 is missing: WeasyPrint will subset CJK fonts about ten times "
               f"slower (install it: {INSTALL_HINT})")
        report.warn(msg, reporter)
    no_letter = [ed.lang for ed in editions if not ed.has_letter]
    if no_letter:
        msg = "no letter chapter yet in: " + ", ".join(no_letter) + " (add `letter:` to the edition in book.yaml)"
        report.warn(msg, reporter)


@dataclass(frozen=True)
class Job:
    """One artifact to render: an edition in one format (picklable, for a worker process)."""

    book: Book
    edition: Edition
    format: str
    chapters: tuple
    cite: Citeproc | None
    scratch: Path
    target: Path
    check_epub: bool


def render_artifact(job: Job) -> tuple[Artifact, list[str]]:
    """Render one artifact into the scratch directory; return it and its warnings."""
    t0 = time.perf_counter()
    book, ed, chapters = job.book, job.edition, list(job.chapters)
    warnings: list[str] = []
    pages = None
    with html_stage.pandoc_warnings() as pandoc_said:
        if job.format == "pdf":
            from .pdf import write_pdf  # WeasyPrint loads in ~0.6 s: only when rendering

            rendered = html_stage.render_chapters(ed, chapters, job.cite)
            doc = html_stage.render_book_html(book, ed, rendered)
            css = [STYLES / "book.css"] + ([STYLES / "rtl.css"] if ed.dir == "rtl" else [])
            pages, said = write_pdf(doc, book.root, css, job.scratch, allowed=[book.root, STYLES],
                                    identifier=f"{book.slug}-{ed.lang}".encode())
            fail_on_missing_glyphs(said, chapters)
            warnings += [f"[{ed.lang} pdf] {w}" for w in said]
        else:
            epub_stage.write_epub(book, ed, chapters, STYLES / "epub.css", job.scratch, job.cite)
            if job.check_epub:
                findings = run_epubcheck(job.scratch)
                if findings:
                    raise BuildError(
                        f"epubcheck rejected the {ed.lang} EPUB ({len(findings)} problems); "
                        "the previous file is left in place:\n  "
                        + "\n  ".join(str(f) for f in findings[:20]), job.target)
        warnings += [f"[{ed.lang} {job.format}] pandoc: {w}" for w in pandoc_said]
    art = Artifact(ed.lang, job.format, job.target, job.scratch.stat().st_size, time.perf_counter() - t0, pages)
    return art, warnings


_NOTDEF = re.compile(r'\.notdef glyph rendered for Unicode string unsupported by fonts: "(.)" \(U\+([0-9A-F]+)\)')


def fail_on_missing_glyphs(weasyprint_warnings: list[str], chapters) -> None:
    """A character that no font has would print as a blank box (tofu): stop, and say where it is."""
    for warning in weasyprint_warnings:
        m = _NOTDEF.search(warning)
        if not m:
            continue
        char, code = m.group(1), m.group(2)
        for ch in chapters:
            lines = ch.ref.path.read_text(encoding="utf-8").split("\n")
            line = next((n for n, s in enumerate(lines, 1) if char in s), None)
            if line:
                raise BuildError(f"character {char!r} (U+{code}) is in no font this edition can use", ch.display,
                                 line, hint="remove or replace it, or add a font that has it to the edition")
        raise BuildError(f"character {char!r} (U+{code}) is in no font this edition can use",
                         hint="it is not in a chapter: check the manifest's titles and links")


def run_jobs(job_list: list[Job], jobs: int | None, reporter: Reporter):
    """Yield (job, result) as artifacts finish: in worker processes when jobs > 1.

    Editions are independent, so they spread over the cores; each worker loads WeasyPrint
    and the fonts once and renders several artifacts.
    """
    jobs = min(jobs or os.cpu_count() or 1, len(job_list))
    if jobs <= 1:
        for job in job_list:
            reporter.start(job.edition.lang, job.format)
            yield job, render_artifact(job)
        return
    # The heaviest first (PDFs of the longest editions), so no core idles at the end.
    order = sorted(job_list, key=lambda j: (j.format != "pdf", -sum(len(c.markdown) for c in j.chapters)))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork")) as pool:
        futures = {}
        for job in order:
            reporter.start(job.edition.lang, job.format)
            futures[pool.submit(render_artifact, job)] = job
        try:
            for future in as_completed(futures):
                yield futures[future], future.result()
        except BaseException:
            # Ctrl-C or a failed artifact: stop the other workers now rather than let them finish.
            for future in futures:
                future.cancel()
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            raise


def build(book_dir: str | Path, out_dir: str | Path, formats: tuple[str, ...] = FORMATS,
          langs: list[str] | None = None, reporter: Reporter | None = None,
          check_epub: bool = True, draft: bool = False, jobs: int | None = None) -> Report:
    """Build the chosen editions and formats into out_dir; return what was written."""
    reporter = reporter or Reporter()
    report = Report()
    book = load_manifest(book_dir)
    editions = select_editions(book, langs)
    os.environ.setdefault("SOURCE_DATE_EPOCH", epub_stage.source_date_epoch(book))
    preflight(book, editions, reporter, report)
    # Read every chapter and check every citation first: bad input fails before anything renders.
    chapters_of = {ed.lang: load_chapters(book, ed) for ed in editions}
    bib = load_bibliography(book)
    cited_of: dict[str, list[str]] = {}
    for ed in editions:
        cited, warnings = check_citations(chapters_of[ed.lang], bib, draft)
        for w in warnings:
            report.warn(w, reporter)
        cited_of[ed.lang] = cited
    out = Path(out_dir)
    finished: list[tuple[Path, Path]] = []
    with scratch_dir(out) as tmp:
        job_list = []
        for ed in editions:
            cite = None
            if bib:
                convert = converter(ed.opencc, ed.opencc_overrides) if ed.opencc else None
                bib_file = bib.for_edition(ed.lang, tmp, "zh-Hans" if ed.opencc else None, convert)
                cite = Citeproc(bib_file, book.csl, tuple(cited_of[ed.lang]))
            for fmt in formats:
                if fmt not in FORMATS:
                    raise BuildError(f"unknown format {fmt!r}", hint="pdf or epub")
                job_list.append(Job(book, ed, fmt, tuple(chapters_of[ed.lang]), cite, tmp / artifact_name(book, ed, fmt),
                                    out / artifact_name(book, ed, fmt), check_epub))
        for job, (art, warnings) in run_jobs(job_list, jobs, reporter):
            for w in warnings:
                report.warn(w, reporter)
            finished.append((job.scratch, job.target))
            report.artifacts.append(art)
            reporter.done(art)
        # All or nothing: the previous artifacts are replaced only once every one is good.
        for tmp_file, target in finished:
            place(tmp_file, target)
    return report
