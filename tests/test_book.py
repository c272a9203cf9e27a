"""The real book, built once by the real CLI: PDF pages, fonts, EPUBs, fidelity to the seeds."""
from __future__ import annotations

import html
import re
import sys
import zipfile
from pathlib import Path

import pypdf
import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import import_seeds  # noqa: E402

from press.qa import EpubCheck  # noqa: E402

EDITIONS = ["ja", "zh-Hans"]
ALL_EDITIONS = ["ja", "zh-Hans", "zh-Hant", "ko", "en", "hi", "ar"]
# Words that must not survive the cleanup: language bar, repository links, extraction garbage.
GARBAGE = ["README_zh.md", "letter/JA.md", "FR.md", "Français", "관심을trac", "tron안전장치", "trac 아닙니다", "프리미엄 암호화폐",
           "오픈아이언", "오픈아이얼", "보도 에 따르면", "잠재적 위험(dependencies)", "지식(tools)"]


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def pdf_pages(path: Path) -> list[str]:
    return [p.extract_text() or "" for p in pypdf.PdfReader(path).pages]


def epub_text(path: Path, note_calls: bool = True) -> str:
    with zipfile.ZipFile(path) as z:
        names = sorted(n for n in z.namelist() if n.endswith(".xhtml") and "/text/" in n)
        raw = "".join(z.read(n).decode() for n in names)
    if not note_calls:
        raw = re.sub(r'<a [^>]*epub:type="noteref"[^>]*>.*?</a>', "", raw)
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


@pytest.mark.parametrize("lang", EDITIONS)
def test_pdf_has_chapters_in_order(real_book, lang):
    pages = pdf_pages(real_book / f"keep4o-{lang}.pdf")
    contents = {"ja": "目次", "zh-Hans": "目录"}[lang]
    toc = next(i for i, p in enumerate(pages) if p.strip().startswith(contents))
    assert "Keep4o" in pages[0] and toc < 4
    text = squash("\n".join(pages[toc + 1:]))
    # The timeline's short title, then its epigraph (the seed's opening quotation), then the appendices.
    heads = {"ja": ["時系列記録", "4oは不十分にアライメント", "付録A", "GPT-4o서비스종료에항의하는사용자들",
                    "付録B", "GPT-5관련보도"],
             "zh-Hans": ["时间线", "我希望它快点死", "附录A", "GPT-4o서비스종료에항의하는사용자들",
                         "附录B", "GPT-5관련보도"]}[lang]
    positions = [text.find(squash(h)) for h in heads]
    assert all(p >= 0 for p in positions), dict(zip(heads, positions))
    assert positions == sorted(positions)
    # Section headings of Appendix B made from its bold lines are there too.
    assert squash("요인 3: 에이전트형 코딩") in text
    assert len(pages) > 40


@pytest.mark.parametrize("lang", EDITIONS)
def test_pdf_metadata_and_outline(real_book, lang):
    reader = pypdf.PdfReader(real_book / f"keep4o-{lang}.pdf")
    assert reader.metadata.title == "Keep4o"
    assert reader.metadata.author == "Alice, Claude Opus 4.5"
    assert reader.trailer["/Root"]["/Lang"] == lang
    titles = [o.title for o in reader.outline if not isinstance(o, list)]
    assert len(titles) >= 4


@pytest.mark.parametrize("lang,family", [("ja", "CJK-JP"), ("zh-Hans", "CJK-SC")])
def test_pdf_fonts_embedded_and_subset(real_book, lang, family):
    reader = pypdf.PdfReader(real_book / f"keep4o-{lang}.pdf")
    fonts = {}
    for page in reader.pages:
        for font in (page.get("/Resources", {}).get("/Font", {}) or {}).values():
            font = font.get_object()
            desc = font.get("/FontDescriptor") or font["/DescendantFonts"][0].get_object()["/FontDescriptor"]
            desc = desc.get_object()
            fonts[str(font["/BaseFont"])] = any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    assert fonts and all(fonts.values()), fonts
    names = " ".join(fonts)
    assert family in names.replace("-", "-") and "CJK-KR" in names, names   # edition face + Korean face
    assert all(re.match(r"/[A-Z]{6}\+", n) for n in fonts), "every font is a subset"


@pytest.mark.parametrize("lang", EDITIONS)
def test_no_garbage_left(real_book, lang):
    pdf = "\n".join(pdf_pages(real_book / f"keep4o-{lang}.pdf"))
    epub = epub_text(real_book / f"keep4o-{lang}.epub")
    for word in GARBAGE:
        assert word not in epub, word
        if " " not in word:          # spacing garbage is checked in the EPUB, whose text keeps spaces
            assert word not in squash(pdf), word


def _norm_paragraph(md: str) -> str:
    md = re.sub(r"\[\^[\w-]+\]", "", md)           # note calls (1, ed-a1 …) are compared without their labels
    md = re.sub(r"^#+\s|\*\*|\\(?=[\[@])|<(https://[^>]+)>", lambda m: m.group(1) or "", md)
    md = re.sub(r"\[([^\]]+)\]\((https?://[^)]+)\)", r"\1", md)   # links show their text
    md = md.replace("`", "")                                     # inline code shows its text
    return squash(md)


