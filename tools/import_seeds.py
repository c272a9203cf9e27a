#!/usr/bin/env python3
"""Import the four seed documents into book/ as clean Markdown, logging every edit.

Reproducible: the same seeds give the same chapter files and the same change log.
Run from the repository root:  python tools/import_seeds.py
Each edit names the seed line it changes and why; the change log (book/CHANGES.md) is
written from the same records, so the log and the text never disagree.
"""
from __future__ import annotations

import csv
import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "book" / "sources"
BOOK = ROOT / "book"
GLOSSES = ROOT / "tools" / "glosses-004.tsv"
CITATIONS = ROOT / "tools" / "citations.tsv"

SEED_001 = "001_523950dc969cc68e.txt"
SEED_002 = "002_1af6ad0df45596f4.txt"
SEED_003 = "003_494978d81f2d8ffc.txt"
SEED_004 = "004_1fce86f5d6ac2653.txt"


@dataclass
class Change:
    seed: str
    line: int
    what: str
    why: str


@dataclass
class Seed:
    """A seed's lines (1-based numbers kept) with the edits applied so far."""

    name: str
    text: str
    lines: dict[int, str | None] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lines = {i + 1: s for i, s in enumerate(self.text.split("\n"))}

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def log(self, line: int, what: str, why: str) -> None:
        self.changes.append(Change(self.name, line, what, why))

    def sub(self, line: int, old: str, new: str, why: str, count: int = 1) -> None:
        """Replace `old` by `new` on one line; the seed must hold it exactly `count` times."""
        cur = self.lines[line]
        assert cur is not None, (self.name, line)
        found = cur.count(old)
        if found != count:
            raise SystemExit(f"{self.name}:{line}: expected {count}× {old!r}, found {found}")
        self.lines[line] = cur.replace(old, new)
        shown_new = f"`{new}`" if new else "(nothing)"
        self.log(line, f"`{old}` → {shown_new}" + (f" ({count}×)" if count > 1 else ""), why)

    def fix(self, old: str, new: str, why: str) -> None:
        """Replace `old` by `new` on the one line that holds it."""
        self.sub(self.find(old), old, new, why)

    def drop(self, line: int, why: str) -> None:
        cur = self.lines[line]
        assert cur is not None, (self.name, line)
        self.lines[line] = None
        short = cur if len(cur) <= 60 else cur[:57] + "…"
        self.log(line, f"removed line `{short}`" if cur.strip() else "removed a blank line", why)

    def find(self, needle: str) -> int:
        hits = [n for n, s in self.lines.items() if s is not None and needle in s]
        if len(hits) != 1:
            raise SystemExit(f"{self.name}: {needle!r} is on lines {hits}, expected one")
        return hits[0]

    def kept(self) -> list[tuple[int, str]]:
        return [(n, s) for n, s in sorted(self.lines.items()) if s is not None]


AT_ESCAPE = "`@` escaped so that pandoc does not read it as a citation key; the text shows the same"


def front_matter(fields: dict[str, str]) -> str:
    out = ["---"]
    for key, value in fields.items():
        out.append(f"{key}: {value}")
    out.append("---")
    return "\n".join(out) + "\n\n"


def blocks_to_markdown(seed: Seed, epigraph: tuple[int, str] | None = None) -> str:
    """Blank-line separated seeds: keep the blocks, wrap `→` callouts in a callout div.

    `epigraph` = (seed line, short title): that line is set as an epigraph under `# short title`.
    """
    out: list[str] = []
    for n, line in seed.kept():
        if epigraph and n == epigraph[0]:
            out.append(f"# {epigraph[1]}")
            out.append("::: epigraph\n" + line + "\n:::")
        elif line.startswith("→ "):
            out.append("::: callout\n" + line + "\n:::")
        elif line.strip():
            out.append(line)
    return "\n\n".join(out) + "\n"


EPIGRAPH_WHY = ("as the chapter title, the opening {what} made a multi-line contents entry and running head "
                "(issue 13): the chapter gets a short title and the quotation is set as an epigraph under it; "
                "its words are unchanged")


def title_to_epigraph(seed: Seed, short_title: str, what: str) -> tuple[int, str]:
    """Make the seed's level-1 heading the chapter's epigraph, under a short heading of its own."""
    n = next(n for n, s in seed.kept() if s.startswith("# "))
    seed.lines[n] = seed.lines[n][2:]
    seed.log(n, f"the level-1 heading became an epigraph (`::: epigraph`) under the new heading `# {short_title}`",
             EPIGRAPH_WHY.format(what=what))
    return n, short_title


