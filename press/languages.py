"""What the press knows about a language, looked up, not written here.

CLDR (through Babel) gives the name, script, direction and full locale of any BCP 47 tag it
knows; pandoc's own translation files give the fixed strings (Contents, Appendix …); the small
data file `data/scripts.yaml` gives the faces of each script, checked through fontconfig. The
book's own wording (strings.yaml) is merged on top by the manifest, not here.
"""
from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from .system import installed_families

DATA = Path(__file__).resolve().parent / "data"
# The press's own data and pandoc's translation files, never the book's: libyaml's loader where
# PyYAML has it (~8× faster than the Python one, on every build's start), the book's files go
# through confine.compose_yaml, which bounds their nesting.
TRUSTED_YAML = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# A language tag as the manifest writes it: language, then optional script and region
# (zh-Hans, sr-Latn, pt-BR, es-419). Variants and extensions are not needed by an edition.
_TAG = re.compile(r"^([A-Za-z]{2,3})(?:-([A-Za-z]{4}))?(?:-([A-Za-z]{2}|\d{3}))?$")


class UnknownLanguage(ValueError):
    """A tag that is malformed or that CLDR does not know; `hint` says what was probably meant."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Language:
    tag: str            # BCP 47 tag as used in the manifest and in lang=""
    name: str           # the language's own name (CLDR), e.g. français, 日本語
    script: str         # ISO 15924 code (CLDR likely subtags): Latn, Jpan, Hans, Arab …
    locale: str         # pandoc/CSL locale with a region (a bare tag can silently fall back to English)
    dir: str            # ltr | rtl
    serif: str          # body face (fontconfig family name), the first installed of the script's
    sans: str           # headings face
    font_package: str   # the Debian package with the script's faces (for the error when missing)
    fonts_installed: bool
    hyphenate: bool     # pyphen (WeasyPrint) has a dictionary: `hyphens: auto` for this language
    french_spacing: bool
    unspaced: bool      # written without spaces between words (labels join without one)
    whole_words: bool = False   # lines break between words only (Korean)
    ideographic: bool = False   # quarter-em between CJK and Latin letters or digits
    compress_punctuation: bool = False   # adjacent full-width punctuation: one mark half-width
    emphasis: str = "bold"      # italic | sans | bold: how <em> and cited titles are set
    line_height: float | None = None    # the face needs more leading than the stylesheets give


@functools.cache
def _data() -> dict:
    return yaml.load((DATA / "scripts.yaml").read_text(encoding="utf-8"), Loader=TRUSTED_YAML)


def latin_words() -> str | None:
    """The language whose hyphenation patterns Latin-letter words inside whole-word text use."""
    return _data().get("latin_words")


def canonical(tag: str) -> str:
    """zh-hans → zh-Hans, pt-br → pt-BR: BCP 47's conventional case."""
    m = _TAG.match(tag)
    if not m:
        return tag
    lang, script, region = m.groups()
    return "-".join(p for p in (lang.lower(), script and script.title(), region and region.upper()) if p)


def _maximize(lang: str, script: str | None, region: str | None) -> tuple[str, str, str]:
    """CLDR's likely subtags: fr → fr-Latn-FR, zh-Hant → zh-Hant-TW, und-JP → ja-Jpan-JP."""
    from babel.core import get_global

    likely = get_global("likely_subtags")
    for key in (f"{lang}_{script}_{region}", f"{lang}_{region}", f"{lang}_{script}", lang,
                f"und_{script}", f"und_{region}"):
        if "None" in key or key not in likely:
            continue
        full_lang, full_script, full_region = (likely[key].split("_") + ["", ""])[:3]
        return (lang if lang != "und" else full_lang), script or full_script, region or full_region
    return lang, script or "", region or ""


