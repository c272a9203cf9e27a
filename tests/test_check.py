"""The quality gate: content lint rules, artifact checks, visual regression (`build.py check`)."""
from __future__ import annotations

import dataclasses
import shutil
import zipfile

import pytest
from PIL import Image, ImageDraw

from conftest import FIXTURES, ROOT
from press import qa
from press.check import run_checks
from press.citations import load_bibliography
from press.lint import lint_book, lint_chapter
from press.manifest import load_manifest
from press.sources import load_chapters

BAD = """# 見出し

관심을trac습니다 그리고 정상 문장.

「閉じていない括弧と"奇数の引用符。

<script>alert(1)</script> を含む段落。

[言語バー](README_zh.md) の名残。

出典はこちら。[@no-such-key]

모든 종속성(dependencies)과 잠재적 위험(dependencies)을 살펴보고, 그 버그(bugs)… 그 버그(bugs).

媚び修正研究者が[[keep4o]]に語りかける。\\[[link]\\] も。
"""


@pytest.fixture(scope="module")
def mini_chapter():
    book = load_manifest(FIXTURES / "minimal")
    return book, load_chapters(book, book.editions[0])[0], load_bibliography(book)


def test_lint_rules_find_each_problem_with_its_line(mini_chapter):
    book, chapter, bib = mini_chapter
    bad = dataclasses.replace(chapter, markdown=BAD, body_line=10, display="ja/bad.md")
    found = {(f.code, f.line) for f in lint_chapter(bad, bib)}
    assert ("L001", 12) in found                 # Latin glued inside Hangul
    assert ("L002", 14) in found and ("L003", 14) in found
    assert ("L004", 16) in found                 # raw HTML
    assert ("L005", 18) in found                 # link to a repository file
    assert ("L006", 20) in found                 # unknown citation key
    assert ("L007", 22) in found                 # same gloss after two different terms
    assert sum(1 for code, _ in found if code == "L007") == 1     # 버그(bugs) twice is fine
    assert ("L008", 24) in found                 # wiki-link brackets, plain or escaped
    assert len([f for f in lint_chapter(bad, bib) if f.code == "L008"]) == 2
    assert all(str(f).startswith("ja/bad.md:") for f in lint_chapter(bad, bib))


@pytest.mark.parametrize("notice,flagged", [
    ("Translated from the Japanese timeline (book/ja/timeline.md, from seed 001).", True),
    ("이 장은 일본어 타임라인(시드 001 기반)을 번역한 것이다.", True),
    ("Traduit de timeline.md.", True),
    ("Translated from the Japanese edition and compared with the Chinese. Quotations are translated, "
     "except where the English original is given.", False),
    ("تُرجم هذا الفصل عن الطبعة اليابانية وقوبل بالطبعة الصينية.", False),
])
def test_lint_translation_notice_is_written_for_a_reader(mini_chapter, notice, flagged):
    book, chapter, bib = mini_chapter
    meta = {**chapter.meta, "translation": notice}
    found = [f for f in lint_chapter(dataclasses.replace(chapter, meta=meta), bib) if f.code == "L009"]
    assert bool(found) == flagged, found


@pytest.mark.parametrize("text,found", [
    # a repeat whose terms share their head noun (로그): the old rule compared only that word
    ("아주 좋은 커서 로그(Cursor logs)와 실험 로그(Cursor logs)를 가지고 있었지만", True),
    ("추론 모델(reasoning models)과 복합 추론 모델(reasoning models)은 토큰을 씁니다", True),
    # a variant of the gloss before, after a term with another head noun
    ("오픈 소스 코드베이스(open source codebases)와 과학 데이터베이스(open source scientific codebases)에서", True),
    ("이러한 끈기(tenacity judiciously applied)와 통합 능력(integration capability judiciously applied)이", True),
    # right: the same term again, the same head noun with right glosses, a different head word
    ("병목은 컴퓨트(compute)입니다. 많은 컴퓨트(compute)를 준다면, 그리고 컴퓨트(compute)가", False),
    ("DNA 신경망(DNA neural nets)과 생체 모방 신경망(biomimetic neural nets)을 연구하면서", False),
    ("샘플 효율성(sample efficiency) 및 데이터 효율성(data efficiency)에 대해", False),
    ("에이전트형 코딩(agentic coding)과 AI 기반 연구(agentic research)를", False),
    ("환경 및 시뮬레이션(simulation)과 상호작용하는 문제점은 시뮬레이션(simulation)을", False),
])
def test_lint_gloss_repeats_sharing_a_head_noun(mini_chapter, text, found):
    book, chapter, bib = mini_chapter
    tiny = dataclasses.replace(chapter, markdown=text, body_line=1, display="ko/tiny.md")
    assert any(f.code == "L007" for f in lint_chapter(tiny, bib)) is found


