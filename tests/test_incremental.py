"""Incremental builds: an artifact is rendered again only when something it is made from changed."""
from __future__ import annotations

from pathlib import Path

from conftest import run_cli

NAMES = ["mini-ja.pdf", "mini-ja.epub", "mini-zh-Hans.pdf", "mini-zh-Hans.epub"]


def stamps(out: Path) -> dict[str, int]:
    return {name: (out / name).stat().st_mtime_ns for name in NAMES}


def build(book: Path, out: Path, *extra: str) -> str:
    proc = run_cli("all", "--book", str(book), "--out", str(out), "--no-epubcheck", *extra)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def rendered(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {name for name in NAMES if before[name] != after[name]}


def test_only_what_changed_is_rendered_again(minimal_book: Path, tmp_path: Path):
    out = tmp_path / "out"
    build(minimal_book, out)
    first = stamps(out)

    said = build(minimal_book, out)
    assert rendered(first, stamps(out)) == set()
    assert "nothing to do: 4 files" in said

    # A chapter only the zh-Hans edition includes.
    timeline = minimal_book / "zh" / "timeline.md"
    timeline.write_text(timeline.read_text(encoding="utf-8") + "\n补充一句。\n", encoding="utf-8")
    second = stamps(out)
    said = build(minimal_book, out)
    assert rendered(second, stamps(out)) == {"mini-zh-Hans.pdf", "mini-zh-Hans.epub"}
    assert "2 up to date" in said

    # Touching a file without changing it costs nothing: contents decide, not times.
    timeline.touch()
    third = stamps(out)
    build(minimal_book, out)
    assert rendered(third, stamps(out)) == set()

    # The Korean appendix is in both editions.
    appendix = minimal_book / "ko" / "appendix.md"
    appendix.write_text(appendix.read_text(encoding="utf-8") + "\n한 문장 더.\n", encoding="utf-8")
    fourth = stamps(out)
    build(minimal_book, out)
    assert rendered(fourth, stamps(out)) == set(NAMES)


def test_a_forced_pdf_rebuild_converts_only_the_edited_chapter(minimal_book: Path, tmp_path: Path):
    """pandoc's parse and HTML of each chapter are kept in <out>/.pandoc-cache: `--force` lays the
    book out again, but pandoc runs again only for the chapter that changed, and the PDF is the same."""
    out = tmp_path / "out"
    args = ("pdf", "--book", str(minimal_book), "--out", str(out), "--lang", "ja", "--force")
    assert run_cli(*args).returncode == 0
    cache = out / ".pandoc-cache"

    def entries() -> dict[str, int]:
        return {p.name: p.stat().st_ino for p in cache.iterdir()}

    first, pdf = entries(), (out / "mini-ja.pdf").read_bytes()
    kinds = sorted(Path(name).suffix for name in first)
    assert kinds == [".html"] * 4 + [".json"] * 3, kinds    # HTML: 3 chapters and the bibliography
    assert run_cli(*args).returncode == 0
    assert entries() == first                    # every conversion a hit: no entry written again
    assert (out / "mini-ja.pdf").read_bytes() == pdf

    letter = minimal_book / "ja" / "letter.md"
    letter.write_text(letter.read_text(encoding="utf-8") + "\nもう一文。\n", encoding="utf-8")
    assert run_cli(*args).returncode == 0
    after = entries()
    assert sorted(Path(name).suffix for name in set(after) - set(first)) == [".html", ".json"]
    assert all(after[name] == ino for name, ino in first.items())


def test_a_replaced_or_deleted_artifact_is_rebuilt_and_force_renders_all(minimal_book: Path, tmp_path: Path):
    out = tmp_path / "out"
    build(minimal_book, out, "--lang", "ja")
    (out / "mini-ja.pdf").write_bytes(b"%PDF-1.7 not what the press wrote")
    (out / "mini-ja.epub").unlink()
    said = build(minimal_book, out, "--lang", "ja")
    assert "wrote 2 files" in said
    assert (out / "mini-ja.pdf").read_bytes()[:5] == b"%PDF-" and (out / "mini-ja.pdf").stat().st_size > 10_000
    before = (out / "mini-ja.pdf").stat().st_mtime_ns
    said = build(minimal_book, out, "--lang", "ja", "--force")
    assert "wrote 2 files" in said and (out / "mini-ja.pdf").stat().st_mtime_ns != before


def test_pandoc_html_is_cached_under_everything_it_reads(tmp_path, monkeypatch):
    """The HTML pandoc makes of a chapter is kept beside the artifacts under the hash of what it
    reads: used again while that is unchanged (no pandoc run), never once the bibliography (or
    any file an argument names) has changed, never through a symlink planted in the cache."""
    from press import confine
    from press import html as html_stage

    cache = tmp_path / "cache"
    bib = tmp_path / "bib.yaml"
    bib.write_text("references: []\n", encoding="utf-8")
    ast = html_stage.document([{"t": "Para", "c": [{"t": "Str", "c": "hello"}]}])
    first = html_stage.pandoc_html(ast, "x.md", "p-", inline_notes=False, cache=cache)
    assert "hello" in first and len(list(cache.iterdir())) == 1

    def no_pandoc(*args, **kwargs):
        raise AssertionError("pandoc ran although its result was cached")

    monkeypatch.setattr(confine, "pandoc", no_pandoc)
    assert html_stage.pandoc_html(ast, "x.md", "p-", inline_notes=False, cache=cache) == first
    monkeypatch.undo()

    args = ["--citeproc", f"--bibliography={bib}"]
    key = html_stage._cache_key(ast, args)
    bib.write_text("references: [{id: a, type: book, title: T}]\n", encoding="utf-8")
    assert html_stage._cache_key(ast, args) != key
    assert html_stage._cache_key(ast.replace("hello", "hullo"), args) != html_stage._cache_key(ast, args)

    cached = next(cache.iterdir())
    planted = tmp_path / "planted.html"
    planted.write_text("<p>planted</p>", encoding="utf-8")
    cached.unlink()
    cached.symlink_to(planted)
    assert "planted" not in html_stage.pandoc_html(ast, "x.md", "p-", inline_notes=False, cache=cache)

    # A cache directory that is a link is neither read nor written through.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    linked = tmp_path / "linked-cache"
    linked.symlink_to(elsewhere)
    html_stage.pandoc_html(ast, "x.md", "p-", inline_notes=False, cache=linked)
    assert list(elsewhere.iterdir()) == []
    (elsewhere / cached.name).write_text("<p>planted</p>", encoding="utf-8")     # the entry's own name
    assert "planted" not in html_stage.pandoc_html(ast, "x.md", "p-", inline_notes=False, cache=linked)


def test_web_caches_forget_what_is_not_used(tmp_path):
    """A hit marks a cache entry as used; `output.prune_cache` (run by every web build, the preview's too)
    deletes the entries not used for 30 days, then the least recently used beyond the size limit,
    and never follows a link out of the cache."""
    import os
    import time

    from press import html as html_stage
    from press import output

    cache = tmp_path / "cache"
    ast = html_stage.document([{"t": "Para", "c": [{"t": "Str", "c": "hello"}]}])
    html_stage.pandoc_html(ast, "x.md", "p-", inline_notes=False, cache=cache)
    entry = next(cache.iterdir())
    month = time.time() - 40 * 86400
    os.utime(entry, (month, month))
    html_stage.pandoc_html(ast, "x.md", "p-", inline_notes=False, cache=cache)      # a hit
    assert entry.stat().st_mtime > time.time() - 60

    old, new, big = cache / "old.woff2", cache / "new.woff2", cache / "big.woff2"
    for path, size, age in ((old, 10, 40), (big, 3000, 1), (new, 1000, 0)):
        path.write_bytes(b"x" * size)
        os.utime(path, (time.time() - age * 86400,) * 2)
    outside = tmp_path / "outside.txt"
    outside.write_text("keep", encoding="utf-8")
    (cache / "link").symlink_to(outside)
    output.prune_cache(cache, limit=2500)
    left = sorted(p.name for p in cache.iterdir())
    assert left == sorted([entry.name, "new.woff2", "link"]), left        # old by age, big by size
    assert outside.read_text(encoding="utf-8") == "keep"


def test_a_conversion_from_the_cache_gives_pandoc_s_warnings_again(minimal_book: Path, tmp_path: Path):
    """pandoc's warnings are kept with its output in <out>/.pandoc-cache: a rebuild whose chapters
    come from the cache says the same warnings and counts them the same."""
    timeline = minimal_book / "ja" / "timeline.md"
    timeline.write_text(timeline.read_text(encoding="utf-8") + "\n追加の文[@nosuchkey]。\n", encoding="utf-8")
    out = tmp_path / "out"
    args = ("pdf", "--book", str(minimal_book), "--out", str(out), "--lang", "ja", "--draft")
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    assert "pandoc: Citeproc: citation nosuchkey not found" in first.stderr
    again = run_cli(*args, "--force")
    assert again.returncode == 0, again.stderr
    said = [line for line in again.stderr.splitlines() if line.startswith("warning:")]
    assert said == [line for line in first.stderr.splitlines() if line.startswith("warning:")]
    assert "2 warning(s)" in first.stdout + first.stderr and "2 warning(s)" in again.stdout + again.stderr


def test_a_damaged_cache_entry_is_converted_again(tmp_path):
    from press import html as html_stage

    cache = tmp_path / "cache"
    ast = html_stage.document([{"t": "Para", "c": [{"t": "Str", "c": "hello"}]}])
    first = html_stage.pandoc_html(ast, "x.md", "p-", inline_notes=False, cache=cache)
    entry = next(cache.iterdir())
    for damage in (b"<p>no warnings line</p>", b"\xff\xfe not UTF-8", b'{"not": "a list"}\n<p>x</p>'):
        entry.write_bytes(damage)
        assert html_stage.pandoc_html(ast, "x.md", "p-", inline_notes=False, cache=cache) == first
        assert entry.read_bytes() != damage          # and kept again
