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
from press.pdf import write_screen_pdf
from press.printing import STYLES, cover_size, lay_out, spine_width, write_cover, write_press_pdf

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
    layout, press_warnings = lay_out(book, doc, stylesheets(ed))
    screen = write_screen_pdf(layout, out / "screen.pdf", b"screen")
    pages = write_press_pdf(book, ed, layout, out / "press.pdf")
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
    """One layout: the screen PDF is the press PDF's pages without the blank versos and the
    padding, folios included; each chapter opens on a recto (odd page)."""
    fold = lambda p: re.sub(r"\s+", "", p.extract_text() or "")
    screen_reader = pypdf.PdfReader(built["dir"] / "screen.pdf")
    screen = [fold(p) for p in screen_reader.pages]
    press = [fold(p) for p in pypdf.PdfReader(built["dir"] / "press.pdf").pages]
    assert len(press) == built["pages"] and len(press) % 4 == 0 and len(press) > len(screen)
    assert all(screen) and built["screen"] == len(screen)
    assert [t for t in press if t] == screen
    # the viewer's page labels are the printed folios: press page numbers of the non-blank pages
    folios = [str(i + 1) for i, t in enumerate(press) if t]
    assert screen_reader.page_labels == folios and folios != [str(i + 1) for i in range(len(screen))]
    for page in screen_reader.pages:      # no bleed on screen: the page is the trim
        assert boxes(page)["mediabox"] == pytest.approx([0, 0, B6[0] * PT_PER_MM, B6[1] * PT_PER_MM], abs=0.01)
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
    layout, _ = lay_out(book, built["html"], stylesheets(ed))
    write_screen_pdf(layout, tmp_path / "screen.pdf", b"screen")
    write_press_pdf(book, ed, layout, tmp_path / "press.pdf")
    write_cover(book, ed, built["pages"], tmp_path / "cover.pdf")
    for name in ("screen.pdf", "press.pdf", "cover.pdf"):
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


def test_press_files_are_pdf_x4(built):
    """Output intent /GTS_PDFX with the CMYK profile, version keys, boxes, fonts, no RGB, no links."""
    from press import pdfx, qa

    for name in ("press.pdf", "cover.pdf"):
        reader = pypdf.PdfReader(built["dir"] / name)
        assert qa.pdf_x4(reader, pdfx.PROFILE_NAME) == [], name
        intent = reader.trailer["/Root"]["/OutputIntents"][0].get_object()
        assert intent["/DestOutputProfile"].get_object().get_data() == pdfx.PROFILE.read_bytes()
    # The screen PDF is not a press file: the check says why.
    problems = qa.pdf_x4(pypdf.PdfReader(built["dir"] / "screen.pdf"), pdfx.PROFILE_NAME)
    assert "no /GTS_PDFX output intent" in problems
    assert any("device-RGB colour" in p for p in problems) and any("GTS_PDFXVersion" in p for p in problems)


def test_srgb_becomes_cmyk():
    from press.pdfx import srgb_to_cmyk

    assert srgb_to_cmyk(0, 0, 0) == (0, 0, 0, 1)                 # black text: black ink only
    assert srgb_to_cmyk(0x44 / 255, 0x44 / 255, 0x44 / 255) == pytest.approx((0, 0, 0, 0.7333), abs=1e-4)
    c, m, y, k = srgb_to_cmyk(0x8C / 255, 0x2F / 255, 0x23 / 255)   # a red: through the profile
    assert m > 0.8 and y > 0.8 and c < 0.5


# --- ISBN and barcode --------------------------------------------------------------------

# EAN-13 from the standard (GS1 General Specifications 5.2.2), not from python-barcode: the
# left-hand digits in set A (odd parity) or B (even), chosen by the first digit; right in set C.
EAN_A = ["0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011", "0110111", "0001011"]
EAN_B = ["".join("1" if b == "0" else "0" for b in code)[::-1] for code in EAN_A]
EAN_C = ["".join("1" if b == "0" else "0" for b in code) for code in EAN_A]
EAN_FIRST = ["AAAAAA", "AABABB", "AABBAB", "AABBBA", "ABAABB", "ABBAAB", "ABBBAB", "ABABAB", "ABABBA", "ABBABA"]


def decode_ean13(runs: list[int], module: float) -> str | None:
    """Digits of one scan line's 59 runs (bar, space, …), or None if they are not an EAN-13."""
    widths = [max(1, round(r / module)) for r in runs]
    if widths[:3] != [1, 1, 1] or widths[27:32] != [1, 1, 1, 1, 1] or widths[-3:] != [1, 1, 1]:
        return None
    left, right, parity = "", "", ""
    for i in range(6):
        w = widths[3 + 4 * i: 7 + 4 * i]
        bits = "".join(("0" if j % 2 == 0 else "1") * n for j, n in enumerate(w))   # starts with a space
        if bits in EAN_A:
            left, parity = left + str(EAN_A.index(bits)), parity + "A"
        elif bits in EAN_B:
            left, parity = left + str(EAN_B.index(bits)), parity + "B"
        else:
            return None
    for i in range(6):
        w = widths[32 + 4 * i: 36 + 4 * i]
        bits = "".join(("1" if j % 2 == 0 else "0") * n for j, n in enumerate(w))   # starts with a bar
        if bits not in EAN_C:
            return None
        right += str(EAN_C.index(bits))
    if parity not in EAN_FIRST:
        return None
    return str(EAN_FIRST.index(parity)) + left + right