@pytest.mark.parametrize("lang,text,found", [
    # German opens with „ and closes with “ (‚…‘ inside): balanced, not an unclosed “
    ("de", "Er schrieb: „Ich hoffe, es stirbt bald.“ Sie sagte: „Das ist ‚Wärme ohne Selbst‘.“", False),
    ("de-AT", "„Jeder Klick zählt.“", False),
    ("de", "Er schrieb: „Ich hoffe, es stirbt bald. Dann nichts mehr.", True),
    ("de", "Er schrieb: „Ich hoffe, es stirbt ‚bald.“", True),
    ("de-CH", "«Jeder Klick zählt», sagte er, ‹leise›.", False),
    # the same German marks in an English chapter: “ opens there, and is never closed
    ("en", "He wrote: „I hope it dies soon.“", True),
    ("en", "He wrote: “I hope it dies soon.” It’s not a rumour.", False),
    # French, Italian, Spanish: guillemets, “ ” inside; the apostrophe is not a quotation mark
    ("fr", "Il écrit : « J’espère qu’il mourra bientôt » – « “réceptacles” ».", False),
    ("fr", "Il écrit : « J’espère qu’il mourra bientôt.", True),
    ("it", "«Spero che muoia presto» – “recipienti”.", False),
    ("es", "«Espero que muera pronto» —dijo—. «Los Borg.", True),
    ("ar", "قال: «أتمنى أن يموت قريبًا».", False),
])
def test_lint_quotation_marks_follow_the_chapter_language(mini_chapter, lang, text, found):
    book, chapter, bib = mini_chapter
    tiny = dataclasses.replace(chapter, lang=lang, markdown=text, body_line=1, display=f"{lang}/tiny.md")
    assert any(f.code == "L002" for f in lint_chapter(tiny, bib)) is found


def test_real_book_lints_clean():
    book = load_manifest(ROOT / "book")
    bib = load_bibliography(book)
    chapters = [c for ed in book.editions for c in load_chapters(book, ed) if not c.derived_from]
    assert lint_book(book, chapters, bib) == []


def test_lint_finds_the_seed_garbage(mini_chapter):
    """The rules catch the defects the import fixed, in the seeds as received."""
    book, chapter, bib = mini_chapter
    for seed, code, at_least in (("003_494978d81f2d8ffc.txt", "L001", 2), ("004_1fce86f5d6ac2653.txt", "L007", 27),
                                  ("001_523950dc969cc68e.txt", "L008", 2)):
        text = (ROOT / "book" / "sources" / seed).read_text(encoding="utf-8").replace("\n", "\n\n")
        raw = dataclasses.replace(chapter, markdown=text, body_line=1, display=seed)
        assert sum(1 for f in lint_chapter(raw, bib) if f.code == code) >= at_least


def test_check_passes_on_the_fixture_and_catches_a_changed_page(minimal_built, tmp_path):
    from conftest import run_cli

    out = tmp_path / "out"
    shutil.copytree(minimal_built, out)
    assert run_cli("print", "--book", str(FIXTURES / "minimal"), "--out", str(out), "-j", "1").returncode == 0
    refs = tmp_path / "refs"
    ace = qa.ACE.is_file()          # installed by `make check`, not by `make test`
    run_checks(FIXTURES / "minimal", out, None, update_references=True, references=refs, ace=ace)
    table = run_checks(FIXTURES / "minimal", out, None, references=refs, ace=ace)
    assert not table.failed, table.format()
    assert {"epubcheck", "epub-a11y", "epub-links", "pdf-fonts", "pdf-meta", "pdf-links", "text-trip",
            "glyphs", "visual", "pdf-x4"} <= set(table.columns)
    ref = sorted(refs.glob("mini-ja-ch1.png"))[0]
    image = Image.open(ref).convert("L")
    ImageDraw.Draw(image).rectangle([10, 10, image.width // 2, image.height // 3], fill=0)
    image.save(ref)
    table = run_checks(FIXTURES / "minimal", out, ["ja"], references=refs, ace=False)
    assert table.failed and not table.rows["ja"]["visual"].ok
    assert (out / "check" / "mini-ja-ch1-diff.png").is_file()


def test_epub_link_check_finds_a_dangling_link(minimal_built, tmp_path):
    bad = tmp_path / "bad.epub"
    with zipfile.ZipFile(minimal_built / "mini-ja.epub") as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("ch001.xhtml"):
                data = data.replace(b"</body>", b'<p><a href="../README_zh.md">x</a><a href="#nowhere">y</a></p></body>')
            dst.writestr(info, data)
    problems = qa.epub_links(bad)
    assert any("README_zh.md" in p for p in problems) and any("#nowhere" in p for p in problems)
    assert qa.epub_links(minimal_built / "mini-ja.epub") == []


def test_round_trip_counts_characters():
    assert qa.round_trip("ab cd", "a b c d x")[0] == 1.0
    ratio, missing = qa.round_trip("aaaa\ufe0f", "aaa")
    assert ratio == 0.75 and missing == []
    assert qa.round_trip("a\ue000", "a")[1] == ["U+E000 \ue000"]


def test_check_rebuilds_only_stale_artifacts(minimal_book, tmp_path):
    from conftest import run_cli

    out = tmp_path / "out"
    assert run_cli("all", "--lang", "ja", "--book", str(minimal_book), "--out", str(out), "--no-epubcheck").returncode == 0
    first = run_cli("check", "--lang", "ja", "--book", str(minimal_book), "--out", str(out))
    assert "mini-ja.pdf" not in first.stderr                  # up to date: nothing rebuilt
    letter = minimal_book / "ja" / "letter.md"
    letter.write_text(letter.read_text(encoding="utf-8") + "\n追伸。\n", encoding="utf-8")
    second = run_cli("check", "--lang", "ja", "--book", str(minimal_book), "--out", str(out))
    assert "mini-ja.pdf" in second.stderr and "mini-ja.epub" in second.stderr
    assert "edition" in second.stdout and "lint" in second.stdout
