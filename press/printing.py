"""Stage 4c: the press (print-shop) PDF and the cover of each edition.

One layout gives both PDFs of an edition (`lay_out`): the book's stylesheets plus
`styles/print.css` and `press_css()` (recto starts; bleed, crop marks, from the manifest's
`print:` section). The press PDF is that layout as it is, padded with blank pages to a multiple
of `print.signature`. The screen PDF (pdf.write_screen_pdf) is the same pages without the blank
versos, bleed and marks: its folios and contents page are the printed book's, so a page cited
from the printed book is found under the same number (its page labels say so to the viewer).
Laying the book out once instead of twice saves about half of a release's PDF time.

Page boxes (WeasyPrint 70, `weasyprint/pdf/__init__.py`): MediaBox = trim + bleed on every
side (its origin at -bleed), TrimBox = the CSS page (trim size), but BleedBox = trim + at most
10 pt, too small for a bleed over 3.5 mm; `pdfx.finisher` sets BleedBox = MediaBox. Crop marks are
WeasyPrint's: in the outer half of the bleed, so the file stays trim + bleed as print-on-demand
shops expect; trimming more than half the bleed astray would show them.

The cover is one page, laid flat with its printed side up: back | spine | front for a book
bound on the left (LTR), front | spine | back for a right-to-left book, which is bound on the
right (it opens from the right edge).

    spine  = leaves × paper_thickness, leaves = ceil(pages / 2)   (pages: the padded count)
    width  = 2 × trim width + spine + 2 × bleed
    height = trim height + 2 × bleed

The default leaf thickness, 0.1 mm, is 80 g/m² uncoated offset paper: caliper = grammage × bulk,
80 g/m² × 1.25 cm³/g ≈ 100 µm (uncoated woodfree is 1.2–1.3 cm³/g; print-on-demand calculators
give 0.11–0.13 mm per leaf for their white and cream papers). The cover board is not counted:
take the printer's figure for `print.paper_thickness` when it differs.

Spine text faces the front cover, so it reads from the head down with the book lying face up:
rotated 90° clockwise on a left-bound book, counter-clockwise on a right-bound (RTL) one, where
the Arabic line then also starts at the head. Japanese and Chinese spines are set vertically:
characters upright one under the other (with the fonts' vertical forms), runs of Latin letters
and digits turned 90° clockwise, as in vertical Japanese and Chinese text. A spine under 6 mm
stays empty (with a warning): text there would wrap around the fold.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from html import escape as html_escape
from pathlib import Path

import jinja2

from . import STYLES
from . import pdfx
from .html import font_css
from .manifest import Book, Edition, PrintSettings, length_mm
from .pdf import render, weasyprint_warnings, with_refused, write

PACKAGE = Path(__file__).resolve().parent
PRINT_CSS = STYLES / "print.css"
COVER_CSS = STYLES / "cover.css"
MIN_SPINE_TEXT_MM = 6.0
PX_PER_MM = 96 / 25.4          # CSS pixels, the unit of WeasyPrint's layout boxes
UPRIGHT_SPINE = ("Jpan", "Hans", "Hant")   # scripts set vertically on the spine, characters upright

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(PACKAGE / "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]),
                          undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


# --- sizes --------------------------------------------------------------------------------

def trim_mm(book: Book) -> tuple[float, float]:
    """The book's trim size (page width, height) in millimetres."""
    return length_mm(book.page_width), length_mm(book.page_height)


def spine_width(pages: int, settings: PrintSettings) -> float:
    """Spine width in mm: one paper thickness per leaf (two pages)."""
    return math.ceil(pages / 2) * settings.paper_thickness_mm


def cover_size(book: Book, pages: int) -> tuple[float, float]:
    """The cover sheet (width, height) in mm, bleed included."""
    width, height = trim_mm(book)
    bleed = book.print.bleed_mm
    return 2 * width + spine_width(pages, book.print) + 2 * bleed, height + 2 * bleed


def pad_count(pages: int, signature: int) -> int:
    """Blank pages to add so that the page count is a multiple of the signature."""
    return -pages % signature


def press_css(book: Book) -> str:
    """The manifest's print settings as CSS, added after styles/print.css."""
    marks = "crop" if book.print.marks == "crop" else "none"
    return f"@page {{ bleed: {book.print.bleed_mm:.4f}mm; marks: {marks}; }}\n"


# --- rendering ----------------------------------------------------------------------------

