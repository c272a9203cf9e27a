"""Stage 2b: a chapter's Markdown → a checked pandoc AST, the only form later stages render.

Pandoc parses each chapter once, sandboxed; the AST is then walked here so that what reaches the
PDF and the EPUB is what a book may hold: links to the web, to e-mail and inside the book only;
no script, no event or style attribute; images that are regular files of the book, of sane size,
SVG without script or external references; nesting and paragraph length the layout engines can
bear. Problems are reported at the chapter's line. Text-level bounds are checked before pandoc
sees the text, since some inputs (a dozen nested brackets) take pandoc minutes.
"""
from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from . import confine
from .errors import BuildError

# Raw HTML/TeX off: a chapter's `<script>` comes out as text. Smart quotes off: they guess wrong
# beside CJK text. Metadata blocks off: a chapter cannot set pandoc options (cover-image, css …).
MARKDOWN = "markdown-raw_html-raw_attribute-raw_tex-smart-yaml_metadata_block"

MAX_PARAGRAPH = 20_000      # characters in one block (layout time grows with its square)
MAX_NESTING = 16            # block quotes and list levels
MAX_BRACKETS = 6            # [ inside [ : pandoc's time doubles with each level past a few
MAX_RUN = 500               # the same punctuation character in a row
MAX_AST_DEPTH = 64

LINK_SCHEMES = ("http", "https", "mailto")
LINK_HINT = "links may point to https:, http:, mailto: or #an-id inside the book"
ATTRIBUTES = {
    "lang": re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*"),
    "dir": re.compile(r"ltr|rtl|auto"),
    "width": re.compile(r"\d+(\.\d+)?(px|%|em|mm|cm|in|pt)?"),
    "height": re.compile(r"\d+(\.\d+)?(px|%|em|mm|cm|in|pt)?"),
}
IMAGE_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF87a": "image/gif",
               b"GIF89a": "image/gif"}
SVG_FORBIDDEN = {"script", "foreignObject", "iframe", "object", "embed", "audio", "video", "animate",
                 "set", "handler", "listener"}


@dataclass(frozen=True)
class Media:
    path: Path          # the resolved file inside the book
    mime: str


@dataclass(frozen=True)
class Parsed:
    ast: str                     # pandoc JSON
    media: tuple[Media, ...]
    warnings: tuple[str, ...] = ()   # pandoc's, at the lines of the chapter's file


def _line(lines: list[str], needles, first_line: int) -> int:
    """Line of the first line holding a needle, tried in order (the AST has no positions: the
    target as written, as pandoc decoded it, the link's text), else the chapter's first line."""
    for needle in [needles] if isinstance(needles, str) else needles:
        for n, s in enumerate(lines):
            if needle and needle in s:
                return first_line + n
    return first_line


def _text(inlines: list) -> str:
    """The plain text of some inlines, to find them in the source."""
    return "".join(i.get("c", "") if i.get("t") == "Str" else " " if i.get("t") == "Space" else ""
                   for i in inlines if isinstance(i, dict)).strip()


# ------------------------------------------------------------------------------ text bounds

_CONTAINER = re.compile(r"[ \t]*(>|[-*+](?=[ \t])|\d{1,9}[.)](?=[ \t]))[ \t]?")
_META_KEY = re.compile(r"[A-Za-z_][\w-]*[ \t]*:")


