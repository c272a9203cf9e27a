"""Pre-flight: the system fonts and libraries the press needs, checked before rendering."""
from __future__ import annotations

import ctypes.util
import functools
import shutil
import subprocess

from .errors import BuildError

# Debian packages the press needs; tools/bootstrap.sh installs the same list.
# libgs-common: Ghostscript's ICC profiles, the CMYK output intent of the PDF/X-4 press files;
# fonts-ocr-b: OCR-B, the face of the ISBN and its digits under the barcode.
APT_PACKAGES = ["fonts-noto-cjk", "fonts-noto-core", "libharfbuzz-subset0", "default-jre-headless",
                "poppler-utils", "libgs-common", "fonts-ocr-b"]
INSTALL_HINT = "sudo apt-get install -y " + " ".join(APT_PACKAGES)


def has_harfbuzz_subset() -> bool:
    """WeasyPrint subsets CJK fonts about ten times faster with libharfbuzz-subset.

    Loaded by its Linux name first, as WeasyPrint does: find_library runs processes, and answers
    "not found" while pdf._load_libraries imports WeasyPrint in another thread.
    """
    try:
        ctypes.CDLL("libharfbuzz-subset.so.0")
        return True
    except OSError:
        return ctypes.util.find_library("harfbuzz-subset") is not None


@functools.cache
def installed_families() -> frozenset[str]:
    if not shutil.which("fc-list"):
        return frozenset()
    out = subprocess.run(["fc-list", ":", "family"], capture_output=True, text=True).stdout
    return frozenset(name.strip() for line in out.splitlines() for name in line.split(","))


def require_fonts(families: set[str]) -> None:
    """Fail before rendering if a font family the edition names is not installed."""
    missing = sorted(f for f in families if f not in installed_families())
    if missing:
        raise BuildError("font family not installed: " + ", ".join(missing),
                         hint=f"install the Noto fonts: {INSTALL_HINT}")