@pytest.mark.parametrize("lang", EDITIONS)
def test_every_seed_paragraph_is_in_the_edition(real_book, lang):
    text = squash(epub_text(real_book / f"keep4o-{lang}.epub", note_calls=False))
    paragraphs = import_seeds.edited_paragraphs()
    own = {"ja": "ja/timeline.md", "zh-Hans": "zh-Hans/timeline.md"}[lang]
    checked = 0
    for dest in (own, "ko/appendix-a.md", "ko/appendix-b.md"):
        for para in paragraphs[dest]:
            if re.fullmatch(r"\d (.*)", para):            # note texts: checked as footnotes below
                continue
            assert _norm_paragraph(para) in text, (dest, para[:80])
            checked += 1
    assert checked > 100


def test_book_chapters_are_exactly_the_import():
    """The chapter files are what the import script writes: no edit escapes the change log."""
    files, changes, _ = import_seeds.import_all()
    for dest, markdown in files.items():
        assert (ROOT / "book" / dest).read_text(encoding="utf-8") == markdown, dest
    log = (ROOT / "book" / "CHANGES.md").read_text(encoding="utf-8")
    assert import_seeds.changelog(changes, _) == log
    assert len(changes) > 50


def test_seed_copies_are_untouched():
    shared = ROOT.parent / "shared" / "seeds"
    if not shared.is_dir():
        pytest.skip("../shared/seeds is not beside this checkout")
    for src in shared.glob("*.txt"):
        assert (ROOT / "book" / "sources" / src.name).read_bytes() == src.read_bytes()


@pytest.fixture(scope="module")
def epubcheck_verdicts(real_book):
    """epubcheck on every edition's EPUB, in one JVM as the build checks them."""
    with EpubCheck() as checker:
        futures = {lang: checker.submit(real_book / f"keep4o-{lang}.epub") for lang in ALL_EDITIONS}
        return {lang: future.result() for lang, future in futures.items()}


@pytest.mark.parametrize("lang", ALL_EDITIONS)
def test_epub_passes_epubcheck(epubcheck_verdicts, lang):
    assert epubcheck_verdicts[lang] == []


@pytest.mark.parametrize("lang", EDITIONS)
def test_epub_language_notes_and_korean_appendices(real_book, lang):
    with zipfile.ZipFile(real_book / f"keep4o-{lang}.epub") as z:
        opf = z.read("EPUB/content.opf").decode()
        chapters = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("EPUB/text/"))
        nav = z.read("EPUB/nav.xhtml").decode()
    assert f"<dc:language>{lang}</dc:language>" in opf
    assert "<dc:title" in opf and "Keep4o" in opf and "Claude Opus 4.5" in opf
    assert len(re.findall(r'<section[^>]*lang="ko"', chapters)) == 2
    assert chapters.count('epub:type="footnote"') == _appendix_notes() + len(_citation_rows(f"{lang}/timeline.md"))
    assert 'epub:type="noteref"' in chapters
    assert "부록" not in nav or lang == "ko"
    assert ("付録A" if lang == "ja" else "附录A") in nav


@pytest.mark.parametrize("lang", EDITIONS)
def test_appendix_b_notes_sit_on_their_page(real_book, lang):
    pages = pdf_pages(real_book / f"keep4o-{lang}.pdf")
    for note in ("2025년 말 예상 매출 90억 달러", "이것은 농담입니다."):
        hits = [i for i, p in enumerate(pages) if squash(note) in squash(p)]
        assert len(hits) == 1, note
        assert "(valuation)" in squash(pages[hits[0]]) or "(AIcodingtool)" in squash(pages[hits[0]])


# Characters that must never start a line (kinsoku) and never end one, in Japanese and Chinese.
NO_LINE_START = "、。，．・：；？！」』）〕］｝〉》】ー…ぁぃぅぇぉっゃゅょァィゥェォッャュョ"
NO_LINE_END = "「『（〔［｛〈《【"


@pytest.mark.parametrize("lang", EDITIONS)
def test_cjk_line_breaking_rules(real_book, lang):
    """No line of the timeline starts with closing punctuation or ends with an opening bracket."""
    pages = pdf_pages(real_book / f"keep4o-{lang}.pdf")
    bad = []
    for n, page in enumerate(pages[4:14], start=5):
        for line in page.split("\n"):
            line = line.strip()
            if line and (line[0] in NO_LINE_START or line[-1] in NO_LINE_END):
                bad.append((n, line))
    assert not bad, bad[:5]


def _citation_rows(chapter: str) -> list[tuple[str, str]]:
    import csv

    with (ROOT / "tools" / "citations.tsv").open(encoding="utf-8", newline="") as fh:
        rows = [(r["anchor"], r["citation"]) for r in csv.DictReader(fh, delimiter="\t") if r["chapter"] == chapter]
    text = (ROOT / "book" / chapter).read_text(encoding="utf-8")
    return sorted(rows, key=lambda r: text.index(r[0] + r[1]))


