"""Stage 4a: HTML → PDF with WeasyPrint, reading only files of the book and the press."""
from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlparse


def _load_libraries() -> None:
    """Load WeasyPrint's libraries without a compiler run for each name that is not Linux's.

    For every library WeasyPrint tries other platforms' names first ('libgobject-2.0-0'…) and,
    for each that fails, cffi has ctypes.util.find_library run gcc and ld: 48 processes and
    ~0.25 s of every build, before the Linux name ('libgobject-2.0.so.0') loads directly. So the
    search answers "not found" during the import; should a library then not load (one only the
    full search finds), the import starts again with it. (The change is process-wide: the build
    imports WeasyPrint in a thread, so nothing else in it may rely on find_library meanwhile.)
    """
    import contextlib
    import ctypes.util
    import io

    if "weasyprint" in sys.modules:
        return
    full = ctypes.util.find_library
    ctypes.util.find_library = lambda name: None
    try:
        with contextlib.redirect_stdout(io.StringIO()):     # WeasyPrint's install advice, if it fails
            import weasyprint.text.ffi  # noqa: F401
    except OSError:
        for name in [m for m in sys.modules if m == "weasyprint" or m.startswith("weasyprint.")]:
            del sys.modules[name]
    finally:
        ctypes.util.find_library = full


_load_libraries()

from weasyprint import CSS, HTML  # noqa: E402
from weasyprint.layout import LayoutContext  # noqa: E402
from weasyprint.urls import URLFetcher  # noqa: E402

from . import tounicode  # noqa: E402
from .errors import BuildError  # noqa: E402


class ConfinedFetcher(URLFetcher):
    """Fetch file: URLs under the allowed directories only; never the network."""

    def __init__(self, roots: list[Path]):
        super().__init__(allowed_protocols={"file", "data"}, fail_on_errors=False)
        self.roots = [r.resolve() for r in roots]
        self.refused: list[str] = []

    def fetch(self, url, headers=None):
        parsed = urlparse(url)
        if parsed.scheme == "file":
            path = Path(unquote(parsed.path)).resolve()
            if not any(path.is_relative_to(r) for r in self.roots):
                self.refused.append(url)
                raise ValueError(f"refused to read {url}: outside the book")
        elif parsed.scheme != "data":
            self.refused.append(url)
            raise ValueError(f"refused to fetch {url}: the press never uses the network")
        return super().fetch(url, headers)


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


class _PageNotes(list):
    """The notes of the page being laid out, as WeasyPrint 70 keeps them, with one change.

    When the first line of a paragraph does not fit at the foot of a page, WeasyPrint makes
    room by sending the page's last notes to the next page, away from their calls
    (`_linebox_layout`: `while report and context.current_page_footnotes`). To that loop, on a
    paragraph's first line, this list says it is empty: WeasyPrint then breaks before the
    paragraph instead, which moves one line (widows and orphans are 1) and keeps every note on
    the page of its call, in a single layout.
    """

    def __bool__(self) -> bool:
        caller = sys._getframe(1)
        if (caller.f_code.co_name == "_linebox_layout" and not caller.f_locals.get("new_children")
                and caller.f_locals.get("reported_footnotes") == 0):
            return False
        return len(self) > 0


def _page_notes_property():
    def get(context):
        return context.__dict__["current_page_footnotes"]

    def set_(context, notes):
        context.__dict__["current_page_footnotes"] = _PageNotes(notes)

    return property(get, set_)


def _render_noting_displaced(document: HTML, css: list[CSS]):
    """Render; also return the paragraphs for which WeasyPrint still sent notes away to make
    room for their first line (a safety net: _PageNotes should leave none).

    A call whose own note does not fit is not one of them: `footnote-policy: line` moves that
    line to the next page together with its note.
    """
    displaced = []
    original = LayoutContext.report_footnote

    def report_footnote(context, footnote):
        caller = sys._getframe(1)
        if caller.f_code.co_name == "_linebox_layout" and "reported_footnotes" in caller.f_locals:
            box = caller.f_locals.get("box")
            if box is not None and box.element is not None:
                displaced.append(box.element)
        return original(context, footnote)

    LayoutContext.report_footnote = report_footnote
    LayoutContext.current_page_footnotes = _page_notes_property()
    try:
        return document.render(stylesheets=css), displaced
    finally:
        LayoutContext.report_footnote = original
        del LayoutContext.current_page_footnotes


def render_keeping_notes(document: HTML, css: list[CSS], max_passes: int = 6):
    """Render so that every footnote sits on the page of its call.

    Most cases are settled in the first layout (_PageNotes). A paragraph that still pushed a
    note away starts on the next page instead, and the document is laid out again.
    """
    doc, displaced = _render_noting_displaced(document, css)
    for _ in range(max_passes):
        if not displaced:
            break
        for element in displaced:
            element.set("style", (element.get("style") or "") + ";break-before: page")
        doc, displaced = _render_noting_displaced(document, css)
    return doc


