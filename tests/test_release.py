"""Release: stable names, SHA256SUMS that verify, manifest.json, and byte-identical artifacts
from two copies of the press and the book in different directories."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from pypdf import PdfReader

from conftest import FIXTURES, ROOT, run_cli

FILES = ["mini-ja.pdf", "mini-ja-print.pdf", "mini-ja-cover.pdf", "mini-ja.epub", "mini-web.zip"]


def clone(dest: Path) -> Path:
    """A copy of the press (package, styles, entry point) and of the fixture book."""
    for part in ("press", "styles"):
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "build.py", dest / "build.py")
    shutil.copytree(FIXTURES / "minimal", dest / "book")
    return dest


def release(press: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(press / "build.py"), "release", "--book", str(press / "book"),
                           "--out", str(press / "dist"), *args], cwd=press, capture_output=True, text=True,
                          timeout=600)


def test_two_clones_in_different_directories_give_identical_release_files(tmp_path: Path):
    a = clone(tmp_path / "a")
    b = clone(tmp_path / "elsewhere" / "deeper" / "b")
    for press in (a, b):
        proc = release(press, "--lang", "ja")
        assert proc.returncode == 0, proc.stderr
    for name in FILES + ["SHA256SUMS", "manifest.json"]:
        assert (a / "dist" / name).read_bytes() == (b / "dist" / name).read_bytes(), name

    # The checksums verify, and fail on a changed file.
    dist = a / "dist"
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=dist, capture_output=True).returncode == 0
    listed = sorted(line.split("  ")[1] for line in (dist / "SHA256SUMS").read_text().splitlines())
    assert listed == sorted(FILES)
    with open(dist / "mini-ja.epub", "ab") as f:
        f.write(b"\0")
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=dist, capture_output=True).returncode != 0

    manifest = json.loads((b / "dist" / "manifest.json").read_text(encoding="utf-8"))
    by_name = {e["file"]: e for e in manifest["files"]}
    assert [e["file"] for e in manifest["files"]] == FILES
    assert by_name["mini-ja-print.pdf"]["format"] == "print-pdf"
    for name, entry in by_name.items():
        path = b / "dist" / name
        assert entry["bytes"] == path.stat().st_size
        assert entry["language"] == ("mul" if name.endswith("-web.zip") else "ja")
        if name.endswith(".pdf"):
            assert entry["pages"] == len(PdfReader(path).pages)
    assert by_name["mini-ja-print.pdf"]["pages"] % 4 == 0
    assert by_name["mini-ja-cover.pdf"]["pages"] == 1


def test_index_covers_files_gathered_from_several_runners(tmp_path: Path):
    """What the release workflow does: one edition per runner, then one index over all."""
    gathered = tmp_path / "gathered"
    gathered.mkdir()
    for lang in ("ja", "zh-Hans"):
        out = tmp_path / lang
        proc = run_cli("release", "--lang", lang, "--book", str(FIXTURES / "minimal"), "--out", str(out),
                       "--no-epubcheck")
        assert proc.returncode == 0, proc.stderr
        for path in out.iterdir():
            # as the workflow's edition jobs: only the edition's own files (the web zip, one site
            # for every edition, is built by a job of its own)
            if path.name.startswith(f"mini-{lang}"):
                shutil.copy(path, gathered / path.name)
    proc = run_cli("index", "--book", str(FIXTURES / "minimal"), "--out", str(gathered))
    assert proc.returncode == 0, proc.stderr
    assert "indexed 8 files" in proc.stdout
    assert subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=gathered, capture_output=True).returncode == 0
    langs = [e["language"] for e in json.loads((gathered / "manifest.json").read_text())["files"]]
    assert langs == ["ja"] * 4 + ["zh-Hans"] * 4


def test_index_of_an_empty_directory_says_what_to_do(tmp_path: Path):
    proc = run_cli("index", "--book", str(FIXTURES / "minimal"), "--out", str(tmp_path))
    assert proc.returncode == 1
    assert "no release files to index" in proc.stderr and "make release" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_index_takes_page_counts_the_build_recorded_for_the_files_it_wrote(tmp_path: Path):
    """Reading a tagged PDF's page tree took pypdf 5 s over a release: the index uses the count
    the build recorded while the file is the one it wrote, and reads any other file."""
    import os

    from pypdf import PdfWriter

    from press.cache import State

    pdf = tmp_path / "mini-ja.pdf"
    writer = PdfWriter()
    for _ in range(3):
        writer.add_blank_page(width=420, height=595)
    writer.write(pdf)
    state = State(tmp_path)
    state.record("mini-ja.pdf", "key", pdf, 999, False)      # a count only the record can give
    state.save()

    def indexed() -> int:
        proc = run_cli("index", "--book", str(FIXTURES / "minimal"), "--out", str(tmp_path))
        assert proc.returncode == 0, proc.stderr
        return json.loads((tmp_path / "manifest.json").read_text())["files"][0]["pages"]

    assert indexed() == 999
    st = pdf.stat()
    os.utime(pdf, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))     # not the file recorded
    assert indexed() == 3
