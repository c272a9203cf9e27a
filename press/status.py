"""Translation status: for every edition and chapter, present, derived, stale or missing."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .cache import sha256_file
from .manifest import Book
from .sources import read_text, split_front_matter

PRESENT, DERIVED, STALE, MISSING = "present", "derived", "stale", "missing"


@dataclass(frozen=True)
class Cell:
    state: str
    detail: str = ""


def chapter_state(book: Book, path: Path, edition_opencc: str | None) -> Cell:
    """A chapter recording `source` + `source_sha256` is stale once that source's bytes change."""
    meta, _, _ = split_front_matter(read_text(path, str(path)), str(path))
    if edition_opencc and meta.get("lang") in (None, "zh-Hans"):
        return Cell(DERIVED, f"OpenCC {edition_opencc} from {path.relative_to(book.root)}")
    source, recorded = meta.get("source"), meta.get("source_sha256")
    if source and recorded:
        src = (book.root / source).resolve()
        if not src.is_file():
            return Cell(STALE, f"its source {source} is gone")
        if sha256_file(src) != recorded:
            return Cell(STALE, f"{source} changed since it was {'translated' if meta.get('translation') else 'imported'}")
    return Cell(PRESENT)


def translation_status(book: Book) -> tuple[list[str], dict[str, dict[str, Cell]]]:
    """Columns (timeline, letter, appendix A …) and, per edition, a cell per column."""
    columns = ["timeline", "letter"]
    table: dict[str, dict[str, Cell]] = {}
    for ed in book.editions:
        row: dict[str, Cell] = {"letter": Cell(MISSING, "no letter chapter in book.yaml")}
        n = 0
        for ref in ed.chapters:
            col = ref.role
            if ref.role == "appendix":
                col = f"appendix {'ABCDEFGHIJ'[n]}"
                n += 1
                if col not in columns:
                    columns.append(col)
            row[col] = chapter_state(book, ref.path, ed.opencc)
        table[ed.lang] = row
    return columns, table


def format_table(columns: list[str], table: dict[str, dict[str, Cell]]) -> str:
    width = max(len(c) for c in columns + [s for r in table.values() for s in (c.state for c in r.values())])
    lines = ["edition  " + "  ".join(c.ljust(width) for c in columns)]
    details = []
    for lang, row in table.items():
        cells = [row.get(c, Cell(MISSING)).state for c in columns]
        lines.append(f"{lang:<8} " + "  ".join(c.ljust(width) for c in cells))
        details += [f"  {lang} {c}: {row[c].detail}" for c in columns if c in row and row[c].state == STALE]
    return "\n".join(lines + details)
