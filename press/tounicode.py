"""The PDF text layer of complex scripts: ActualText on their glyph runs, and a better glyph →
text map (ToUnicode) for the glyphs themselves.

A glyph → text map cannot give the text of every shaped script: a Devanagari vowel sign drawn
before its consonant (ि) or a reph drawn after its cluster extracts in visual order (अिधक for
अधिक). So each line of such left-to-right text is drawn inside a marked-content span whose
/ActualText is the line's text as typed (PDF 32000 14.9.4): pdftotext, viewers' search and
screen readers use it. Right-to-left lines rely on the map: an Arabic contextual form maps to
its letter (through GSUB), never to the presentation form the font's cmap also gives it.

WeasyPrint maps a glyph to the text of the first cluster it was drawn in. With Devanagari
conjuncts a cluster is several glyphs (half-ka + ya for क्य): one glyph then carries the whole
cluster's text, another none, and every later use of those glyphs extracts wrong (the Hindi text
round trip was 97%). The font itself says what each glyph stands for: its cmap for plain
letters, its GSUB ligatures (half forms, conjuncts, reph) and single substitutions (contextual
forms) for the rest. This derives that text, applied to the fonts of scripts that need it.
"""
from __future__ import annotations

import io
import re
from functools import lru_cache

COMPLEX = ("Devanagari", "Arabic", "Naskh", "Nastaliq", "Urdu")


@lru_cache(maxsize=16)
def glyph_texts(font_bytes: bytes, index: int) -> dict[int, str]:
    """glyph id → the text it stands for, from the font's cmap and GSUB."""
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(font_bytes), fontNumber=index, lazy=True)
    order = font.getGlyphOrder()
    gid = {name: i for i, name in enumerate(order)}
    direct: dict[str, str] = {}
    for cp, name in sorted(font.getBestCmap().items(), reverse=True):
        if not PRESENTATION_FORMS.match(chr(cp)):   # a contextual form stands for its letter,
            direct[name] = chr(cp)                  # found through GSUB; the smallest code point wins
    ligatures: dict[str, list[str]] = {}
    singles: dict[str, str] = {}
    if "GSUB" in font:
        for lookup in font["GSUB"].table.LookupList.Lookup:
            for sub in lookup.SubTable:
                if sub.LookupType == 7:       # extension: look inside
                    sub = sub.ExtSubTable
                if getattr(sub, "LookupType", None) == 4:
                    for first, ligs in sub.ligatures.items():
                        for lig in ligs:
                            ligatures.setdefault(lig.LigGlyph, [first, *lig.Component])
                elif getattr(sub, "LookupType", None) == 1:
                    for src, dst in sub.mapping.items():
                        singles.setdefault(dst, src)

    def text(name: str, depth: int = 0) -> str:
        if name in direct:
            return direct[name]
        if depth > 8:
            return ""
        if name in ligatures:
            return "".join(text(part, depth + 1) for part in ligatures[name])
        if name in singles:
            return text(singles[name], depth + 1)
        return ""

    return {gid[name]: t for name in order if (t := text(name))}


def improve(fonts) -> None:
    """Rewrite the glyph → text maps of WeasyPrint's fonts of complex scripts, in place."""
    for font in fonts.values():
        if not any(word in font.family for word in COMPLEX) or font.bitmap:
            continue
        derived = glyph_texts(bytes(font.file_content), font.index)
        for glyph, text in list(font.to_unicode.items()):
            # One character is the glyph's own (Arabic final heh shares its glyph with U+06D5,
            # which the cmap would give); a cluster's text, or none, is WeasyPrint's guess.
            if glyph in derived and len(text) != 1:
                font.to_unicode[glyph] = derived[glyph]


PRESENTATION_FORMS = re.compile("[\ufb50-\ufdff\ufe70-\ufeff]")
# Right-to-left text keeps its glyphs' own text: extractors order an RTL line's glyphs by their
# position, which an /ActualText (placed as one left-to-right run by poppler) would reverse.
RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
# Scripts whose glyphs do not map one-to-one onto their letters in logical order: Hebrew to
# Thaana (RTL, marks), Indic, Thai to Tibetan, Myanmar, Khmer, and presentation forms.
SHAPED = re.compile("[\u0590-\u08ff\u0900-\u0dff\u0e00-\u0fff\u1000-\u109f\u1780-\u17ff"
                    "\ufb1d-\ufdff\ufe70-\ufeff]")


def actual_text(text: str) -> bytes:
    """A marked-content property list giving `text` as the /ActualText of a span."""
    return b"<</ActualText <feff" + text.encode("utf-16-be").hex().encode() + b">>>"


def _with_actual_text(draw_text):
    def draw(stream, textbox, *args, **kwargs):
        text = textbox.text
        if not SHAPED.search(text) or RTL.search(text) or not text.strip():
            return draw_text(stream, textbox, *args, **kwargs)
        stream.begin_marked_content("Span", actual_text(text))
        try:
            return draw_text(stream, textbox, *args, **kwargs)
        finally:
            stream.end_marked_content()

    draw._press = True
    return draw


def install() -> None:
    """Draw shaped text with ActualText, and run `improve` right before WeasyPrint writes its
    font dictionaries (once per process)."""
    from weasyprint import draw as wdraw
    from weasyprint import pdf as wpdf

    if not getattr(wdraw.draw_text, "_press", False):
        wdraw.draw_text = _with_actual_text(wdraw.draw_text)
    if getattr(wpdf.build_fonts_dictionary, "_press", False):
        return
    original = wpdf.build_fonts_dictionary

    def build_fonts_dictionary(pdf, fonts, *args, **kwargs):
        improve(fonts)
        return original(pdf, fonts, *args, **kwargs)

    build_fonts_dictionary._press = True
    wpdf.build_fonts_dictionary = build_fonts_dictionary
