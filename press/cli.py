"""Command line: arguments → pipeline; prints progress, a summary and errors."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import BuildError

HELP = """\
Build the Keep4o book's editions as print-ready PDF (WeasyPrint) and EPUB 3 (pandoc).

commands:
  pdf      one PDF per edition            (dist/<slug>-<lang>.pdf)
  epub     one EPUB 3 per edition, checked with epubcheck (dist/<slug>-<lang>.epub)
  print    press PDF for the print shop (trim + bleed, crop marks, page count padded to the
           signature) and its cover: back, spine, front  (dist/<slug>-<lang>-print.pdf, -cover.pdf)
  all      pdf and epub
  web      the web edition: a static site in dist/web/ (a page per chapter, search, fonts) and
           dist/<slug>-web.zip
  preview  serve the web edition on 127.0.0.1 and rebuild it as the book is edited: the open
           page reloads itself, a build error shows on the page; PDF on request
  release  pdf, epub, print and web for every edition, then SHA256SUMS and manifest.json
  index    write SHA256SUMS and manifest.json for the release files already in --out
  status   translation status: editions × chapters (present, derived, stale, missing)
  check    build what is missing, then verify every artifact and lint the book: a table
           edition × check (epubcheck, accessibility, links, fonts, metadata, text round
           trip, glyphs, visual regression, PDF/X-4 of the press files); exit 1 on any failure

