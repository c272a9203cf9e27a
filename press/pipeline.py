"""Runs the stages top to bottom; the only module that knows their order."""
from __future__ import annotations

import multiprocessing
import os
import re
import resource
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from .cache import State
from . import STYLES
from .errors import BuildError
from .languages import language
from .manifest import Book, Edition, display_path, load_manifest
from .output import PANDOC_CACHE, place, prune_cache, scratch_dir
from .system import has_harfbuzz_subset, require_fonts, INSTALL_HINT

PRESS_ROOT = Path(__file__).resolve().parent.parent
FORMATS = ("pdf", "epub", "print", "web")
# What each format writes: the press ("print") format gives the press PDF and its cover.
# Each output: (file-name suffix, artifact kind).
OUTPUTS = {"pdf": ((".pdf", "pdf"),), "epub": ((".epub", "epub"),),
           "print": (("-print.pdf", "print"), ("-cover.pdf", "cover")),
           "web": (("", "web"),)}    # a folder, web/<lang>/, named by its contents page (web.py)
# Formats made from an edition's one page layout; built together, they are one job "pdf+print".
LAID_OUT = ("pdf", "print", "pdf+print")


def outputs(fmt: str) -> tuple[tuple[str, str], ...]:
    """What a job writes: a format's outputs, or those of formats joined by "+" in order."""
    return tuple(o for part in fmt.split("+") for o in OUTPUTS[part])


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
    up_to_date: list[Path] = field(default_factory=list)

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
    """The file name of a format's (first) output, e.g. keep4o-ja.pdf, keep4o-ja-print.pdf."""
    return artifact_names(book, edition, fmt)[0]


def artifact_names(book: Book, edition: Edition, fmt: str) -> tuple[str, ...]:
    if fmt == "web":
        from .web import SITE

        return (f"{SITE}/{edition.lang}/index.html",)
    return tuple(f"{book.slug}-{edition.lang}{suffix}" for suffix, _ in outputs(fmt))


def select_editions(book: Book, langs: list[str] | None) -> list[Edition]:
    if not langs:
        return list(book.editions)
    for lang in langs:
        if langs.count(lang) > 1:
            raise BuildError(f"--lang {lang} is given twice", hint="name each edition once")
    return [book.edition(lang) for lang in langs]


def check_out_dir(book: Book, out_dir: str | Path) -> Path:
    """The output directory, refused where writing there would mix artifacts with the book."""
    if not str(out_dir).strip():
        raise BuildError("--out is empty", hint="name an output directory, e.g. --out dist")
    out = Path(out_dir)
    try:
        real = out.resolve()
    except (OSError, RuntimeError) as exc:
        raise BuildError(f"the output directory cannot be used ({exc})", out) from None
    if real == book.root or book.root.is_relative_to(real):
        raise BuildError("the output directory contains the book", out,
                         hint="artifacts would be mixed with the book's files and its state would go stale; "
                              "choose a directory outside the book, e.g. --out dist")
    if real.is_relative_to(book.root):
        raise BuildError("the output directory is inside the book", out,
                         hint="the book's content keys would change with every build; choose a directory "
                              "outside the book, e.g. --out dist")
    return out


def preflight(book: Book, editions: list[Edition], reporter: Reporter, report: Report) -> None:
    families = set()
    for ed in editions:
        families |= {ed.serif, ed.sans} | ({"OCR B"} if ed.isbn else set())   # isbn.FONT_FAMILY
    require_fonts(families)
    if not has_harfbuzz_subset():
        msg = ("libharfbuzz-subset0 is missing: WeasyPrint will subset CJK fonts about ten times "
               f"slower (install it: {INSTALL_HINT})")
        report.warn(msg, reporter)
    for ed in editions:
        if ed.strings_missing:
            from .strings import missing_strings_warning

            shown = str(display_path(ed.strings_file)) if ed.strings_file else None
            report.warn(missing_strings_warning(ed.lang, ed.strings_missing, shown), reporter)
    no_letter = [ed.lang for ed in editions if not ed.has_letter]
    if no_letter:
        msg = "no letter chapter yet in: " + ", ".join(no_letter) + " (add `letter:` to the edition in book.yaml)"
        report.warn(msg, reporter)