def read_barcode(pdf: Path, tmp: Path, dpi: int = 400) -> dict:
    """Render the cover to pixels and read the EAN-13 off a scan line, as a scanner would."""
    import subprocess

    from PIL import Image

    subprocess.run(["pdftoppm", "-png", "-gray", "-r", str(dpi), "-singlefile", str(pdf), str(tmp / "scan")], check=True)
    image = Image.open(tmp / "scan.png").convert("L")
    width, height = image.size
    found = {}
    for y in range(height // 2, height, 8):
        row = [image.getpixel((x, y)) < 128 for x in range(width)]
        runs, x = [], 0
        while x < width:                       # runs of equal colour: (dark?, start, length)
            start = x
            while x < width and row[x] == row[start]:
                x += 1
            runs.append((row[start], start, x - start))
        for i, (dark, start, _) in enumerate(runs):
            if not dark or i + 59 > len(runs) or i == 0:
                continue
            seq = runs[i:i + 59]
            total = sum(r[2] for r in seq)
            digits = decode_ean13([r[2] for r in seq], total / 95)
            if digits:
                mm_per_px = 25.4 / dpi
                found = {"digits": digits, "y_mm": y * mm_per_px, "x0_mm": start * mm_per_px,
                         "x1_mm": (start + total) * mm_per_px, "module_mm": total / 95 * mm_per_px,
                         "quiet_left_mm": runs[i - 1][2] * mm_per_px,
                         "quiet_right_mm": runs[i + 59][2] * mm_per_px if i + 59 < len(runs) else 0.0,
                         "page_mm": (width * mm_per_px, height * mm_per_px)}
                return found
    return found


def test_cover_barcode_reads_back_as_the_isbn(built, tmp_path):
    """The fixture's ja edition has ISBN 978-3-16-148410-0: the cover's bars, rendered to pixels,
    decode to it; the module is 0.33 mm, the quiet zones at least 11 and 7 modules; the code sits
    at the lower right of the back cover (left panel of a left-bound book), 6.35 mm from the spine
    fold and from the foot; the bars are vector paths, not an image."""
    found = read_barcode(built["dir"] / "cover.pdf", tmp_path)
    assert found.get("digits") == "9783161484100", found
    assert found["module_mm"] == pytest.approx(0.33, abs=0.02)
    assert found["quiet_left_mm"] >= 11 * 0.33 - 0.1 and found["quiet_right_mm"] >= 7 * 0.33 - 0.1
    bleed, (trim_w, trim_h) = 3.0, B6
    spine = spine_width(built["pages"], load_manifest(FIXTURES / "minimal").print)
    fold = bleed + trim_w                                    # the back panel ends at the spine fold
    assert fold - 6.35 - 50.8 < found["x0_mm"] < found["x1_mm"] < fold - 6.35
    assert bleed + trim_h - 6.35 - 35 < found["y_mm"] < bleed + trim_h - 6.35
    assert found["page_mm"][0] == pytest.approx(2 * trim_w + spine + 2 * bleed, abs=0.2)
    page = pypdf.PdfReader(built["dir"] / "cover.pdf").pages[0]
    xobjects = page["/Resources"].get("/XObject") or {}
    assert not [x for x in xobjects.values() if x.get_object().get("/Subtype") == "/Image"]
    text = page.extract_text()
    assert "ISBN 978-3-16-148410-0" in text
    # The back cover's text comes from the edition's strings file.
    assert "試験用の小さな本です" in re.sub(r"\s+", "", text)


def test_no_isbn_no_barcode(built, tmp_path):
    """The zh-Hans edition of the fixture has no ISBN: no barcode, no back-cover text."""
    book = load_manifest(FIXTURES / "minimal")
    assert book.edition("zh-Hans").isbn is None and book.edition("ja").isbn == "978-3-16-148410-0"
    write_cover(book, book.edition("zh-Hans"), 12, tmp_path / "cover.pdf")
    assert read_barcode(tmp_path / "cover.pdf", tmp_path) == {}
    assert "ISBN" not in pypdf.PdfReader(tmp_path / "cover.pdf").pages[0].extract_text()


BAD_ISBN = [
    ("978-3-16-148410-1", "has the check digit 1, but its first twelve digits give 0"),
    ("3-16-148410-X", "must be digits, optionally grouped with hyphens"),
    ("3161484100", "is an ISBN-10"),
    ("978-3-16-14841", "has 11 digits"),
    ("977-3-16-148410-0", "starts with 977"),
    ("978--3-16-148410-0", "must be digits"),
]


@pytest.mark.parametrize("value, message", BAD_ISBN)
def test_bad_isbn_names_the_manifest_line(tmp_path, value, message):
    book = tmp_path / "book"
    shutil.copytree(FIXTURES / "minimal", book)
    manifest = (book / "book.yaml").read_text(encoding="utf-8")
    line = next(i for i, text in enumerate(manifest.splitlines(), 1) if text.strip().startswith("isbn:"))
    (book / "book.yaml").write_text(re.sub(r"isbn: \S+", f"isbn: {value}", manifest), encoding="utf-8")
    with pytest.raises(BuildError) as err:
        load_manifest(book)
    assert f"book.yaml:{line}: editions[].isbn" in str(err.value) and message in str(err.value), str(err.value)


def test_isbn_forms():
    from press.isbn import check_digit, parse_isbn

    assert parse_isbn("978-3-16-148410-0") == parse_isbn("9783161484100") == "9783161484100"
    assert check_digit("978316148410") == 0


def test_the_press_pdf_takes_the_screen_pdfs_font_subsets(tmp_path, monkeypatch):
    """Both PDFs come from one layout with the same glyphs: the second write subsets nothing
    (tounicode._subsets), and gives the same bytes as a write that subsets for itself."""
    from weasyprint.pdf.fonts import Font

    from press import tounicode

    book = load_manifest(FIXTURES / "minimal")
    ed = book.edition("ja")
    html = edition_html(book, "ja", tmp_path)
    calls = []
    real = Font.subset
    monkeypatch.setattr(Font, "subset", lambda font, *args: calls.append(font.family) or real(font, *args))

    def press_pdf(name: str, own_subsets: bool) -> bytes:
        layout, _ = lay_out(book, html, stylesheets(ed))
        tounicode._subsets.clear()
        write_screen_pdf(layout, tmp_path / f"{name}-screen.pdf", b"screen")
        if own_subsets:
            tounicode._subsets.clear()
        calls.clear()
        write_press_pdf(book, ed, layout, tmp_path / f"{name}.pdf")
        return (tmp_path / f"{name}.pdf").read_bytes()

    shared = press_pdf("shared", own_subsets=False)
    assert calls == []
    assert press_pdf("own", own_subsets=True) == shared
    assert calls


def test_a_layout_written_twice_gives_the_same_pdfs(tmp_path):
    """WeasyPrint 70 adds the printer's marks to a page's background each time it draws the page,
    and the press PDF's output profile to the document: printing._write takes both back, so a
    second write does not draw the marks twice, nor a screen PDF written after the press PDF
    carry its output intent."""
    book = load_manifest(FIXTURES / "minimal")
    ed = book.edition("ja")
    layout, _ = lay_out(book, edition_html(book, "ja", tmp_path), stylesheets(ed))
    write_screen_pdf(layout, tmp_path / "screen-first.pdf", b"s")
    write_press_pdf(book, ed, layout, tmp_path / "first.pdf")
    write_press_pdf(book, ed, layout, tmp_path / "second.pdf")
    write_screen_pdf(layout, tmp_path / "screen-after.pdf", b"s")
    assert (tmp_path / "first.pdf").read_bytes() == (tmp_path / "second.pdf").read_bytes()
    assert (tmp_path / "screen-first.pdf").read_bytes() == (tmp_path / "screen-after.pdf").read_bytes()
    assert "/OutputIntents" not in pypdf.PdfReader(tmp_path / "screen-after.pdf").trailer["/Root"]
    assert "/OutputIntents" in pypdf.PdfReader(tmp_path / "second.pdf").trailer["/Root"]


def test_pdf_streams_deflate_at_the_press_level_and_a_large_one_once():
    """pydyf's streams go through pdf._Deflate: zlib at DEFLATE_LEVEL (pydyf's own is 9), and a
    large stream (a font subset, in both the screen and the press PDF) deflated once."""
    import zlib

    import pydyf

    from press import pdf as pdf_stage

    pdf_stage._install_deflate()
    pdf_stage._deflated.clear()
    small = b"0 0 0 rg BT /F1 1 Tf <0012> Tj ET\n" * 40
    large = bytes(range(256)) * 1024 + b"\0" * 300_000
    streams = [pydyf.Stream([data], compress=True).data for data in (small, large, large)]
    for data, written in zip((small, large, large), streams):
        body = written.split(b"\nstream\n", 1)[1].rsplit(b"\nendstream", 1)[0]
        assert body == zlib.compress(data, pdf_stage.DEFLATE_LEVEL) and zlib.decompress(body) == data
        assert b"/Filter /FlateDecode" in written
    assert streams[1] == streams[2] and len(pdf_stage._deflated) == 1     # the small one is not kept
