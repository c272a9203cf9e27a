"""Typography by script (Korean words whole, CJK spacing, upright emphasis, RTL arrows), the
screen/press page layout, and a PDF text layer a reader can search, on the real book."""
from __future__ import annotations

import re
import subprocess
import zipfile

import pypdf
import pytest

from conftest import ROOT
from press import html as html_stage
from press import qa
from press.check import SEARCH_MIN, _plain, _reading_texts, search_totals
from press.manifest import load_manifest
from press.sources import load_chapters

BOOK = load_manifest(ROOT / "book")
LANGS = [ed.lang for ed in BOOK.editions]
HANGUL = r"[\uac00-\ud7a3]"


def _lines(box):
    if type(box).__name__ == "LineBox":
        yield "".join(d.text for d in box.descendants() if hasattr(d, "text"))
        return
    for child in getattr(box, "children", []) or []:
        yield from _lines(child)


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_korean_lines_end_between_words(lang):
    """Ask WeasyPrint's layout where the lines of Korean appendix A end (in the Korean edition
    and in another one): never inside a word of the source."""
    from weasyprint import CSS, HTML

    edition = BOOK.edition(lang)
    chapter = next(c for c in load_chapters(BOOK, edition) if c.ref.role == "appendix")
    doc = html_stage.render_book_html(BOOK, edition, html_stage.render_chapters(edition, [chapter]))
    pages = HTML(string=doc, base_url=str(ROOT / "book") + "/").render(
        stylesheets=[CSS(filename=str(ROOT / "styles" / "book.css"))]).pages
    def norm(word):       # letters only: punctuation and note calls (digits) aside
        return re.sub(r"[\W\d_]", "", word)

    # a word, or its part before a bracketed gloss (추론|(inference)을 may break there) or after a
    # dash (아니라—|그들의); notes too
    words = {norm(part) for w in (_plain(chapter) + " " + chapter.markdown).split()
             for part in [w, *re.split(r"(?=[(\[])|(?<=[\u2013\u2014\u2015])", w)]}
    ends = [norm(line.replace("\u2060", "").split()[-1]) for page in pages[3:]
            for line in _lines(page._page_box) if re.search(HANGUL + r"\W*\d*\W*$", line.replace("\u2060", "").rstrip())]
    assert len(ends) > 30
    assert all(end in words for end in ends), [e for e in ends if e not in words][:10]


def test_latin_words_inside_korean_hyphenate(real_book):
    """Long English glosses inside Korean may hyphenate (as English: scripts.yaml latin_words),
    which narrows the gaps of justified lines; names never do (names.lua), nor Hangul. The hyphen
    is the face's own hyphen-minus (the CJK faces' U+2010 is an em wide), which pdftotext also
    joins back into the word."""
    pdf = real_book / "keep4o-ko.pdf"
    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")
    source = " ".join(p.read_text(encoding="utf-8") for p in (ROOT / "book" / "ko").glob("*.md"))
    broken = [(i, a, b) for i, page in enumerate(pages)
              for a, b in re.findall(r"([A-Za-z]+)-[ \t]*\n[ \t]*([A-Za-z]+)", page)]
    hyphenated = [(i, a + b) for i, a, b in broken if re.search(rf"\b{a + b}\b", source)]
    # 43 before the press put soft hyphens into them (html.soft_hyphens), 68 since
    assert len(hyphenated) >= 50, hyphenated
    text = "\f".join(pages)
    assert re.search(r"[A-Za-z]+-[ \t]*\n[ \t]*[A-Za-z]+\)[\uac00-\ud7a3]", text)   # a gloss closed by its particle
    assert "\u00ad" not in text and "\u2010" not in text   # soft hyphens not broken at draw nothing
    assert not re.search(HANGUL + r"-[ \t]*\n", text)
    assert not re.search(r"Open-[ \t]*\n[ \t]*AI|Chat-[ \t]*\n[ \t]*GPT", text)
    page = hyphenated[0][0]
    chars = _chars(pdf, [page])
    ends = [c for c, nxt in zip(chars, chars[1:]) if c.get_text() == "-" and nxt.y0 < c.y0 - 5]
    assert ends and all(c.width < 0.5 * c.size for c in ends), [(c.width, c.size) for c in ends]
    css = html_stage.language_css(["ko", "en"])
    assert ":lang(en) { hyphens: auto; }" in css


def test_soft_hyphens_only_in_latin_words_inside_korean():
    html = ('<p lang="ko">시퀀스(<span class="lw" lang="en">language</span> '
            '<span class="lw" lang="en">sequences</span>)\u2060에 <span lang="en">sequences</span></p>')
    out = html_stage.soft_hyphens(html)
    assert "lan\u00adguage" in out and "se\u00adquences</span>)" in out
    assert out.endswith('<span lang="en">sequences</span></p>')
    assert html_stage.soft_hyphens(html.replace('lang="en"', 'lang="xx"')) == html.replace('lang="en"', 'lang="xx"')


def _chars(pdf, pages):
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTChar

    def walk(o):
        if isinstance(o, LTChar):
            yield o
        elif hasattr(o, "__iter__"):
            for c in o:
                yield from walk(c)

    return [c for page in extract_pages(str(pdf), page_numbers=pages) for c in walk(page)]