@contextmanager
def weasyprint_warnings():
    """Collect WeasyPrint's warnings (its logger) while rendering, instead of printing them."""
    handler = _Collect()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)


# zlib's level for the PDFs' streams. pydyf deflates every stream at 9: on the ja edition's
# screen and press PDFs, 0.83 s for 7.20 MB; at 6, 0.47 s for 7.23 MB (0.5% more).
DEFLATE_LEVEL = 6
DEFLATE_KEPT = 64               # large streams remembered, by content (see _Deflate)
_deflated: dict[bytes, bytes] = {}


class _Deflate:
    """zlib.compressobj as pydyf uses it (a stream's bytes, then flush), at DEFLATE_LEVEL.

    A large stream (a font subset) deflated once is remembered by its content: the screen and
    the press PDF of an edition embed the same subsets, 25 of the 33 MB the two deflate.
    """

    LARGE = 64 * 1024

    def __init__(self, *args, **kwargs):
        self.parts: list[bytes] = []

    def compress(self, data) -> bytes:
        self.parts.append(bytes(data))
        return b""

    def flush(self, *args) -> bytes:
        import hashlib
        import zlib

        data, self.parts = b"".join(self.parts), []
        if len(data) < self.LARGE:
            return zlib.compress(data, DEFLATE_LEVEL)
        key = hashlib.blake2b(data, digest_size=20).digest()
        if key not in _deflated:
            if len(_deflated) >= DEFLATE_KEPT:
                del _deflated[next(iter(_deflated))]
            _deflated[key] = zlib.compress(data, DEFLATE_LEVEL)
        return _deflated[key]


def _install_deflate() -> None:
    """pydyf's zlib, with compressobj replaced by _Deflate (pydyf has no setting for its level)."""
    import types
    import zlib

    import pydyf

    if getattr(pydyf.zlib, "press", False):
        return
    shim = types.SimpleNamespace(**{name: getattr(zlib, name) for name in dir(zlib) if not name.startswith("__")})
    shim.compressobj, shim.press = _Deflate, True
    pydyf.zlib = shim


def render(html: str, base_dir: Path, stylesheets: list, allowed: list[Path]):
    """Lay out `html` reading only under `allowed`; return (Document, refused URLs).

    `stylesheets` holds paths and CSS strings, in cascade order.
    """
    tounicode.install()
    _install_deflate()
    fetcher = ConfinedFetcher(allowed)
    document = HTML(string=html, base_url=str(base_dir) + "/", url_fetcher=fetcher)
    css = [CSS(filename=str(c), url_fetcher=fetcher) if isinstance(c, Path) else
           CSS(string=c, base_url=str(base_dir) + "/", url_fetcher=fetcher) for c in stylesheets]
    return render_keeping_notes(document, css), fetcher.refused


def write(document, target: Path, identifier: bytes, **options) -> None:
    """Write a laid-out document; a full disk or unwritable directory is the user's to fix."""
    try:
        document.write_pdf(str(target), pdf_identifier=identifier, **options)
    except OSError as exc:
        raise BuildError(f"could not write the PDF: {exc.strerror or exc}", target,
                         hint="check that the output directory is writable and the disk has room") from None


def with_refused(said: list[str], refused: list[str]) -> list[str]:
    """WeasyPrint's warnings, plus the URLs the fetcher refused that they do not already name."""
    return list(said) + [f"refused {u}" for u in refused if not any(u in m for m in said)]


def write_screen_pdf(document, target: Path, identifier: bytes) -> int:
    """Write the screen PDF from the edition's one layout (printing.lay_out); return its page count.

    Its pages are the layout's without the blank versos of recto starts, and without bleed and
    printer's marks (both lie outside the trimmed page: nothing on the page moves). Folios stay
    those of the printed book; PDF page labels give each page its folio, so that a viewer's "go
    to page 12" finds the page that prints 12.
    """
    import copy

    pages, folios = [], []
    for folio, page in enumerate(document.pages, 1):     # counter(page) counts every page
        if page._page_box.page_type.blank:
            continue
        screen = copy.copy(page)
        screen.bleed = dict.fromkeys(page.bleed, 0)
        box = page._page_box.copy()
        box.style = box.style.copy()
        box.style["marks"] = ()
        screen._page_box = box
        pages.append(screen)
        folios.append(folio)
    # PDF/UA-1: tagged (structure tree, reading order), with the document language and title
    write(document.copy(pages), target, identifier, pdf_variant="pdf/ua-1", finisher=_page_labels(folios))
    return len(pages)


def _page_labels(folios: list[int]):
    """A finisher adding /PageLabels (PDF 1.7, 12.4.2): decimal labels, restarting where a folio
    was skipped."""
    import pydyf

    nums = []
    for index, folio in enumerate(folios):
        if index == 0 or folio != folios[index - 1] + 1:
            nums += [index, pydyf.Dictionary({"S": "/D", "St": folio})]

    def finish(document, pdf) -> None:
        pdf.catalog["PageLabels"] = pydyf.Dictionary({"Nums": pydyf.Array(nums)})
    return finish
