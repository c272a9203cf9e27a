"""Stage 4c (print shop): PDF/X-4 for the press PDF and the cover.

WeasyPrint 70 writes PDF/X-4 with `pdf_variant="pdf/x-4"` (the XMP `pdfxid:GTS_PDFXVersion`,
`Trapped`, a PDF 1.6 header, TrimBox and BleedBox), and an output intent (`/GTS_PDFX`) only when
the document holds an ICC profile (`@color-profile device-cmyk` in CSS would do it, but only in
the HTML's own styles: `add_profile()` sets it on the laid-out document instead). The profile is Artifex's CMYK SWOP profile (`default_cmyk.icc`, "Artifex
CMYK SWOP Profile", ICC v2, output class) that Debian ships in `libgs-common`, Ghostscript's ICC
profiles; its licence (AGPL-3+, as Ghostscript) lets it travel inside the PDF.

PDF/X-4 allows no device RGB with a CMYK output intent. The cover's colours are written in
`device-cmyk()` (styles/cover.css); the book's own stylesheet, shared with the screen PDF, is in
sRGB, so while a press file is written every sRGB colour is turned into CMYK here: a neutral grey
becomes black ink only (`0 0 0 K`, so text and rules are never printed in four inks that must
register), any other colour goes through the profile (Pillow's LittleCMS, relative colorimetric).
Links are dropped: PDF/X allows no annotation inside the BleedBox but printer's marks.
"""
from __future__ import annotations

import functools
import re
import uuid
from contextlib import contextmanager
from pathlib import Path

# Debian `libgs-common`; system.py's APT_PACKAGES and tools/bootstrap.sh install it.
PROFILE = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")
PROFILE_PACKAGE = "libgs-common"
PROFILE_NAME = "Artifex CMYK SWOP Profile"
VARIANT = "pdf/x-4"


def add_profile(document) -> None:
    """Give a laid-out document the CMYK output profile: WeasyPrint embeds it and writes the
    /GTS_PDFX output intent naming it."""
    from weasyprint.css import ColorProfile

    with open(PROFILE, "rb") as f:
        document.color_profiles["device-cmyk"] = ColorProfile(f, PROFILE.as_uri(), "relative-colorimetric",
                                                              ["c", "m", "y", "k"])


def require_profile() -> None:
    from .errors import BuildError
    from .system import INSTALL_HINT

    if not PROFILE.is_file():
        raise BuildError(f"the CMYK output profile {PROFILE} is missing (Debian package {PROFILE_PACKAGE})",
                         hint=f"the press PDF and cover are PDF/X-4 and embed it: {INSTALL_HINT}")


@functools.cache
def _transform():
    from PIL import ImageCms

    return ImageCms.buildTransform(ImageCms.createProfile("sRGB"), ImageCms.getOpenProfile(str(PROFILE)),
                                   "RGB", "CMYK", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)


def srgb_to_cmyk(r: float, g: float, b: float) -> tuple[float, float, float, float]:
    """sRGB (0–1) → CMYK (0–1): a neutral grey on black ink only, other colours by the profile."""
    if max(r, g, b) - min(r, g, b) < 1 / 255:
        return 0.0, 0.0, 0.0, round(1 - (r + g + b) / 3, 4)
    from PIL import Image, ImageCms

    pixel = Image.new("RGB", (1, 1), tuple(round(v * 255) for v in (r, g, b)))
    c, m, y, k = ImageCms.applyTransform(pixel, _transform()).getpixel((0, 0))
    return tuple(round(v / 255, 4) for v in (c, m, y, k))


@contextmanager
def cmyk_colours():
    """While writing a press file: every sRGB colour WeasyPrint paints is painted in CMYK."""
    from tinycss2.color5 import Color
    from weasyprint.pdf.stream import Stream

    original = Stream.set_color
    converted: dict[tuple, Color] = {}      # a book paints few colours, the ja edition 6,700 times

    def set_color(stream, color, stroke=False):
        if getattr(color, "space", None) in ("srgb", "hsl", "hwb"):
            key = (color.space, tuple(color.coordinates), color.alpha)
            if key not in converted:
                converted[key] = Color("device-cmyk", srgb_to_cmyk(*color.to("srgb").coordinates), color.alpha)
            color = converted[key]
        return original(stream, color, stroke)

    Stream.set_color = set_color
    try:
        yield
    finally:
        Stream.set_color = original


def finisher(bleed_mm: float, identifier: bytes):
    """Each page: BleedBox = trim + bleed (WeasyPrint caps it at 10 pt), no link annotations;
    the XMP DocumentID (WeasyPrint's is random) derived from the file's identifier, so that
    identical inputs still give identical bytes."""
    import pydyf

    bleed_pt = bleed_mm / 25.4 * 72
    document_id = f"xmp.did:{uuid.uuid5(uuid.NAMESPACE_URL, 'keep4o-press:' + identifier.hex())}".encode()

    def finish(document, pdf) -> None:
        for obj in pdf.objects:
            if isinstance(obj, pydyf.Stream) and obj.extra.get("Type") == "/Metadata":
                obj.stream = [re.sub(rb"xmp\.did:[0-9a-f-]{36}", document_id, chunk) if isinstance(chunk, bytes)
                              else chunk for chunk in obj.stream]
            if isinstance(obj, pydyf.Dictionary) and obj.get("Type") == "/Page" and "TrimBox" in obj:
                left, bottom, right, top = obj["TrimBox"]
                obj["BleedBox"] = pydyf.Array([left - bleed_pt, bottom - bleed_pt, right + bleed_pt, top + bleed_pt])
                obj.pop("Annots", None)
    return finish