WIKI_BRACKETS = ("wiki-link brackets left by the text's extraction (they printed as `[[keep4o]]`); "
                 "plain `keep4o`, nothing added")


def callout_log(seed: Seed) -> None:
    lines = [n for n, s in seed.kept() if s.startswith("→ ")]
    for n in lines:
        seed.log(n, "wrapped the `→` paragraph in a `callout` block", "styled as a callout; text unchanged")


def import_001(seed: Seed) -> str:
    seed.drop(1, "language bar linking to repository files (README.md, README_zh.md, FR.md, …) that are not in the book")
    seed.drop(3, "rule that only separated the removed language bar")
    letter = seed.find("](letter/JA.md)")
    seed.drop(letter, "link to `letter/JA.md`, a repository file not in the book; the manifest names a letter chapter when its author supplies one, and the build reports it missing until then")
    seed.drop(letter + 2, "second rule left around the removed letter link (two rules in a row)")
    seed.fix("([@Raw_0xDEADBEEF]", "([\\@Raw_0xDEADBEEF]", AT_ESCAPE)
    seed.fix("が[[keep4o]]に直接", "がkeep4oに直接", WIKI_BRACKETS)
    seed.fix("何十もの[[keep4o]]の投稿", "何十ものkeep4oの投稿", WIKI_BRACKETS)
    epigraph = title_to_epigraph(seed, "時系列記録", "three-sentence quotation")
    callout_log(seed)
    fm = front_matter({"lang": "ja", "short_title": "時系列記録", "source": f"sources/{SEED_001}",
                       "source_sha256": seed.sha256})
    return fm + blocks_to_markdown(seed, epigraph)


def import_002(seed: Seed) -> str:
    for n in range(1, 10):
        seed.lines[n] = None
    seed.log(1, "removed the YAML front matter (lines 1–9: authors, date 2026-02-04, x.com, GitHub and rednote links)",
             "metadata, not chapter text: moved to book/book.yaml (`authors`, `date`, `links`)")
    seed.fix('2024.09——"记忆”功能', '2024.09——"记忆"功能',
             "mixed quotation marks (straight opening, curly closing) made a straight pair like the rest of the text")
    epigraph = title_to_epigraph(seed, "时间线", "quotation with the timeline's title")
    seed.log(epigraph[0], "`short_title` (running heads) `GPT-4o事件全记录` → `时间线`",
             "the same short title as the new heading, as in every edition")
    callout_log(seed)
    fm = front_matter({"lang": "zh-Hans", "short_title": "时间线", "source": f"sources/{SEED_002}",
                       "source_sha256": seed.sha256})
    return fm + blocks_to_markdown(seed, epigraph)


TITLE_003 = "GPT-4o 서비스 종료에 항의하는 사용자들"