@dataclass(frozen=True)
class Job:
    """An edition in one format (picklable, for a worker process): files rendered into
    `scratch`, to be placed into `out` under `names`."""

    book: Book
    edition: Edition
    format: str
    chapters: tuple
    cite: object | None     # citations.Citeproc
    scratch: Path
    out: Path
    names: tuple[str, ...]
    check_epub: bool
    downloads: tuple[str, ...] = ()     # web: the edition's formats the release has ("pdf", "epub")
    preview: bool = False               # web: for the live preview (installed fonts, no search index)

    def file(self, i: int = 0) -> Path:
        return self.scratch / self.names[i]

    def target(self, i: int = 0) -> Path:
        return self.out / self.names[i]


def render_artifact(job: Job) -> tuple[list[Artifact], list[str]]:
    """Render one job's files into the scratch directory; return them and the warnings."""
    from . import epub as epub_stage
    from . import html as html_stage

    t0 = time.perf_counter()
    book, ed, chapters = job.book, job.edition, list(job.chapters)
    warnings: list[str] = []
    pages: list[int | None] = [None] * len(job.names)
    with html_stage.pandoc_warnings() as pandoc_said:
        if job.format in LAID_OUT:
            # WeasyPrint loads in ~0.6 s: only when rendering
            from .pdf import write_screen_pdf
            from .printing import lay_out, write_cover, write_press_pdf

            with ThreadPoolExecutor(max_workers=1) as side:
                # the glyph check (~0.15 s) while pandoc converts the chapters: both come before the layout
                glyphs = side.submit(check_glyphs, book, ed, chapters)
                try:
                    rendered = html_stage.render_chapters(ed, chapters, job.cite, job.out / PANDOC_CACHE)
                finally:
                    glyphs.result()     # a missing glyph is said first, as when it was checked first
            doc = html_stage.render_book_html(book, ed, rendered)
            css = [STYLES / "book.css"] + ([STYLES / "rtl.css"] if ed.dir == "rtl" else [])
            layout, said = lay_out(book, doc, css)      # one layout for the screen and the press PDF
            fail_on_missing_glyphs(said, book, ed, chapters)
            parts = job.format.split("+")
            i = 0
            if "pdf" in parts:
                pages[0] = write_screen_pdf(layout, job.file(), f"{book.slug}-{ed.lang}".encode())
                i = 1
            if "print" in parts:
                pages[i] = write_press_pdf(book, ed, layout, job.file(i))
                cover_said = write_cover(book, ed, pages[i], job.file(i + 1))
                pages[i + 1] = 1
                fail_on_missing_glyphs(cover_said, book, ed, chapters)
                said += cover_said
            warnings += [w if w.startswith(f"[{ed.lang} ") else f"[{ed.lang} {job.format}] {w}" for w in said]
        elif job.format == "web":
            from . import web

            pages[0] = web.write_edition(book, ed, chapters, job.cite, job.scratch / web.SITE, job.downloads,
                                         job.preview, job.out)
        else:
            # (checked by the build's one epubcheck JVM when it is written: see build())
            epub_stage.write_epub(book, ed, chapters, STYLES / "epub.css", job.file(), job.cite)
        warnings += [f"[{ed.lang} {job.format}] pandoc: {w}" for w in pandoc_said]
    seconds = time.perf_counter() - t0
    if job.format == "web":
        from .web import folder_bytes

        return [Artifact(ed.lang, "web", job.target().parent, folder_bytes(job.file().parent), seconds,
                         pages[0])], warnings
    arts = [Artifact(ed.lang, kind, job.target(i), job.file(i).stat().st_size, seconds, pages[i])
            for i, (_, kind) in enumerate(outputs(job.format))]
    return arts, warnings


