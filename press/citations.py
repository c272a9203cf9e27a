"""Stage 2b: the bibliography, and every citation key of every chapter checked against it.

Pandoc's citeproc does the formatting (notes style and the edition's locale); this stage makes
sure it never has to guess: a missing, malformed or duplicated entry, or a key no entry has,
stops the build with the file and the line, before anything renders.
"""
from __future__ import annotations

import datetime as dt
import difflib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import confine
from .errors import BuildError
from .manifest import Book, display_path
from .sources import Chapter


@dataclass(frozen=True)
class Bibliography:
    path: Path
    keys: dict[str, int]          # id → line of the entry in the file
    entries: tuple[dict, ...]     # the CSL entries, `localized:` still inside

    def for_edition(self, lang: str, directory: Path, derive_from: str | None = None,
                    convert=None) -> Path:
        """Write the entries as CSL JSON with the edition's `localized:` fields merged in.

        A derived edition (zh-Hant from zh-Hans) without fields of its own takes its source
        language's fields through the same converter as its chapters.
        """
        out = []
        for entry in self.entries:
            entry = dict(entry)
            local = entry.pop("localized", None) or {}
            if lang in local:
                entry.update(local[lang])
            elif derive_from in local and convert:
                entry.update({k: convert(v) if isinstance(v, str) else v for k, v in local[derive_from].items()})
            out.append(entry)
        path = directory / f"bibliography-{lang}.json"
        path.write_text(json.dumps(out, ensure_ascii=False, indent=1, sort_keys=True, default=str),
                        encoding="utf-8")
        return path


@dataclass(frozen=True)
class Citeproc:
    """What pandoc's citeproc needs for one edition."""

    bibliography: Path
    csl: Path | None
    cited: tuple[str, ...]

    def args(self, locale: str, bibliography_section: bool = False) -> list[str]:
        """Pandoc arguments; --citeproc must come before the filters that move the notes."""
        args = ["--citeproc", f"--bibliography={self.bibliography}", f"--metadata=lang={locale}"]
        if self.csl:
            args.append(f"--csl={self.csl}")
        if not bibliography_section:
            args.append("--metadata=suppress-bibliography=true")
        return args


@dataclass(frozen=True)
class Citation:
    key: str
    chapter: Chapter
    line: int


def _yaml_entries(text: str, shown: str) -> list[tuple[str | None, int, yaml.Node]]:
    root = confine.compose_yaml(text, shown, what="bibliography")
    if isinstance(root, yaml.MappingNode):
        refs = next((v for k, v in root.value if isinstance(k, yaml.ScalarNode) and k.value == "references"), None)
        if refs is None:
            raise BuildError("the bibliography has no `references:` list", shown, root.start_mark.line + 1)
        root = refs
    if not isinstance(root, yaml.SequenceNode):
        raise BuildError("the bibliography must be a list of entries", shown,
                         root.start_mark.line + 1 if root is not None else 1,
                         hint="CSL YAML: `references:` followed by `- id: …` entries")
    out = []
    for item in root.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            raise BuildError("a bibliography entry must be a mapping with `id` and `type`", shown, line)
        fields = {k.value: v for k, v in item.value if isinstance(k, yaml.ScalarNode)}
        if "type" not in fields:
            raise BuildError("bibliography entry has no `type`", shown, line,
                             hint="CSL types: post, webpage, article-newspaper, interview, broadcast …")
        key = fields["id"].value if "id" in fields and isinstance(fields["id"], yaml.ScalarNode) else None
        out.append((key, fields["id"].start_mark.line + 1 if key else line, item))
    return out


def _json_entries(text: str, shown: str) -> list[tuple[str | None, int, object]]:
    data = confine.load_json(text, shown, what="bibliography")
    if isinstance(data, dict) and "references" in data:
        data = data["references"]
    if not isinstance(data, list):
        raise BuildError("the bibliography must be an array of entries", shown, 1)
    lines = [text[: m.start()].count("\n") + 1 for m in re.finditer(r'"id"\s*:', text)]
    out = []
    for n, item in enumerate(data):
        line = lines[n] if n < len(lines) else None
        if not isinstance(item, dict) or "type" not in item:
            raise BuildError("a bibliography entry needs `id` and `type`", shown, line)
        out.append((item.get("id") if isinstance(item.get("id"), str) else None, line, item))
    return out


