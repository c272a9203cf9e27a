"""Citations: notes at the foot of their page, per-chapter numbers, the edition's locale,
EPUB notes linked both ways, the bibliography section, and bad bibliographies."""
from __future__ import annotations

import re
import zipfile

import pypandoc
import pytest

from conftest import FIXTURES, overlay, run_cli
from press.languages import language
from test_book import pdf_pages

MANIFEST = (FIXTURES / "minimal" / "book.yaml").read_text(encoding="utf-8")
BIB = (FIXTURES / "minimal" / "bibliography.yaml").read_text(encoding="utf-8")


def test_notes_on_the_page_of_their_call(minimal_built):
    pages = pdf_pages(minimal_built / "mini-ja.pdf")
    page = next(p for p in pages if "記事によれば" in p)
    assert "記事によれば。4" in page                       # the call, numbered in sequence
    assert "4. 山田花子, 「試験の記事」, 試験新聞, 2025年11月15日, 3." in page   # locator p. 3 kept


def test_numbering_restarts_per_chapter(minimal_built):
    pages = pdf_pages(minimal_built / "mini-ja.pdf")
    timeline = next(p for p in pages if "年表の見出し\n" in p and "目次" not in p)
    assert [int(n) for n in re.findall(r"^(\d)\. ", timeline, re.M)] == [1, 2, 3, 4]
    letter = next(p for p in pages if "手紙の注です" in p)
    assert re.findall(r"^(\d)\. ", letter, re.M) == ["1"]


@pytest.mark.parametrize("lang,ibid,date", [("ja", "前掲", "2024年5月"), ("zh-Hans", "同上", "2026年1月29日")])
def test_edition_locale_is_used(minimal_built, lang, ibid, date):
    text = "\n".join(pdf_pages(minimal_built / f"mini-{lang}.pdf"))
    assert ibid in text and date in text
    assert "Ibid" not in text and "May" not in text and "January" not in text


# The book's editions, the four being translated, and languages of the scripts fixture that CSL
# has a locale for (it has none for ur, bn, sw: their notes use English dates).
CSL_LANGUAGES = ["ja", "zh-Hans", "zh-Hant", "ko", "en", "hi", "ar", "fr", "de", "it", "es",
                 "th", "he", "fa", "vi", "ru", "el"]


@pytest.mark.parametrize("tag", CSL_LANGUAGES)
def test_every_language_locale_is_really_loaded(tag, tmp_path):
    """A bare tag can silently fall back to English: each locale (from CLDR) must localize a date."""
    bib = tmp_path / "b.yaml"
    bib.write_text("references:\n- id: k\n  type: post\n  title: t\n  issued: {date-parts: [[2025, 5, 15]]}\n",
                   encoding="utf-8")
    out = pypandoc.convert_text("x [@k]", "plain", format="markdown",
                                extra_args=["--citeproc", f"--bibliography={bib}", f"--metadata=lang={language(tag).locale}",
                                            f"--csl={FIXTURES / 'minimal' / 'csl' / 'notes.csl'}"])
    english = re.search(r"\bMay\b", out) is not None     # German writes November too: not that month
    assert english == (tag == "en"), out


def test_bibliography_section(minimal_built):
    pages = pdf_pages(minimal_built / "mini-ja.pdf")
    last = pages[-1]
    assert last.startswith("参考文献") or "\n参考文献\n" in last
    assert "Example Author. 「her」. 2024年5月. X." in last and "山田花子. 「試験の記事」" in last
    assert "李明" not in last                                # cited only in the zh-Hans edition
    with zipfile.ZipFile(minimal_built / "mini-zh-Hans.epub") as z:
        text = "".join(z.read(n).decode() for n in z.namelist() if n.endswith(".xhtml"))
    assert "<h1>参考文献</h1>" in text and "测试演讲" in text


@pytest.mark.parametrize("name", ["mini-ja.epub", "mini-zh-Hans.epub"])
def test_epub_notes_link_both_ways(minimal_built, name):
    with zipfile.ZipFile(minimal_built / name) as z:
        files = {n: z.read(n).decode() for n in z.namelist() if n.endswith(".xhtml")}
    refs = 0
    for text in files.values():
        for m in re.finditer(r'<a href="#(fn\d+)"[^>]*id="(fnref\d+)"[^>]*epub:type="noteref"', text):
            refs += 1
            note = re.search(rf'<aside epub:type="footnote"[^>]*id="{m.group(1)}"[^>]*>\s*<p><a href="#{m.group(2)}" '
                             r'role="doc-backlink">', text)
            assert note, m.group(0)
    assert refs >= 2