def warm_up(editions: list[Edition]) -> None:
    """Load what every PDF job needs first (see build); errors are left for the job to report."""
    try:
        from . import printing  # noqa: F401  (imports WeasyPrint)
        from .fonts import body_stack, cmap_of
        from .html import hyphenator
        from .languages import latin_words

        for ed in editions:
            for face in body_stack(ed.serif):
                cmap_of(face)
        for tag in {ed.lang for ed in editions} | ({latin_words()} - {None}):
            hyphenator(tag)
    except Exception:   # noqa: BLE001
        pass


def check_glyphs(book: Book, edition: Edition, chapters) -> None:
    """Before rendering: every character of the edition is in a font it can use (else tofu)."""
    from .fonts import body_stack, check_coverage

    faces = body_stack(edition.serif)
    for lang in dict.fromkeys(ch.lang for ch in chapters if ch.lang != edition.lang):
        faces += [f for f in body_stack(language(lang).serif) if f not in faces]
    check_coverage(glyph_sources(book, edition, chapters), faces, allow_fallback=True)


def glyph_sources(book: Book, edition: Edition, chapters, bibliography: bool = False) -> list[tuple[str, str]]:
    """(file shown, text) of everything an edition prints, lines numbered as in the files.

    The bibliography holds every edition's fields: it is searched only to say where a character
    WeasyPrint could not draw comes from, not checked whole before rendering.
    """
    from . import confine

    sources = [(ch.display, ch.numbered_text) for ch in chapters]
    sources.append((str(display_path(book.manifest)), book.manifest_text))
    # the edition's own wording and the bibliography's titles print too (notes, title page)
    for path in (edition.strings_file, book.bibliography if bibliography else None):
        if path:
            shown = display_path(path)
            sources.append((str(shown), confine.read_text(path, shown, limit=confine.MAX_DATA_BYTES)))
    return sources


_NOTDEF = re.compile(r'\.notdef glyph rendered for Unicode string unsupported by fonts: "(.)" \(U\+([0-9A-F]+)\)')


def fail_on_missing_glyphs(weasyprint_warnings: list[str], book: Book, edition: Edition, chapters) -> None:
    """A character that no font has would print as a blank box (tofu): stop, and say where it is.

    check_glyphs catches these before rendering; this catches what WeasyPrint still reports.
    """
    from .fonts import locate

    for warning in weasyprint_warnings:
        m = _NOTDEF.search(warning)
        if not m:
            continue
        char, code = m.group(1), m.group(2)
        display, line = locate(char, glyph_sources(book, edition, chapters, bibliography=True))
        if display:
            raise BuildError(f"character {char!r} (U+{code}) is in no font this edition can use", display,
                             line, hint="remove or replace it, or add a font that has it to the edition")
        raise BuildError(f"character {char!r} (U+{code}) is in no font this edition can use",
                         hint="it is not in a chapter: check the manifest's titles and links")


# Bounds on one worker: each artifact may use WORKER_SECONDS of CPU plus SECONDS_PER_MB per
# megabyte of its chapters' text (the slow tier's 5 MB chapter takes about 300 s), and the
# worker at most WORKER_MEMORY of address space. Past either, the artifact fails with a message
# instead of hanging the machine.
WORKER_SECONDS = 120
SECONDS_PER_MB = 120
WORKER_MEMORY = 8 * 1024 ** 3


