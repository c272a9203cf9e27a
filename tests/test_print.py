"""The press PDF and the cover: page boxes, padding, cover size, spine, `print:` errors."""
from __future__ import annotations

import math
import re
import shutil
import unicodedata
from collections import Counter
from pathlib import Path

import pypdf
import pytest
from pdfminer.high_level import extract_pages
from pdfminer.layout import LTTextContainer

from conftest import FIXTURES, overlay
from press import html as html_stage
from press.citations import Citeproc, check_citations, load_bibliography
from press.errors import BuildError
from press.manifest import PrintSettings, load_manifest
from press.pdf import write_pdf
from press.printing import STYLES, cover_size, spine_width, write_cover, write_press_pdf

PT_PER_MM = 72 / 25.4
B6 = (125.0, 176.0)                     # the fixture book's trim size


def edition_html(book, lang: str, tmp: Path) -> str:
    """The edition's HTML exactly as pipeline.render_artifact builds it."""
    ed = book.edition(lang)
    from press.sources import load_chapters

    chapters = load_chapters(book, ed)
    bib = load_bibliography(book)
    cited, _ = check_citations(chapters, bib, False)
    cite = Citeproc(bib.for_edition(ed.lang, tmp), book.csl, tuple(cited))
    return html_stage.render_book_html(book, ed, html_stage.render_chapters(ed, chapters, cite))


def stylesheets(ed) -> list[Path]:
    return [STYLES / "book.css"] + ([STYLES / "rtl.css"] if ed.dir == "rtl" else [])


def render_press(book, lang: str, out: Path) -> dict:
    """Screen PDF, press PDF and cover of one edition, as the pipeline would write them."""
    out.mkdir(parents=True, exist_ok=True)
    ed = book.edition(lang)
    doc = edition_html(book, lang, out)
    screen, _ = write_pdf(doc, book.root, stylesheets(ed), out / "screen.pdf", [book.root, STYLES], b"screen")
    pages, press_warnings = write_press_pdf(book, ed, doc, stylesheets(ed), out / "press.pdf", screen)
    cover_warnings = write_cover(book, ed, pages, out / "cover.pdf")
    return {"screen": screen, "pages": pages, "dir": out, "html": doc, "edition": ed,
            "press_warnings": press_warnings, "cover_warnings": cover_warnings}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict:
    return render_press(load_manifest(FIXTURES / "minimal"), "ja", tmp_path_factory.mktemp("press"))


def mm(points: float) -> float:
    return points / PT_PER_MM


def boxes(page) -> dict[str, list[float]]:
    return {name: [float(v) for v in getattr(page, name)] for name in ("mediabox", "trimbox", "bleedbox")}


def test_press_page_boxes(built):
    """MediaBox = trim + bleed on each side; TrimBox = the trim, bleed inside it; BleedBox = MediaBox."""
    bleed = 3 * PT_PER_MM
    width, height = B6[0] * PT_PER_MM, B6[1] * PT_PER_MM
    for page in pypdf.PdfReader(built["dir"] / "press.pdf").pages:
        b = boxes(page)
        mx0, my0, mx1, my1 = b["mediabox"]
        assert mx1 - mx0 == pytest.approx(width + 2 * bleed, abs=0.01)
        assert my1 - my0 == pytest.approx(height + 2 * bleed, abs=0.01)
        assert b["trimbox"] == pytest.approx([mx0 + bleed, my0 + bleed, mx1 - bleed, my1 - bleed], abs=0.01)
        assert b["bleedbox"] == pytest.approx(b["mediabox"], abs=0.01)


