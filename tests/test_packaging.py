"""Packaging: pyproject.toml names every package press/ imports, and `pip install .` gives a
working `keep4o-press` in a fresh virtual environment."""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from importlib import metadata

import pypdf

from conftest import FIXTURES, ROOT


def _name(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def runtime_imports() -> set[str]:
    """Top-level modules that press/ imports (at module level or inside functions), stdlib aside."""
    found = set()
    for path in (ROOT / "press").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m not in ("press", "__future__")}


def test_pyproject_lists_every_runtime_import():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {_name(re.match(r"[A-Za-z0-9_.-]+", d).group(0)) for d in project["dependencies"]}
    locked = {_name(line.split("==")[0]) for line in (ROOT / "requirements.lock").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    dists = metadata.packages_distributions()
    imports = runtime_imports()
    assert {"uharfbuzz", "fontTools", "pypdf", "barcode", "PIL"} <= imports     # the scan sees them
    missing = {m: dists.get(m) for m in imports if not {_name(d) for d in dists.get(m, [])} & declared}
    assert not missing, f"imported by press/ but not in pyproject.toml dependencies: {missing}"
    unpinned = declared - locked
    assert not unpinned, f"dependencies without an exact version in requirements.lock: {unpinned}"


def test_pip_install_builds_the_fixture(tmp_path):
    """A copy of the repository's package files, `pip install .` (versions from requirements.lock,
    from the registry or pip's cache) into a new venv, then the console script builds the fixture's
    press PDF, cover, screen PDF and EPUB. About 50 s with pip's cache warm."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "requirements.lock"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("press", "styles"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    py = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c",
                    "requirements.lock", "."], cwd=src, env=env, check=True, timeout=600)
    script = env_dir / "bin" / "keep4o-press"
    out = tmp_path / "out"
    work = tmp_path / "elsewhere"          # not the repository: nothing may come from a checkout
    work.mkdir()
    for command in (["print"], ["all"]):
        proc = subprocess.run([str(script), *command, "--book", str(FIXTURES / "minimal"), "--out", str(out),
                               "--lang", "ja", "-j", "1"], cwd=work, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.glob("mini-ja*")) == ["mini-ja-cover.pdf", "mini-ja-print.pdf",
                                                           "mini-ja.epub", "mini-ja.pdf"]
    from press import pdfx, qa

    cover = pypdf.PdfReader(out / "mini-ja-cover.pdf")
    assert qa.pdf_x4(cover, pdfx.PROFILE_NAME) == []
    assert "ISBN 978-3-16-148410-0" in cover.pages[0].extract_text()
