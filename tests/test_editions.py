"""Every script family: right-to-left Arabic, Devanagari, the derived Traditional-Chinese
edition, the Korean appendices inside other editions, and the translation status."""
from __future__ import annotations

import hashlib
import re
import subprocess
import unicodedata
import zipfile

import pypdf
import pytest
from pdfminer.high_level import extract_pages
from pdfminer.layout import LTTextLineHorizontal

from conftest import ROOT, layout_lines, overlay, run_cli
from test_book import pdf_pages, squash

BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
ARABIC_MARKS = re.compile("[\u064b-\u0652\u0670]")


def lines_of(pdf, page_index):
    """(x0, x1, text) of every text line on one page, with pdfminer.six."""
    found = []

    def walk(obj):
        if isinstance(obj, LTTextLineHorizontal):
            found.append((obj.x0, obj.x1, obj.y0, obj.get_text().strip()))
            return
        for child in getattr(obj, "_objs", None) or []:
            walk(child)

    for page in extract_pages(str(pdf), page_numbers=[page_index]):
        walk(page)
        return page, [f for f in found if f[3]]


def body_lines(pdf, page_index):
    """Text lines of the body (running head and folio left out), fragments on one baseline joined."""
    page, found = lines_of(pdf, page_index)
    rows: dict[int, list] = {}
    for x0, x1, y0, text in found:
        if 60 < y0 < page.height - 60:
            key = next((k for k in rows if abs(k - y0) < 2), round(y0))
            rows.setdefault(key, []).append((x0, x1, text))
    return [(min(f[0] for f in frags), max(f[1] for f in frags), y, " ".join(f[2] for f in frags))
            for y, frags in sorted(rows.items(), reverse=True)]


def logical_text(pdf, first=1, last=None) -> str:
    args = ["pdftotext", "-f", str(first)] + (["-l", str(last)] if last else []) + [str(pdf), "-"]
    text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    text = unicodedata.normalize("NFKC", BIDI_CONTROLS.sub("", text))
    return squash(ARABIC_MARKS.sub("", text))


def page_of(pages, needle):
    return next(i for i, p in enumerate(pages) if squash(needle) in squash(p))


def test_arabic_lines_are_set_from_the_right(real_book):
    pdf = real_book / "keep4o-ar.pdf"
    pages = pdf_pages(pdf)
    start = next(i for i, p in enumerate(pages) if i > 1 and "2024.05" in p)   # title, notice, epigraph
    # The epigraph is set from the right too: its lines end at the start (right) edge of its box,
    # 8 mm in from the text's (styles/book.css, .epigraph margin-inline-start).
    opener = body_lines(pdf, start)
    edge = max(x1 for _, x1, _, _ in opener)
    insets = [edge - x1 for _, x1, _, t in opener if re.search("[\u0600-\u06ff]", t)]
    assert sum(1 for d in insets if abs(d - 8 * 72 / 25.4) < 3) >= 2, [round(d) for d in insets]
    checked = 0
    for index in (start + 1, start + 2, start + 3):
        lines = body_lines(pdf, index)
        right = max(x1 for _, x1, _, _ in lines)
        left = min(x0 for x0, _, _, _ in lines)
        short = [(x0, x1, t) for x0, x1, _, t in lines if x1 - x0 < 0.7 * (right - left)]
        assert short, "a page of prose has last lines of paragraphs"
        for x0, x1, text in short:
            if re.search("[\u0600-\u06ff]", text):
                # flush right (a callout's text sits a padding's width in from the edge)
                assert right - x1 < 12 and x0 - left > 3 * (right - x1) + 20, (round(x0), round(x1), text)
                checked += 1
    assert checked >= 5


