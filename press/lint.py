"""Content lint over the book's chapters: each problem a Finding with file:line.

Codes (stable; `book/lint.yaml` may allow reviewed exceptions by code and text):
  L001  Latin fragment glued inside Hangul, Kana or Han text (a Latin word run into the letters around it)
  L002  unbalanced brackets or quotation marks in a paragraph (「」 《》 （） () [] 『』, and the quotation
        marks of the chapter's language: “” «» by default, German „“ ‚‘ »« ›‹, French « » “” ‹›, …)
  L003  odd number of straight double quotes in a paragraph
  L004  raw HTML in Markdown
  L005  link to a file that is not in the book (repository files such as README.md)
  L006  citation key that the bibliography does not have
  L007  the same English gloss after two different terms (`A(apples) and B(apples)`), also when the
        terms share their head noun (`red log(red logs) and test log(red logs)`), and a variant of the
        preceding gloss after a term with another head noun (`code base(open code bases) and data
        base(open data code bases)`)
  L008  wiki-link brackets left by an extraction (`[[word]]`): they print as they are
  L009  a `translation:` notice that shows internal provenance (a file path, `.md`, a seed or its
        number): the notice is printed for a reader; provenance goes in `source` and `translation_notes`
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

from .citations import Bibliography, find_citations
from .errors import BuildError, Finding
from .manifest import Book, display_path
from .sources import Chapter, key_line

CJK = r"\uac00-\ud7a3\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff"
_GLUED = re.compile(rf"(?<=[{CJK}])[a-z]{{2,}}(?=[{CJK}])")
BRACKETS = {"「": "」", "《": "》", "（": "）", "(": ")", "[": "]", "『": "』"}
# Quotation marks counted in pairs like the brackets, by the chapter's language (a full tag first,
# then its primary subtag, then ""): which mark opens and which closes differs, and German closes
# with the mark that opens in English („…“). Single marks are counted only where the closing one is
# not also the apostrophe (’), as it is in English, French, Italian and Spanish.
QUOTES: dict[str, tuple[tuple[str, str], ...]] = {
    "": (("“", "”"), ("«", "»")),                          # English, CJK, Korean, Hindi, Arabic (« »)
    "de": (("„", "“"), ("‚", "‘"), ("»", "«"), ("›", "‹")),  # Germany, Austria; »…« in books
    "de-CH": (("«", "»"), ("‹", "›")),                      # Switzerland
    "cs": (("„", "“"), ("‚", "‘"), ("»", "«")),
    "sk": (("„", "“"), ("‚", "‘"), ("»", "«")),
    "fr": (("«", "»"), ("“", "”"), ("‹", "›")),
    "it": (("«", "»"), ("“", "”")),
    "es": (("«", "»"), ("“", "”")),
    "pt": (("«", "»"), ("“", "”")),
    "pl": (("„", "”"), ("«", "»")),
    "ru": (("«", "»"), ("„", "“")),
    "uk": (("«", "»"), ("„", "“")),
}


def quote_pairs(lang: str) -> tuple[tuple[str, str], ...]:
    """The (opening, closing) quotation marks that L002 counts in a chapter of language `lang`."""
    tag = (lang or "").replace("_", "-")
    for key in (tag, tag.split("-")[0]):
        for known, pairs in QUOTES.items():
            if known and known.lower() == key.lower():
                return pairs
    return QUOTES[""]
_HTML = re.compile(r"<(?![A-Za-z][\w+.-]*:[^>\s]*>)/?[A-Za-z!][^>\n]*>")
_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)")
_WIKI = re.compile(r"\[\[[^\[\]\n]+\]\]")
# Language data of the rules below (data/lint.yaml).
_DATA = yaml.safe_load((Path(__file__).resolve().parent / "data" / "lint.yaml").read_text(encoding="utf-8"))
# What a reader's notice must not show: paths, Markdown/seed files, "seed" (in the languages of
# data/lint.yaml) and seed numbers such as 001.
_PROVENANCE = re.compile(r"(?:\b(?:book|sources|tools)/|[\w-]+/[\w./-]*\.\w+|\.(?:md|txt|ya?ml)\b"
                         rf"|{'|'.join(_DATA['source_words'])}|\b00\d\b)", re.I)
_GLOSS = re.compile(r"([\uac00-\ud7a3][\uac00-\ud7a3 ]*?)\(([A-Za-z][^()]*)\)")


def _paragraphs(chapter: Chapter):
    """(first line number, text) for each blank-line separated block of the chapter."""
    start, block = None, []
    for n, line in enumerate(chapter.markdown.split("\n")):
        if line.strip():
            if start is None:
                start = chapter.body_line + n
            block.append(line)
        elif block:
            yield start, "\n".join(block)
            start, block = None, []
    if block:
        yield start, "\n".join(block)


def _strip_code(text: str) -> str:
    return re.sub(r"`+[^`]*`+", "", text)


def _front_matter_line(chapter: Chapter, key: str) -> int:
    """Line of `key:` in the chapter's file (2, the first front-matter line, when unknown)."""
    try:
        text = chapter.ref.path.read_text(encoding="utf-8")
    except OSError:
        return 2
    return key_line(text[4:], key)


# The grammar words of L007 (the gloss pattern above reads Hangul terms).
COORDINATORS = set(_DATA["glosses"]["Hang"]["coordinators"])
_NOT_IN_TERM = tuple(_DATA["glosses"]["Hang"]["not_in_term"])


