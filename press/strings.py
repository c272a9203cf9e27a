"""An edition's fixed strings: the press's defaults for its language, then the book's own wording.

The defaults come from pandoc's translation files (languages.py); the book overrides any of them,
and adds its own sentences, in the file the edition's `strings:` key names (e.g. `fr/strings.yaml`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from .errors import BuildErrors
from .languages import Language, UnknownLanguage, default_strings, language
from .schema import Checker, Key, ValueProblem, compose_yaml, plain, type_name

STRING_KEYS: dict[str, Key] = {
    "contents": Key(str, False, "title of the table of contents (pandoc: Contents)"),
    "bibliography": Key(str, False, "title of the closing bibliography (pandoc: Bibliography)"),
    "appendix": Key(str, False, "an appendix's label, with {letter}, e.g. \"Appendix {letter}\" or \"付録{letter}\""),
    "appendix_letters": Key(str, False, "the letters appendices are counted with, where not A, B, C …, e.g. أبجد"),
    "edition": Key(str, False, "printed on the title page and the cover, e.g. \"English edition\""),
    "language_notice": Key(dict, False, "`{tag: sentence}`: printed under the title of a chapter in that "
                                        "language, e.g. `ko: This appendix is in Korean.`"),
    "title_note": Key(str, False, "printed on the title page, e.g. who translated this edition"),
    "back_cover": Key(str, False, "text of the back cover (plain text; a blank line starts a new paragraph)"),
}


def load_strings(path: Path) -> dict[str, Any]:
    """Read and validate a strings file; raise BuildError(s) naming its file and line."""
    node, _ = compose_yaml(path, "strings file", "create it or fix the edition's `strings:` path")
    chk = Checker(path)
    found = chk.mapping(node, STRING_KEYS, "strings")
    out: dict[str, Any] = {}
    for key, (value, vnode) in found.items():
        if key == "appendix" and "{letter}" not in value:
            chk.error(vnode, "strings.appendix must contain {letter}", STRING_KEYS[key].doc)
            continue
        if key == "appendix_letters" and not value:
            chk.error(vnode, "strings.appendix_letters is empty", STRING_KEYS[key].doc)
            continue
        if key == "language_notice":
            value = _notices(chk, vnode)
        out[key] = value
    if chk.errors:
        raise chk.errors[0] if len(chk.errors) == 1 else BuildErrors(chk.errors)
    return out


def _notices(chk: Checker, node: yaml.MappingNode) -> dict[str, str]:
    """`language_notice:`: each key a language tag CLDR knows, each value a sentence."""
    notices = {}
    for knode, vnode in node.value:
        tag = knode.value    # as written: `no` is Norwegian here, not YAML's false
        try:
            language(tag)
        except UnknownLanguage as exc:
            chk.error(knode, f"strings.language_notice: {exc}", exc.hint)
            continue
        try:
            value = plain(vnode)
        except ValueProblem as exc:
            value = exc
        if not isinstance(value, str):
            chk.error(vnode, f"strings.language_notice.{tag} must be a string, not {type_name(type(value))}",
                      STRING_KEYS["language_notice"].doc)
            continue
        notices[tag] = value
    return notices


def edition_strings(lang: Language, overrides: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """The edition's strings (pandoc's, then the book's); and the keys still in English
    because pandoc has none for the language and the book gives none."""
    strings, missing = default_strings(lang)
    strings.update(overrides)
    strings.setdefault("language_notice", {})
    strings.setdefault("title_note", "")
    strings.setdefault("back_cover", "")
    return strings, tuple(k for k in missing if k not in overrides)


def missing_strings_warning(lang: str, keys: tuple[str, ...], strings_file: str | None) -> str:
    """The one warning for a language pandoc has no strings for: what is English, how to fix it."""
    where = strings_file or f"{lang}/strings.yaml (named by `strings:` in the edition)"
    return (f"pandoc has no fixed strings for {lang!r}: {', '.join(keys)} are printed in English; "
            f"add them to {where}, e.g. contents: …, bibliography: …, appendix: \"… {{letter}}\"")


def language_notice(strings: Mapping[str, Any], chapter_lang: str) -> str | None:
    """The edition's sentence for a chapter in another language: by its tag, else its language."""
    notices = strings.get("language_notice") or {}
    return notices.get(chapter_lang) or notices.get(chapter_lang.split("-")[0]) or None
