"""Stage 4c: the edition's chapters → a static web site (one page per chapter), beside pdf.py and epub.py.

Layout of `<out>/web/`:

    index.html                 the editions (home page)
    assets/web.css, web.js     shared style and the small script (footnote popovers, search)
    pagefind/                  the search index (Pagefind; one index per language, CJK segmented)
    <lang>/index.html          the edition's contents
    <lang>/timeline.html …     one page per chapter: timeline, letter, appendix-a, appendix-b …
    <lang>/bibliography.html   the sources it cites
    <lang>/fonts/              the faces its text uses, subset to its characters, as WOFF2

Page names are the same in every edition, so the language switcher and the `hreflang`
alternates lead to the same chapter in another language. Nothing is fetched from elsewhere:
fonts, script, style and search index are files of the site. Nothing depends on the clock or
on the directory the site was built in (the zip's timestamps come from the book's date).
"""
from __future__ import annotations

import hashlib
import html as htmllib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import jinja2

from .citations import Citeproc
from .errors import BuildError
from .html import chapter_labels, convert_chapters, language_css
from .languages import language
from .manifest import Book, Edition
from .output import PANDOC_CACHE, cached, keep, prune_cache
from .sources import Chapter

PACKAGE = Path(__file__).resolve().parent
STYLES = PACKAGE.parent / "styles"
ASSETS = PACKAGE / "templates" / "web"
SITE = "web"
FONT_CACHE = ".web-fonts"   # WOFF2 subsets by content hash, beside the artifacts (compressing is slow)

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(ASSETS),
                          autoescape=jinja2.select_autoescape(["html", "j2"]),
                          undefined=jinja2.StrictUndefined, keep_trailing_newline=True)


@dataclass(frozen=True)
class Page:
    name: str               # file name inside the edition's folder, e.g. appendix-a.html
    role: str               # contents | timeline | letter | appendix | bibliography
    lang: str
    dir: str
    label: str | None
    title: str
    html: str


def page_names(book: Book, edition: Edition) -> list[tuple[str, str]]:
    """(file name, role) of an edition's pages in reading order; the same names in every edition."""
    names = [("index.html", "contents")]
    appendix = 0
    for ref in edition.chapters:
        if ref.role == "appendix":
            names.append((f"appendix-{'abcdefghijklmnopqrstuvwxyz'[appendix]}.html", "appendix"))
            appendix += 1
        else:
            names.append((f"{ref.role}.html", ref.role))
    if book.bibliography:
        names.append(("bibliography.html", "bibliography"))
    return names


_CITED_NOTE = re.compile(r'<span class="citation" data-cites="([^"]+)">\s*<a href="#([^"]+)"')
_NOTE_BACK = re.compile(r'(<li id="([^"]+)">.*?)(<a href="#[^"]+" class="footnote-back" role="doc-backlink">)', re.S)


def link_notes_to_bibliography(body: str, label: str, bib_page: str | None) -> str:
    """Each note that cites a source links to its entry on the bibliography page."""
    if not bib_page:
        return body
    cites = {note: keys.split() for keys, note in _CITED_NOTE.findall(body)}

    def add(m: re.Match) -> str:
        keys = cites.get(m.group(2))
        if not keys:
            return m.group(0)
        links = " ".join(f'<a class="note-bib" href="{bib_page}#bib-ref-{htmllib.escape(k)}">{htmllib.escape(label)}</a>'
                         for k in dict.fromkeys(keys))
        return f"{m.group(1)} {links} {m.group(3)}"
    return _NOTE_BACK.sub(add, body)