def _gloss_repeat(words1: list[str], g1: str, words2: list[str], g2: str) -> str | None:
    """Why the second of two neighbouring glosses is wrong for its term, or None.

    `words` are the Hangul words before each gloss; the match may begin earlier in the sentence
    (`because reasoning model`), so a term is known only by its last word (its head noun) unless
    it is joined to the one before by a coordinator (`X(g) and Y(g)`; data/lint.yaml): then the
    words after the coordinator are the whole second term. Coordinated terms are two different
    things, so `red log(red logs) and test log(red logs)` is a repeat although both end in `log`,
    while `bug(bugs)… that bug(bugs)` and `compute(compute)…, and compute(compute)` are the same term.
    """
    head1, head2 = words1[-1], words2[-1]
    # After the coordinator, a noun phrase: a few words, none but the head carrying a case or topic
    # particle or a verb ending (a word with a particle inside makes it a clause, not a term).
    coordinated = (words2[0] in COORDINATORS and 1 < len(words2) <= 5
                   and not any(w.endswith(_NOT_IN_TERM) for w in words2[1:-1]))
    if g1 == g2:
        if head1 != head2 and not head2.endswith(head1) and not head1.endswith(head2):
            return f"gloss ({g1}) after two different terms: {head1}, {head2}"
        core = words2[1:] if coordinated else []
        if core and words1[-len(core):] != core:
            return f"gloss ({g1}) after two different terms sharing the head noun {head2}: " \
                   f"{' '.join(words1[-len(core):])}, {' '.join(core)}"
        return None
    # A variant of the gloss before, after a coordinated term with another head noun: the same
    # English head word and either two or more shared final words (`tenacity judiciously
    # applied` / `integration capability judiciously applied`) or one gloss holding every word of
    # the other (`open source codebases` / `open source scientific codebases`).
    e1, e2 = g1.lower().split(), g2.lower().split()
    if not coordinated or head1 == head2 or e1[-1] != e2[-1]:
        return None
    n = min(len(e1), len(e2))
    shared = next((k for k in range(n) if e1[-1 - k] != e2[-1 - k]), n)
    if shared >= 2 or set(e1) <= set(e2) or set(e2) <= set(e1):
        return f"gloss ({g2}) after {head2} is a variant of ({g1}) after {head1}"
    return None


def lint_chapter(chapter: Chapter, bib: Bibliography | None) -> list[Finding]:
    out: list[Finding] = []
    shown = chapter.display
    quotes = quote_pairs(chapter.lang)
    for line, para in _paragraphs(chapter):
        text = _strip_code(para).replace("\\[", "[").replace("\\]", "]")
        for m in _GLUED.finditer(text):
            ctx = text[max(0, m.start() - 4): m.end() + 4]
            out.append(Finding("L001", shown, line, f"Latin fragment {m.group(0)!r} glued inside text: {ctx!r}"))
        for opening, closing in (*BRACKETS.items(), *quotes):
            if text.count(opening) != text.count(closing):
                out.append(Finding("L002", shown, line, f"unbalanced {opening}{closing}: "
                                   f"{text.count(opening)} opening, {text.count(closing)} closing"))
        if text.count('"') % 2:
            out.append(Finding("L003", shown, line, f'odd number of straight quotes ("): {text.count(chr(34))}'))
        for m in _HTML.finditer(text):
            out.append(Finding("L004", shown, line, f"raw HTML {m.group(0)[:30]!r} (it prints as text)"))
        for m in _LINK.finditer(text):
            target = m.group(1)
            if not re.match(r"^(https?:|mailto:|#)", target):
                out.append(Finding("L005", shown, line, f"link to {target!r}, a file that is not in the book"))
        glosses = [(m.group(1).split(), m.group(2)) for m in _GLOSS.finditer(text)]
        for (words1, g1), (words2, g2) in zip(glosses, glosses[1:]):
            problem = _gloss_repeat(words1, g1, words2, g2)
            if problem:
                out.append(Finding("L007", shown, line, problem))
        for m in _WIKI.finditer(text):
            out.append(Finding("L008", shown, line, f"wiki-link brackets {m.group(0)!r}: write the word without them"))
    notice = chapter.meta.get("translation")
    if isinstance(notice, str):
        found = sorted({m.group(0) for m in _PROVENANCE.finditer(notice)})
        if found:
            out.append(Finding("L009", shown, _front_matter_line(chapter, "translation"),
                               f"translation notice shows internal provenance {', '.join(map(repr, found))}: "
                               "write it for a reader (provenance belongs in source/translation_notes)"))
    known = bib.keys if bib else {}
    for cit in find_citations(chapter):
        if cit.key not in known:
            out.append(Finding("L006", shown, cit.line, f"unknown citation key {cit.key!r}"))
    return out


def load_allowances(book: Book) -> list[dict]:
    path = book.root / "lint.yaml"
    if not path.is_file():
        return []
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise BuildError(f"malformed lint allowances: {exc}", display_path(path)) from None
    allow = data.get("allow", []) if isinstance(data, dict) else None
    if not isinstance(allow, list) or not all(isinstance(a, dict) and {"code", "text"} <= set(a) for a in allow):
        raise BuildError("lint.yaml: `allow` must be a list of {code, text, why}", display_path(path), 1)
    return allow


def lint_book(book: Book, chapters: list[Chapter], bib: Bibliography | None) -> list[Finding]:
    """Every finding over the given chapters (each file once), less the reviewed allowances."""
    allow = load_allowances(book)
    seen: set[Path] = set()
    findings: list[Finding] = []
    for ch in chapters:
        if ch.ref.path in seen:
            continue
        seen.add(ch.ref.path)
        for f in lint_chapter(ch, bib):
            if not any(a["code"] == f.code and a["text"] in f.message for a in allow):
                findings.append(f)
    return findings
