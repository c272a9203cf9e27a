"""The fixture book end to end: a letter chapter, footnotes, the CLI's output, reproducibility."""
from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pypdf
import pytest

from conftest import FIXTURES, run_cli
from test_book import pdf_pages, squash


def test_letter_chapter_end_to_end(minimal_built):
    pages = pdf_pages(minimal_built / "mini-ja.pdf")
    text = squash("".join(pages))
    order = [text.find(h) for h in ("年表の見出し", "手紙の見出し", "付録A", "한국어부록")]
    assert all(p > 0 for p in order) and order == sorted(order), order
    toc = next(p for p in pages if p.startswith("目次"))
    assert "手紙の見出し" in toc
    with zipfile.ZipFile(minimal_built / "mini-ja.epub") as z:
        nav = z.read("EPUB/nav.xhtml").decode()
    assert "手紙の見出し" in nav


def test_chapters_open_on_new_pages_without_blanks(minimal_built):
    """On screen each chapter opens a page, and no page is blank (recto starts and blank versos
    belong to the press PDF: test_print.py)."""
    pages = pdf_pages(minimal_built / "mini-ja.pdf")
    starts = [i for i, p in enumerate(pages) if any(h in p for h in ("年表の見出し\n", "手紙の見出し\n", "付録A\n"))
              and "目次" not in p]
    assert len(starts) == 3, starts
    assert all(p.strip() for p in pages), [i for i, p in enumerate(pages) if not p.strip()]


def test_footnote_at_foot_of_its_page(minimal_built):
    pages = pdf_pages(minimal_built / "mini-ja.pdf")
    page = next(p for p in pages if "脚注の本文です" in p)
    assert "最初の段落です" in page
    assert page.index("最初の段落です") < page.index("脚注の本文です")


def test_trim_size_from_manifest(minimal_built):
    box = pypdf.PdfReader(minimal_built / "mini-ja.pdf").pages[0].mediabox
    assert round(float(box.width) / 72 * 25.4) == 125 and round(float(box.height) / 72 * 25.4) == 176


def test_missing_letter_reported_once(tmp_path):
    proc = run_cli("pdf", "--book", str(FIXTURES / "minimal"), "--out", str(tmp_path), "--lang", "zh-Hans")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("no letter chapter") == 1 and "zh-Hans" in proc.stderr
    assert "mini-zh-Hans.pdf" in proc.stderr and "pages" in proc.stderr
    assert "wrote 1 files" in proc.stdout and "1 warning" in proc.stdout


def test_quiet_prints_nothing_on_success(tmp_path):
    proc = run_cli("pdf", "-q", "--book", str(FIXTURES / "minimal"), "--out", str(tmp_path), "--lang", "ja")
    assert proc.returncode == 0 and proc.stdout == "" and proc.stderr == ""


def test_help_lists_commands_and_options():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for word in ("pdf", "epub", "all", "--lang", "--book", "--out", "--quiet", "--verbose"):
        assert word in proc.stdout


def test_builds_are_byte_identical(minimal_built, tmp_path):
    proc = run_cli("all", "--book", str(FIXTURES / "minimal"), "--out", str(tmp_path), "--no-epubcheck")
    assert proc.returncode == 0, proc.stderr
    for name in ("mini-ja.pdf", "mini-ja.epub", "mini-zh-Hans.pdf", "mini-zh-Hans.epub"):
        assert (tmp_path / name).read_bytes() == (minimal_built / name).read_bytes(), name


@pytest.mark.parametrize("name", ["mini-ja.epub", "mini-zh-Hans.epub"])
def test_epub_mimetype_first_and_stored(minimal_built, name):
    with zipfile.ZipFile(minimal_built / name) as z:
        first = z.infolist()[0]
    assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED


def test_footnotes_numbered_per_chapter(minimal_built):
    pages = pdf_pages(minimal_built / "mini-ja.pdf")
    first = next(p for p in pages if "脚注の本文です" in p)
    second = next(p for p in pages if "手紙の注です" in p)
    assert "1. 脚注の本文です" in first
    assert "1. 手紙の注です" in second