def render_pages(book: Book, edition: Edition, chapters: list[Chapter], cite: Citeproc | None,
                 cache: Path | None = None) -> list[Page]:
    """The edition's pages: contents, one per chapter with pandoc's footnotes, the bibliography.

    The chapters are converted side by side (html.convert_chapters); `cache` keeps each result.
    """
    strings = edition.strings
    names = page_names(book, edition)
    bib_page = "bibliography.html" if book.bibliography else None
    pages: list[Page] = []
    converted, bib_body = convert_chapters(edition, chapters, cite, inline_notes=False,
                                           inline_images=False, cache=cache)
    for ch, label, (name, role), (title, body) in zip(chapters, chapter_labels(edition, chapters), names[1:],
                                                      converted):
        body = link_notes_to_bibliography(body, strings["bibliography"], bib_page)
        pages.append(Page(name, role, ch.lang, language(ch.lang).dir, label, title, body))
    if bib_page:
        title = strings["bibliography"]
        if bib_body is not None:
            body = bib_body
        else:
            body = f'<h1 id="bib-bibliography">{htmllib.escape(title)}</h1>'
        pages.append(Page(bib_page, "bibliography", edition.lang, edition.dir, None, title, body))
    contents = Page("index.html", "contents", edition.lang, edition.dir, None, strings["contents"], "")
    return [contents, *pages]


def download_name(book: Book, edition: Edition, ext: str) -> str:
    return f"{book.slug}-{edition.lang}.{ext}"


def write_edition(book: Book, edition: Edition, chapters: list[Chapter], cite: Citeproc | None, site: Path,
                  downloads: tuple[str, ...] = (), preview: bool = False, out: Path | None = None) -> int:
    """Write the edition's pages and fonts into `site/<lang>/`; return the number of pages.

    downloads: the formats ("pdf", "epub") the release has for this edition, linked from every page
    as ../../<slug>-<lang>.<ext>. preview: fonts are the installed ones (local()), not subsets,
    so an edit shows at once. out: the output directory, whose caches (pandoc's output, the WOFF2
    subsets) it uses; None, none.
    """
    pages = render_pages(book, edition, chapters, cite, out / PANDOC_CACHE if out else None)
    folder = site / edition.lang
    folder.mkdir(parents=True)
    template = _env.get_template("page.html.j2")
    others = [(ed, {name for name, _ in page_names(book, ed)}) for ed in book.editions]
    written: list[str] = []
    for n, page in enumerate(pages):
        alternates = [(ed, page.name if page.name in names else "index.html") for ed, names in others]
        text = template.render(
            book=book, edition=edition, strings=edition.strings, page=page, pages=pages,
            prev=pages[n - 1] if n else None, next=pages[n + 1] if n + 1 < len(pages) else None,
            alternates=alternates, language=language,
            downloads=[(ext.upper(), f"../../{download_name(book, edition, ext)}") for ext in downloads])
        (folder / page.name).write_text(text, encoding="utf-8")
        written.append(text)
    fonts_css = font_rules(edition, written, folder / "fonts", preview, out / FONT_CACHE if out else None)
    (folder / "fonts").mkdir(exist_ok=True)
    (folder / "fonts" / "fonts.css").write_text(fonts_css, encoding="utf-8")
    return len(pages)