def import_003(seed: Seed) -> str:
    seed.fix('GPT-4o를 폐기하지 말아달라고 간청했습니다. 팟캐스트 " 지금', 'GPT-4o를 폐기하지 말아달라고 간청했습니다. 팟캐스트 "지금',
             "space inside the opening quotation mark")
    seed.fix("보도 에 따르면 ,", "보도에 따르면,", "spaces before a particle and before a comma")
    seed.fix("관심을trac습니다", "관심을 끌었습니다",
             "text-extraction garbage: `trac` is the remnant of 'attracted'; 관심을 끌었습니다 ('drew the interest') is certain from the sentence")
    seed.fix("한 사용자가 말했다 .", "한 사용자가 말했다.", "space before the full stop")
    seed.fix("오픈아이언이", "오픈AI가", "garbled company name (OpenAI), certain from context; particle adjusted to the name")
    seed.fix("오픈아이언은", "오픈AI는", "garbled company name (OpenAI), certain from context; particle adjusted to the name")
    seed.fix("라고 오픈아이얼 블로그", "라고 오픈AI 블로그", "garbled company name (OpenAI), certain from context")
    seed.fix("앤트로픽 와 같은", "앤트로픽과 같은", "stray space before the particle; 과 is the form after a final consonant")
    seed.fix("현재 오픈아이얼은", "현재 오픈AI는", "garbled company name (OpenAI), certain from context; particle adjusted")
    seed.fix("오픈아이얼의 주간", "오픈AI의 주간", "garbled company name (OpenAI), certain from context")
    seed.fix("위한tron안전장치", "위한 안전장치",
             "text-extraction garbage `tron` (probably from 'stronger'); the word it stood for is not certain, so it is dropped")
    seed.drop(seed.find("trac 아닙니다"), "stray fragment of a lost quotation (`trac 아닙니다 .\" 라고 알트먼은 말했다.`): the quoted words cannot be recovered")
    seed.drop(seed.find("프리미엄 암호화폐"), "advertisement appended by the source site (premium crypto-trading community), not part of the report")
    seed.fix("오픈아이(OpenAI)는", "오픈AI(OpenAI)는", "garbled company name (OpenAI), the same garble as the `오픈아이언`/`오픈아이얼` spots; certain from the gloss")
    seed.fix("샘 알트만에게", "샘 알트먼에게",
             "one spelling per name in the appendix: the seed writes 알트먼 (lines 3 and 16) and once 알트만 (line 6)")
    seed.fix('올라오고 있습니다."라고 말했습니다.', '올라오고 있습니다."라고 말했습니다.[^ed-a1]',
             "editor's note: the seed gives this quotation without its speaker (lost in extraction); the speaker is not guessed")
    seed.fix("AI 기업 4o에게", "AI 기업 4o에게[^ed-a2]",
             "editor's note: the words are kept as received (`AI 기업 4o`, `4o는 … 소송에 직면해 있습니다`); "
             "the note tells the reader that the seed says so, and what the seed says of GPT-4o elsewhere")
    seed.log(1, f"added the heading `{TITLE_003}`", "the report has no title; editorial heading for the appendix, for the author to review")
    fm = front_matter({"lang": "ko", "short_title": "GPT-4o 서비스 종료 항의", "source": f"sources/{SEED_003}",
                       "source_sha256": seed.sha256})
    paras = [s for _, s in seed.kept() if s.strip()]
    return fm + f"# {TITLE_003}\n\n" + "\n\n".join(paras) + "\n" + editor_notes(EDITOR_NOTES_003)


# Editors' notes (footnotes in Korean, the appendices' language), by footnote label. They say only
# what the seed says; labels are unique across the book (every edition's EPUB is one document).
EDITOR_NOTES_003 = {
    "ed-a1": "편집자 주: 원문에는 이 말을 한 사람이 빠져 있습니다. 원문만으로는 누구의 말인지 알 수 없어 그대로 옮겼습니다.",
    "ed-a2": "편집자 주: 원문 그대로 옮겼습니다. 원문은 여기서 4o를 ‘AI 기업’이라 하고, 다음 문장에서 4o가 "
             "8건의 소송에 직면해 있다고 씁니다. 같은 글의 앞부분은 GPT-4o를 OpenAI가 2024년 5월에 출시한 모델로 소개합니다.",
}
EDITOR_NOTES_004 = {
    "ed-b1": "편집자 주: 원문에는 이 제목 아래에 본문이 없습니다.",
    "ed-b2": "편집자 주: ‘Koding’은 원문 표기 그대로입니다.",
}


def editor_notes(notes: dict[str, str]) -> str:
    return "".join(f"\n[^{label}]: {text}\n" for label, text in notes.items())


# Heading level of each bold line of 004 (line number → level). The newsletter (1–19) has three
# factors, the second with three sub-sections; then two podcast sections (21, 22) at the factors'
# level; the Latent Space episode has Show Notes, Timestamps and Transcript (level 3), and the
# transcript's 27 bold section titles (75–223, those of the Timestamps list) are level 4.
TRANSCRIPT_SECTIONS_004 = (75, 80, 84, 88, 92, 98, 105, 114, 119, 123, 132, 135, 142, 146, 154, 160,
                           164, 171, 181, 185, 189, 196, 203, 207, 212, 216, 223)
HEADINGS_004 = {1: 1, 5: 2, 8: 2, 10: 3, 12: 3, 14: 3, 18: 2, 21: 2, 22: 2, 25: 3, 47: 3, 74: 3,
                **{n: 4 for n in TRANSCRIPT_SECTIONS_004}}
LIST_SECTIONS_004 = (25, 47)  # Show Notes, Timestamps: one entry a line


