"""Placing artifacts: render into a scratch directory, then move each file into place atomically."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import BuildError


@contextmanager
def scratch_dir(out_dir: Path):
    """A temporary directory beside the outputs (same file system, so os.replace is atomic).

    It is removed however the build ends, Ctrl-C included, so no partial file is left.
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".press-", dir=out_dir))
    except OSError as exc:
        raise BuildError(f"cannot write to the output directory: {exc.strerror or exc}", out_dir,
                         hint="choose a writable directory with --out") from None
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def place(tmp_file: Path, target: Path) -> None:
    """Move a finished artifact over the previous one in a single step."""
    try:
        os.replace(tmp_file, target)
    except OSError as exc:
        raise BuildError(f"could not place the artifact: {exc.strerror or exc}", target) from None