class _TextByLang(HTMLParser):
    """The text of a page by language (lang="" inherited), <head> and <script> left out."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}

    def __init__(self, out: dict[str, list[str]]):
        super().__init__(convert_charrefs=True)
        self.out, self.stack = out, [("", "und", True)]

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        parent_lang, shown = self.stack[-1][1], self.stack[-1][2]
        lang = dict(attrs).get("lang") or parent_lang
        self.stack.append((tag, lang, shown and tag not in ("head", "script", "style", "title")))

    def handle_endtag(self, tag):
        while len(self.stack) > 1:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        _, lang, shown = self.stack[-1]
        if shown:
            self.out.setdefault(lang, []).append(data)


def font_rules(edition: Edition, pages: list[str], fonts_dir: Path, preview: bool,
               cache: Path | None) -> str:
    """@font-face rules and font stacks for the edition's text; its faces subset as WOFF2.

    Each language's stack is the PDF's body stack (its serif, then Noto Serif); a character neither
    has goes to the face fontconfig finds for it, as in the EPUB. Headings use the same faces.
    """
    from .epub import _stack_language
    from .fonts import body_stack, fallback_face, plan, uncovered

    texts: dict[str, list[str]] = {}
    for text in pages:
        parser = _TextByLang(texts)
        parser.feed(text)
        parser.close()
    by_lang: dict[str, str] = {}
    for tag, parts in texts.items():
        lang = _stack_language(edition.lang if tag == "und" else tag, edition)
        by_lang[lang] = by_lang.get(lang, "") + "".join(parts)
    if preview:     # the installed faces by name: no font file read, so an edit shows at once
        rules = [language_css(list(by_lang), edition)]
        for lang in sorted(by_lang):
            serif = edition.serif if lang == edition.lang else language(lang).serif
            rules.append(f':lang({lang}) {{ font-family: "{serif}", "Noto Serif", serif; }}')
        return "\n".join(rules) + "\n"
    stacks = {lang: body_stack(edition.serif if lang == edition.lang else language(lang).serif)
              for lang in sorted(by_lang)}
    for lang, text in sorted(by_lang.items()):
        for char in uncovered(text, stacks[lang]):
            face = fallback_face(char)
            if face is not None and face not in stacks[lang]:
                stacks[lang].append(face)
    rules = []
    needs = plan((stacks[lang], text) for lang, text in sorted(by_lang.items()))
    for face, chars in sorted(needs.items(), key=lambda item: item[0].file_stem):
        if not chars:
            continue
        name = face.file_stem + ".woff2"
        woff2(face, chars, fonts_dir / name, cache)
        src = f'url("{name}") format("woff2")'
        rules.append(f'@font-face {{ font-family: "{face.family}"; font-style: normal; font-weight: 400; '
                     f'font-display: swap; src: {src}; }}')
    rules.append(language_css(list(stacks), edition))
    for lang, faces in sorted(stacks.items()):
        families = ", ".join(f'"{f}"' for f in dict.fromkeys(face.family for face in faces))
        rules.append(f":lang({lang}) {{ font-family: {families}, serif; }}")
    return "\n".join(rules) + "\n"


def woff2(face, chars: str, target: Path, cache: Path | None) -> None:
    """The face subset to `chars` (HarfBuzz, as for the EPUB), compressed as WOFF2.

    Compressing a CJK subset takes seconds, so the result is kept in `cache` under the hash of
    what it is made from. Brotli runs at quality 10, not fontTools' 11: on the ja edition's CJK
    subset (451 KB) 0.73 s instead of 1.80 s, for a file 0.9% larger (326 KB, 323 KB).
    """
    from fontTools.ttLib import TTFont

    from .fonts import subset_face

    chars = "".join(sorted(set(chars)))
    st = face.path.stat()
    key = hashlib.sha256(f"{face.path}\0{face.index}\0{st.st_size}\0{st.st_mtime_ns}\0{chars}".encode()).hexdigest()
    target.parent.mkdir(parents=True, exist_ok=True)
    entry = cache / f"{key[:32]}.woff2" if cache else None
    if entry and cached(entry):
        shutil.copyfile(entry, target)
        return
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        raw = subset_face(face, chars, Path(tmp) / ("subset" + face.path.suffix))
        font = TTFont(raw)
        font.flavor = "woff2"
        with brotli_quality(BROTLI_QUALITY):
            font.save(target)
    if entry:
        keep(entry, target.read_bytes())


BROTLI_QUALITY = 10


@contextmanager
def brotli_quality(quality: int):
    """fontTools compresses WOFF2 with Brotli's default quality (11) and has no setting for it:
    while this is open, its calls get `quality`."""
    import types

    from fontTools.ttLib import woff2 as woff2_module

    real = woff2_module.brotli
    shim = types.SimpleNamespace(**{name: getattr(real, name) for name in dir(real) if not name.startswith("__")})
    shim.compress = lambda data, **options: real.compress(data, **{"quality": quality, **options})
    woff2_module.brotli = shim
    try:
        yield
    finally:
        woff2_module.brotli = real


def place_edition(built: Path, target: Path) -> None:
    """Swap the edition's new folder in for the old one (two renames; the old one is removed)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if target.exists() or target.is_symlink():
        old = target.parent / f".old-{target.name}-{os.getpid()}"
        os.replace(target, old)
    built.rename(target)
    if old is not None:
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def write_site(book: Book, out: Path, preview: bool = False) -> None:
    """The site's shared files: home page (the editions built), style, script; then the search
    index and (not in preview) `<slug>-web.zip`."""
    site = out / SITE
    site.mkdir(parents=True, exist_ok=True)
    built = [ed for ed in book.editions if (site / ed.lang / "index.html").is_file()]
    assets = site / "assets"
    assets.mkdir(exist_ok=True)
    for src, name in ((STYLES / "web.css", "web.css"), (ASSETS / "web.js", "web.js"), (ASSETS / "icon.svg", "icon.svg")):
        data = src.read_bytes()
        if not (assets / name).is_file() or (assets / name).read_bytes() != data:
            _write(assets / name, data)
    home = _env.get_template("home.html.j2").render(book=book, editions=built, language=language)
    if built:
        fonts = font_rules(built[0], [home], assets / "fonts", preview, out / FONT_CACHE)
        (assets / "fonts").mkdir(exist_ok=True)
        _write(assets / "fonts" / "fonts.css", fonts.encode("utf-8"))
    _write(site / "index.html", home.encode("utf-8"))
    prune_cache(out / FONT_CACHE)
    if not preview:
        index_search(site)
        zip_site(site, out / f"{book.slug}-web.zip", book.date)


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".press-", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def pagefind_command() -> list[str]:
    """Pagefind from PyPI (pagefind[extended]: with Chinese and Japanese word segmentation)."""
    return [sys.executable, "-m", "pagefind"]


