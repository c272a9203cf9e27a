"""Fonts: fontconfig lookup, glyph coverage of an edition's text, and subsetting for the EPUB."""
from __future__ import annotations

import functools
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTFont

from .errors import BuildError

# The EPUB carries its own fonts (reading systems do not have ours); past this it gets heavy.
EPUB_FONT_BUDGET = 1_500_000

# Fallbacks every stack in html.font_css ends with before the generic family.
SERIF_FALLBACK = "Noto Serif"
SANS_FALLBACK = "Noto Sans"

# Default-ignorable code points (Unicode DerivedCoreProperties.txt, Default_Ignorable_Code_Point):
# shapers consume them and fonts legitimately lack glyphs for them (ZWJ, ZWNJ, soft hyphen,
# variation selectors, bidi controls). Not all of category Cf: U+0600..U+0605 need glyphs.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)


@dataclass(frozen=True)
class Face:
    """One installed font: a file and, for a .ttc collection, which font inside it."""

    family: str
    path: Path
    index: int
    weight: str  # "regular" | "bold": what the file is, not only what was asked for

    @property
    def file_stem(self) -> str:
        """A stable file name for this face's subset, e.g. NotoSerifCJKJP-Regular."""
        return self.family.replace(" ", "") + "-" + self.weight.capitalize()


def _escape(family: str) -> str:
    # fontconfig pattern syntax: '-', ':', ',' and '\' are special in a family name.
    return "".join("\\" + c if c in "\\-:," else c for c in family)


@functools.lru_cache(maxsize=None)
def find_face(family: str, weight: str = "regular") -> Face:
    """The file fontconfig (and so WeasyPrint) uses for `family`; BuildError if it is not installed."""
    if weight not in ("regular", "bold"):
        raise ValueError(f"weight must be 'regular' or 'bold', not {weight!r}")
    if not shutil.which("fc-match"):
        raise BuildError("fontconfig's fc-match is not installed",
                         hint="install fontconfig: sudo apt-get install -y fontconfig")
    proc = subprocess.run(
        ["fc-match", "-f", "%{file}\n%{index}\n%{family}\n%{weight}\n",
         f"{_escape(family)}:weight={weight}"],
        capture_output=True, text=True, check=False)
    fields = proc.stdout.split("\n")
    if proc.returncode != 0 or len(fields) < 4 or not fields[0]:
        raise BuildError(f"fontconfig found no font for {family!r}", hint="is fontconfig set up?")
    file, index, families, fc_weight = fields[:4]
    # fontconfig always answers with something: another family means this one is missing.
    if family.casefold() not in {name.strip().casefold() for name in families.split(",")}:
        raise BuildError(f"font family not installed: {family!r} (fontconfig would use "
                         f"{families.split(',')[0]!r} instead)",
                         hint="install it (Noto: sudo apt-get install -y fonts-noto-cjk "
                              "fonts-noto-core) or name an installed family in book.yaml fonts:")
    # A family without a bold file gets the regular one (renderers then embolden it).
    real_weight = "bold" if fc_weight and float(fc_weight) >= 200 else "regular"
    return Face(family, Path(file), int(index or 0), real_weight)


def _read_cmap(path: Path, index: int = 0) -> frozenset[int]:
    # HarfBuzz reads a CJK collection's cmap in ~5 ms; fontTools took ~0.2 s for the same table.
    import uharfbuzz as hb

    return frozenset(hb.Face(hb.Blob.from_file_path(str(path)), index).unicodes)


@functools.lru_cache(maxsize=None)
def cmap_of(face: Face) -> frozenset[int]:
    """Every code point the face has a glyph for."""
    return _read_cmap(face.path, face.index)


def is_ignorable(char: str) -> bool:
    """Whitespace, controls and default-ignorables: characters a font may legitimately lack."""
    cp = ord(char)
    if char.isspace() or unicodedata.category(char) == "Cc":
        return True
    return any(lo <= cp <= hi for lo, hi in _DEFAULT_IGNORABLE)


def uncovered(text: str, faces: Iterable[Face]) -> list[str]:
    """Characters of `text` (in order of first use) that none of the faces has."""
    cmaps = [cmap_of(face) for face in faces]      # (no union: a CJK cmap has 65,000 entries)
    return [c for c in dict.fromkeys(text)
            if not any(ord(c) in cmap for cmap in cmaps) and not is_ignorable(c)]