@functools.cache
def language(tag: str) -> Language:
    """The language of a tag; UnknownLanguage if the tag is malformed or CLDR does not know it."""
    from babel import Locale
    from babel.core import UnknownLocaleError

    if not isinstance(tag, str) or not _TAG.match(tag) or tag.lower().startswith("und"):
        raise UnknownLanguage(f"malformed language tag {tag!r}", unknown_tag_hint(tag))
    if canonical(tag) != tag:
        raise UnknownLanguage(f"unknown language tag {tag!r}", unknown_tag_hint(tag))
    lang, script, region = _TAG.match(tag).groups()
    try:
        loc = Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError):
        raise UnknownLanguage(f"unknown language tag {tag!r}", unknown_tag_hint(tag)) from None
    if loc.language != lang:    # Babel follows aliases (jpn → ja, in → id): ask for the tag itself
        raise UnknownLanguage(f"unknown language tag {tag!r}", unknown_tag_hint(tag))
    _, script, region = _maximize(lang, script, region)
    data = _data()
    own = data.get("languages", {}).get(tag) or data.get("languages", {}).get(lang) or {}
    faces = data["scripts"].get(script) or _guess_faces(script)
    serif = _first_installed(own.get("serif") or faces["serif"])
    sans = _first_installed(own.get("sans") or faces["sans"])
    families = installed_families()
    return Language(
        tag=tag,
        name=loc.get_display_name(loc) or tag,
        script=script,
        locale=f"{lang}-{region}" if region else lang,
        dir="rtl" if loc.text_direction == "rtl" else "ltr",
        serif=serif, sans=sans,
        font_package=faces.get("package", "fonts-noto-core"),
        fonts_installed=not families or (serif in families and sans in families),
        hyphenate=_has_hyphenation(lang, region),
        french_spacing=bool(own.get("french_spacing")),
        unspaced=script in data.get("unspaced", ()),
        whole_words=script in data.get("whole_words", ()),
        ideographic=script in data.get("ideographic", ()),
        compress_punctuation=script in data.get("compress_punctuation", ()),
        emphasis=data.get("emphasis", {}).get(script, "bold"),
        line_height=own.get("line_height"),
    )


def _guess_faces(script: str) -> dict:
    """A script the data file does not list: Noto's naming, from CLDR's English script name."""
    from babel import Locale

    name = Locale("en").scripts.get(script, script)
    return {"serif": [f"Noto Serif {name}", f"Noto Sans {name}"], "sans": [f"Noto Sans {name}"],
            "package": "fonts-noto-core or fonts-noto-extra"}


def _first_installed(families: list[str]) -> str:
    installed = installed_families()
    return next((f for f in families if f in installed), families[0])


def _has_hyphenation(lang: str, region: str) -> bool:
    import pyphen

    return bool(pyphen.language_fallback(f"{lang}_{region}") or pyphen.language_fallback(lang))


def script_name(script: str) -> str:
    from babel import Locale

    return Locale("en").scripts.get(script, script)


def fonts_hint(lang: Language) -> str:
    """How to get a face for the language's script: the Debian package, or name one in book.yaml."""
    return (f"install {lang.font_package} (sudo apt-get install -y {lang.font_package.split()[0]}), "
            f"or name installed families in the edition's `fonts:` (serif, sans)")


# --- tags people write for another one -------------------------------------------------------

def _guess(tag: str) -> str | None:
    """The tag probably meant: the right case, an ISO 639-2 or deprecated code, a country code
    written for its language (jp, cn, kr), a language's name (English, français), or the bare
    language of a combination CLDR does not know (fr-JP → fr)."""
    from babel.core import get_global

    low = tag.lower()
    m = _TAG.match(tag)
    names = _names()
    if low in names:
        return names[low]
    if m and canonical(tag) != tag and _known(canonical(tag)):
        return canonical(tag)                               # zh-hans → zh-Hans
    if m and not m.group(2) and not m.group(3) and len(low) == 2:
        full = get_global("likely_subtags").get(f"und_{low.upper()}")
        if full:                                            # jp → ja, cn → zh-Hans, kr → ko
            lang, script = full.split("_")[:2]
            if _known(f"{lang}-{script}") and script in ("Hans", "Hant"):
                return f"{lang}-{script}"
            if _known(lang):
                return lang
    alias = get_global("language_aliases").get(low.split("-")[0])
    if alias and _known(alias.replace("_", "-")):
        return alias.replace("_", "-")                      # jpn → ja, iw → he
    if m and (m.group(2) or m.group(3)):
        lang, script = m.group(1).lower(), m.group(2) and m.group(2).title()
        if script and _known(f"{lang}-{script}"):
            return f"{lang}-{script}"
        if _known(lang):
            return lang
    return None


