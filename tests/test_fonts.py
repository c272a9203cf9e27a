"""fonts.py against the real installed fonts: fontconfig lookup, coverage, subsetting."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from press import fonts
from press.errors import BuildError

from conftest import ROOT, overlay


def family_names(path: Path, index: int) -> set[str]:
    with TTFont(path, fontNumber=index, lazy=True) as font:
        return {str(rec) for rec in font["name"].names if rec.nameID in (1, 16)}


def test_find_face_picks_the_font_inside_the_cjk_collection():
    jp = fonts.find_face("Noto Serif CJK JP")
    kr = fonts.find_face("Noto Serif CJK KR")
    assert jp.path.suffix == ".ttc" and jp.path == kr.path and jp.index != kr.index
    assert "Noto Serif CJK JP" in family_names(jp.path, jp.index)
    assert "Noto Serif CJK KR" in family_names(kr.path, kr.index)
    bold = fonts.find_face("Noto Serif CJK JP", "bold")
    assert bold.weight == "bold" and bold.path != jp.path
    assert "Noto Serif CJK JP" in family_names(bold.path, bold.index)


def test_find_face_refuses_a_family_fontconfig_would_substitute():
    with pytest.raises(BuildError, match="not installed: 'Noto Serif Klingon'"):
        fonts.find_face("Noto Serif Klingon")


def test_cmap_of_a_cjk_collection_loads_fast():
    face = fonts.find_face("Noto Sans CJK KR")
    fonts.cmap_of.cache_clear()
    start = time.perf_counter()
    cmap = fonts.cmap_of(face)
    assert time.perf_counter() - start < 0.5  # ~5 ms measured (HarfBuzz); fontTools took ~0.2 s
    assert ord("한") in cmap and ord("漢") in cmap and 0xE000 not in cmap


def test_ignorables_are_not_reported_but_other_format_characters_are():
    latin = [fonts.find_face("Noto Serif")]
    text = "a\u200db\u200cc\ufe0f\u00ad\u200b\u200e\u200f\u202a\u202e\u2066\u2069\t\n d"
    assert fonts.uncovered(text, latin) == []
    # U+0600 ARABIC NUMBER SIGN is format (Cf) too, but needs a glyph: Noto Serif has none.
    assert fonts.uncovered("x\u0600y\ue000", latin) == ["\u0600", "\ue000"]


def test_private_use_character_fails_with_code_point_file_and_line(minimal_book: Path):
    timeline = minimal_book / "ja" / "timeline.md"
    text = timeline.read_text(encoding="utf-8").replace("二番目の段落", "二番目の\ue000段落")
    overlay(minimal_book, {"ja/timeline.md": text})
    line = next(n for n, s in enumerate(text.splitlines(), 1) if "\ue000" in s)
    sources = [("ja/letter.md", (minimal_book / "ja/letter.md").read_text(encoding="utf-8")),
               ("ja/timeline.md", timeline.read_text(encoding="utf-8"))]
    stack = fonts.body_stack("Noto Serif CJK JP")
    for fallback in (True, False):
        with pytest.raises(BuildError) as err:
            fonts.check_coverage(sources, stack, allow_fallback=fallback)
        assert "U+E000" in str(err.value)
        assert str(err.value).startswith(f"ja/timeline.md:{line}: character ")
        assert err.value.hint
    assert not fonts.any_installed_covers("\ue000")


def test_pdf_may_fall_back_to_any_installed_font_but_the_epub_may_not():
    sources = [("en/timeline.md", "Intro\n→ an arrow Noto Serif lacks\n")]
    stack = fonts.body_stack("Noto Serif")
    fonts.check_coverage(sources, stack, allow_fallback=True)  # fontconfig has it (DejaVu …)
    with pytest.raises(BuildError, match=r"'→' \(U\+2192 RIGHTWARDS ARROW\) is in no font the EPUB"):
        fonts.check_coverage(sources, stack, allow_fallback=False)
    assert fonts.locate("→", sources) == ("en/timeline.md", 2)


def cjk_text(face: fonts.Face, count: int) -> str:
    return "".join(chr(c) for c in sorted(fonts.cmap_of(face)) if 0x4E00 <= c <= 0x9FFF)[:count]


def test_installed_coverage_agrees_with_fontconfig_character_by_character():
    """One fc-list run gives what every installed font covers; asking fontconfig for each
    character (what it replaced) must give the same answers, range edges included."""
    import random
    import subprocess

    starts, ends = fonts._installed_coverage()
    assert len(starts) > 10 and all(a <= b for a, b in zip(starts, ends))
    edges = [cp for lo, hi in zip(starts[:40], ends[:40]) for cp in (lo - 1, lo, hi, hi + 1) if cp >= 0x20]
    sample = edges + [0x938, 0x627, 0xAC00, 0x2192, 0xE000, 0x378, 0x2000B, 0x10FFFF]
    sample += random.Random(4).sample(range(0x20, 0x30000), 60)
    for cp in sample:
        asked = subprocess.run(["fc-list", f":charset={cp:x}", "family"], capture_output=True, text=True).stdout
        assert fonts.any_installed_covers(chr(cp)) == bool(asked.strip()), hex(cp)


def test_cjk_subset_covers_its_text_and_stays_small(tmp_path: Path):
    face = fonts.find_face("Noto Serif CJK JP")
    text = cjk_text(face, 2000) + "かなカナ、。「」ABCxyz0123"
    out = fonts.subset_face(face, text, tmp_path / "jp.otf")
    assert fonts.covers(out, text) == []
    assert out.stat().st_size < fonts.EPUB_FONT_BUDGET  # ~0.95 MB measured; the .ttc is ~20 MB
    with TTFont(out) as font:
        assert font.sfntVersion == "OTTO" and "GSUB" in font and "vert" in features(font)
        assert len(font.getGlyphOrder()) < 5000


def test_subset_is_byte_identical_across_runs_and_processes(tmp_path: Path):
    face = fonts.find_face("Noto Sans CJK KR", "bold")
    text = "한국어 부록 첫 번째 문단입니다. 漢字 ABC"
    first = fonts.subset_face(face, text, tmp_path / "a.otf").read_bytes()
    assert fonts.subset_face(face, text, tmp_path / "b.otf").read_bytes() == first
    # Same characters in another order: the same bytes.
    assert fonts.subset_face(face, text[::-1], tmp_path / "d.otf").read_bytes() == first
    # Another process with another hash seed: set order must not leak into the bytes.
    code = ("import sys; from pathlib import Path; from press import fonts; "
            "fonts.subset_face(fonts.find_face('Noto Sans CJK KR', 'bold'), sys.argv[1], Path(sys.argv[2]))")
    subprocess.run([sys.executable, "-c", code, text, str(tmp_path / "c.otf")], cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert (tmp_path / "c.otf").read_bytes() == first


def features(font: TTFont) -> set[str]:
    return {rec.FeatureTag for rec in font["GSUB"].table.FeatureList.FeatureRecord}


def single_substitutions(font: TTFont, tag: str) -> dict[str, str]:
    table = font["GSUB"].table
    mapping: dict[str, str] = {}
    for rec in table.FeatureList.FeatureRecord:
        if rec.FeatureTag == tag:
            for index in rec.Feature.LookupListIndex:
                for sub in table.LookupList.Lookup[index].SubTable:
                    sub = getattr(sub, "ExtSubTable", sub)
                    mapping.update(getattr(sub, "mapping", {}))
    return mapping


def test_arabic_subset_keeps_the_joining_forms(tmp_path: Path):
    face = fonts.find_face("Noto Naskh Arabic")
    text = "بيت كتب"  # beh, yeh, teh, kaf: initial, medial and final forms
    out = fonts.subset_face(face, text, tmp_path / "ar.ttf")
    assert out.suffix == ".ttf" and fonts.covers(out, text) == []
    with TTFont(out) as font:
        assert {"init", "medi", "fina"} <= features(font)
        beh = font.getBestCmap()[ord("ب")]
        glyphs = set(font.getGlyphOrder())
        for tag in ("init", "medi", "fina"):
            forms = single_substitutions(font, tag)
            assert beh in forms and forms[beh] in glyphs, tag


def test_devanagari_subset_keeps_the_conjunct_features(tmp_path: Path):
    face = fonts.find_face("Noto Serif Devanagari")
    text = "क्षत्रिय हिन्दी"  # क्ष is the akhand ligature ka + virama + ssa
    out = fonts.subset_face(face, text, tmp_path / "hi.ttf")
    with TTFont(out) as font:
        assert {"akhn", "half", "rphf", "blwf", "pres"} <= features(font)
        cmap = font.getBestCmap()
        ka, virama, ssa = (cmap[ord(c)] for c in "क्ष")
        ligatures = [lig for rec in font["GSUB"].table.FeatureList.FeatureRecord if rec.FeatureTag == "akhn"
                     for i in rec.Feature.LookupListIndex
                     for sub in font["GSUB"].table.LookupList.Lookup[i].SubTable
                     for lig in getattr(getattr(sub, "ExtSubTable", sub), "ligatures", {}).get(ka, [])]
        assert any(lig.Component == [virama, ssa] for lig in ligatures)


def test_subset_for_epub_follows_the_stack_and_enforces_the_budget(tmp_path: Path):
    body = fonts.body_stack("Noto Naskh Arabic")
    heads = fonts.heading_stack("Noto Sans Arabic")
    needs = fonts.plan([(body, "مرحبا GPT-4o"), (heads, "الفصل")])
    # Naskh has no Latin letters: they go to Noto Serif, the next face of the stack.
    assert "G" in needs[fonts.find_face("Noto Serif")] and "G" not in needs[body[0]]
    embedded = fonts.subset_for_epub(needs, tmp_path / "fonts")
    assert [f.path.name for f in embedded] == sorted(f.path.name for f in embedded)
    assert {f.path.name for f in embedded} >= {"NotoNaskhArabic-Regular.ttf", "NotoSansArabic-Bold.ttf"}
    css = fonts.font_face_css(embedded)
    assert '"Noto Sans Arabic"; font-style: normal; font-weight: bold; src: url("../fonts/NotoSansArabic-Bold.ttf")' in css
    with pytest.raises(BuildError, match="over the 1 kB budget"):
        fonts.subset_for_epub(needs, tmp_path / "small", budget=1000)


def test_subset_keeps_the_ofl_licence(tmp_path: Path):
    """The Noto fonts are SIL OFL: every copy must carry the copyright and the licence."""
    face = fonts.find_face("Noto Serif CJK JP")
    out = fonts.subset_face(face, "日本語", tmp_path / "s.otf")
    names = {r.nameID: r.toUnicode() for r in TTFont(out)["name"].names if r.platformID == 3}
    assert "Adobe" in names[0]
    assert "SIL Open Font License" in names[13] and "OFL" in names[14]


def test_weasyprint_loads_its_libraries_without_running_a_compiler():
    """pdf._load_libraries: without it, ctypes.util.find_library ran gcc and ld for each library
    name WeasyPrint tries before Linux's (48 processes, ~0.25 s of every PDF build)."""
    import subprocess
    import sys

    code = ("import subprocess\nran = []\noriginal = subprocess.Popen.__init__\n"
            "def record(self, args, *a, **k):\n    ran.append(args)\n    return original(self, args, *a, **k)\n"
            "subprocess.Popen.__init__ = record\nimport press.pdf\nprint(ran)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout
