"""The Keep4o book press: one multilingual book to PDF and EPUB editions."""

__version__ = "0.1.0"
