"""Slow tier (`make test-slow`, run by CI): a hostile book too big for the fast suite.

A 5 MB chapter must build, PDF and EPUB, in bounded time and memory; the bounds are generous
(about three times what was measured on 2 cores) so a busy machine does not fail them, but a
press that went quadratic or held every page twice would.
"""
from __future__ import annotations

import resource
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import ROOT

pytestmark = pytest.mark.slow

MAX_SECONDS = 900           # measured: 330 s wall for PDF + EPUB with two workers
MAX_RSS_MB = 2048           # measured: 1.3 GB for the PDF worker


def five_megabytes_of_japanese() -> str:
    """Numbered paragraphs of plain Japanese with a footnote every 50, up to 5 MB of UTF-8."""
    sentence = "二〇二五年の出来事を記録した段落です。読者は各項目を日付順にたどることができます。"
    parts, size, n = ["# 長い章\n\n"], 0, 0
    while size < 5 * 1024 * 1024:
        n += 1
        note = f"[^n{n}]\n\n[^n{n}]: 注{n}の本文。" if n % 50 == 0 else ""
        para = f"{n}. {sentence * 6}{note}\n\n"
        parts.append(para)
        size += len(para.encode("utf-8"))
    return "".join(parts)


def test_five_megabyte_chapter_builds_in_bounded_time_and_memory(minimal_book: Path, tmp_path: Path):
    chapter = minimal_book / "ja" / "timeline.md"
    chapter.write_text("---\nshort_title: 長い章\n---\n\n" + five_megabytes_of_japanese(), encoding="utf-8")
    assert chapter.stat().st_size >= 5 * 1024 * 1024
    out = tmp_path / "out"
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, str(ROOT / "build.py"), "all", "--lang", "ja", "--book",
                           str(minimal_book), "--out", str(out), "-j", "2"],
                          capture_output=True, text=True, timeout=MAX_SECONDS)
    seconds = time.monotonic() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert seconds < MAX_SECONDS
    assert peak_mb < MAX_RSS_MB
    pdf = PdfReader(out / "mini-ja.pdf")
    print(f"5 MB chapter: {seconds:.0f} s, {len(pdf.pages)} pages, peak RSS of the largest process {peak_mb:.0f} MB")
    assert len(pdf.pages) > 1000
    last = pdf.pages[-len(pdf.pages) // 3].extract_text()
    assert "段落です" in last
    with zipfile.ZipFile(out / "mini-ja.epub") as epub:
        text = sum(i.file_size for i in epub.infolist() if i.filename.endswith(".xhtml"))
    assert text > 5 * 1024 * 1024          # the whole chapter is in it (it compresses to ~90 KB)
