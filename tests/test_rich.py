"""Issue 17, class 7: ordinary, feature-rich Markdown (tests/fixtures/rich) builds as PDF and EPUB.

One English chapter with tables (pipe and grid), nested and task lists, code, definition lists,
nested block quotes, a PNG and an SVG beside the chapter, links of every allowed kind, headings
that collide with generated ids (Footnotes, References, Contents, a duplicate), footnotes in list
items and table cells, and two citations. Built once with one CLI call (`all`, epubcheck on),
from a working directory that is not the press's own.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import FIXTURES, run_cli

BOOK = FIXTURES / "rich"
CHAPTER = (BOOK / "en" / "chapter.md").read_text(encoding="utf-8")
XHTML = "{http://www.w3.org/1999/xhtml}"
EPUB_NS = "{http://www.idpf.org/2007/ops}"


def headings() -> list[str]:
    """Every ATX heading of the chapter (outside code blocks), attributes removed."""
    out, fenced = [], False
    for line in CHAPTER.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        m = re.match(r"^(#{1,6})\s+(.*?)\s*(\{[^}]*\})?\s*$", line)
        if m and not fenced:
            out.append(m.group(2))
    return out


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00ad", "").replace("-\n", "")).strip()


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rich-out")
    cwd = tmp_path_factory.mktemp("rich-cwd")          # not the press's directory: images must still be found
    proc = run_cli("all", "--book", str(BOOK), "--out", str(out), "-j", "1", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Traceback" not in proc.stderr
    assert list(cwd.iterdir()) == [], "the build wrote into the working directory"
    return out


@pytest.fixture(scope="module")
def epub(built: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(built / "rich-en.epub") as z:
        return {n: z.read(n) for n in z.namelist()}


@pytest.fixture(scope="module")
def pages(epub) -> dict[str, ET.Element]:
    return {n: ET.fromstring(v) for n, v in epub.items() if n.endswith(".xhtml")}


def test_fixture_is_what_it_claims():
    """The chapter really has what the tests below rely on (a guard against editing it away)."""
    hs = headings()
    for name in ("Footnotes", "References", "Contents"):
        assert name in hs
    assert len(hs) != len(set(hs)), "a duplicated heading"
    assert "+====" in CHAPTER and "|:---" in CHAPTER, "a grid and a pipe table"
    assert re.search(r"^\| .*\[\^\w+\]", CHAPTER, re.M) and re.search(r"^\|.*\[\^blank\]", CHAPTER, re.M)
    assert re.search(r"^    - .*\[\^permissions\]", CHAPTER, re.M), "a footnote in a list item"
    assert "- [x]" in CHAPTER and "\n:   " in CHAPTER and "> > " in CHAPTER
    for kind in ("https://", "http://", "mailto:", "](#"):
        assert kind in CHAPTER
    for image in ("img/press-mark.png", "img/ruler.svg"):
        assert f"]({image})" in CHAPTER and (BOOK / "en" / image).stat().st_size < 2048
    assert CHAPTER.count("@sample-") == 2, "two citations"


def test_builds_both(built: Path):
    for name in ("rich-en.pdf", "rich-en.epub"):
        assert (built / name).stat().st_size > 5000
    assert not list(built.glob(".press-*"))


def test_epubcheck_clean(built: Path):
    from press.qa import run_epubcheck

    findings = run_epubcheck(built / "rich-en.epub")
    assert findings == [], "\n".join(map(str, findings))


def test_images_in_epub(epub):
    names = list(epub)
    png = [n for n in names if n.endswith(".png")]
    svg = [n for n in names if n.endswith(".svg")]
    assert png and svg, names
    assert epub[png[0]].startswith(b"\x89PNG")
    assert b"<svg" in epub[svg[0]]
    opf = next(v for n, v in epub.items() if n.endswith(".opf")).decode()
    assert "image/png" in opf and "image/svg+xml" in opf


def test_images_in_pdf(built: Path):
    reader = PdfReader(built / "rich-en.pdf")
    images = 0
    for page in reader.pages:
        xobjects = (page.get("/Resources") or {}).get("/XObject") or {}
        todo = [x.get_object() for x in xobjects.values()]
        while todo:
            obj = todo.pop()
            if obj.get("/Subtype") == "/Image":
                images += 1
            elif obj.get("/Subtype") == "/Form":
                todo += [x.get_object() for x in ((obj.get("/Resources") or {}).get("/XObject") or {}).values()]
    assert images >= 1, "no image XObject: the PNG is not in the PDF"
    # the SVG is drawn as vectors; its 10 tick marks are not text, but the page holding it has its caption
    text = norm(" ".join(p.extract_text() or "" for p in reader.pages))
    assert "A ruler with ten divisions" in text


def test_every_heading_in_epub_and_pdf_outline(built: Path, pages, epub):
    shown = []
    for root in pages.values():
        for el in root.iter():
            if re.fullmatch(rf"{re.escape(XHTML)}h[1-6]", el.tag):
                shown.append(norm("".join(el.itertext())))
    for h in headings():
        assert any(h in s for s in shown), f"heading {h!r} is not in the EPUB"
    nav = next(root for n, root in pages.items() if root.find(f".//{XHTML}nav") is not None
               and any(el.get(f"{EPUB_NS}type") == "toc" for el in root.iter(f"{XHTML}nav")))
    nav_text = norm(" ".join(nav.itertext()))
    assert headings()[0] in nav_text, "the chapter is not in the EPUB navigation"

    outline: list[str] = []

    def walk(items):
        for item in items:
            walk(item) if isinstance(item, list) else outline.append(norm(item.title))

    walk(PdfReader(built / "rich-en.pdf").outline)
    for h in headings():
        assert h in outline, f"heading {h!r} is not in the PDF bookmarks"
    assert outline.count("Notes on spacing") == 2


def test_ids_unique_and_internal_links_resolve(pages):
    ids: dict[str, set[str]] = {}
    for name, root in pages.items():
        seen = [el.get("id") for el in root.iter() if el.get("id")]
        assert len(seen) == len(set(seen)), f"{name}: duplicate ids {sorted({i for i in seen if seen.count(i) > 1})}"
        ids[Path(name).name] = set(seen)
    hrefs = []
    for name, root in pages.items():
        for a in root.iter(f"{XHTML}a"):
            href = a.get("href") or ""
            if re.match(r"^[a-z]+:", href):
                hrefs.append(href)
                continue
            target, _, frag = href.partition("#")
            doc = Path(target).name if target else Path(name).name
            assert doc in ids, f"{name}: link to {href!r}: no such document"
            assert not frag or frag in ids[doc], f"{name}: link to {href!r}: no such id"
    for url in ("https://example.org/books", "http://example.com/", "mailto:editor@example.org"):
        assert url in hrefs, f"{url} is not a link in the EPUB"
    assert not [h for h in hrefs if not h.startswith(("https:", "http:", "mailto:"))], hrefs


def test_notes_tables_lists_and_bibliography_in_epub(pages, epub):
    text = norm(" ".join(" ".join(r.itertext()) for r in pages.values()))
    definitions = re.findall(r"^\[\^(\w+)\]:", CHAPTER, re.M)
    notes = [el for r in pages.values() for el in r.iter() if el.get(f"{EPUB_NS}type") == "footnote"]
    assert len(notes) >= len(definitions) + 2, f"{len(notes)} notes for {len(definitions)} footnotes and 2 citations"
    for words in ("A footnote called from inside a list item", "Whether a blank page carries a folio",
                  "A Placeholder Handbook of Page Layout", "A placeholder article on margins",
                  "The vertical distance from one baseline to the next", "page-break-after: always"):
        assert words.lower() in text.lower(), words
    tables = [el for r in pages.values() for el in r.iter(f"{XHTML}table")]
    assert len(tables) == 2
    dls = [el for r in pages.values() for el in r.iter(f"{XHTML}dl")]
    assert dls and len(list(dls[0].iter(f"{XHTML}dt"))) == 4


def test_pdf_has_the_end_of_the_chapter(built: Path):
    reader = PdfReader(built / "rich-en.pdf")
    text = norm(" ".join(p.extract_text() or "" for p in reader.pages))
    assert "This is the last paragraph of the chapter" in text
    assert "the whole chapter is." in text
    assert "A Placeholder Handbook of Page Layout" in text        # the bibliography after it