@functools.cache
def _names() -> dict[str, str]:
    """Language names, in English and in each language itself, lower-cased → tag."""
    from babel import Locale

    out = {}
    for code, name in Locale("en").languages.items():
        if _known(code.replace("_", "-")):
            out.setdefault(name.lower(), code.replace("_", "-"))
    for ident in _identifiers():
        if "_" not in ident:
            own = Locale.parse(ident).get_display_name(ident)
            if own:
                out.setdefault(own.lower(), ident)
    return out


def _known(tag: str) -> bool:
    return tag.replace("-", "_") in _identifiers()


@functools.cache
def _identifiers() -> frozenset[str]:
    from babel import localedata

    return frozenset(localedata.locale_identifiers())


def unknown_tag_hint(tag: object) -> str:
    """'did you mean …?' for a tag CLDR does not know, with the nearest known tags."""
    if not isinstance(tag, str):
        return "a language tag is a single string, e.g. ja, zh-Hans, fr"
    guess = _guess(tag)
    near = difflib.get_close_matches(tag.replace("-", "_").lower(),
                                     sorted(i.lower() for i in _identifiers()), n=4, cutoff=0.6)
    by_lower = {i.lower(): i.replace("_", "-") for i in _identifiers()}
    nearest = [by_lower[n] for n in near]
    out = f"did you mean {guess!r}? " if guess else ""
    if nearest and not guess:
        out += "nearest known tags: " + ", ".join(nearest[:3]) + "; "
    return out + "a tag is a BCP 47 language tag that CLDR knows (ja, zh-Hans, fr, pt-BR …)"


# --- fixed strings from pandoc ---------------------------------------------------------------

# pandoc's translation keys → the press's string keys.
PANDOC_KEYS = {"contents": "Contents", "bibliography": "Bibliography", "appendix": "Appendix"}
ENGLISH = {"contents": "Contents", "bibliography": "Bibliography", "appendix": "Appendix {letter}",
           "appendix_letters": "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}


def _pandoc() -> Path:
    import pypandoc

    return Path(pypandoc.get_pandoc_path())


def _cache_file(pandoc: Path) -> Path:
    """One JSON file per pandoc binary (path, size, mtime): its translations never change."""
    st = pandoc.stat()
    key = hashlib.sha256(f"{pandoc}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "keep4o-press" / f"pandoc-translations-{key}.json"


@functools.cache
def _translation_file(name: str) -> str | None:
    """pandoc's `translations/<name>.yaml`, or None if pandoc has none; cached on disk, since
    each lookup is a pandoc process."""
    pandoc = _pandoc()
    cache = _cache_file(pandoc)
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}
    if name in known:
        return known[name]
    proc = subprocess.run([str(pandoc), "--print-default-data-file", f"translations/{name}.yaml"],
                          capture_output=True, text=True, check=False)
    known[name] = proc.stdout if proc.returncode == 0 and proc.stdout.strip() else None
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass    # an unwritable cache only costs a pandoc call next time
    return known[name]


def pandoc_translations(lang: Language) -> dict[str, str]:
    """pandoc's translation file for the language (its own tag, then with region, then the bare
    language if that is written in the same script); {} if pandoc has none."""
    primary = lang.tag.split("-")[0]
    candidates = [lang.tag, lang.locale, f"{primary}-{lang.script}"]
    if _maximize(primary, None, None)[1] == lang.script:
        candidates.append(primary)
    for name in dict.fromkeys(candidates):
        text = _translation_file(name)
        if text:
            data = yaml.load(text, Loader=TRUSTED_YAML) or {}
            return {str(k): str(v) for k, v in data.items() if isinstance(v, (str, int))}
    return {}


def default_strings(lang: Language) -> tuple[dict[str, str], tuple[str, ...]]:
    """The press's fixed strings in the language from pandoc, English for what pandoc lacks;
    and the keys that fell back to English."""
    found = pandoc_translations(lang)
    strings = dict(ENGLISH)
    missing = []
    for key, pandoc_key in PANDOC_KEYS.items():
        if pandoc_key in found:
            word = found[pandoc_key]
            strings[key] = word + ("{letter}" if lang.unspaced else " {letter}") if key == "appendix" else word
        else:
            missing.append(key)
    strings["edition"] = lang.name
    return strings, tuple(missing)