def precheck(markdown: str, shown: str, first_line: int) -> None:
    """Bounds the text must keep before pandoc parses it."""
    lines = markdown.split("\n")
    start, size, depth = 0, 0, 0
    for n, line in enumerate(lines + [""]):
        if not line.strip():
            if size > MAX_PARAGRAPH:
                raise BuildError(f"this paragraph is too long ({size:,} characters; at most {MAX_PARAGRAPH:,})",
                                 shown, first_line + start, hint="split it into shorter paragraphs")
            start, size, depth = n + 1, 0, 0
            continue
        if line == "---" and (n == 0 or not lines[n - 1].strip()):
            _metadata_block(lines, n, shown, first_line)
        size += len(line) + 1
        level, rest = 0, line
        while (m := _CONTAINER.match(rest)) and m.end() > 0:
            level, rest = level + 1, rest[m.end():]
        level += (len(line) - len(line.lstrip(" "))) // 4
        if level > MAX_NESTING:
            raise BuildError(f"quotes or lists are nested too deeply ({level} levels; at most {MAX_NESTING})",
                             shown, first_line + n, hint="flatten the structure")
        i = 0
        while i < len(line):
            ch = line[i]
            if ch == "\\":
                i += 2
                continue
            if ch == "`":
                close = line.find("`", i + 1)
                i = close + 1 if close > 0 else i + 1
                continue
            depth += ch == "["
            depth -= ch == "]" and depth > 0
            if depth > MAX_BRACKETS:
                raise BuildError(f"brackets are nested too deeply (more than {MAX_BRACKETS} levels)",
                                 shown, first_line + n, hint="use fewer [ inside [")
            i += 1
        run = re.search(r"([^\w\s])\1{%d,}" % MAX_RUN, line)
        if run:
            raise BuildError(f"a run of {len(run.group(0)):,} {run.group(1)!r} characters",
                             shown, first_line + n, hint="shorten it")


def _metadata_block(lines: list[str], n: int, shown: str, first_line: int) -> None:
    """`---` then `key: value` lines then `---` or `...`: pandoc would take it as settings."""
    if n + 1 >= len(lines) or lines[n] != "---" or not _META_KEY.match(lines[n + 1]):
        return
    for s in lines[n + 2:]:
        if s in ("---", "..."):
            raise BuildError("a YAML metadata block inside a chapter", shown, first_line + n,
                             hint="a chapter's settings go in its front matter at the top of the file "
                                  "(short_title, lang …); pandoc options cannot be set from a chapter")
        if not s.strip():
            return


# ------------------------------------------------------------------------------ the AST walk

def _is_attr(value) -> bool:
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and isinstance(value[1], list) and isinstance(value[2], list)
            and all(isinstance(kv, list) and len(kv) == 2 for kv in value[2]))


class _Walk:
    def __init__(self, markdown: str, shown: str, first_line: int, root: Path, base: Path):
        self.lines = markdown.split("\n")
        self.shown, self.first_line, self.root, self.base = shown, first_line, root, base
        self.media: dict[Path, Media] = {}

    def error(self, message: str, needle, hint: str | None = None):
        raise BuildError(message, self.shown, _line(self.lines, needle, self.first_line), hint=hint)

    def node(self, value, depth: int = 0) -> None:
        if depth > MAX_AST_DEPTH:
            raise BuildError(f"the text is nested too deeply (more than {MAX_AST_DEPTH} levels)", self.shown,
                             self.first_line, hint="flatten lists, quotes and tables inside each other")
        if isinstance(value, dict):
            kind = value.get("t")
            if kind in ("Link", "Image"):
                self.target(kind, value["c"][2], _text(value["c"][1]))
            for child in value.values():
                self.node(child, depth + 1)
        elif isinstance(value, list):
            if _is_attr(value):
                self.attr(value)
            for child in value:
                self.node(child, depth + 1)

    def attr(self, attr: list) -> None:
        for key, val in attr[2]:
            rule = ATTRIBUTES.get(key)
            if rule is None:
                self.error(f"attribute {key!r} is not allowed in a chapter", f"{key}=",
                           hint="allowed: " + ", ".join(ATTRIBUTES) + "; style the book with classes in styles/")
            if not rule.fullmatch(val):
                self.error(f"attribute {key}={val!r} is not a valid value", f"{key}=")

    def target(self, kind: str, target: list, label: str) -> None:
        url = target[0]
        if kind == "Link":
            self.link(url, label)
        else:
            target[0] = str(self.image(url))

    def link(self, url: str, label: str = "") -> None:
        plain = re.sub(r"[\x00-\x20\x7f]", "", url)
        if plain.startswith("#") and len(plain) > 1:
            return
        m = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", plain)
        if m and m.group(1).lower() in LINK_SCHEMES and (m.group(1).lower() == "mailto" or plain[m.end():].startswith("//")):
            return
        self.error(f"link {url!r} is not allowed", [url, unquote(url), unquote(url)[:24], f"[{label}]", label],
                   hint=LINK_HINT + ("; a file of the book is not part of the printed book" if not m else ""))

    def image(self, src: str) -> Path:
        decoded = unquote(src)
        needle = [src, decoded]
        if re.match(r"[A-Za-z][\w+.-]*:", decoded) or decoded.startswith(("/", "\\")):
            self.error(f"image {src!r} is outside the book", needle,
                       hint="images must be files inside the book directory, named by a path relative to "
                            "the chapter; the press never fetches URLs")
        line = _line(self.lines, needle, self.first_line)
        try:
            path = confine.resolve_in(self.root, decoded, self.shown, line, "image", base=self.base)
        except BuildError as exc:
            if "leads outside" in exc.message:
                raise BuildError(f"image {src!r} is outside the book", self.shown, line,
                                 hint="a symlink in the book must point inside the book") from None
            if "does not exist" in exc.message:
                raise BuildError(f"image {src!r} not found", self.shown, line,
                                 hint=f"image paths are relative to the chapter's folder ({self.base.name}/)") from None
            raise
        if path not in self.media:
            data = confine.read_bytes(path, self.shown, confine.MAX_IMAGE_BYTES, f"image {src!r}")
            self.media[path] = Media(path, check_image(data, src, self.shown, line))
        return path