@functools.lru_cache(maxsize=None)
def _families_having(char: str) -> tuple[str, ...]:
    """The installed families (first names) fontconfig says have `char`, sorted."""
    proc = subprocess.run(["fc-list", f":charset={ord(char):x}", "family"],
                          capture_output=True, text=True, check=False)
    return tuple(sorted({line.split(",")[0].strip() for line in proc.stdout.splitlines() if line.strip()}))


def any_installed_covers(char: str) -> bool:
    """Whether some installed font has `char`: WeasyPrint falls back to it through fontconfig."""
    import bisect

    starts, ends = _installed_coverage()
    i = bisect.bisect_right(starts, ord(char)) - 1
    return i >= 0 and ord(char) <= ends[i]


@functools.cache
def _installed_coverage() -> tuple[list[int], list[int]]:
    """What every installed font covers, as fontconfig says, merged into sorted ranges (starts,
    ends): one fc-list run (15 ms), where asking fontconfig for each character took 7 ms each."""
    proc = subprocess.run(["fc-list", "--format", "%{charset}\n"], capture_output=True, text=True, check=False)
    ranges = sorted((int(lo, 16), int(hi or lo, 16)) for lo, _, hi in (t.partition("-") for t in set(proc.stdout.split())))
    starts: list[int] = []
    ends: list[int] = []
    for lo, hi in ranges:
        if ends and lo <= ends[-1] + 1:
            ends[-1] = max(ends[-1], hi)
        else:
            starts.append(lo)
            ends.append(hi)
    return starts, ends


@functools.lru_cache(maxsize=None)
def fallback_face(char: str) -> Face | None:
    """The installed face fontconfig would fall back to for `char` (Noto serif faces first)."""
    families = list(_families_having(char))
    families.sort(key=lambda f: (not f.startswith("Noto Serif"), not f.startswith("Noto"), f))
    for family in families:
        try:
            face = find_face(family)
        except BuildError:
            continue
        if ord(char) in cmap_of(face):
            return face
    return None


def assign(text: str, faces: list[Face]) -> dict[Face, str]:
    """Which characters each face of a CSS stack renders: the first face that has the character."""
    out: dict[Face, list[str]] = {}
    for char in dict.fromkeys(text):
        if is_ignorable(char) and not char.isspace():
            continue
        for face in faces:
            if ord(char) in cmap_of(face):
                out.setdefault(face, []).append(char)
                break
    return {face: "".join(chars) for face, chars in out.items()}


def body_stack(serif: str) -> list[Face]:
    """The faces of a body-text stack in html.font_css: the language's serif, then Noto Serif."""
    return [find_face(serif), find_face(SERIF_FALLBACK)]


def heading_stack(sans: str) -> list[Face]:
    """The faces of a heading stack in html.font_css (headings are bold)."""
    return [find_face(sans, "bold"), find_face(SANS_FALLBACK, "bold")]


def describe(char: str) -> str:
    """'X' (U+0058 LATIN CAPITAL LETTER X): a character named so a reader can find it."""
    name = unicodedata.name(char, "")
    shown = f"'{char}' " if char.isprintable() else ""
    return f"{shown}(U+{ord(char):04X}{' ' + name if name else ''})"


def locate(char: str, sources: Iterable[tuple[str, str]]) -> tuple[str | None, int | None]:
    """The first (display path, line) of `sources` [(display, text), …] where `char` occurs."""
    for display, text in sources:
        pos = text.find(char)
        if pos >= 0:
            return display, text.count("\n", 0, pos) + 1
    return None, None


def check_coverage(sources: list[tuple[str, str]], faces: list[Face], *,
                   allow_fallback: bool) -> None:
    """Raise BuildError at the first character no face has (PDF: nor any installed font)."""
    missing = uncovered("".join(text for _, text in sources), faces)
    if allow_fallback:      # one fc-list run per character (~7 ms each): side by side
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=8) as threads:
            missing = [c for c, covered in zip(missing, threads.map(any_installed_covers, missing)) if not covered]
    if not missing:
        return
    char = missing[0]
    display, line = locate(char, sources)
    more = f"; {len(missing) - 1} more character(s) too" if len(missing) > 1 else ""
    families = ", ".join(dict.fromkeys(f.family for f in faces))
    if allow_fallback:
        message = f"character {describe(char)} is in no installed font{more}"
        hint = ("remove or replace the character (a private-use or unassigned code point shows "
                "as a blank box), or install a font that has it")
    else:
        message = f"character {describe(char)} is in no font the EPUB embeds ({families}){more}"
        hint = ("replace the character, or name in book.yaml fonts: a family that has it; reading "
                "systems do not have the fonts of this machine")
    raise BuildError(message, display, line, hint=hint)


