"""Stage 4a: HTML → PDF with WeasyPrint, reading only files of the book and the press."""
from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote, urlparse

from weasyprint import CSS, HTML
from weasyprint.urls import URLFetcher

from .errors import BuildError


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


def write_pdf(html: str, base_dir: Path, stylesheets: list[Path], target: Path,
              allowed: list[Path], identifier: bytes) -> tuple[int, list[str]]:
    """Render `html` to `target`; return (page count, WeasyPrint warnings)."""
    fetcher = ConfinedFetcher(allowed)
    handler = _Collect()
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        doc = HTML(string=html, base_url=str(base_dir) + "/", url_fetcher=fetcher).render(
            stylesheets=[CSS(filename=str(s), url_fetcher=fetcher) for s in stylesheets])
        doc.write_pdf(str(target), pdf_identifier=identifier, pdf_tags=False)
    except OSError as exc:
        raise BuildError(f"could not write the PDF: {exc.strerror or exc}", target,
                         hint="check that the output directory is writable and the disk has room") from None
    finally:
        logger.removeHandler(handler)
    warnings = handler.messages + [f"refused {u}" for u in fetcher.refused if
                                   not any(u in m for m in handler.messages)]
    return len(doc.pages), warnings