def _die_with_parent() -> None:
    """Worker initializer: exit when the build that started it dies (even by kill -9)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY if hard == resource.RLIM_INFINITY
                                            else min(WORKER_MEMORY, hard), hard))
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the parent decides; it stops the workers
    signal.signal(signal.SIGTERM, signal.SIG_DFL)   # (the CLI's SIGTERM handler is the parent's)


def job_budget(job: Job) -> int:
    """CPU seconds one artifact may take."""
    mb = sum(len(c.markdown.encode("utf-8")) for c in job.chapters) / 2 ** 20
    return int(WORKER_SECONDS + SECONDS_PER_MB * mb)


def _render_bounded(job: Job):
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = int(used.ru_utime + used.ru_stime)
    soft = spent + job_budget(job)
    hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    return with_stack_room(render_artifact, job)


def with_stack_room(fn, *args):
    """fn(*args), its calls in one megabyte of CPython's frame stack.

    CPython 3.11 keeps Python frames in 16 KB chunks and unmaps a chunk as soon as the frame at
    its start returns (CPython issue 142183, fixed in 3.13): when WeasyPrint's layout calls a
    function over and over right at a chunk's edge, every call maps and unmaps one (112,000 times,
    1.2 s of system time, for the ja PDF in a worker). The frame of `_roomy` is made big enough
    that CPython gives it a fresh 1 MB chunk, and the half it leaves holds every deeper frame.
    """
    return _roomy(fn, args)


def _roomy(fn, args):
    return fn(*args)


# 64,600 slots: with CPython's 1,000 spare, more than half a megabyte, so a 1 MB chunk
_roomy.__code__ = _roomy.__code__.replace(co_stacksize=64_600)


def job_order(job_list: list[Job]) -> list[Job]:
    """The order the workers take the jobs in: EPUBs to be checked first, so that epubcheck works
    beside the PDFs rather than after them; then the laid-out PDFs, longest editions first; the
    short jobs (web pages, unchecked EPUBs) last, where they fill the cores while the last PDFs end
    (taken among the PDFs, a release's last PDF ran for seconds beside an idle core)."""
    def key(job: Job) -> tuple[int, int]:
        group = 0 if job.format == "epub" and job.check_epub else 1 if job.format in LAID_OUT else 2
        return group, -sum(len(c.markdown) for c in job.chapters)
    return sorted(job_list, key=key)


def run_jobs(job_list: list[Job], jobs: int | None, reporter: Reporter):
    """Yield (job, result) as artifacts finish, rendered in worker processes.

    Editions are independent, so they spread over the cores; each worker loads WeasyPrint
    and the fonts once and renders several artifacts, within the bounds above.
    """
    if jobs == 0:
        # In this process: the live preview's web pages, where forking a worker would cost more
        # than rendering (pandoc itself still runs confined).
        for job in job_list:
            reporter.start(job.edition.lang, job.format)
            yield job, with_stack_room(render_artifact, job)
        return
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(job_list)))
    order = job_order(job_list)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("fork"),
                             initializer=_die_with_parent) as pool:
        futures = {}
        for job in order:
            reporter.start(job.edition.lang, job.format)
            futures[pool.submit(_render_bounded, job)] = job
        try:
            for future in as_completed(futures):
                job = futures[future]
                try:
                    result = future.result()
                except BrokenProcessPool:
                    raise BuildError(f"rendering the {job.edition.lang} {job.format} was stopped: it went past "
                                     f"{job_budget(job)} s of CPU or {WORKER_MEMORY // 2**30} GB of memory",
                                     hint="look for a very large image or table, or very long paragraphs") from None
                except MemoryError:
                    raise BuildError(f"rendering the {job.edition.lang} {job.format} ran out of memory "
                                     f"({WORKER_MEMORY // 2**30} GB)",
                                     hint="look for a very large image or table, or very long paragraphs") from None
                yield job, result
        except BaseException:
            # Ctrl-C or a failed artifact: stop the other workers now rather than let them finish.
            # The pool then fails the jobs not done (futures left uncancelled: Python 3.11's pool
            # crashes on a cancelled one) and, since no worker will read the job its queue may be
            # writing, must not wait for that write on the way out (else the build hangs at exit).
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()
            call_queue = getattr(pool, "_call_queue", None)
            if call_queue is not None:
                call_queue.cancel_join_thread()
            raise