def load_glosses() -> list[dict[str, str]]:
    with GLOSSES.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def import_004(seed: Seed) -> str:
    # Footnotes: the markers are plain digits after the glossed word; the notes are the last lines.
    n1 = seed.find("기업 가치(valuation) 1,")
    seed.sub(n1, "기업 가치(valuation) 1,", "기업 가치(valuation)[^1],", "footnote marker `1` made a real footnote")
    n2 = seed.find("AI 코딩 도구(AI coding tool) 2입니다")
    seed.sub(n2, "AI 코딩 도구(AI coding tool) 2입니다", "AI 코딩 도구(AI coding tool)[^2]입니다", "footnote marker `2` made a real footnote")
    notes = {}
    for key in ("1", "2"):
        n = max(k for k, s in seed.lines.items() if s and s.startswith(key + " "))
        notes[key] = seed.lines[n][2:]
        seed.lines[n] = None
        seed.log(n, f"note line `{key} …` became the text of footnote {key}", "real footnote")
    for row in load_glosses():
        line = int(row["seed_line"])
        snippet, wrong = row["snippet"], row["wrong_gloss"]
        fixed = snippet.replace(wrong, "", 1)
        cur = seed.lines[line]
        assert cur is not None
        occ = int(row["occurrence"])
        idx = -1
        for _ in range(occ):
            idx = cur.find(snippet, idx + 1)
            if idx < 0:
                raise SystemExit(f"{SEED_004}:{line}: snippet {snippet!r} not found (occurrence {occ})")
        seed.lines[line] = cur[:idx] + fixed + cur[idx + len(snippet):]
        seed.log(line, f"`{snippet}` → `{fixed}`",
                 row["why"] or f"wrong gloss: `{wrong}` repeats the gloss of the preceding `{row['preceding_term_with_gloss']}`")
    kept = seed.find("AI 기반 연구(agentic research)")
    seed.log(kept, "left as received: `AI 기반 연구(agentic research)` after `에이전트형 코딩(agentic coding)`",
             "not a repeated gloss: its own head word (research), and the sentence defines it as the work of "
             "research agents (`연구 에이전트`), which `agentic research` names")
    seed.fix("코딩(Koding)과", "코딩(Koding)[^ed-b2]과",
             "editor's note: `Koding` is not a repeated gloss (no preceding term has it); the seed's own spelling, "
             "kept and marked as such for the reader")
    seed.fix("@codex 코드 리뷰 봇", "\\@codex 코드 리뷰 봇", AT_ESCAPE)
    for url in ("https://x.com/swyx/status/1967651870018838765/photo/1",
                "https://x.com/camsoft2000/status/1964787205571772511?s=46"):
        n = seed.find(url)
        seed.sub(n, url, f"<{url}>", "bare URL made a link (same address)")
    out: list[str] = []
    in_list = False
    for n, line in seed.kept():
        if not line.strip():
            in_list = False
            continue
        if n in HEADINGS_004:
            m = re.fullmatch(r"\*\*(.+)\*\*", line)
            assert m, (n, line)
            out.append("#" * HEADINGS_004[n] + " " + m.group(1) + ("[^ed-b1]" if n == 21 else ""))
            in_list = n in LIST_SECTIONS_004
            continue
        text = escape_brackets(line)
        out.append(("- " if in_list else "") + text)
    for n in HEADINGS_004:
        if n in TRANSCRIPT_SECTIONS_004:
            why = "bold section title of the transcript: a heading, so that it reaches the EPUB navigation and the PDF outline"
        elif n == 21:
            why = ("bold line acts as a section heading; level 2 like the heading that follows it "
                   "(it was level 3, an empty sub-section followed by a level-2 heading)")
        else:
            why = "bold lines act as section headings"
        seed.log(n, f"bold line made a level-{HEADINGS_004[n]} heading", why)
    seed.log(21, "editor's note on the heading: the seed has no text under it", "the section is empty in the seed; nothing is guessed")
    seed.log(26, "one-per-line entries under Show Notes and Timestamps made list items", "structure; text unchanged")
    body = ""
    prev_list = False
    for block in out:
        is_item = block.startswith("- ")
        body += ("\n" if (is_item and prev_list) else "\n\n") + block
        prev_list = is_item
    body = body.strip() + "\n"
    body += f"\n[^1]: {notes['1']}\n\n[^2]: {notes['2']}\n" + editor_notes(EDITOR_NOTES_004)
    fm = front_matter({"lang": "ko", "short_title": "GPT-5-코덱스", "source": f"sources/{SEED_004}",
                       "source_sha256": seed.sha256})
    return fm + body