def check_image(data: bytes, src: str, shown: str, line: int) -> str:
    """The image's media type; refuse what is not an image, too many pixels, or an unsafe SVG."""
    for magic, mime in IMAGE_TYPES.items():
        if data.startswith(magic):
            from PIL import Image

            try:
                with Image.open(io.BytesIO(data)) as im:
                    width, height = im.size
            except Image.DecompressionBombError:
                raise BuildError(f"image {src!r} has too many pixels", shown, line,
                                 hint=f"at most {confine.MAX_IMAGE_PIXELS // 1_000_000} megapixels; scale it down") from None
            except Exception:
                raise BuildError(f"image {src!r} cannot be read", shown, line, hint="save it again as PNG or JPEG") from None
            if width * height > confine.MAX_IMAGE_PIXELS:
                raise BuildError(f"image {src!r} has too many pixels ({width}×{height})", shown, line,
                                 hint=f"at most {confine.MAX_IMAGE_PIXELS // 1_000_000} megapixels; scale it down")
            return mime
    head = data[:512].lstrip()
    if head.startswith((b"<?xml", b"<svg", b"<!--")) and b"<svg" in data[:4096]:
        check_svg(data, src, shown, line)
        return "image/svg+xml"
    raise BuildError(f"image {src!r} is not a PNG, JPEG, GIF or SVG file", shown, line)


def check_svg(data: bytes, src: str, shown: str, line: int) -> None:
    """An SVG the reader's device can show safely: no script, no outside reference, bounded size."""
    def bad(why: str):
        raise BuildError(f"SVG image {src!r} {why}", shown, line, hint="export a plain SVG, or use PNG")

    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        bad("declares a DTD or entities")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        bad(f"is not well-formed XML ({exc})")
    ids: dict[str, ET.Element] = {}
    for el in root.iter():
        name = el.tag.rsplit("}", 1)[-1]
        if name in SVG_FORBIDDEN:
            bad(f"holds a <{name}> element")
        for key, value in el.attrib.items():
            local = key.rsplit("}", 1)[-1]
            if local.lower().startswith("on"):
                bad(f"has an event attribute ({local})")
            if local == "href" and not value.startswith("#"):
                bad(f"refers to another file ({value[:60]})")
            if any(not u.strip(" '\"").startswith("#") for u in re.findall(r"url\(([^)]*)\)", value)):
                bad("refers to another file in a style")
            if local == "id":
                ids[value] = el
        if name == "style" and el.text and ("@import" in el.text or re.search(r"url\(\s*[^#\s]", el.text)):
            bad("imports another file in a style")
    # Elements drawn once <use> is expanded (a <use> chain can multiply them past any bound).
    memo: dict[int, int] = {}

    def size(el: ET.Element, active: frozenset) -> int:
        if id(el) in memo:
            return memo[id(el)]
        if id(el) in active:
            bad("has a <use> loop")
        total = 1
        href = el.get("href") or el.get("{http://www.w3.org/1999/xlink}href")
        if el.tag.rsplit("}", 1)[-1] == "use" and href and href[1:] in ids:
            total += size(ids[href[1:]], active | {id(el)})
        for child in el:
            total += size(child, active | {id(el)})
            if total > confine.MAX_SVG_ELEMENTS:
                bad(f"draws more than {confine.MAX_SVG_ELEMENTS:,} shapes once its <use> elements are expanded")
        memo[id(el)] = total
        return total

    size(root, frozenset())