def load_bibliography(book: Book) -> Bibliography | None:
    """Read the book's bibliography; every entry must have a unique `id`."""
    if book.bibliography is None:
        return None
    shown = str(display_path(book.bibliography))
    if not book.bibliography.exists():
        raise BuildError("bibliography file not found", book.manifest, book.bibliography_line,
                         hint=f"create {shown} or fix `bibliography:`")
    text = confine.read_text(book.bibliography, shown, "bibliography", confine.MAX_DATA_BYTES)
    entries = _json_entries(text, shown) if book.bibliography.suffix == ".json" else _yaml_entries(text, shown)
    keys: dict[str, int] = {}
    data = []
    for key, line, item in entries:
        if isinstance(item, yaml.Node):
            item = confine.construct(item, shown)
        _check_dates(item, shown, line, text)
        local = item.get("localized", {})
        if not isinstance(local, dict) or not all(isinstance(v, dict) for v in local.values()):
            raise BuildError("`localized:` must map language tags to fields, e.g. `ja: {genre: …}`", shown, line)
        data.append(item)
        if not key:
            raise BuildError("bibliography entry has no `id`", shown, line, hint="give every entry a unique id")
        if key in keys:
            raise BuildError(f"duplicate bibliography key {key!r} (first defined on line {keys[key]})", shown, line,
                             hint="every id must be unique: rename or merge one of them")
        keys[key] = line
    return Bibliography(book.bibliography, keys, tuple(data))


_DATE_FIELDS = ("issued", "accessed", "original-date", "event-date", "submitted")


def _check_dates(item: dict, shown: str, line: int | None, text: str) -> None:
    """CSL dates pandoc can read: `date-parts` of real days, or a YYYY-MM-DD (or YYYY-MM) string."""
    for field in _DATE_FIELDS:
        value = item.get(field)
        if value is None:
            continue
        if isinstance(value, (dt.date, str)):
            text = value.isoformat() if isinstance(value, dt.date) else value
            parts = [[int(p) for p in text.split("-")]] if re.fullmatch(r"\d{4}(-\d{2}){0,2}", text) else None
        else:
            parts = value.get("date-parts") if isinstance(value, dict) else None
            if parts is None and isinstance(value, dict) and ("literal" in value or "raw" in value):
                continue
        try:
            for p in parts:
                if not (isinstance(p, list) and 1 <= len(p) <= 3 and all(isinstance(x, int) and not isinstance(x, bool) for x in p)):
                    raise ValueError
                dt.date(p[0], p[1] if len(p) > 1 else 1, p[2] if len(p) > 2 else 1)
        except (TypeError, ValueError):
            lines = text.split("\n")
            at = next((n for n in range(line or 1, len(lines) + 1)
                       if re.match(rf'\s*"?{field}"?\s*:', lines[n - 1])), line)
            raise BuildError(f"`{field}` is not a date: {value!r}", shown, at,
                             hint="CSL dates: `date-parts: [[2026, 2, 4]]` with a real month and day") from None


# Pandoc's citation keys: `@key` or `@{key}`; a key starts with a letter, digit or _, and may hold
# internal punctuation. Not after a word character (e-mail addresses) nor after a backslash.
CITATION = re.compile(r"(?<![\w\\])-?@(\{[^}\n]+\}|\w(?:\w|[:.#$%&+?<>~/-](?=\w))*)")
# Code spans, autolinks and link targets hold no citations (an @ in a URL is not one).
_CODE = re.compile(r"`+[^`\n]*`+|<[A-Za-z][\w+.-]*:[^>\s]*>|\]\([^)\s]*\)")


def find_citations(chapter: Chapter) -> list[Citation]:
    """Every citation key in the chapter, with its line (code spans and blocks skipped)."""
    found = []
    fenced = False
    for n, line in enumerate(chapter.markdown.split("\n")):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced or line.startswith("    "):
            continue
        for m in CITATION.finditer(_CODE.sub("", line)):
            key = m.group(1).strip("{}")
            found.append(Citation(key, chapter, chapter.body_line + n))
    return found


def check_citations(chapters: list[Chapter], bib: Bibliography | None, draft: bool) -> tuple[list[str], list[str]]:
    """Return (keys cited, in order of first use; warnings). Unknown keys fail unless drafting."""
    cited: list[str] = []
    warnings: list[str] = []
    known = bib.keys if bib else {}
    for ch in chapters:
        for cit in find_citations(ch):
            if cit.key in known:
                if cit.key not in cited:
                    cited.append(cit.key)
                continue
            near = difflib.get_close_matches(cit.key, list(known), n=3, cutoff=0.4)
            hint = ("nearest known keys: " + ", ".join(near)) if near else (
                "the book has no bibliography: add `bibliography:` to book.yaml" if bib is None
                else "no similar key")
            if bib is not None:
                hint += f"; add it to {display_path(bib.path)} or fix the key"
            if not draft:
                raise BuildError(f"unknown citation key {cit.key!r}", ch.display, cit.line, hint=hint)
            warnings.append(f"{ch.display}:{cit.line}: unknown citation key {cit.key!r} ({hint}); "
                            "printed as-is (--draft)")
    return cited, warnings
