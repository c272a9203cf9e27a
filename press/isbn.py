"""An edition's ISBN: validated as the manifest is read, printed as an EAN-13 barcode on the cover.

The bars are python-barcode's (its EAN-13 with guard bars, as SVG rectangles), drawn by
WeasyPrint as vector paths. Sizes are the EAN-13 nominal ones (GS1, magnification 100%):
a module of 0.33 mm, so 95 modules make 31.35 mm of bars, 22.85 mm high, guard bars a little
longer, and quiet zones of at least 11 modules (3.63 mm) on the left and 7 on the right
(python-barcode puts 3.63 mm on both sides). The digits under the bars and the ISBN line above
them are set in OCR-B (Debian `fonts-ocr-b`), the face ISO 15420 names for them.
"""
from __future__ import annotations

import io
import re

MODULE_MM = 0.33
BAR_HEIGHT_MM = 22.85
QUIET_ZONE_MM = 11 * MODULE_MM
DIGITS_PT = 9.0
FONT_FAMILY = "OCR B"        # Debian fonts-ocr-b
FONT_PACKAGE = "fonts-ocr-b"
_WRITTEN = re.compile(r"\d+(-\d+)*")


class BadISBN(ValueError):
    """An ISBN that cannot be printed; the message says what is wrong."""


def check_digit(first12: str) -> int:
    """The ISBN-13 (EAN-13) check digit: weights 1, 3, 1, 3 … over the first twelve digits."""
    return (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(first12)) % 10) % 10


def parse_isbn(text: str) -> str:
    """The thirteen digits of an ISBN-13 written with or without hyphens; BadISBN otherwise."""
    written = text.strip()
    if not _WRITTEN.fullmatch(written):
        raise BadISBN(f"isbn {text!r} must be digits, optionally grouped with hyphens (978-3-16-148410-0)")
    digits = written.replace("-", "")
    if len(digits) == 10:
        raise BadISBN(f"isbn {text!r} is an ISBN-10; the barcode needs the ISBN-13 (978 and the first nine "
                      "digits, with a new check digit)")
    if len(digits) != 13:
        raise BadISBN(f"isbn {text!r} has {len(digits)} digits, an ISBN-13 has 13")
    if digits[:3] not in ("978", "979"):
        raise BadISBN(f"isbn {text!r} starts with {digits[:3]}; an ISBN-13 starts with 978 or 979")
    want = check_digit(digits[:12])
    if int(digits[12]) != want:
        raise BadISBN(f"isbn {text!r} has the check digit {digits[12]}, but its first twelve digits "
                      f"give {want} (a digit is mistyped)")
    return digits


def svg_size_mm(svg: str) -> tuple[float, float]:
    """(width, height) in mm of a barcode_svg() document."""
    m = re.search(r'<svg[^>]*width="([\d.]+)mm" height="([\d.]+)mm"', svg)
    return float(m.group(1)), float(m.group(2))


def barcode_svg(digits: str) -> str:
    """The EAN-13 of an ISBN as an SVG document (millimetre units), its quiet zones white."""
    from barcode import EAN13
    from barcode.writer import SVGWriter

    writer = SVGWriter()
    writer.with_doctype = False         # no DTD for the SVG parser to look up
    code = EAN13(digits, writer=writer, guardbar=True)
    buf = io.BytesIO()
    code.write(buf, options={"module_width": MODULE_MM, "module_height": BAR_HEIGHT_MM,
                             "quiet_zone": QUIET_ZONE_MM, "font_size": DIGITS_PT, "text_distance": 1.0,
                             "margin_top": 0.0, "margin_bottom": 1.0, "background": "white",
                             "foreground": "black", "guard_height_factor": 1.07})
    svg = buf.getvalue().decode("utf-8")
    svg = re.sub(r"^<\?xml[^>]*\?>\s*", "", svg)
    svg = re.sub(r"<!--.*?-->\s*", "", svg, flags=re.S)
    return svg.replace("font-size:", f"font-family:'{FONT_FAMILY}';font-size:")