# ------------------------------------------------------------------------------ the stage

def parse(markdown: str, shown: str, first_line: int, root: Path, base: Path, cache: Path | None = None) -> Parsed:
    """Check and parse one chapter's Markdown; image sources become the files' resolved paths.

    With `cache`, pandoc's parse is kept there under the hash of the Markdown and the pandoc
    binary; the checks run on every build (the files an image names may have changed).
    """
    import hashlib

    from .output import PANDOC_ENTRY, pandoc_cached

    precheck(markdown, shown, first_line)
    key = hashlib.sha256(f"json\0{PANDOC_ENTRY}\0{confine.pandoc_identity()}\0{MARKDOWN}\0{markdown}"
                         .encode()).hexdigest()[:40]
    said, out = pandoc_cached(cache / f"{key}.json" if cache else None, ["-f", MARKDOWN, "-t", "json"],
                              markdown, shown)
    doc = json.loads(out)
    walk = _Walk(markdown, shown, first_line, root, base)
    walk.node(doc["blocks"])
    doc["meta"] = {}
    return Parsed(json.dumps(doc, ensure_ascii=False), tuple(walk.media.values()),
                  tuple(located(line, shown, first_line) for line in said))


_AT = re.compile(r"\s*at line (\d+) column \d+")


def located(warning: str, shown: str, first_line: int) -> str:
    """A warning of pandoc's reader at the line of the chapter's file it names (pandoc counts from
    the body's first line): a note defined twice or never called loses its text silently."""
    message = re.sub(r"^\[WARNING\]\s*", "", warning.strip())
    m = _AT.search(message)
    where = f"{shown}:{first_line + int(m.group(1)) - 1}" if m else shown
    return f"{where}: pandoc: {_AT.sub('', message, count=1)}"


def inlines(text: str) -> list:
    """Plain text as pandoc inlines: literal, never parsed as Markdown."""
    out: list = []
    for word in re.split(r"( )", text):
        if word == " ":
            out.append({"t": "Space"})
        elif word:
            out.append({"t": "Str", "c": word})
    return out


def prefix_ids(value, prefix: str):
    """Prefix every id and internal link of a chapter (chapters share one EPUB and one PDF, and
    pandoc's own ids, `footnotes`, `refs`, must never collide with a heading's)."""
    if isinstance(value, dict):
        if value.get("t") == "Link" and value["c"][2][0].startswith("#"):
            value["c"][2][0] = "#" + prefix + value["c"][2][0][1:]
        for child in value.values():
            prefix_ids(child, prefix)
    elif isinstance(value, list):
        if _is_attr(value) and value[0]:
            value[0] = prefix + value[0]
        for child in value:
            prefix_ids(child, prefix)
    return value


def inline_media(ast: str, media: tuple[Media, ...]) -> str:
    """The AST with each checked image as a data: URL, for WeasyPrint: it names an image after its
    URL, so a file path would make two checkouts of the book give different PDFs."""
    if not media:
        return ast
    import base64

    urls = {str(m.path): f"data:{m.mime};base64," + base64.b64encode(m.path.read_bytes()).decode("ascii")
            for m in media}

    def walk(value):
        if isinstance(value, dict):
            if value.get("t") == "Image" and value["c"][2][0] in urls:
                value["c"][2][0] = urls[value["c"][2][0]]
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    doc = json.loads(ast)
    walk(doc)
    return json.dumps(doc, ensure_ascii=False)