def test_press_pages_are_the_screen_pages_with_recto_starts(built):
    """The screen PDF has no blank page; the press PDF has the same pages (folios aside, which
    count the blank versos), each chapter opening on a recto (odd page), then padding."""
    fold = lambda p: re.sub(r"\.{3,}", "…", re.sub(r"\d+", "#", re.sub(r"\s+", "", p.extract_text() or "")))
    screen = [fold(p) for p in pypdf.PdfReader(built["dir"] / "screen.pdf").pages]
    press = [fold(p) for p in pypdf.PdfReader(built["dir"] / "press.pdf").pages]
    assert len(press) == built["pages"] and len(press) % 4 == 0 and len(press) >= len(screen)
    assert all(screen) and built["screen"] == len(screen)
    assert [t for t in press if t] == screen
    reader = pypdf.PdfReader(built["dir"] / "press.pdf")
    tops = [reader.get_destination_page_number(o) for o in reader.outline if not isinstance(o, list)]
    assert len(tops) >= 3 and all(n % 2 == 0 for n in tops[1:]), tops     # 0-based: page 1, 3, 5 …
    assert built["press_warnings"] == []


def operators(reader: pypdf.PdfReader, page) -> set[bytes]:
    return {op for _, op in pypdf.generic.ContentStream(page.get_contents(), reader).operations}


def test_padding_pages_have_no_running_head_or_folio(built):
    """Padding pages and blank versos show no text at all (WeasyPrint shares one font list
    between pages, so look at the drawing operators) and no link; the other pages, as many as
    the screen PDF's, do show text."""
    reader = pypdf.PdfReader(built["dir"] / "press.pdf")
    text_ops = {b"Tj", b"TJ", b"'", b'"'}
    blank = [page for page in reader.pages if not operators(reader, page) & text_ops]
    assert len(reader.pages) - len(blank) == built["screen"] and blank
    for page in blank:
        assert not page.get("/Annots")
        assert operators(reader, page) & {b"Do", b"S", b"f"}        # the crop marks


def test_cover_size_matches_page_count(built):
    book = load_manifest(FIXTURES / "minimal")
    page = pypdf.PdfReader(built["dir"] / "cover.pdf").pages[0]
    spine = math.ceil(built["pages"] / 2) * 0.1
    assert spine_width(built["pages"], book.print) == pytest.approx(spine)
    width = (2 * B6[0] + spine + 2 * 3) * PT_PER_MM
    height = (B6[1] + 2 * 3) * PT_PER_MM
    b = boxes(page)
    assert b["mediabox"][2] - b["mediabox"][0] == pytest.approx(width, abs=0.1)
    assert b["mediabox"][3] - b["mediabox"][1] == pytest.approx(height, abs=0.1)
    assert b["trimbox"][2] - b["trimbox"][0] == pytest.approx(width - 6 * PT_PER_MM, abs=0.1)
    assert cover_size(book, built["pages"]) == pytest.approx((mm(width), mm(height)))
    # 12 pages make a 0.6 mm spine: no text on it, and a warning that says so.
    assert len(built["cover_warnings"]) == 1 and "0.6 mm" in built["cover_warnings"][0]


def test_renders_are_byte_identical(built, tmp_path):
    book = load_manifest(FIXTURES / "minimal")
    ed = built["edition"]
    write_press_pdf(book, ed, built["html"], stylesheets(ed), tmp_path / "press.pdf", built["screen"])
    write_cover(book, ed, built["pages"], tmp_path / "cover.pdf")
    for name in ("press.pdf", "cover.pdf"):
        assert (tmp_path / name).read_bytes() == (built["dir"] / name).read_bytes(), name


def test_print_settings_from_manifest(minimal_book, tmp_path):
    """A 5 mm bleed (past WeasyPrint's 10 pt BleedBox cap), 16-page signatures, no marks."""
    text = (minimal_book / "book.yaml").read_text(encoding="utf-8")
    overlay(minimal_book, {"book.yaml": text + "print:\n  bleed: 5mm\n  signature: 16\n  marks: none\n"})
    book = load_manifest(minimal_book)
    assert book.print == PrintSettings(bleed_mm=5.0, signature=16, paper_thickness_mm=0.1, marks="none")
    result = render_press(book, "ja", tmp_path)
    reader = pypdf.PdfReader(tmp_path / "press.pdf")
    assert len(reader.pages) == result["pages"] == 16
    b = boxes(reader.pages[0])
    assert b["mediabox"][2] - b["mediabox"][0] == pytest.approx((B6[0] + 10) * PT_PER_MM, abs=0.01)
    assert b["bleedbox"] == pytest.approx(b["mediabox"], abs=0.01)
    cover = boxes(pypdf.PdfReader(tmp_path / "cover.pdf").pages[0])
    assert mm(cover["mediabox"][2] - cover["mediabox"][0]) == pytest.approx(2 * B6[0] + 0.8 + 10, abs=0.04)