def subset_face(face: Face, text: str, out: Path) -> Path:
    """Write the face cut down to the glyphs `text` needs, with its shaping features, to `out`.

    The result depends only on the character set (byte-identical across runs and orders).
    """
    _subset(face, "".join(sorted(set(text))), out)
    return out


def _subset(face: Face, chars: str, out: Path) -> None:
    """HarfBuzz's subsetter (uharfbuzz): the same result as fontTools.subset for these fonts,
    about 100 times faster on CFF CJK faces (0.08 s instead of 9 s for 730 Japanese characters),
    because it does not interpret every charstring in Python.

    It keeps the layout features shapers apply by default (Arabic joining forms, Indic
    conjuncts, kern/mark, CJK locl/vert) and drops hinting (smaller; screens do not need it).
    """
    import uharfbuzz as hb

    source = hb.Face(hb.Blob.from_file_path(str(face.path)), face.index)
    request = hb.SubsetInput()
    for char in chars:
        request.unicode_set.add(ord(char))
    request.flags = hb.SubsetFlags.NO_HINTING | hb.SubsetFlags.NOTDEF_OUTLINE
    # The fonts are SIL OFL: each copy carries its copyright (name 0, kept by default) and the
    # licence, so keep the licence description and URL (13, 14) that HarfBuzz would drop.
    names = request.sets(hb.SubsetInputSets.NAME_ID)
    names.add(13)
    names.add(14)
    result = hb.subset(source, request)
    if result is None:
        raise RuntimeError(f"HarfBuzz could not subset {face.path.name} (index {face.index})")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(result.blob.data)


@functools.lru_cache(maxsize=None)
def font_suffix(face: Face) -> str:
    """.otf for CFF outlines, .ttf for TrueType ones, as the source face is."""
    with TTFont(face.path, fontNumber=face.index, lazy=True) as font:
        return ".otf" if font.sfntVersion == "OTTO" else ".ttf"


def covers(path: Path, text: str) -> list[str]:
    """Characters of `text` the font file at `path` lacks (ignorables aside)."""
    cmap = _read_cmap(path)
    return [c for c in dict.fromkeys(text) if ord(c) not in cmap and not is_ignorable(c)]


@dataclass(frozen=True)
class EmbeddedFont:
    """A subset font file for the EPUB, and the @font-face it needs."""

    face: Face
    path: Path
    size: int


def plan(parts: Iterable[tuple[list[Face], str]]) -> dict[Face, str]:
    """Merge (CSS stack, text) parts into the characters each face must carry."""
    needs: dict[Face, str] = {}
    for faces, text in parts:
        for face, chars in assign(text, faces).items():
            needs[face] = "".join(dict.fromkeys(needs.get(face, "") + chars))
    return needs


def subset_for_epub(needs: dict[Face, str], out_dir: Path, *,
                    budget: int = EPUB_FONT_BUDGET) -> list[EmbeddedFont]:
    """Subset every needed face into out_dir, check each still covers its text and the budget."""
    fonts = []
    for face, text in sorted(needs.items(), key=lambda item: item[0].file_stem):
        if not text:
            continue
        out = subset_face(face, text, out_dir / (face.file_stem + font_suffix(face)))
        missing = covers(out, text)
        if missing:  # the subsetter dropped a glyph it should have kept: a bug, not a user mistake
            raise RuntimeError(f"subset {out.name} lacks {', '.join(map(describe, missing))}")
        fonts.append(EmbeddedFont(face, out, out.stat().st_size))
    total = sum(f.size for f in fonts)
    if total > budget:
        sizes = ", ".join(f"{f.path.name} {f.size // 1000} kB" for f in fonts)
        raise BuildError(f"the EPUB's fonts take {total // 1000} kB, over the "
                         f"{budget // 1000} kB budget ({sizes})",
                         hint="the edition's chapters use an unusual number of distinct characters "
                              "(text in many scripts, or a pasted binary file?): check what the chapters hold")
    return fonts


def font_face_css(fonts: Iterable[EmbeddedFont], url_prefix: str = "../fonts/") -> str:
    """@font-face rules for the embedded subsets (pandoc puts --epub-embed-font files in fonts/)."""
    rules = []
    for f in fonts:
        rules.append(f'@font-face {{ font-family: "{f.face.family}"; font-style: normal; '
                     f'font-weight: {"bold" if f.face.weight == "bold" else "normal"}; '
                     f'src: url("{url_prefix}{f.path.name}"); }}')
    return "\n".join(rules)
