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

Right-to-left text has a third problem. HarfBuzz places a mark (a vowel sign, a Nastaliq dot) and
every glyph of a Nastaliq word's cascade off the baseline, and WeasyPrint draws each such glyph
with a text rise: extractors then read it as text of another line (poppler puts it on a line of
its own once it is more than half a point off the baseline), and the word falls apart. Nastaliq
also draws a letter as a skeleton plus its dots, each a glyph, so no glyph alone stands for it.
`flatten_line` draws these runs so that every glyph sits on the baseline at its pen position: a
glyph drawn off it is drawn as a new glyph of the embedded font, a composite of the original
moved by the offset (`add_composites`), which looks the same; and a cluster whose glyphs do not
each stand for a letter gives its text to its widest glyph, the others none. Each glyph then
extracts in order in every extractor, with no multi-letter glyph text for an RTL reader to
reverse.
"""
from __future__ import annotations

import io
import re
import unicodedata
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
        derived = _derived(font)
        pinned = getattr(font, "_press_pinned", ())
        for glyph, text in list(font.to_unicode.items()):
            if glyph in pinned:              # set by flatten_line for the run it was drawn in
                continue
            # One character is the glyph's own (Arabic final heh shares its glyph with U+06D5,
            # which the cmap would give); a cluster's text, or none, is WeasyPrint's guess.
            if glyph in derived and len(text) != 1:
                font.to_unicode[glyph] = derived[glyph]


def _derived(font) -> dict[int, str]:
    if getattr(font, "_press_derived", None) is None:
        font._press_derived = glyph_texts(bytes(font.file_content), font.index)
    return font._press_derived


def _flattenable(font) -> bool:
    """A TrueType font the press can add glyphs to: static outlines, no colour or bitmaps."""
    if getattr(font, "_press_flat", None) is None:
        font._press_flat = ("glyf" in font.tables and "fvar" not in font.tables and not font.bitmap
                            and not (font.png or font.svg or font.colr)
                            and bytes(font.file_content[:4]) != b"ttcf")
    return font._press_flat


def _next_free_glyph(font) -> int:
    """A glyph id past the font's glyphs, shared with WeasyPrint's ids for missing glyphs."""
    return font.glyph_count + len(font.missing) + len(getattr(font, "_press_glyphs", {}))


def _code(font, pango_font, size: float, glyph: int, dx: int, dy: int, text: str, advance: int) -> int:
    """The code to draw `glyph` moved by (dx, dy) font units, `advance` thousandths of an em wide,
    with `text` as its text: the glyph itself when that changes nothing, else a new glyph (a
    composite of it, see add_composites)."""
    pinned = font.__dict__.setdefault("_press_pinned", set())
    derived = _derived(font)
    # The glyph itself only with the text it stands for anywhere (a mirrored bracket, a Nastaliq
    # skeleton carrying its cluster's letter get a new glyph): other runs draw it too.
    if not dx and not dy and advance == _width(font, pango_font, size, glyph) and text == derived.get(glyph, ""):
        if glyph not in font.to_unicode:
            font.to_unicode[glyph] = text
            pinned.add(glyph)
            return glyph
        current = font.to_unicode[glyph]
        if glyph not in pinned and len(current) != 1 and glyph in derived:
            current = derived[glyph]                 # what improve() will make of it
        if current == text:
            return glyph
    new = font.__dict__.setdefault("_press_glyphs", {})    # (glyph, dx, dy, text, advance) → its id
    key = (glyph, dx, dy, text, advance)
    if key not in new:
        code = _next_free_glyph(font)
        if code > 0xFFFF:
            return glyph
        new[key] = code
        font.to_unicode[code] = text
        font.widths[code] = advance
    return new[key]


def _composites(font) -> dict[int, tuple[int, int, int, int]]:
    """The new glyphs drawn with this font: id → (original glyph, dx, dy, advance in font units)."""
    return {code: (glyph, dx, dy, round(advance * font.upem / 1000))
            for (glyph, dx, dy, _, advance), code in getattr(font, "_press_glyphs", {}).items()}


def _width(font, pango_font, size: float, glyph: int) -> int:
    """The glyph's advance in the PDF's thousandths of an em, as WeasyPrint computes it."""
    if glyph not in font.widths:
        from weasyprint.text.ffi import FROM_UNITS, ffi, pango

        ink, logical = ffi.new("PangoRectangle *"), ffi.new("PangoRectangle *")
        pango.pango_font_get_glyph_extents(pango_font, glyph, ink, logical)
        font.widths[glyph] = round(logical.width * 1000 * FROM_UNITS / size)
    return font.widths[glyph]


def flatten_line(stream, textbox, line) -> list:
    """Draw the right-to-left runs of a laid-out line on the baseline (see the module's doc):
    change their glyphs in place and return what `restore` needs to undo it (the same layout is
    drawn again for the other PDF)."""
    from weasyprint.text.ffi import FROM_UNITS, ffi, pango

    changed = []
    utf8 = None
    run = line.runs
    while run != ffi.NULL:
        item = run.data
        run = run.next
        if not item.item.analysis.level % 2:
            continue
        pango_font = item.item.analysis.font
        font, size = stream.add_font(pango_font)
        if pango.pango_version() < 14802 or font.png:
            size = textbox.style["font_size"]
        if not size or not _flattenable(font):
            continue
        utf8 = utf8 or textbox.pango_layout.text.encode()
        glyphs, count = item.glyphs.glyphs, item.glyphs.num_glyphs
        clusters, start, length = item.glyphs.log_clusters, item.item.offset, item.item.length
        scale = FROM_UNITS / size * font.upem          # Pango units → font units
        derived = _derived(font)
        first = 0
        while first < count:
            last = first
            while last + 1 < count and clusters[last + 1] == clusters[first]:
                last += 1
            end = length if first == 0 else clusters[first - 1]      # visual order: the logically next cluster
            text = utf8[start + clusters[first]:start + end].decode(errors="replace")
            members = list(range(last, first - 1, -1))               # logical order
            first = last + 1
            ids = [glyphs[i].glyph for i in members]
            if any(g == pango.PANGO_GLYPH_EMPTY or g & pango.PANGO_GLYPH_UNKNOWN_FLAG for g in ids):
                continue
            own = [derived.get(g, "") for g in ids]
            if all(own) and unicodedata.normalize("NFC", "".join(own)) == unicodedata.normalize("NFC", text):
                texts = own
            else:        # the cluster's text on its widest glyph (a skeleton, a base), none on the rest
                widest = max(range(len(members)), key=lambda k: (glyphs[members[k]].geometry.width, -k))
                texts = [text if k == widest else "" for k in range(len(members))]
            for i, glyph, want in zip(members, ids, texts):
                geometry = glyphs[i].geometry
                dx, dy = round(geometry.x_offset * scale), -round(geometry.y_offset * scale)
                # The advance the shaper gave (cursive joins, the gap after a letter that does not
                # join) as the glyph's own width: an extractor sees no gap inside a word.
                advance = _width(font, pango_font, size, glyph)
                if not text.isspace() and abs(geometry.width * 1000 * FROM_UNITS / size - advance) > 1:
                    advance = round(geometry.width * 1000 * FROM_UNITS / size)
                code = _code(font, pango_font, size, glyph, dx, dy, want, advance)
                if code != glyph:
                    changed.append((glyphs[i], glyph, geometry.x_offset, geometry.y_offset))
                    glyphs[i].glyph = code
                    geometry.x_offset = geometry.y_offset = 0
    return changed


def restore(changed: list) -> None:
    for info, glyph, x_offset, y_offset in changed:
        info.glyph = glyph
        info.geometry.x_offset, info.geometry.y_offset = x_offset, y_offset


def add_composites(content: bytes, virtual: dict[int, tuple[int, int, int, int]]) -> bytes:
    """The subset font with a composite glyph at each new id: (original glyph, dx, dy, advance) in
    font units. Ids between the font's last glyph and them are empty glyphs."""
    from fontTools.ttLib import TTFont
    from fontTools.ttLib.tables._g_l_y_f import Glyph, GlyphComponent

    font = TTFont(io.BytesIO(content), recalcTimestamp=False)
    order = list(font.getGlyphOrder())
    names = set(order)
    glyf, hmtx = font["glyf"], font["hmtx"]
    for table in ("hdmx", "VDMX", "LTSH", "kern"):      # per-glyph tables the new ids would not fit
        if table in font:
            del font[table]
    for code in range(len(order), max(virtual) + 1):
        name = f"press{code}"
        while name in names:
            name += "_"
        names.add(name)
        order.append(name)
        glyf.glyphs[name] = Glyph()
        hmtx.metrics[name] = (0, 0)
    font.setGlyphOrder(order)
    glyf.glyphOrder = order
    for code, (glyph, dx, dy, advance) in sorted(virtual.items()):
        if glyph >= code or glyph >= len(order):
            continue
        component = GlyphComponent()
        component.glyphName, component.x, component.y, component.flags = order[glyph], dx, dy, 0
        composite = Glyph()
        composite.numberOfContours, composite.components = -1, [component]
        glyf.glyphs[order[code]] = composite
        # The left side bearing is the outline's left edge: a rasterizer that places the glyph
        # by it (FreeType does) would otherwise undo the horizontal move.
        base = glyf[order[glyph]]
        left = base.xMin + dx if base.numberOfContours else 0
        hmtx.metrics[order[code]] = (advance, left)
    if "post" in font:
        font["post"].formatType = 3.0                   # no glyph names to carry
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


PRESENTATION_FORMS = re.compile("[\ufb50-\ufdff\ufe70-\ufeff]")
# Right-to-left text keeps its glyphs' own text: extractors order an RTL line's glyphs by their
# position, which an /ActualText (placed as one left-to-right run by poppler) would reverse.
RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
# What can give a run of a left-to-right line a right-to-left (odd) level: right-to-left
# letters, in the BMP or not, and the marks and controls that open a right-to-left embedding.
MAY_RUN_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff\u200f\u202b\u202e\u2067"
                         "\U00010800-\U00010fff\U0001e800-\U0001efff]")
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