def build(book_dir: str | Path, out_dir: str | Path, formats: tuple[str, ...] = ("pdf", "epub"),
          langs: list[str] | None = None, reporter: Reporter | None = None,
          check_epub: bool = True, draft: bool = False, jobs: int | None = None,
          force: bool = False, preview: bool = False) -> Report:
    """Build the chosen editions and formats into out_dir; return what was written.

    Artifacts whose content key is unchanged since they were written are left alone (see cache.py);
    force=True renders them anyway. The web format writes a folder per edition, then the site's
    shared files and search index (web.write_site); preview=True makes it for the live preview.
    """
    reporter = reporter or Reporter()
    report = Report()
    book = load_manifest(book_dir)
    editions = select_editions(book, langs)
    for fmt in formats:
        if fmt not in FORMATS:
            raise BuildError(f"unknown format {fmt!r}", hint=", ".join(FORMATS))
    os.environ.setdefault("SOURCE_DATE_EPOCH", source_date_epoch(book))
    out = check_out_dir(book, out_dir)
    state = State(out)
    options = f"draft={draft},preview={preview}"
    todo: list[tuple[Edition, str, str]] = []      # (edition, format, key)
    downloads_of = {ed.lang: web_downloads(book, ed, formats, out) for ed in editions}
    for ed in editions:
        for fmt in formats:
            targets = [out / name for name in artifact_names(book, ed, fmt)]
            key = state.key(book, ed, fmt, options, out)
            if fmt == "web":    # the pages link the PDF and EPUB only where the release has them
                key = f"{key}:{','.join(downloads_of[ed.lang])}"
            if not force and all(state.up_to_date(t.relative_to(out).as_posix(), key, t, fmt == "epub" and check_epub) for t in targets):
                report.up_to_date += targets
            else:
                todo.append((ed, fmt, key))
    site_missing = "web" in formats and not (out / "web" / "index.html").is_file()
    if not todo:
        if site_missing:
            from .web import write_site

            write_site(book, out, preview)
        state.save()
        return report
    from .citations import Citeproc, check_citations, load_bibliography
    from .sources import converter, load_chapters

    editions = [ed for ed in editions if any(t[0] is ed for t in todo)]
    warm = None
    if jobs != 0 and any(fmt in LAID_OUT for _, fmt, _ in todo):
        # WeasyPrint's import (~0.35 s) and the fonts' character maps, loaded while pandoc parses
        # the chapters: the workers, forked afterwards, start with them.
        warm = threading.Thread(target=warm_up, args=([ed for ed, fmt, _ in todo if fmt in LAID_OUT],), daemon=True)
        warm.start()
    # Read every chapter and check every citation first: bad input fails before anything renders
    # (and before any warning, so an error is the first thing said).
    # Each chapter is one sandboxed pandoc parse (sanitize.py): run them side by side.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as threads:
        chapters_of = dict(zip((ed.lang for ed in editions),
                               threads.map(lambda ed: load_chapters(book, ed, out / PANDOC_CACHE), editions)))
    bib = load_bibliography(book)
    cited_of: dict[str, list[str]] = {}
    # pandoc's warnings while reading the chapters, once each (an appendix is in every edition)
    for w in dict.fromkeys(w for ed in editions for ch in chapters_of[ed.lang] for w in ch.warnings):
        report.warn(w, reporter)
    for ed in editions:
        cited, warnings = check_citations(chapters_of[ed.lang], bib, draft)
        for w in warnings:
            report.warn(w, reporter)
        cited_of[ed.lang] = cited
    preflight(book, editions, reporter, report)
    if warm:
        warm.join()     # before forking: a child forked during an import would inherit its lock
    finished: list[tuple[Job, list[Artifact]]] = []
    with scratch_dir(out) as tmp:
        job_list, keys = [], {}
        cites: dict[str, Citeproc | None] = {}
        for ed, fmt, key in todo:
            for name in artifact_names(book, ed, fmt):
                keys[name] = key
        for ed, fmt in joined(todo):
            if ed.lang not in cites:
                cites[ed.lang] = None
                if bib:
                    convert = converter(ed.opencc, ed.opencc_overrides) if ed.opencc else None
                    bib_file = bib.for_edition(ed.lang, tmp, "zh-Hans" if ed.opencc else None, convert)
                    cites[ed.lang] = Citeproc(bib_file, book.csl, tuple(cited_of[ed.lang]))
            job = Job(book, ed, fmt, tuple(chapters_of[ed.lang]), cites[ed.lang], tmp, out,
                      artifact_names(book, ed, fmt), check_epub, downloads_of[ed.lang], preview)
            job_list.append(job)
        checker = None
        if check_epub and any(job.format == "epub" for job in job_list):
            from .qa import EpubCheck

            checker = EpubCheck()
        checks = []
        try:
            for job, (arts, warnings) in run_jobs(job_list, jobs, reporter):
                for w in warnings:
                    report.warn(w, reporter)
                finished.append((job, arts))
                if checker and job.format == "epub":
                    checks.append((job, checker.submit(job.file())))
                for art in arts:
                    report.artifacts.append(art)
                    reporter.done(art)
            for job, check in checks:
                raise_epubcheck(job, check.result())
        finally:
            if checker:
                checker.close(now=len(checks) < sum(job.format == "epub" for job in job_list))
        # All or nothing: the previous artifacts are replaced only once every one is good.
        for job, arts in finished:
            if job.format == "web":
                from .web import place_edition

                place_edition(job.file().parent, job.target().parent)
                state.record(job.names[0], keys[job.names[0]], job.target(), arts[0].pages, job.check_epub)
                continue
            for i, art in enumerate(arts):
                place(job.file(i), job.target(i))
                state.record(job.names[i], keys[job.names[i]], job.target(i), art.pages, job.check_epub)
        if "web" in formats:
            from .web import write_site

            write_site(book, out, preview)
    state.save()
    prune_cache(out / PANDOC_CACHE)
    return report