def index_search(site: Path) -> None:
    """Build the search index of every page (`data-pagefind-body`) into site/pagefind/."""
    tmp = site / ".pagefind-new"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        proc = subprocess.run([*pagefind_command(), "--site", str(site), "--output-path", str(tmp)],
                              capture_output=True, text=True, timeout=600, cwd=site)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"Pagefind could not index the site: {exc}",
                         hint="run `make setup` (it installs pagefind[extended] into .venv)") from None
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BuildError("Pagefind could not index the site:\n  " + (proc.stderr or proc.stdout).strip()[-2000:],
                         hint="run `make setup` (it installs pagefind[extended] into .venv)")
    # Pagefind lists the languages in hash-map order, different from run to run: sort them.
    entry = tmp / "pagefind-entry.json"
    if entry.is_file():
        import json

        data = json.loads(entry.read_text(encoding="utf-8"))
        data["languages"] = dict(sorted(data.get("languages", {}).items()))
        entry.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    place_edition(tmp, site / "pagefind")


# Files compressed already (WOFF2 fonts, Pagefind's gzipped index and wasm, images): stored in the
# zip as they are. Deflating them again gains nothing: of the site's 11 MB, 7 MB.
COMPRESSED = (b"wOF2", b"wOFF", b"\x1f\x8b", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"PK\x03\x04")


def zip_site(site: Path, target: Path, date: str) -> None:
    """A reproducible zip of the site: sorted names, the book's date, fixed permissions."""
    import datetime as dt

    day = dt.date.fromisoformat(date)
    stamp = (max(day.year, 1980), day.month, day.day, 0, 0, 0)
    fd, tmp = tempfile.mkstemp(prefix=".press-", suffix=".zip", dir=target.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as z:
            for path in sorted(p for p in site.rglob("*") if p.is_file() and not p.is_symlink()):
                rel = path.relative_to(site)
                if any(part.startswith(".") for part in rel.parts):
                    continue
                info = zipfile.ZipInfo(f"{SITE}/{rel.as_posix()}", date_time=stamp)
                info.external_attr = 0o644 << 16
                data = path.read_bytes()
                info.compress_type = zipfile.ZIP_STORED if data.startswith(COMPRESSED) else zipfile.ZIP_DEFLATED
                z.writestr(info, data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