examples:
  python build.py pdf                   every edition in book/
  python build.py epub --lang zh-Hans   one edition
  python build.py all --book tests/fixtures/minimal --out /tmp/out
  python build.py preview --lang ja --port 8000
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="keep4o-press", description=HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=["pdf", "epub", "print", "all", "web", "preview", "release", "index", "status", "check"], help="what to do")
    p.add_argument("--lang", action="append", metavar="TAG",
                   help="build only this edition (repeatable), e.g. ja or zh-Hans; default: all editions")
    p.add_argument("--book", default="book", metavar="DIR",
                   help="book directory holding book.yaml (default: book)")
    p.add_argument("--out", default="dist", metavar="DIR", help="output directory (default: dist)")
    p.add_argument("--no-epubcheck", action="store_true",
                   help="skip epubcheck on the EPUBs (faster drafts; CI never skips it)")
    p.add_argument("-j", "--jobs", type=int, metavar="N",
                   help="render N artifacts at once in separate processes (default: one per core)")
    p.add_argument("-B", "--force", action="store_true",
                   help="render every chosen artifact even if its inputs have not changed")
    p.add_argument("--draft", action="store_true",
                   help="print unknown citation keys as-is (with a warning) instead of failing")
    p.add_argument("--strict", action="store_true", help="status: exit 1 if any chapter is stale or missing")
    p.add_argument("--update-references", action="store_true",
                   help="check: replace the reference images of the visual regression with the current pages")
    p.add_argument("--port", type=int, default=0, metavar="N",
                   help="preview: the port to listen on (default: a free one)")
    p.add_argument("--host", default="127.0.0.1", metavar="ADDR",
                   help="preview: the address to listen on (default 127.0.0.1: this machine only)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    g.add_argument("-v", "--verbose", action="store_true", help="print every warning in full and each stage")
    return p


def _size(n: int) -> str:
    return f"{n / 1024:.0f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


class ConsoleReporter:
    """Progress per edition and format, on stderr; the summary on stdout."""

    def __init__(self, quiet: bool, verbose: bool, stream=None):
        self.quiet, self.verbose = quiet, verbose
        self.stream = stream or sys.stderr
        self.warnings = 0

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def start(self, lang: str, fmt: str) -> None:
        if self.verbose:
            self._print(f"  {lang:<8} {fmt:<5} rendering …")

    def done(self, art) -> None:
        if not self.quiet:
            pages = (f"{art.pages:>4} page" + ("s" if art.pages > 1 else " ")) if art.pages else " " * 10
            self._print(f"  {art.lang:<8} {art.format:<5} {art.seconds:6.1f} s  {_size(art.bytes):>8}  "
                        f"{pages}  {art.path}")

    def warn(self, message: str) -> None:
        self.warnings += 1
        if not self.quiet:
            first = message if self.verbose else message.split("\n")[0]
            self._print(f"warning: {first}")

    def info(self, message: str) -> None:
        if self.verbose:
            self._print(message)


def status(args) -> int:
    from .manifest import load_manifest
    from .status import MISSING, STALE, format_table, translation_status

    columns, table = translation_status(load_manifest(args.book))
    print(format_table(columns, table))
    bad = [c for row in table.values() for c in row.values() if c.state in (STALE, MISSING)]
    if args.strict and bad:
        print(f"error: {len(bad)} chapter(s) stale or missing (--strict)", file=sys.stderr)
        return 1
    return 0


def check(args, reporter) -> int:
    from .check import run_checks
    from .pipeline import build

    # Renders only what is out of date; epubcheck runs in the checks below, not twice.
    build(args.book, args.out, formats=("pdf", "epub", "print"), langs=args.lang, reporter=reporter, jobs=args.jobs, check_epub=False,
          force=args.force)
    table = run_checks(args.book, args.out, args.lang, update_references=args.update_references)
    print(table.format())
    if args.update_references:
        print("reference images updated in tests/references/")
        return 0
    return 1 if table.failed else 0


def index(args) -> int:
    """SHA256SUMS and manifest.json over the release files in --out (after gathering them)."""
    from .manifest import load_manifest
    from .release import source_commit, write_index

    book = load_manifest(args.book)
    entries = write_index(book, Path(args.out), source_commit(Path(__file__).resolve().parent.parent))
    if not args.quiet:
        print(f"indexed {len(entries)} files in {Path(args.out)}/: SHA256SUMS, manifest.json")
    return 0


def _terminate(signum, frame):
    """SIGTERM ends the build as Ctrl-C does: workers stopped, scratch directory removed."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    import signal

    args = parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _terminate) if threading_main() else None
    try:
        return _run(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _run(args) -> int:
    try:
        for option, value in (("--book", args.book), ("--out", args.out)):
            if "\x00" in value or len(value) > 4096:
                raise BuildError(f"{option} is not a usable path", hint="remove control characters; shorten it")
        if args.command == "status":
            return status(args)
        if args.command == "index":
            return index(args)
        if args.command == "preview":
            from .preview import run_preview

            return run_preview(args.book, args.out, args.lang, host=args.host, port=args.port, draft=args.draft,
                               quiet=args.quiet)
        if args.command == "check":
            return check(args, ConsoleReporter(args.quiet, args.verbose))
        return build_command(args)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: no partial files were left in the output directory", file=sys.stderr)
        return 130


def threading_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def build_command(args) -> int:
    """pdf, epub, print, all, release: build, then say what was written (release: and index it)."""
    import time

    from .pipeline import build  # imported here so --help stays instant

    formats = {"all": ("pdf", "epub"), "release": ("pdf", "epub", "print", "web")}.get(args.command, (args.command,))
    t0 = time.perf_counter()
    try:
        report = build(args.book, args.out, formats=formats, langs=args.lang,
                       reporter=ConsoleReporter(args.quiet, args.verbose), check_epub=not args.no_epubcheck,
                       draft=args.draft, jobs=args.jobs, force=args.force)
    except KeyboardInterrupt:
        print("interrupted: no partial files were left in the output directory", file=sys.stderr)
        return 130
    if not args.quiet:
        total = sum(a.bytes for a in report.artifacts)
        fresh = f"; {len(report.up_to_date)} up to date" if report.up_to_date else ""
        if args.verbose:
            for path in report.up_to_date:
                print(f"  up to date: {path}", file=sys.stderr)
        took = time.perf_counter() - t0
        if report.artifacts:
            print(f"wrote {len(report.artifacts)} files ({_size(total)}) to {Path(args.out)}/ in "
                  f"{took:.1f} s{fresh}; {len(report.warnings)} warning(s)")
        else:
            print(f"nothing to do: {len(report.up_to_date)} files in {Path(args.out)}/ are up to date "
                  f"({took:.2f} s; --force renders them again)")
    if args.command == "release":
        if not args.quiet:
            print("translation status of this release:")
            status(args)
        return index(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