def _write(document, target: Path, identifier: bytes, bleed_mm: float) -> None:
    """Write a press file as PDF/X-4 (pdfx.py): CMYK output intent, every colour in CMYK.

    WeasyPrint 70 adds the printer's marks to a page's background layers each time it draws the
    page: the layers are put back afterwards, so that the layout drawn again (the preview's PDF,
    a test) does not get its marks twice. The output profile is taken back too (a copy of the
    document shares its profiles): a screen PDF written afterwards would carry the press's
    output intent.
    """
    before = document.color_profiles.get("device-cmyk")
    pdfx.add_profile(document)
    backgrounds = [(bg, list(bg.layers)) for page in document.pages
                   if (bg := page._page_box.background) is not None]
    try:
        with pdfx.cmyk_colours():
            write(document, target, identifier, pdf_variant=pdfx.VARIANT, pdf_tags=False,
                  finisher=pdfx.finisher(bleed_mm, identifier))
    finally:
        for bg, layers in backgrounds:
            bg.layers[:] = layers
        if before is None:
            document.color_profiles.pop("device-cmyk", None)
        else:
            document.color_profiles["device-cmyk"] = before


def print_css(book: Book) -> list:
    """The stylesheets a press layout adds after the book's: styles/print.css, then the manifest's settings."""
    return [PRINT_CSS, press_css(book)]


def _blank_pages(count: int, book: Book):
    """`count` empty pages of the trim size, with the same bleed and marks, no running heads."""
    body = "".join('<div style="break-before: page"></div>' if i else "<div></div>" for i in range(count))
    page = f"@page {{ size: {book.page_width} {book.page_height}; margin: 0; }}"
    doc, _ = render(f"<!DOCTYPE html><html><head><style>{page}</style></head><body>{body}</body></html>",
                     STYLES, print_css(book), [book.root, STYLES])
    if len(doc.pages) != count:      # a WeasyPrint change in how empty blocks break
        raise RuntimeError(f"asked for {count} blank pages, WeasyPrint made {len(doc.pages)}")
    return doc.pages


def lay_out(book: Book, doc_html: str, stylesheets: list[Path]):
    """The one layout of an edition's pages (print settings included); return (Document, warnings)."""
    with weasyprint_warnings() as said:
        doc, refused = render(doc_html, book.root, list(stylesheets) + print_css(book),
                              [book.root, STYLES])
    return doc, with_refused(said, refused)


def write_press_pdf(book: Book, edition: Edition, doc, out: Path) -> int:
    """Write the press PDF of an edition from its layout (lay_out); return its page count after padding."""
    pdfx.require_profile()
    pad = pad_count(len(doc.pages), book.print.signature)
    pages = doc.pages + (_blank_pages(pad, book) if pad else [])
    _write(doc.copy(pages), out, f"{book.slug}-{edition.lang}-press".encode(), book.print.bleed_mm)
    return len(pages)


# --- cover --------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Run:
    text: str
    upright: bool       # a CJK character set upright, or a run of other text turned 90°


