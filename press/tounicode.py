"""Text extraction for complex scripts: a better glyph → text map (ToUnicode) for the PDF.

WeasyPrint maps a glyph to the text of the first cluster it was drawn in. With Devanagari
conjuncts a cluster is several glyphs (half-ka + ya for क्य): one glyph then carries the whole
cluster's text, another none, and every later use of those glyphs extracts wrong (the Hindi text
round trip was 97%). The font itself says what each glyph stands for: its cmap for plain
letters, its GSUB ligatures (half forms, conjuncts, reph) and single substitutions (contextual
forms) for the rest. This derives that text, applied to the fonts of scripts that need it.
"""
from __future__ import annotations

import io
from functools import lru_cache

COMPLEX = ("Devanagari", "Arabic", "Naskh")


@lru_cache(maxsize=16)
def glyph_texts(font_bytes: bytes, index: int) -> dict[int, str]:
    """glyph id → the text it stands for, from the font's cmap and GSUB."""
    from fontTools.ttLib import TTFont

    font = TTFont(io.BytesIO(font_bytes), fontNumber=index, lazy=True)
    order = font.getGlyphOrder()
    gid = {name: i for i, name in enumerate(order)}
    direct: dict[str, str] = {}
    for cp, name in sorted(font.getBestCmap().items(), reverse=True):
        direct[name] = chr(cp)                # the smallest code point wins
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
        for glyph in list(font.to_unicode):
            if glyph in derived:
                font.to_unicode[glyph] = derived[glyph]


def install() -> None:
    """Run `improve` right before WeasyPrint writes its font dictionaries (once per process)."""
    from weasyprint import pdf as wpdf

    if getattr(wpdf.build_fonts_dictionary, "_press", False):
        return
    original = wpdf.build_fonts_dictionary

    def build_fonts_dictionary(pdf, fonts, *args, **kwargs):
        improve(fonts)
        return original(pdf, fonts, *args, **kwargs)

    build_fonts_dictionary._press = True
    wpdf.build_fonts_dictionary = build_fonts_dictionary