def text_boxes(pdf: Path) -> list[tuple[str, float, float]]:
    """(text, horizontal centre, page width) of each text box on the first page."""
    page = next(iter(extract_pages(pdf)))
    return [(re.sub(r"\s+", "", el.get_text()), (el.x0 + el.x1) / 2, page.width)
            for el in page if isinstance(el, LTTextContainer)]


@pytest.mark.parametrize("lang, front_side", [("ja", "right"), ("ar", "left")])
def test_cover_front_side_and_spine_text(minimal_book, tmp_path, lang, front_side):
    """Left-bound books have the front on the right; a right-to-left book has it on the left.

    At 300 pages (15 mm) the spine carries the title and the edition name: upright Japanese
    characters one under the other, an Arabic line turned.
    """
    text = (minimal_book / "book.yaml").read_text(encoding="utf-8")
    overlay(minimal_book, {"book.yaml": text + "  - lang: ar\n    timeline: ja/timeline.md\n"})
    book = load_manifest(minimal_book)
    ed = book.edition(lang)
    assert write_cover(book, ed, 300, tmp_path / "cover.pdf") == []
    found = text_boxes(tmp_path / "cover.pdf")
    authors = [x for t, x, w in found if "テスト著者" in t]
    assert len(authors) == 1
    width = found[0][2]
    assert (authors[0] > width / 2) == (front_side == "right")
    on_spine = unicodedata.normalize("NFKC", "".join(t for t, x, w in found if abs(x - width / 2) < 10 * PT_PER_MM))
    # Turned lines extract in any order, Arabic in presentation forms: compare the letters.
    wanted = Counter(re.sub(r"\s+", "", ed.title + ed.strings["edition"]))
    assert not wanted - Counter(on_spine), on_spine


BAD_PRINT = [
    ("print:\n  bleed: 3\n", "print.bleed must be a length with its unit", 2),
    ("print:\n  bleed: 3 mm\n", "print.bleed must be a length", 2),
    ("print:\n  bleed: 40mm\n", "print.bleed 40mm is out of range", 2),
    ("print:\n  paper_thickness: 0.1\n", "print.paper_thickness must be a length", 2),
    ("print:\n  signature: 0\n", "print.signature must be a whole number of pages from 1 to", 2),
    ("print:\n  signature: sixteen\n", "print.signature must be a number, not a string", 2),
    ("print:\n  signature: true\n", "print.signature must be a whole number", 2),
    ("print:\n  marks: crops\n", "unknown print.marks 'crops' (did you mean 'crop'?", 2),
    ("print:\n  bleeding: 3mm\n", "unknown key 'bleeding' in print (did you mean 'bleed'?)", 2),
    ("print: 3mm\n", "print must be a mapping", 1),
]


@pytest.mark.parametrize("yaml_text, message, offset", BAD_PRINT)
def test_bad_print_settings_name_their_line(tmp_path, yaml_text, message, offset):
    book = tmp_path / "book"
    shutil.copytree(FIXTURES / "minimal", book)
    manifest = (book / "book.yaml").read_text(encoding="utf-8")
    first = manifest.count("\n") + 1                      # the `print:` line
    (book / "book.yaml").write_text(manifest + yaml_text, encoding="utf-8")
    with pytest.raises(BuildError) as err:
        load_manifest(book)
    assert f"book.yaml:{first + offset - 1}: " in str(err.value) and message in str(err.value), str(err.value)