def _leaf():
    return None


def _calls_at_depth(depth: int, calls: int) -> float:
    """Seconds for `calls` calls of a function `depth` frames down."""
    if depth:
        return _calls_at_depth(depth - 1, calls)
    start = time.perf_counter()
    for _ in range(calls):
        _leaf()
    return time.perf_counter() - start


def _plain(fn, *args):          # with_stack_room's two frames, of ordinary size
    return _plain_inner(fn, args)


def _plain_inner(fn, args):
    return fn(*args)


def test_rendering_runs_clear_of_cpython_frame_chunk_edges():
    """pipeline.with_stack_room: on CPython 3.11 a call made over and over right at the edge of a
    16 KB frame chunk maps and unmaps the chunk each time (CPython issue 142183); WeasyPrint's
    layout in a worker hit it 112,000 times for the ja PDF. Probed in a new thread, whose frame
    stack starts empty (pytest's own depth would shift the edges)."""
    import threading

    from press.pipeline import with_stack_room

    found = {}

    def probe():        # every call from this frame, so that a depth means the same each time
        times = {}
        for depth in range(300):
            times[depth] = _plain(_calls_at_depth, depth, 3000)
        edge = max(times, key=times.get)
        at_edge = _plain(_calls_at_depth, edge, 20000)
        with_room = with_stack_room(_calls_at_depth, edge, 20000)
        found.update(edge=edge, ratio=times[edge] / sorted(times.values())[len(times) // 2],
                     at_edge=at_edge, with_room=with_room)

    thread = threading.Thread(target=probe)
    thread.start()
    thread.join()
    if found["ratio"] < 20:
        pytest.skip("this CPython keeps a spare chunk (3.13 and later): no edge to avoid")
    assert found["with_room"] < found["at_edge"] / 10, found


def test_short_jobs_come_after_every_pdf_so_they_fill_the_cores_at_the_end():
    """Checked EPUBs first (epubcheck then works beside the PDFs), the PDFs longest first, and the
    web pages and unchecked EPUBs last: among the PDFs, a release's last PDF ran beside an idle core."""
    from types import SimpleNamespace

    from press.pipeline import job_order

    def job(lang, fmt, size, check=True):
        return SimpleNamespace(lang=lang, format=fmt, check_epub=check,
                               chapters=[SimpleNamespace(markdown="x" * size)])

    jobs = [job("a", "pdf+print", 10), job("a", "web", 10), job("a", "epub", 10),
            job("b", "pdf+print", 30), job("b", "web", 30), job("b", "epub", 30),
            job("c", "pdf", 20), job("c", "epub", 20, check=False)]
    order = [(j.lang, j.format) for j in job_order(jobs)]
    assert order == [("b", "epub"), ("a", "epub"),
                     ("b", "pdf+print"), ("c", "pdf"), ("a", "pdf+print"),
                     ("b", "web"), ("c", "epub"), ("a", "web")]


def test_the_workers_start_with_the_hyphenation_dictionaries_loaded():
    """warm_up, run before the workers fork, reads the dictionaries of the editions' languages and
    of Latin words inside Korean (~0.15 s each), so that no worker reads them again."""
    import pyphen

    from press.html import hyphenator
    from press.manifest import load_manifest
    from press.pipeline import warm_up

    book = load_manifest(FIXTURES / "minimal")      # ja and zh-Hans: English from Latin words in Korean
    saved = dict(pyphen.hdcache)
    pyphen.hdcache.clear()
    hyphenator.cache_clear()
    try:
        warm_up(book.editions)
        loaded = {Path(p).name for p in pyphen.hdcache}
    finally:
        pyphen.hdcache.clear()
        pyphen.hdcache.update(saved)
        hyphenator.cache_clear()
    assert any(name.startswith("hyph_en") for name in loaded), loaded