def _appendix_notes() -> int:
    """Notes of the Korean appendices: their own (author's and editor's notes) and their citations."""
    count = 0
    for chapter in ("ko/appendix-a.md", "ko/appendix-b.md"):
        text = (ROOT / "book" / chapter).read_text(encoding="utf-8")
        count += len(re.findall(r"(?m)^\[\^[\w-]+\]:", text)) + len(_citation_rows(chapter))
    return count


@pytest.mark.parametrize("lang", EDITIONS)
def test_timeline_citations_are_notes_on_their_page(real_book, lang):
    """Each citation's note (numbered in reading order) is at the foot of the page of its call."""
    rows = _citation_rows(f"{lang}/timeline.md")
    assert len(rows) >= 10
    pages = pdf_pages(real_book / f"keep4o-{lang}.pdf")
    # after the title page and the contents (the screen PDF has no blank pages)
    start = next(i for i, p in enumerate(pages) if i > 1 and squash(rows[0][0]) in squash(p))
    checked = 0
    for number, (anchor, _) in enumerate(rows, start=1):
        tail = squash(anchor.replace("*", ""))[-10:]
        page = next(i for i in range(start, len(pages)) if tail in squash(pages[i]))
        notes = re.findall(r"^(\d+)\. ", pages[page], re.M)
        assert str(number) in notes, (number, anchor, page + 1, notes)
        checked += 1
    assert checked == len(rows)


@pytest.mark.parametrize("lang,words", [("ja", ["ツイート", "2025年11月15日", "前掲", "参考文献"]),
                                        ("zh-Hans", ["推文", "2025年11月15日", "同上", "参考文献"])])
def test_notes_and_bibliography_speak_the_edition_language(real_book, lang, words):
    text = "\n".join(pdf_pages(real_book / f"keep4o-{lang}.pdf"))
    for word in words:
        assert word in text, word
    for english in ("Tweet", "Post on X", "Blog post", "Ibid", "November", "n.d."):
        assert english not in text, english


def _epub_fonts_and_text(path: Path):
    """The EPUB's embedded fonts (by CSS family), its :lang() stacks, and its text by language."""
    import xml.etree.ElementTree as ET

    from fontTools.ttLib import TTFont

    from press.epub import _collect_text

    with zipfile.ZipFile(path) as z:
        css = "".join(z.read(n).decode() for n in z.namelist() if n.endswith(".css"))
        cmaps: dict[str, set[int]] = {}
        for family, url in re.findall(r'@font-face \{ font-family: "([^"]+)";[^}]*src: url\("\.\./fonts/([^"]+)"\)', css):
            import io

            font = TTFont(io.BytesIO(z.read(f"EPUB/fonts/{url}")))
            cmaps.setdefault(family, set()).update(font.getBestCmap())
        texts: dict[str, list[str]] = {}
        for name in z.namelist():
            if name.endswith(".xhtml"):
                _collect_text(ET.fromstring(z.read(name)), "und", texts)
        sizes = sum(i.file_size for i in z.infolist() if i.filename.startswith("EPUB/fonts/"))
    stacks = {lang: re.findall(r'"([^"]+)"', rule) for lang, rule in re.findall(r":lang\(([^)]+)\) \{ font-family: ([^;]+);", css)}
    return cmaps, stacks, texts, sizes


@pytest.mark.parametrize("lang", ALL_EDITIONS)
def test_epub_embeds_subset_fonts_that_cover_its_text(real_book, lang):
    """Reading systems do not have our fonts: every character is in an embedded face of its
    language's stack, and the fonts stay small (subset)."""
    from press.fonts import is_ignorable

    cmaps, stacks, texts, size = _epub_fonts_and_text(real_book / f"keep4o-{lang}.epub")
    assert cmaps, "no embedded fonts"
    assert size <= 1_500_000, f"{size} bytes of fonts"
    for tag, parts in texts.items():
        stack_lang = tag if tag in stacks else lang
        covered = set().union(*(cmaps.get(family, set()) for family in stacks[stack_lang]))
        missing = {c for c in "".join(parts) if ord(c) not in covered and not is_ignorable(c)}
        assert not missing, f"{tag}: {sorted(missing)[:10]} not in {stacks[stack_lang]}"
    # subset: far fewer glyphs than the CJK collection has (~65,000)
    assert max(len(c) for c in cmaps.values()) < 5000


@pytest.mark.parametrize("lang", ["ja", "ar"])
def test_screen_pdf_is_tagged_pdf_ua(real_book, lang):
    from press.qa import pdf_tagging

    reader = pypdf.PdfReader(real_book / f"keep4o-{lang}.pdf")
    assert pdf_tagging(reader) == []
    assert str(reader.trailer["/Root"]["/Lang"]) == lang
