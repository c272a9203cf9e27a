"""The Keep4o book press: one multilingual book to PDF and EPUB editions."""
from pathlib import Path

__version__ = "0.1.0"

_HERE = Path(__file__).resolve().parent
# The stylesheets: styles/ beside the package in a checkout (and an editable install); inside
# it, as press/styles, once installed with `pip install .` (pyproject.toml maps them there).
STYLES = _HERE.parent / "styles" if (_HERE.parent / "styles" / "book.css").is_file() else _HERE / "styles"