def _with_flat_lines(draw_first_line):
    def draw(stream, textbox, text_overflow, block_ellipsis, matrix):
        from weasyprint.text.ffi import pango

        if (not textbox.text.strip() or textbox.style["font_size"] < 1e-6 or text_overflow == "ellipsis"
                or block_ellipsis != "none"):
            return draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix)
        if textbox.style["direction"] == "ltr" and not MAY_RUN_RTL.search(textbox.text):
            # no right-to-left run on the line: nothing to flatten, and no second Pango line
            # (getting it cost 0.1 s of each write of the ja edition)
            return draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix)
        # As draw_first_line does first: setting it later would lay the line out again.
        pango.pango_layout_set_single_paragraph_mode(textbox.pango_layout.layout, True)
        changed = flatten_line(stream, textbox, textbox.pango_layout.get_first_line()[0])
        try:
            return draw_first_line(stream, textbox, text_overflow, block_ellipsis, matrix)
        finally:
            restore(changed)

    draw._press = True
    return draw


# Fonts as subset for a PDF, by what the subset is made from (_subset_key): the screen and the
# press PDF of an edition are written from one layout with the same glyphs, so the second write
# takes the first one's subsets (0.3 s of HarfBuzz for the ja edition's faces).
_subsets: dict[tuple, bytes] = {}
_SUBSETS_KEPT = 64


