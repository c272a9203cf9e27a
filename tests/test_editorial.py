"""Editorial fixes that could come back (issue 13), checked on one built edition.

The zh-Hant edition is built once (PDF + EPUB): its timeline is the derived Traditional-Chinese
text, and it carries the Korean appendices like every edition, so one build checks both the
OpenCC overrides and the structure of appendix B.
"""
from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pypdf
import pytest

from conftest import ROOT, run_cli

sys.path.insert(0, str(ROOT / "tools"))
import import_seeds  # noqa: E402

BAD_FORMS = Path(__file__).resolve().parent / "zh-hant-bad-forms.txt"
XHTML = "{http://www.w3.org/1999/xhtml}"


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="session")
def zh_hant(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("zh-hant")
    proc = run_cli("all", "--lang", "zh-Hant", "-j", "1", "--book", str(ROOT / "book"), "--out", str(out),
                   "--no-epubcheck")
    assert proc.returncode == 0, proc.stderr
    return out


def _pdf_text(path: Path) -> str:
    return squash("".join(p.extract_text() or "" for p in pypdf.PdfReader(path).pages))


def _epub_text(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        raw = "".join(z.read(n).decode() for n in sorted(z.namelist()) if n.endswith(".xhtml"))
    return squash(re.sub(r"<[^>]+>", "", raw))


def bad_forms() -> list[str]:
    forms = []
    for line in BAD_FORMS.read_text(encoding="utf-8").splitlines():
        form = line.split("#", 1)[0].strip()
        if form:
            forms.append(form)
    return forms


def test_bad_forms_list_is_read():
    assert {"天后", "釋出", "支援", "谷歌"} <= set(bad_forms())


@pytest.mark.parametrize("kind", ["pdf", "epub"])
def test_zh_hant_has_no_known_bad_forms(zh_hant, kind):
    path = zh_hant / f"keep4o-zh-Hant.{kind}"
    text = _pdf_text(path) if kind == "pdf" else _epub_text(path)
    # the text was extracted: the overrides' forms are there
    for good in ("3天後", "對話串", "共同創辦人", "行銷", "Google推出"):
        assert good in text, good
    found = [form for form in bad_forms() if form in text]
    assert not found, found


def _transcript_sections() -> list[str]:
    lines = (ROOT / "book" / "sources" / import_seeds.SEED_004).read_text(encoding="utf-8").split("\n")
    return [re.fullmatch(r"\*\*(.+)\*\*", lines[n - 1]).group(1) for n in import_seeds.TRANSCRIPT_SECTIONS_004]


def test_appendix_b_has_the_27_transcript_headings_in_order():
    heads = [(len(m.group(1)), m.group(2)) for m in
             re.finditer(r"(?m)^(#+) (.+)$", (ROOT / "book" / "ko" / "appendix-b.md").read_text(encoding="utf-8"))]
    sections = _transcript_sections()
    assert len(sections) == 27
    assert [t for level, t in heads if level == 4] == sections
    # no heading directly followed by a heading of a higher rank (an empty sub-section), and no
    # level skipped on the way down
    md = (ROOT / "book" / "ko" / "appendix-b.md").read_text(encoding="utf-8")
    blocks = [b for b in md.split("\n\n") if b.strip()]
    for a, b in zip(blocks, blocks[1:]):
        ma, mb = re.match(r"(#+) ", a), re.match(r"(#+) ", b)
        if ma and mb:
            assert len(mb.group(1)) >= len(ma.group(1)), (a, b)
    levels = [level for level, _ in heads]
    assert all(b <= a + 1 for a, b in zip(levels, levels[1:]))


def test_appendix_b_transcript_sections_reach_the_epub_navigation(zh_hant):
    with zipfile.ZipFile(zh_hant / "keep4o-zh-Hant.epub") as z:
        nav = ET.fromstring(z.read("EPUB/nav.xhtml"))
    items = {"".join(li.find(f"{XHTML}a").itertext()): li for li in nav.iter(f"{XHTML}li")}
    transcript = items["대본(Transcript)"]
    under = ["".join(a.itertext()) for a in transcript.iter(f"{XHTML}a")][1:]
    assert under == _transcript_sections()


def test_appendix_b_transcript_sections_reach_the_pdf_outline(zh_hant):
    reader = pypdf.PdfReader(zh_hant / "keep4o-zh-Hant.pdf")

    def walk(items, parent=None):
        last = None
        for item in items:
            if isinstance(item, list):
                yield from walk(item, last)
            else:
                last = item.title
                yield parent, item.title

    pairs = list(walk(reader.outline))
    under = [title for parent, title in pairs if parent == "대본(Transcript)"]
    assert under == _transcript_sections()
    # a heading with an editor's note keeps a clean bookmark (no note call number)
    assert "그렉(Greg)과 티보(Thibault)의 OpenAI 팟캐스트(Podcast)" in [t for _, t in pairs]