def joined(todo: list[tuple[Edition, str, str]]) -> list[tuple[Edition, str]]:
    """The jobs to run: (edition, format), an edition's "pdf" and "print" joined into "pdf+print"
    (one layout gives both)."""
    wanted: dict[str, list] = {}
    for ed, fmt, _ in todo:
        wanted.setdefault(ed.lang, [ed]).append(fmt)
    jobs = []
    for ed, *formats in wanted.values():
        if "pdf" in formats and "print" in formats:
            formats = ["pdf+print"] + [f for f in formats if f not in ("pdf", "print")]
        jobs += [(ed, fmt) for fmt in formats]
    return jobs


def raise_epubcheck(job: Job, findings: list) -> None:
    """A rejected EPUB stops the build (before anything is placed), each problem at its chapter line."""
    from .epub import locate_findings

    findings = locate_findings(findings, job.file(), list(job.chapters))
    if findings:
        raise BuildError(f"epubcheck rejected the {job.edition.lang} EPUB ({len(findings)} problems); "
                         "the previous file is left in place:\n  "
                         + "\n  ".join(str(f) for f in findings[:20]), job.target())


def web_downloads(book: Book, edition: Edition, formats: tuple[str, ...], out: Path) -> tuple[str, ...]:
    """The formats a web edition links to: those this build writes or the release already has."""
    if "web" not in formats:
        return ()
    return tuple(ext for ext in ("pdf", "epub")
                 if ext in formats or (out / f"{book.slug}-{edition.lang}.{ext}").is_file())


def source_date_epoch(book: Book) -> str:
    """The manifest's date as SOURCE_DATE_EPOCH: every timestamp in the artifacts comes from it."""
    import datetime as dt

    day = dt.datetime.fromisoformat(book.date).replace(tzinfo=dt.timezone.utc)
    return str(int(day.timestamp()))