def _subset_key(font, to_unicode, hinting, virtual) -> tuple | None:
    """What a subset depends on; None for fonts `clean` does more to (variable or colour fonts).

    The font file is known by WeasyPrint's hash of its description, its length and a hash of its
    first and last 64 KB: hashing all of a 20 MB CJK collection for each write cost more than the
    subset it saves.
    """
    import hashlib

    if "fvar" in font.tables or font.png or font.svg or font.colr:
        return None
    content = font.file_content
    ends = hashlib.blake2b(content[:65536] + content[-65536:], digest_size=16).digest()
    return (font.hash, len(content), ends, font.index, tuple(sorted(to_unicode)), hinting, bool(font.missing),
            tuple(sorted(virtual.items())))


def _with_composites(clean):
    def clean_font(font, to_unicode, hinting):
        virtual = _composites(font)
        if virtual and to_unicode:        # the subset keeps the glyphs the new ones are made of
            to_unicode = {**to_unicode, **{glyph: "" for glyph, *_ in virtual.values()}}
        key = _subset_key(font, to_unicode, hinting, virtual) if to_unicode else None
        if key in _subsets:
            font.file_content = _subsets[key]
            return
        clean(font, to_unicode, hinting)
        if virtual:
            font.file_content = add_composites(bytes(font.file_content), virtual)
        if key:
            if len(_subsets) >= _SUBSETS_KEPT:
                del _subsets[next(iter(_subsets))]
            _subsets[key] = font.file_content

    clean_font._press = True
    return clean_font


def _with_shared_ids(get_unused_glyph_id):
    def unused(font, codepoint):
        if codepoint not in font.missing:
            font.missing[codepoint] = min(_next_free_glyph(font), 0xFFFF)
        return font.missing[codepoint]

    unused._press = True
    return unused


def install() -> None:
    """Draw shaped text with ActualText and right-to-left lines on the baseline, and run
    `improve` right before WeasyPrint writes its font dictionaries (once per process)."""
    from weasyprint import draw as wdraw
    from weasyprint import pdf as wpdf
    from weasyprint.draw import text as wtext
    from weasyprint.pdf import fonts as wfonts

    if not getattr(wdraw.draw_text, "_press", False):
        wdraw.draw_text = _with_actual_text(wdraw.draw_text)
    if not getattr(wtext.draw_first_line, "_press", False):
        wtext.draw_first_line = _with_flat_lines(wtext.draw_first_line)
        wfonts.Font.clean = _with_composites(wfonts.Font.clean)
        wfonts.Font.get_unused_glyph_id = _with_shared_ids(wfonts.Font.get_unused_glyph_id)
    if getattr(wpdf.build_fonts_dictionary, "_press", False):
        return
    original = wpdf.build_fonts_dictionary

    def build_fonts_dictionary(pdf, fonts, *args, **kwargs):
        improve(fonts)
        return original(pdf, fonts, *args, **kwargs)

    build_fonts_dictionary._press = True
    wpdf.build_fonts_dictionary = build_fonts_dictionary