def test_arabic_extracts_in_logical_order(real_book):
    """Lines of Arabic come out of the PDF in reading order (poppler's pdftotext).

    Only lines with no digits or Latin words are compared, and only their letters: where a line
    mixes directions, or at the neutral punctuation between runs, the extractor's own reordering,
    not the PDF, decides the order. Ligatures (lam-alef …) map back to their letters in order
    (press/tounicode.py).
    """
    pdf = real_book / "keep4o-ar.pdf"
    out = subprocess.run(["pdftotext", "-f", "5", "-l", "14", str(pdf), "-"], capture_output=True,
                         text=True, check=True).stdout
    def letters(text: str) -> str:
        return re.sub(r"[^\u0621-\u064a]", "", unicodedata.normalize("NFKC", ARABIC_MARKS.sub("", text)))

    body = letters((ROOT / "book" / "ar" / "timeline.md").read_text(encoding="utf-8"))
    checked = found = 0
    for line in out.splitlines():
        line = ARABIC_MARKS.sub("", unicodedata.normalize("NFKC", BIDI_CONTROLS.sub("", line))).strip()
        if len(line) < 25 or re.search(r"[0-9A-Za-z\u0660-\u0669]", line):
            continue
        checked += 1
        found += letters(line) in body
    assert checked >= 30 and found >= 0.95 * checked, (checked, found)


def test_korean_appendix_reads_left_to_right_in_the_arabic_edition(real_book):
    pdf = real_book / "keep4o-ar.pdf"
    pages = pdf_pages(pdf)
    start = page_of(pages, "수천 명의 사용자가")
    assert squash("هذا الملحق باللغة الكورية") in logical_text(pdf, start + 1, start + 1)
    lines = body_lines(pdf, start + 1)
    left = min(x0 for x0, _, _, _ in lines)
    korean_short = [(x0, x1) for x0, x1, _, t in lines if re.search("[\uac00-\ud7a3]", t)]
    assert korean_short and all(x0 - left < 3 for x0, _ in korean_short)


def test_arabic_epub_is_right_to_left(real_book):
    with zipfile.ZipFile(real_book / "keep4o-ar.epub") as z:
        opf = z.read("EPUB/content.opf").decode()
        texts = {n: z.read(n).decode() for n in z.namelist() if n.endswith(".xhtml")}
    assert 'page-progression-direction="rtl"' in opf and "<dc:language>ar</dc:language>" in opf
    assert all('<html dir="rtl"' in t for t in texts.values())
    korean = [t for t in texts.values() if 'lang="ko"' in t]
    assert len(korean) == 2 and all(re.search(r'<section[^>]*lang="ko"[^>]*dir="ltr"', t) for t in korean)


@pytest.mark.parametrize("lang,faces", [
    ("ar", ["NotoNaskhArabic", "Noto-Serif-CJK-KR"]),
    ("hi", ["NotoSerifDevanagari", "Noto-Serif-CJK-KR"]),
    ("ko", ["Noto-Serif-CJK-KR"]),
    ("zh-Hant", ["Noto-Serif-CJK-TC", "Noto-Serif-CJK-KR"]),
    ("en", ["NotoSerif", "Noto-Serif-CJK-KR"]),
])
def test_each_script_gets_its_face(real_book, lang, faces):
    reader = pypdf.PdfReader(real_book / f"keep4o-{lang}.pdf")
    names = {str(f.get_object()["/BaseFont"]) for p in reader.pages
             for f in (p.get("/Resources", {}).get("/Font", {}) or {}).values()}
    for face in faces:
        assert any(face.replace("-", "") in n.replace("-", "") for n in names), (face, names)


@pytest.mark.parametrize("lang,script", [("ar", "[\u0600-\u06ff]"), ("hi", "[\u0900-\u097f]")])
def test_no_missing_glyphs(real_book, lang, script):
    """Every letter of the chapter comes out of the PDF: a glyph the font lacks would not."""
    source = (ROOT / "book" / lang / "timeline.md").read_text(encoding="utf-8")
    wanted = {c for c in unicodedata.normalize("NFKC", source) if re.match(script, c)} - set("\u064b\u064c\u064d\u064e\u064f\u0650\u0651\u0652\u0670")
    text = logical_text(real_book / f"keep4o-{lang}.pdf")
    missing = {c for c in wanted if c not in text}
    assert not missing, sorted(f"U+{ord(c):04X}" for c in missing)