def test_japanese_spacing_on_glyph_positions(real_book):
    """0.08 em between kana/kanji and Latin letters or digits (jlreq 3.2.2 asks a quarter em; see
    styles/book.css: a wider gap reads as a space in the text layer), and of two adjacent
    punctuation marks the first one half-width (。」 is 1.5 em, not 2)."""
    chars = _chars(real_book / "keep4o-ja.pdf", range(3, 9))
    pairs = list(zip(chars, chars[1:]))
    gaps = [(b.x0 - a.x1) / a.size for a, b in pairs if abs(a.y0 - b.y0) < 1
            and re.match(r"[0-9A-Za-z]", a.get_text()) and re.match(r"[\u3040-\u30ff\u4e00-\u9fff]", b.get_text())]
    assert len(gaps) > 20 and all(g == pytest.approx(0.08, abs=0.02) for g in gaps), gaps[:10]
    closing = [(b.x0 - a.x0) / a.size for a, b in pairs if abs(a.y0 - b.y0) < 1 and a.get_text() + b.get_text() == "。」"]
    assert len(closing) > 3 and all(a == pytest.approx(0.5, abs=0.03) for a in closing), closing


@pytest.mark.parametrize("lang", LANGS)
def test_no_synthetic_oblique(real_book, lang):
    assert qa.synthetic_obliques(real_book / f"keep4o-{lang}.pdf") == []


def test_emphasis_is_upright_where_the_script_has_no_italics():
    css = html_stage.language_css(["ja", "ko", "ar", "en"], BOOK.edition("ja"))
    assert re.search(r':lang\(ja\) :is\(em, i, cite\) \{ font-style: normal; font-family: "Noto Sans CJK JP"', css)
    assert re.search(r':lang\(ko\) :is\(em, i, cite\) \{ font-style: normal; font-family: "Noto Sans CJK KR"', css)
    assert ":lang(ar) :is(em, i, cite) { font-style: normal; font-weight: bold; }" in css
    assert ":lang(en) :is(em" not in css


def test_epub_sets_emphasis_upright_as_the_pdf(minimal_built):
    """The rule is in the EPUB's stylesheet too (reading systems would slant CJK otherwise), for
    the edition's language and the Korean appendix, and not for Latin text."""
    with zipfile.ZipFile(minimal_built / "mini-ja.epub") as z:
        css = "".join(z.read(n).decode() for n in z.namelist() if n.endswith(".css"))
    assert re.search(r':lang\(ja\) :is\(em, i, cite\) \{ font-style: normal; font-family: "Noto Sans CJK JP"', css)
    assert re.search(r':lang\(ko\) :is\(em, i, cite\) \{ font-style: normal;', css)
    assert ":lang(en) :is(em" not in css


def _page_texts(pdf):
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return out.split("\f")[:-1]


@pytest.mark.parametrize("lang", ["ja", "ar", "en"])
def test_screen_pdf_has_no_blank_page_and_no_head_on_opening_pages(real_book, lang):
    pdf = real_book / f"keep4o-{lang}.pdf"
    texts = _page_texts(pdf)
    assert all(t.strip() for t in texts), [i + 1 for i, t in enumerate(texts) if not t.strip()]
    reader = pypdf.PdfReader(pdf)
    edition = BOOK.edition(lang)
    openings = [r.start for r in qa.chapter_page_ranges(reader, len(load_chapters(BOOK, edition)) + 1)]
    for n in openings:
        first = texts[n].strip().splitlines()[0].strip()
        assert first != edition.title and not first.endswith(edition.title), (n + 1, first)
    # a page inside a chapter has its head
    assert edition.title in texts[openings[0] + 1].strip().splitlines()[0] \
        or edition.title in texts[openings[0] + 2].strip().splitlines()[0]


def test_arabic_callout_arrow_points_with_the_reading_direction(real_book):
    text = subprocess.run(["pdftotext", str(real_book / "keep4o-ar.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    assert "←" in text and "→" not in text.split("\f")[5]
    assert html_stage.arrow_args('{"blocks": []}', "ar") and not html_stage.arrow_args('{"blocks": []}', "en")


def searchability(book, out, slug_lang_pdf) -> dict[str, float]:
    """Share of each script's words of every chapter found by a search of pdftotext output."""
    result = {}
    for ed in book.editions:
        pdf = slug_lang_pdf(ed)
        reader = pypdf.PdfReader(pdf)
        chapters = load_chapters(book, ed)
        bib = bool(book.bibliography) and any("@" in c.markdown for c in chapters)
        totals = search_totals([_plain(ch) for ch in chapters], qa.chapter_page_ranges(reader, len(chapters) + bib),
                               _reading_texts(pdf))
        result.update({f"{ed.lang}/{s}": h / n for s, (h, n) in totals.items()})
    return result


def test_every_script_of_every_edition_is_searchable(real_book):
    found = searchability(BOOK, real_book, lambda ed: real_book / f"keep4o-{ed.lang}.pdf")
    low = {k: f"{v:.1%}" for k, v in found.items() if v < SEARCH_MIN}
    assert not low, low
