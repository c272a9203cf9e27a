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