def test_hindi_lines_break_between_words_only(real_book):
    """Ask WeasyPrint's own layout where the lines of the Hindi timeline end.

    (Text extracted from a PDF reorders Devanagari vowel signs, so it cannot tell.)
    Every line must end at the end of a word of the chapter, never inside one.
    """
    from weasyprint import CSS, HTML

    from press import html as html_stage
    from press.manifest import load_manifest
    from press.sources import load_chapters

    book = load_manifest(ROOT / "book")
    edition = book.edition("hi")
    chapters = load_chapters(book, edition)[:1]
    doc = html_stage.render_book_html(book, edition, html_stage.render_chapters(edition, chapters))
    pages = HTML(string=doc, base_url=str(ROOT / "book") + "/").render(
        stylesheets=[CSS(filename=str(ROOT / "styles" / "book.css"))]).pages
    words = set(re.findall(r"[\u0900-\u097f]+", chapters[0].ref.path.read_text(encoding="utf-8")))

    ends = [re.findall(r"[\u0900-\u097f]+", line)[-1] for line in layout_lines(pages[4:])
            if re.search(r"[\u0900-\u097f]\s*$", line)]
    assert len(ends) > 100
    assert all(end in words for end in ends), [e for e in ends if e not in words][:5]


def _mini_with(minimal_book, text):
    return overlay(minimal_book, {"book.yaml": text})


ZH_HANT = """  - lang: zh-Hant
    timeline: zh/timeline.md
    opencc: s2twp
    opencc_overrides: zh-Hant-overrides.yaml
    appendices: [ko/appendix.md]
"""


def test_zh_hant_is_derived_and_follows_its_source(minimal_book, tmp_path):
    manifest = (minimal_book / "book.yaml").read_text(encoding="utf-8") + ZH_HANT
    overlay(minimal_book, {"book.yaml": manifest, "zh-Hant-overrides.yaml": "第二段: 第貳段\n"})
    out = tmp_path / "out"
    proc = run_cli("pdf", "--lang", "zh-Hant", "--book", str(minimal_book), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    text = "\n".join(pdf_pages(out / "mini-zh-Hant.pdf"))
    assert "中文時間線" in text and "时间线" not in text
    assert "第貳段" in text                         # the override applied after OpenCC
    assert "同上" in text                           # notes in the derived locale (zh-TW)
    zh = minimal_book / "zh" / "timeline.md"
    zh.write_text(zh.read_text(encoding="utf-8").replace("第一段", "第一段，简体变化"), encoding="utf-8")
    proc = run_cli("pdf", "--lang", "zh-Hant", "--book", str(minimal_book), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "簡體變化" in "\n".join(pdf_pages(out / "mini-zh-Hant.pdf"))


def test_status_table_and_stale_translations(minimal_book):
    source = minimal_book / "ja" / "timeline.md"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    en = (f"---\nlang: en\nsource: ja/timeline.md\nsource_sha256: {digest}\n"
          "translation: \"Translated from the Japanese.\"\n---\n\n# Timeline\n\nText.\n")
    manifest = (minimal_book / "book.yaml").read_text(encoding="utf-8") + ZH_HANT.replace(
        "    opencc_overrides: zh-Hant-overrides.yaml\n", "") + "  - lang: en\n    timeline: en/timeline.md\n"
    overlay(minimal_book, {"en/timeline.md": en, "book.yaml": manifest})
    proc = run_cli("status", "--book", str(minimal_book))
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()[1:] if line and not line.startswith(" ")}
    assert rows["ja"][:2] == ["present", "present"]          # timeline, letter
    assert rows["zh-Hans"][:2] == ["present", "missing"]
    assert rows["zh-Hant"][0] == "derived" and rows["en"][0] == "present"
    assert run_cli("status", "--strict", "--book", str(minimal_book)).returncode == 1   # letters missing
    source.write_text(source.read_text(encoding="utf-8") + "\n2026.01 — 追加。\n", encoding="utf-8")
    proc = run_cli("status", "--book", str(minimal_book))
    rows = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()[1:] if line and not line.startswith(" ")}
    assert rows["en"][0] == "stale" and "ja/timeline.md changed" in proc.stdout


def test_real_book_status(real_book):
    proc = run_cli("status")
    assert proc.returncode == 0
    for lang in ("ja", "zh-Hans", "zh-Hant", "ko", "en", "hi", "ar"):
        assert re.search(rf"^{lang}\s+(present|derived)\s+missing\s+present\s+present", proc.stdout, re.M), proc.stdout