def _upright(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


def spine_runs(text: str) -> list[_Run]:
    """Split spine text for vertical setting: each wide (CJK) character, and runs of the rest."""
    runs: list[_Run] = []
    turned = ""
    for char in text:
        if _upright(char):
            if turned.strip():
                runs.append(_Run(turned.strip(), False))
            turned = ""
            runs.append(_Run(char, True))
        else:
            turned += char
    if turned.strip():
        runs.append(_Run(turned.strip(), False))
    return runs


def _measure(texts: list[str], edition: Edition, font_pt: float) -> list[float]:
    """Widths in mm of one-line texts, set in the spine's face (a WeasyPrint layout pass).

    A turned run in a vertical spine needs a box as long as its text; CSS cannot say that
    without `writing-mode`, which WeasyPrint 70 lacks. (`_page_box` is WeasyPrint's layout tree.)
    """
    spans = "".join(f'<div><span class="title measure" data-i="{i}">{html_escape(t)}</span></div>'
                    for i, t in enumerate(texts))
    html = (f'<!DOCTYPE html><html lang="{edition.lang}" dir="{edition.dir}"><head><style>'
            f"@page {{ size: 2000mm 500mm; margin: 0 }} {font_css(edition)}"
            f".measure {{ display: inline-block; white-space: nowrap; font-size: {font_pt}pt }}"
            f"</style></head><body>{spans}</body></html>")
    doc, _ = render(html, STYLES, [COVER_CSS], [STYLES])
    widths = [0.0] * len(texts)
    for page in doc.pages:
        for box in page._page_box.descendants():
            element = getattr(box, "element", None)
            if element is not None and element.get("data-i") is not None and box.element_tag == "span":
                widths[int(element.get("data-i"))] = max(widths[int(element.get("data-i"))], box.width / PX_PER_MM)
    return widths


def _spine_layout(edition: Edition, spine_mm: float, height_mm: float) -> dict:
    """What the spine holds (title and edition name) and at which size, fitted to its length."""
    title, name = edition.title, edition.strings["edition"]
    length = height_mm - 2 * 12.0                  # clear of the head and foot by 12 mm
    font_pt = min(11.0, spine_mm * 0.5 / 25.4 * 72)
    gap = 8.0                                      # mm between title and edition name
    if edition.language.script in UPRIGHT_SPINE:
        groups = [spine_runs(title), spine_runs(name)]
        turned = [r.text for g in groups for r in g if not r.upright]
        widths = dict(zip(turned, _measure(turned, edition, font_pt))) if turned else {}
        em = font_pt / 72 * 25.4
        step = 1.1 * em                            # advance of an upright character
        pad = 0.2 * em                             # around a turned run
        needed = sum(step if r.upright else widths[r.text] + 2 * pad for g in groups for r in g) + gap
        scale = min(1.0, length / needed)
        font_pt *= scale
        em, step, pad = em * scale, step * scale, pad * scale
        cells = [[{"text": r.text, "upright": r.upright,
                   "length": step if r.upright else widths[r.text] * scale + 2 * pad,
                   "width": widths.get(r.text, 0) * scale + 0.5} for r in g] for g in groups]
        return {"vertical": True, "font_pt": font_pt, "line_mm": 1.1 * em, "title": cells[0], "name": cells[1]}
    w_title, w_name = _measure([title, name], edition, font_pt)
    scale = min(1.0, length / (w_title + w_name + gap))
    return {"vertical": False, "font_pt": font_pt * scale, "length_mm": length, "title": title, "name": name,
            "rotate": -90 if edition.dir == "rtl" else 90}


BARCODE_AREA_MM = (50.8, 30.5)   # 2 × 1.2 in: what print-on-demand services keep for the barcode
BARCODE_MARGIN_MM = 6.35         # 0.25 in from the trim and from the spine fold


def barcode_block(edition: Edition) -> dict | None:
    """The ISBN barcode of the back cover: its SVG (as a data: URL) and the white area around it."""
    import base64

    from .isbn import barcode_svg, parse_isbn, svg_size_mm

    if not edition.isbn:
        return None
    svg = barcode_svg(parse_isbn(edition.isbn))
    svg_w, svg_h = svg_size_mm(svg)
    return {"isbn": edition.isbn, "svg_w": svg_w, "svg_h": svg_h, "margin": BARCODE_MARGIN_MM,
            "box_w": max(BARCODE_AREA_MM[0], svg_w), "box_h": max(BARCODE_AREA_MM[1], svg_h + 7.5),
            "src": "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()}


def back_cover_text(edition: Edition) -> list[str]:
    """The back cover's paragraphs, from the edition's strings file (`back_cover:`)."""
    text = edition.strings.get("back_cover") or ""
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def write_cover(book: Book, edition: Edition, pages: int, out: Path) -> list[str]:
    """Write the edition's cover (back, spine, front on one page) for a book of `pages` pages.

    Return warnings: a spine too narrow for text, and WeasyPrint's own.
    """
    width, height = trim_mm(book)
    spine = spine_width(pages, book.print)
    warnings = []
    layout = None
    if spine >= MIN_SPINE_TEXT_MM:
        layout = _spine_layout(edition, spine, height)
    else:
        warnings.append(f"[{edition.lang} cover] the spine is {spine:.1f} mm wide ({pages} pages × "
                        f"{book.print.paper_thickness_mm:g} mm per leaf): under {MIN_SPINE_TEXT_MM:g} mm, "
                        "so it carries no text")
    rtl = edition.dir == "rtl"
    bleed = book.print.bleed_mm
    panels = {"back": 0.0, "spine": width, "front": width + spine}
    if rtl:                                    # bound on the right: the front is on the left
        panels = {"front": 0.0, "spine": width, "back": width + spine}
    pdfx.require_profile()
    css = (f"@page {{ size: {2 * width + spine:.4f}mm {height:.4f}mm; bleed: {bleed:.4f}mm; "
           f"marks: {'crop' if book.print.marks == 'crop' else 'none'}; }}\n{font_css(edition)}")
    html = _env.get_template("cover.html.j2").render(
        book=book, edition=edition, strings=edition.strings, css=css, width=width, height=height,
        spine=spine, bleed=bleed, panels=panels, layout=layout, marks=book.print.marks == "crop",
        barcode=barcode_block(edition), back_text=back_cover_text(edition))
    with weasyprint_warnings() as said:
        doc, refused = render(html, STYLES, [COVER_CSS], [book.root, STYLES])
        if len(doc.pages) != 1:
            raise RuntimeError(f"the cover came out as {len(doc.pages)} pages")
        _write(doc, out, f"{book.slug}-{edition.lang}-cover".encode(), bleed)
    return warnings + [f"[{edition.lang} cover] {w}" for w in said] + [f"[{edition.lang} cover] refused {u}"
                                                                         for u in refused]