def escape_brackets(line: str) -> str:
    """Keep literal `[00:00:04]` and the like from being read as Markdown links."""
    return re.sub(r"\[(?!\^[\w-]+\])", r"\\[", line)


OUTPUTS = [
    (SEED_001, "ja/timeline.md", import_001),
    (SEED_002, "zh-Hans/timeline.md", import_002),
    (SEED_003, "ko/appendix-a.md", import_003),
    (SEED_004, "ko/appendix-b.md", import_004),
]


def add_citations(dest: str, seed: Seed, markdown: str) -> str:
    """Insert each citation of tools/citations.tsv right after its anchor (which occurs once)."""
    with CITATIONS.open(encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh, delimiter="\t") if r["chapter"] == dest]
    for row in rows:
        anchor, cite = row["anchor"], row["citation"]
        if markdown.count(anchor) != 1:
            raise SystemExit(f"tools/citations.tsv: anchor {anchor!r} occurs {markdown.count(anchor)}× in {dest}")
        markdown = markdown.replace(anchor, anchor + cite)
        line = next((n for n, s in seed.kept() if anchor in s), 0)
        seed.log(line, f"citation `{cite}` added after `{anchor}`",
                 "source of the claim, from book/bibliography.yaml (tools/citations.tsv)")
    return markdown


def import_seeds(sources: Path = SOURCES) -> list[tuple[str, Seed, str]]:
    """Apply every documented edit; return (book path, edited seed, Markdown) per seed."""
    out = []
    for seed_name, dest, fn in OUTPUTS:
        seed = Seed(seed_name, (sources / seed_name).read_text(encoding="utf-8"))
        markdown = add_citations(dest, seed, fn(seed))
        out.append((dest, seed, markdown))
    return out


def import_all(sources: Path = SOURCES) -> tuple[dict[str, str], list[Change], dict[str, str]]:
    """Return {book path: Markdown}, the change records, and {seed: sha256}."""
    files: dict[str, str] = {}
    changes: list[Change] = []
    hashes: dict[str, str] = {}
    for dest, seed, markdown in import_seeds(sources):
        files[dest] = markdown
        changes.extend(sorted(seed.changes, key=lambda c: c.line))
        hashes[seed.name] = seed.sha256
    return files, changes, hashes


def edited_paragraphs(sources: Path = SOURCES) -> dict[str, list[str]]:
    """Each seed's paragraphs after the documented edits, for the fidelity test."""
    return {dest: [s for _, s in seed.kept() if s.strip() and s.strip() != "---"]
            for dest, seed, _ in import_seeds(sources)}


HAND_EDITS = "## Hand edits"


def hand_edits(path: Path = BOOK / "CHANGES.md") -> str:
    """The "Hand edits" section of the current change log (written by hand, kept by the import)."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    _, found, rest = text.partition("\n" + HAND_EDITS + "\n")
    return rest.strip("\n") if found and rest.strip() else "None yet."


def changelog(changes: list[Change], hashes: dict[str, str], hand: str | None = None) -> str:
    """The change log: the import's edits, seed by seed, then the hand edits (`hand`, default: kept)."""
    out = [
        "# Change log of the book's text",
        "",
        "Every editorial change made to the seed documents on their way into the book, for the",
        "author to review. Generated by `tools/import_seeds.py` from the edits it applies; the",
        "originals are kept unchanged in `book/sources/`. Do not edit the sections below by hand:",
        "change the import script and run it again. Later hand edits go under \"Hand edits\".",
        "",
        "## Seeds",
        "",
        "| seed | sha256 | becomes |",
        "|---|---|---|",
    ]
    for seed_name, dest, _ in OUTPUTS:
        out.append(f"| `{seed_name}` | `{hashes[seed_name][:16]}…` | `book/{dest}` |")
    current = None
    for c in changes:
        if c.seed != current:
            current = c.seed
            out += ["", f"## {c.seed}", "", "| line | change | reason |", "|---|---|---|"]
        what, why = (x.replace("|", "\\|") for x in (c.what, c.why))
        out.append(f"| {c.line} | {what} | {why} |")
    out += ["", HAND_EDITS, "", hand if hand is not None else hand_edits(), ""]
    return "\n".join(out)


def main() -> int:
    files, changes, hashes = import_all()
    for dest, text in files.items():
        path = BOOK / dest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (BOOK / "CHANGES.md").write_text(changelog(changes, hashes), encoding="utf-8")
    print(f"wrote {len(files)} chapters and {len(changes)} change-log entries", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