def _bad(minimal_book, tmp_path, files, *args):
    overlay(minimal_book, files)
    out = tmp_path / "out"
    proc = run_cli("pdf", "--lang", "ja", "--book", str(minimal_book), "--out", str(out), *args)
    assert "Traceback" not in proc.stderr
    return proc


def test_unknown_key_names_file_line_and_nearest_keys(minimal_book, tmp_path):
    text = (minimal_book / "ja/timeline.md").read_text(encoding="utf-8").replace("[@post-2024]", "[@post-2042]", 1)
    line = next(n for n, s in enumerate(text.split("\n"), 1) if "post-2042" in s)
    proc = _bad(minimal_book, tmp_path, {"ja/timeline.md": text})
    assert proc.returncode == 1
    assert f"ja/timeline.md:{line}: unknown citation key 'post-2042'" in proc.stderr
    assert "nearest known keys: post-2024" in proc.stderr and "bibliography.yaml" in proc.stderr
    assert not (tmp_path / "out" / "mini-ja.pdf").exists()


def test_draft_prints_unknown_keys(minimal_book, tmp_path):
    text = (minimal_book / "ja/timeline.md").read_text(encoding="utf-8").replace("[@post-2024]", "[@nobody-99]", 1)
    proc = _bad(minimal_book, tmp_path, {"ja/timeline.md": text}, "--draft")
    assert proc.returncode == 0, proc.stderr
    assert "unknown citation key 'nobody-99'" in proc.stderr and "--draft" in proc.stderr
    assert "nobody-99?" in "\n".join(pdf_pages(tmp_path / "out" / "mini-ja.pdf")).lower()


def test_duplicate_key(minimal_book, tmp_path):
    text = BIB + "  - id: post-2024\n    type: post\n    title: again\n"
    line = len(BIB.split("\n"))
    proc = _bad(minimal_book, tmp_path, {"bibliography.yaml": text})
    assert proc.returncode == 1
    assert f"bibliography.yaml:{line}: duplicate bibliography key 'post-2024' (first defined on line 8)" in proc.stderr


def test_malformed_bibliography(minimal_book, tmp_path):
    text = BIB.replace("    title: her\n", "    title: [her\n")
    proc = _bad(minimal_book, tmp_path, {"bibliography.yaml": text})
    assert proc.returncode == 1
    assert re.search(r"bibliography\.yaml:\d+: malformed bibliography", proc.stderr), proc.stderr


def test_missing_bibliography_file(minimal_book, tmp_path):
    line = next(n for n, s in enumerate(MANIFEST.split("\n"), 1) if s.startswith("bibliography:"))
    proc = _bad(minimal_book, tmp_path, {"bibliography.yaml": None})
    assert proc.returncode == 1
    assert f"book.yaml:{line}: bibliography file 'bibliography.yaml' does not exist" in proc.stderr


def test_entry_without_type(minimal_book, tmp_path):
    text = BIB.replace("    type: speech\n", "")
    line = next(n for n, s in enumerate(text.split("\n"), 1) if "talk-2026" in s)
    proc = _bad(minimal_book, tmp_path, {"bibliography.yaml": text})
    assert proc.returncode == 1 and f"bibliography.yaml:{line}: bibliography entry has no `type`" in proc.stderr


def test_csl_json_bibliography(minimal_book, tmp_path):
    import json
    import yaml

    refs = yaml.safe_load(BIB)["references"]
    manifest = MANIFEST.replace("bibliography: bibliography.yaml", "bibliography: refs.json")
    proc = _bad(minimal_book, tmp_path, {"refs.json": json.dumps(refs, ensure_ascii=False, indent=1),
                                         "book.yaml": manifest})
    assert proc.returncode == 0, proc.stderr
    assert "前掲" in "\n".join(pdf_pages(tmp_path / "out" / "mini-ja.pdf"))


def test_real_bibliography_takes_urls_only_from_the_seeds():
    import yaml

    from conftest import ROOT

    seeds = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "book" / "sources").glob("*.txt"))
    refs = yaml.safe_load((ROOT / "book" / "bibliography.yaml").read_text(encoding="utf-8"))["references"]
    assert len(refs) >= 10
    for ref in refs:
        for field in ("URL", "DOI"):
            if field in ref:
                assert ref[field] in seeds, (ref["id"], ref[field])
        assert ref.get("note"), f"{ref['id']}: every entry says where the seeds support it"
        for lang in ("ja", "zh-Hans"):
            if "genre" in ref:
                assert "genre" in ref.get("localized", {}).get(lang, {}), (ref["id"], lang)


def test_in_text_citation_names_the_author_and_adds_a_note(minimal_built):
    text = "\n".join(pdf_pages(minimal_built / "mini-zh-Hans.pdf"))
    assert "——Example Author3 说了一个词。" in text
    assert re.search(r"^3\. .*2024年5月, X\.$", text, re.M)
