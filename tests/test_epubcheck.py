"""epubcheck: one Java virtual machine checks every EPUB of a build (press/qa.py EpubCheck)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from press import qa


def broken_copy(epub: Path, target: Path) -> Path:
    """The EPUB with its package document naming a file that is not in it (epubcheck: RSC-001)."""
    with zipfile.ZipFile(epub) as src, zipfile.ZipFile(target, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith(".opf"):
                data = data.replace(b"</manifest>", b'<item id="gone" href="text/gone.xhtml" '
                                    b'media-type="application/xhtml+xml"/></manifest>')
            dst.writestr(info, data)
    return target


@pytest.fixture(scope="module")
def epubs(minimal_built, tmp_path_factory) -> list[Path]:
    good = sorted(minimal_built.glob("*.epub"))
    assert len(good) == 2
    bad = broken_copy(good[0], tmp_path_factory.mktemp("epubcheck") / "broken.epub")
    return [good[0], bad, good[1]]


def test_one_jvm_checks_every_epub(epubs):
    """Each EPUB gets its own verdict from the same JVM: the broken one in the middle does not
    spill onto the next."""
    with qa.EpubCheck() as checker:
        verdicts = [f.result() for f in [checker.submit(e) for e in epubs]]
        assert checker.batch and checker.proc is not None and checker.proc.poll() is None
        jvm = checker.proc
    assert verdicts[0] == [] and verdicts[2] == []
    assert verdicts[1] and any(f.code == "epubcheck-RSC-001" and "gone.xhtml" in f.message for f in verdicts[1])
    assert jvm.poll() is not None          # stopped when the build is done
    assert not checker.work.exists()       # and its reports removed


def test_a_java_that_cannot_run_the_batch_falls_back_to_one_jvm_per_epub(epubs, monkeypatch):
    """A runtime without its compiler module cannot start the batch from source: each EPUB is
    then checked by EPUBCheck's own command line, with the same verdicts."""
    monkeypatch.setattr(qa, "BATCH_SOURCE", Path("/nonexistent/EpubCheckBatch.java"))
    with qa.EpubCheck() as checker:
        verdicts = [checker.submit(e).result() for e in epubs[:2]]
        assert not checker.batch
    assert verdicts[0] == [] and any(f.code == "epubcheck-RSC-001" for f in verdicts[1])


def test_run_epubcheck_on_one_file(epubs):
    assert qa.run_epubcheck(epubs[2]) == []
