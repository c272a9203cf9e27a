"""Benchmark: the press against the naive pipeline a user writes by hand, measured in the same run.

    python tools/bench.py                   # every edition, 3 runs, writes docs/bench.md and docs/bench.json
    python tools/bench.py --quick           # 1 run, 2 editions (ja, ko): to try it out
    python tools/bench.py --runs 1 --langs ja --langs en

Also, in the same run: the press's PDF step for one edition against WeasyPrint alone laying out
the press's own HTML and CSS (and Vivliostyle, Paged.js where installed), and `release` against
`all`, every edition, clean.

Every command runs as a child process and is measured the same way: wall time, CPU time (wait4
rusage) and the peak of the summed RSS of the process and all its descendants, sampled every
50 ms with psutil. Everything happens in a temporary directory (a copy of book/); nothing is
written to book/ or dist/.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_S = 0.05
PRESS_SRC = [ROOT]  # replaced by the snapshot of the press taken at the start of the run
QUICK_LANGS = ["ja", "ko"]
# Edits for the incremental rebuilds, appended as a new paragraph.
EDIT_JA = ("ja/timeline.md", "\n\nベンチマークのために追加した一文です。\n")
EDIT_SHARED = ("ko/appendix-a.md", "\n\n이 문장은 벤치마크를 위해 추가되었습니다.\n")
# Targets, whole process against whole process (wall time).
ENGINE_TARGET = 1.15    # the press's PDF step ÷ WeasyPrint alone on the same HTML and CSS
RELEASE_TARGET = 1.3    # `release` ÷ `all --no-epubcheck`
RELEASE_ROWS = ("all", "release", "release_no_web")
# Other paged-media engines, measured on the same HTML and CSS when installed: name → arguments.
PEERS = {"vivliostyle": ["build", "{html}", "-o", "{pdf}"], "pagedjs-cli": ["{html}", "-o", "{pdf}"]}
NOT_INSTALLED = "not installed (optional peer)"


# --------------------------------------------------------------------------- measuring

def run_measured(cmd: list[str], cwd: Path, env: dict | None = None, log: Path | None = None) -> dict:
    """Run cmd; return wall time, CPU time and peak summed RSS of its process tree, and its output."""
    import psutil

    load = os.getloadavg()[0]
    out_f = tempfile.TemporaryFile()
    err_f = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out_f, stderr=err_f)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.NoSuchProcess:
            return
        while not done.is_set():
            total = 0
            try:
                procs = [root] + root.children(recursive=True)
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    total += p.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass  # a short-lived child (pandoc, java) ended between listing and reading
            peak[0] = max(peak[0], total)
            done.wait(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # wait4 gives the CPU time of the child and every descendant it waited for (pool workers, pandoc, java).
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    sampler.join()
    out_f.seek(0)
    err_f.seek(0)
    stdout, stderr = out_f.read().decode(errors="replace"), err_f.read().decode(errors="replace")
    if log:
        log.write_text(f"$ {' '.join(cmd)}\n--- stdout\n{stdout}\n--- stderr\n{stderr}", encoding="utf-8")
    if proc.returncode != 0:
        raise SystemExit(f"bench: command failed ({proc.returncode}): {' '.join(cmd)}\n{stderr[-3000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_rss_mb": peak[0] / 2**20,
            "load_1min_before": load, "stdout": stdout, "stderr": stderr}


# The press prints one line per artifact on stderr: "  ja       pdf       12.3 s    1.2 MB    52 pages  path".
ARTIFACT_LINE = re.compile(r"^\s+(\S+)\s+(pdf|epub)\s+([\d.]+) s\s+[\d.]+ [KM]B\s+(?:(\d+) pages)?\s*(\S+)\s*$")


def press_artifact_lines(stderr: str) -> list[dict]:
    """Per-artifact times the press CLI reported (rendered in its worker processes)."""
    rows = []
    for line in stderr.splitlines():
        m = ARTIFACT_LINE.match(line)
        if m:
            rows.append({"lang": m.group(1), "format": m.group(2), "seconds": float(m.group(3)),
                         "pages": int(m.group(4)) if m.group(4) else None})
    return rows


def snapshot(out: Path) -> dict[str, tuple]:
    """Identity of every artifact file, to see which ones a rebuild replaced."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size)
            for p in sorted(out.glob("*")) if p.suffix in (".pdf", ".epub")}


def artifact_sizes(out: Path) -> dict[str, dict]:
    from pypdf import PdfReader

    sizes: dict[str, dict] = {}
    for p in sorted(out.iterdir()):
        m = re.match(r".*?-([A-Za-z]{2}(?:-[A-Za-z]+)?)\.(pdf|epub)$", p.name)
        if not m:
            continue
        entry = sizes.setdefault(m.group(1), {})
        entry[f"{m.group(2)}_bytes"] = p.stat().st_size
        if m.group(2) == "pdf":
            entry["pdf_pages"] = len(PdfReader(p).pages)
    return sizes


# --------------------------------------------------------------------------- the naive pipeline (worker)

def naive_worker(spec_file: str) -> int:
    """What a user writes by hand: per edition, sequentially, pandoc → HTML → WeasyPrint, pandoc → EPUB."""
    import pypandoc
    import weasyprint

    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    pandoc = pypandoc.get_pandoc_path()
    book, out = Path(spec["book"]), Path(spec["out"])
    times = {}
    for ed in spec["editions"]:
        t0 = time.perf_counter()
        stem = out / f"naive-{ed['lang']}"
        common = [pandoc, *ed["files"], "--citeproc", "--bibliography", spec["bibliography"],
                  "--csl", spec["csl"], "-M", f"lang={ed['lang']}", "-M", f"title={spec['title']}"]
        subprocess.run(common + ["-s", "-t", "html5", "-o", f"{stem}.html"], cwd=book, check=True)
        t1 = time.perf_counter()
        css = weasyprint.CSS(string=f"@page {{ size: A5; margin: 15mm }}\n"
                                    f"body {{ font-family: '{ed['serif']}'; font-size: 10pt; max-width: none }}")
        weasyprint.HTML(filename=f"{stem}.html").write_pdf(f"{stem}.pdf", stylesheets=[css])
        t2 = time.perf_counter()
        Path(f"{stem}.css").write_text(f"body {{ font-family: '{ed['serif']}'; }}\n", encoding="utf-8")
        subprocess.run(common + ["-o", f"{stem}.epub", f"--epub-embed-font={ed['font_file']}",
                                 f"--css={stem}.css"], cwd=book, check=True)
        t3 = time.perf_counter()
        times[ed["lang"]] = {"html_s": t1 - t0, "pdf_s": t2 - t1, "epub_s": t3 - t2}
        Path(f"{stem}.html").unlink()
        Path(f"{stem}.css").unlink()
    print(json.dumps(times))
    return 0


def naive_spec(book_dir: Path, out: Path, langs: list[str]) -> dict:
    """Chapters and fonts per edition, read from book.yaml with the press's manifest loader."""
    sys.path.insert(0, str(ROOT))
    from press.manifest import load_manifest

    book = load_manifest(book_dir)
    editions = []
    for lang in langs:
        ed = book.edition(lang)
        # zh-Hant: the press derives it from zh-Hans with OpenCC; the naive pipeline just uses the
        # zh-Hans files (the manifest's paths) with lang zh-Hant.
        font_file = subprocess.run(["fc-match", "-f", "%{file}", ed.serif], capture_output=True,
                                   text=True, check=True).stdout
        editions.append({"lang": lang, "serif": ed.serif, "font_file": font_file,
                         "files": [str(c.path.relative_to(book.root)) for c in ed.chapters]})
    return {"book": str(book.root), "out": str(out), "title": book.title,
            "bibliography": str(book.bibliography), "csl": str(book.csl), "editions": editions}


# --------------------------------------------------------------------------- typst reference (worker)

def typst_worker(spec_file: str) -> int:
    """pandoc -t typst of one edition's chapters, then typst.compile with the Noto fonts."""
    import pypandoc
    import typst

    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    ed, work = spec["edition"], Path(spec["out"])
    t0 = time.perf_counter()
    subprocess.run([pypandoc.get_pandoc_path(), *ed["files"], "--citeproc", "--bibliography",
                    spec["bibliography"], "--csl", spec["csl"], "-M", f"lang={ed['lang']}",
                    "-M", f"title={spec['title']}", "-V", f"mainfont={ed['serif']}", "-V", "papersize=a5",
                    "-s", "-t", "typst", "-o", str(work / "book.typ")], cwd=spec["book"], check=True)
    t1 = time.perf_counter()
    pdf = typst.compile(str(work / "book.typ"), root=str(work), font_paths=spec["font_paths"])
    t2 = time.perf_counter()
    (work / "book.pdf").write_bytes(pdf)
    print(json.dumps({"pandoc_s": t1 - t0, "compile_s": t2 - t1}))
    return 0


# --------------------------------------------------------------------------- the press's HTML and CSS (worker)

def press_html_worker(book_dir: str, lang: str, out_dir: str) -> int:
    """Write the HTML and stylesheets the press lays the edition out with, made as render_artifact
    makes them for the PDF, so that WeasyPrint alone gets exactly the press's input.

    Runs with the press snapshot first on PYTHONPATH (the .venv's editable install may point elsewhere).
    """
    import press
    from press import STYLES
    from press.citations import Citeproc, check_citations, load_bibliography
    from press.html import render_book_html, render_chapters
    from press.manifest import load_manifest
    from press.pipeline import source_date_epoch
    from press.printing import PRINT_CSS, press_css
    from press.sources import converter, load_chapters

    book = load_manifest(book_dir)
    ed = book.edition(lang)
    os.environ.setdefault("SOURCE_DATE_EPOCH", source_date_epoch(book))
    out = Path(out_dir)
    chapters = load_chapters(book, ed)
    bib = load_bibliography(book)
    cited, _ = check_citations(chapters, bib, False)
    cite = None
    with tempfile.TemporaryDirectory() as tmp:
        if bib:
            bib_file = bib.for_edition(ed.lang, Path(tmp), "zh-Hans" if ed.opencc else None,
                                       converter(ed.opencc, ed.opencc_overrides) if ed.opencc else None)
            cite = Citeproc(bib_file, book.csl, tuple(cited))
        doc = render_book_html(book, ed, render_chapters(ed, chapters, cite))
    (out / "book.html").write_text(doc, encoding="utf-8")
    css = []
    for sheet in [STYLES / "book.css"] + ([STYLES / "rtl.css"] if ed.dir == "rtl" else []) + [PRINT_CSS]:
        shutil.copy2(sheet, out / sheet.name)   # none has a url(): a copy reads the same
        css.append(str(out / sheet.name))
    (out / "press.css").write_text(press_css(book), encoding="utf-8")
    css.append(str(out / "press.css"))
    (out / "press-html.json").write_text(json.dumps({
        "html": str(out / "book.html"), "css": css, "book_root": str(book.root),
        "press": str(Path(press.__file__).resolve().parent)}), encoding="utf-8")
    return 0


# WeasyPrint alone, as a user calls it: `python -c` this, with the spec from press_html_worker and the target.
WEASYPRINT_ALONE = """\
import json, sys, time
from weasyprint import CSS, HTML
spec = json.load(open(sys.argv[1], encoding="utf-8"))
t0 = time.perf_counter()
doc = HTML(filename=spec["html"], base_url=spec["book_root"] + "/").render(
    stylesheets=[CSS(filename=c) for c in spec["css"]])
doc.write_pdf(sys.argv[2], pdf_variant="pdf/ua-1")   # the PDF the press writes: tagged, PDF/UA-1
print(json.dumps({"render_write_s": time.perf_counter() - t0, "pages": len(doc.pages),
                  "blank_pages": sum(p._page_box.page_type.blank for p in doc.pages)}))
"""


# --------------------------------------------------------------------------- orchestration

def machine() -> dict:
    import psutil
    import pypandoc
    import weasyprint

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    pandoc_v = subprocess.run([pypandoc.get_pandoc_path(), "--version"], capture_output=True,
                              text=True).stdout.split("\n")[0]
    git = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    from importlib.metadata import version

    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu_model": model, "cores_logical": os.cpu_count(), "cores_physical": psutil.cpu_count(logical=False),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "os": platform.platform(), "python": platform.python_version(), "pandoc": pandoc_v,
            "weasyprint": weasyprint.__version__, "typst": version("typst"),
            "git_commit": git + (" (uncommitted changes)" if dirty else ""),
            "load_avg_start": [round(x, 2) for x in os.getloadavg()]}


def copy_book(dest: Path) -> Path:
    shutil.copytree(ROOT / "book", dest)
    return dest


def snapshot_press(dest: Path) -> str:
    """Copy the press (build.py, press/, styles/) so every measurement runs the same code.

    The press keys its no-op rebuild on its own source: an edit to press/ in the working tree
    during the run would otherwise make the "no-op" re-render everything. Returns a hash of the copy.
    """
    import hashlib

    dest.mkdir(parents=True)
    shutil.copy2(ROOT / "build.py", dest / "build.py")
    for d in ("press", "styles"):
        shutil.copytree(ROOT / d, dest / d, ignore=shutil.ignore_patterns("__pycache__"))
    h = hashlib.sha256()
    for f in sorted(p for p in dest.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(dest)}\0".encode() + f.read_bytes())
    return h.hexdigest()[:16]


def append(book: Path, edit: tuple[str, str]) -> None:
    with open(book / edit[0], "a", encoding="utf-8") as f:
        f.write(edit[1])


def press_run(cmd_tail: list[str], env: dict, log: Path, out: Path) -> dict:
    before = snapshot(out) if out.exists() else {}
    r = run_measured([sys.executable, "build.py", *cmd_tail], PRESS_SRC[0], env, log)
    after = snapshot(out)
    r["rewritten"] = sorted(n for n, ident in after.items() if before.get(n) != ident)
    r["artifacts"] = press_artifact_lines(r["stderr"])
    del r["stdout"], r["stderr"]
    return r


def press_scenarios(tmp: Path, i: int, langs: list[str], log_dir: Path) -> dict:
    """One press run: clean build, no-op rebuild, one-chapter edit, shared-appendix edit."""
    run_dir = tmp / f"press-{i}"
    book = copy_book(run_dir / "book")
    out = run_dir / "out"
    # A fresh output directory holds no build state (.build-state.json); no cache elsewhere either.
    env = dict(os.environ, XDG_CACHE_HOME=str(run_dir / "cache"))
    tail = ["all", "--book", str(book), "--out", str(out), "--no-epubcheck"] + [a for l in langs for a in ("--lang", l)]
    res = {"clean": press_run(tail, env, log_dir / f"press-{i}-clean.log", out)}
    res["sizes"] = artifact_sizes(out)
    res["noop"] = press_run(tail, env, log_dir / f"press-{i}-noop.log", out)
    append(book, EDIT_JA)
    res["edit_ja"] = press_run(tail, env, log_dir / f"press-{i}-edit-ja.log", out)
    append(book, EDIT_SHARED)
    res["edit_shared"] = press_run(tail, env, log_dir / f"press-{i}-edit-shared.log", out)
    shutil.rmtree(run_dir)
    return res


def failure_reason(exc: SystemExit) -> str:
    """What a failed command said last (the press's `error:` line if it has one), for a table row."""
    lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
    said = [line for line in lines if line.startswith("error:")] or lines or [str(exc).splitlines()[0]]
    return f"failed: {said[-1]}"


# `release` without its web edition: what `release` made when its target was set (screen and press
# PDF, cover, EPUB checked by epubcheck, then SHA256SUMS and manifest.json), through the same
# functions as the command line (the CLI has no command for it).
RELEASE_WITHOUT_WEB = """\
import sys
from press.cli import index, parser
from press.pipeline import build
args = parser().parse_args(["release", *sys.argv[1:]])
build(args.book, args.out, formats=("pdf", "epub", "print"), langs=args.lang)
args.quiet = True
sys.exit(index(args))
"""


def release_runs(tmp: Path, i: int, langs: list[str], log_dir: Path) -> dict:
    """`all` (epubcheck), `release` and `release` without the web edition, each a clean build into
    a fresh output directory and cache.

    `all --no-epubcheck`, the base of their ratios, is press_scenarios' clean build of the same run.
    A release that fails (Pagefind missing, say) becomes a row saying why.
    """
    res = {}
    for name in RELEASE_ROWS:
        run_dir = tmp / f"{name}-{i}"
        book = copy_book(run_dir / "book")
        env = dict(os.environ, XDG_CACHE_HOME=str(run_dir / "cache"))
        args = ["--book", str(book), "--out", str(run_dir / "out")] + [a for l in langs for a in ("--lang", l)]
        try:
            if name == "release_no_web":
                res[name] = run_measured([sys.executable, "-c", RELEASE_WITHOUT_WEB, *args], PRESS_SRC[0],
                                         dict(env, PYTHONPATH=str(PRESS_SRC[0])), log_dir / f"{name}-{i}.log")
                del res[name]["stdout"], res[name]["stderr"]
            else:
                res[name] = press_run([name, *args], env, log_dir / f"{name}-{i}.log", run_dir / "out")
        except SystemExit as exc:
            if name == "all":
                raise
            res[name] = {"not_measured": failure_reason(exc)}
        shutil.rmtree(run_dir)
    return res


def export_press_html(tmp: Path, lang: str, log_dir: Path) -> Path:
    """The press's HTML and CSS of the edition, once (they are the same on every run); return the spec file."""
    work = tmp / "engine-html"
    work.mkdir()
    book = copy_book(tmp / "engine-book")
    env = dict(os.environ, PYTHONPATH=str(PRESS_SRC[0]), XDG_CACHE_HOME=str(tmp / "engine-html-cache"))
    run_measured([sys.executable, __file__, "_press_html", str(book), lang, str(work)], ROOT, env,
                 log_dir / "press-html.log")
    spec_file = work / "press-html.json"
    used = Path(json.loads(spec_file.read_text(encoding="utf-8"))["press"])
    if used != PRESS_SRC[0] / "press":
        raise SystemExit(f"bench: _press_html imported the press from {used}, not the snapshot {PRESS_SRC[0]}")
    return spec_file


def linked_html(spec_file: Path) -> Path:
    """book.html with the press's stylesheets linked and the book root as base, for engines that take a file."""
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    head = f'<base href="{Path(spec["book_root"]).as_uri()}/">' + "".join(
        f'<link rel="stylesheet" href="{Path(c).as_uri()}">' for c in spec["css"])
    target = spec_file.parent / "book-linked.html"
    html = Path(spec["html"]).read_text(encoding="utf-8")
    target.write_text(html.replace("</head>", head + "</head>", 1), encoding="utf-8")
    return target


def engine_run(tmp: Path, i: int, spec_file: Path, lang: str, log_dir: Path) -> dict:
    """One run of the PDF step against the engine: WeasyPrint alone, the press's `pdf`, the peers."""
    from pypdf import PdfReader

    run_dir = tmp / f"engine-{i}"
    run_dir.mkdir()
    # Each starts as cold as the other: a fresh cache directory (fontconfig's user cache included).
    wp = run_measured([sys.executable, "-c", WEASYPRINT_ALONE, str(spec_file), str(run_dir / "weasyprint.pdf")],
                      run_dir, dict(os.environ, XDG_CACHE_HOME=str(run_dir / "cache-weasyprint")),
                      log_dir / f"engine-{i}-weasyprint.log")
    wp.update(json.loads(wp.pop("stdout").strip().splitlines()[-1]))
    del wp["stderr"]
    book, out = copy_book(run_dir / "book"), run_dir / "out"
    cmd = ["pdf", "--lang", lang, "-B", "-j", "1", "--book", str(book), "--out", str(out)]
    env = dict(os.environ, XDG_CACHE_HOME=str(run_dir / "cache-press"))

    def pdf_step(name: str) -> dict:
        r = press_run(cmd, env, log_dir / f"engine-{i}-{name}.log", out)
        r["pages"] = next(a["pages"] for a in r.pop("artifacts") if a["format"] == "pdf")
        return r

    press = pdf_step("press")
    # The same command again: laid out and written again (-B), pandoc's output from <out>/.pandoc-cache.
    again = pdf_step("press-again")
    peers = {}
    for name, args in PEERS.items():
        exe = shutil.which(name)
        if not exe:
            peers[name] = {"not_measured": NOT_INSTALLED}
            continue
        pdf = run_dir / f"{name}.pdf"
        html = linked_html(spec_file)
        try:
            r = run_measured([exe, *(a.format(html=html, pdf=pdf) for a in args)], run_dir, None,
                             log_dir / f"engine-{i}-{name}.log")
        except SystemExit as exc:
            peers[name] = {"not_measured": failure_reason(exc)}
            continue
        del r["stdout"], r["stderr"]
        r["pages"] = len(PdfReader(pdf).pages)
        peers[name] = r
    shutil.rmtree(run_dir)
    return {"weasyprint": wp, "press": press, "press_again": again, "peers": peers}


def naive_run(tmp: Path, i: int, book: Path, langs: list[str], log_dir: Path) -> dict:
    out = tmp / f"naive-{i}"
    out.mkdir()
    spec_file = tmp / f"naive-{i}.json"
    spec_file.write_text(json.dumps(naive_spec(book, out, langs)), encoding="utf-8")
    r = run_measured([sys.executable, __file__, "_naive", str(spec_file)], ROOT, None, log_dir / f"naive-{i}.log")
    r["editions"] = json.loads(r.pop("stdout").strip().splitlines()[-1])
    del r["stderr"]
    r["sizes"] = artifact_sizes(out)
    shutil.rmtree(out)
    return r


def typst_run(tmp: Path, i: int, book: Path, lang: str, log_dir: Path) -> dict:
    from pypdf import PdfReader

    work = tmp / f"typst-{i}"
    work.mkdir()
    spec = naive_spec(book, work, [lang])
    spec = {**spec, "edition": spec["editions"][0],
            "font_paths": ["/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto"]}
    spec_file = tmp / f"typst-{i}.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    r = run_measured([sys.executable, __file__, "_typst", str(spec_file)], ROOT, None, log_dir / f"typst-{i}.log")
    r.update(json.loads(r.pop("stdout").strip().splitlines()[-1]))
    del r["stderr"]
    r["pages"] = len(PdfReader(work / "book.pdf").pages)
    r["pdf_bytes"] = (work / "book.pdf").stat().st_size
    shutil.rmtree(work)
    return r


def preview_reload(tmp: Path, lang: str, runs: int) -> dict:
    """The live preview: save a chapter → the open page (Chromium, Playwright) shows the new text.

    Optional: skipped, with the reason, where Debian's Chromium or Playwright is missing.
    """
    if not Path("/usr/bin/chromium").exists():
        return {"skipped": "Debian's chromium is not installed"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    book = copy_book(tmp / "preview-book")
    proc = subprocess.Popen([sys.executable, str(PRESS_SRC[0] / "build.py"), "preview", "--book", str(book),
                             "--out", str(tmp / "preview-out"), "--lang", lang],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=PRESS_SRC[0])
    url = None
    for line in proc.stderr:
        m = re.search(r"serving (http://127\.0\.0\.1:\d+/)", line)
        if m:
            url = m.group(1)
            break
    if url is None:
        proc.kill()
        return {"skipped": "the preview did not start"}
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    chapter = book / EDIT_JA[0].replace("ja/", f"{lang}/")
    times = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page()
            page.goto(url + f"{lang}/timeline.html")
            page.wait_for_function("() => !!document.querySelector('#press-preview-bar')")
            for i in range(max(3, runs)):
                time.sleep(2.5)     # the search index runs after a rebuild; measure the save alone
                marker = f"bench-preview-{i}"
                with open(chapter, "a", encoding="utf-8") as f:
                    f.write(f"\n\n{marker}\n")
                t0 = time.perf_counter()
                page.wait_for_function(f"() => document.querySelector('main').innerText.includes('{marker}')",
                                       timeout=60_000)
                times.append(time.perf_counter() - t0)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return {"edition": lang, "runs_s": times, "median_s": med(times), "load_1min": os.getloadavg()[0]}


def med(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(m: dict, naive: list[dict], press: list[dict], engine: list[dict], releases: list[dict],
              typst_runs: list[dict], langs: list[str], engine_lang: str, typst_lang: str, runs: int) -> dict:
    def stats(rows: list[dict]) -> dict:
        # cores_used = CPU / wall: how much of the machine the build got (other load lowers it).
        return {"wall_s": med(r["wall_s"] for r in rows), "cpu_s": med(r["cpu_s"] for r in rows),
                "cores_used": med(r["cpu_s"] / r["wall_s"] for r in rows),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in rows), "runs_wall_s": [r["wall_s"] for r in rows],
                "runs_cpu_s": [r["cpu_s"] for r in rows], "load_1min_before": [r["load_1min_before"] for r in rows]}

    def stats_or_reason(rows: list[dict]) -> dict:
        """Medians of the runs that worked, or why none did (a peer not installed, a failed release)."""
        ok = [r for r in rows if "not_measured" not in r]
        if not ok:
            return {"not_measured": rows[0]["not_measured"]}
        return {**stats(ok), "failed_runs": [r["not_measured"] for r in rows if r not in ok]}

    s = {"machine": m, "runs": runs, "langs": langs,
         "naive": {"clean": stats(naive), "sizes": naive[-1]["sizes"],
                   "per_edition_s": {l: {k: med(r["editions"][l][k] for r in naive)
                                         for k in ("html_s", "pdf_s", "epub_s")} for l in langs}},
         "press": {k: stats([r[k] for r in press]) for k in ("clean", "noop", "edit_ja", "edit_shared")}}
    wp = [r["weasyprint"] for r in engine]
    e = s["engine"] = {
        "edition": engine_lang, "target": ENGINE_TARGET,
        "weasyprint": {**stats(wp), "render_write_s": med(r["render_write_s"] for r in wp),
                       "pages": wp[-1]["pages"], "blank_pages": wp[-1]["blank_pages"]},
        **{k: {**stats([r[k] for r in engine]), "pages": engine[-1][k]["pages"]} for k in ("press", "press_again")},
        "peers": {}}
    for name in PEERS:
        rows = [r["peers"][name] for r in engine]
        e["peers"][name] = stats_or_reason(rows)
        if "wall_s" in e["peers"][name]:
            e["peers"][name]["pages"] = next(r["pages"] for r in reversed(rows) if "pages" in r)
    # Each measurement is WeasyPrint alone, then the press, then the press again, minutes apart at
    # most: its own ratios show how far the machine's noise moves them.
    e["samples"] = len(engine)
    for k, suffix in (("press", ""), ("press_again", "_again")):
        e[f"pair_ratios{suffix}"] = [r[k]["wall_s"] / r["weasyprint"]["wall_s"] for r in engine]
        e[f"ratio_wall{suffix}"] = e[k]["wall_s"] / e["weasyprint"]["wall_s"]
        e[f"ratio_cpu{suffix}"] = e[k]["cpu_s"] / e["weasyprint"]["cpu_s"]
        e[f"met{suffix}"] = e[f"ratio_wall{suffix}"] <= ENGINE_TARGET
    base = s["press"]["clean"]
    rel = s["release"] = {"target": RELEASE_TARGET, "all_no_epubcheck": base,
                          **{k: stats_or_reason([r[k] for r in releases]) for k in RELEASE_ROWS}}
    for k in RELEASE_ROWS:
        if "wall_s" in rel[k]:
            rel[k]["ratio_wall"] = rel[k]["wall_s"] / base["wall_s"]
            rel[k]["ratio_cpu"] = rel[k]["cpu_s"] / base["cpu_s"]
    for k, met in (("release", "met"), ("release_no_web", "met_no_web")):
        rel[met] = rel[k]["ratio_wall"] <= RELEASE_TARGET if "ratio_wall" in rel[k] else None
    s["press"]["sizes"] = press[-1]["sizes"]
    for k in ("noop", "edit_ja", "edit_shared"):
        s["press"][k]["rewritten"] = press[-1][k]["rewritten"]
        s["press"][k]["rendered"] = [f"{a['lang']}.{a['format']}" for a in press[-1][k]["artifacts"]]
    per_art: dict[str, float] = {}
    for a_key in {(a["lang"], a["format"]) for r in press for a in r["clean"]["artifacts"]}:
        per_art[f"{a_key[0]}.{a_key[1]}"] = med(a["seconds"] for r in press for a in r["clean"]["artifacts"]
                                                if (a["lang"], a["format"]) == a_key)
    s["press"]["per_artifact_s"] = dict(sorted(per_art.items()))
    s["ratio_clean"] = s["naive"]["clean"]["wall_s"] / s["press"]["clean"]["wall_s"]
    tp = press[-1]["sizes"].get(typst_lang, {}).get("pdf_pages")
    t_art = per_art.get(f"{typst_lang}.pdf")
    s["typst"] = {"edition": typst_lang, "chapters": "timeline + appendices A and B (pandoc -t typst, citeproc)",
                  "pandoc_s": med(r["pandoc_s"] for r in typst_runs),
                  "compile_s": med(r["compile_s"] for r in typst_runs),
                  "pages": typst_runs[-1]["pages"], "pdf_bytes": typst_runs[-1]["pdf_bytes"],
                  "peak_rss_mb": max(r["peak_rss_mb"] for r in typst_runs)}
    s["typst"]["pages_per_s"] = s["typst"]["pages"] / s["typst"]["compile_s"]
    s["typst"]["ms_per_page"] = 1000 * s["typst"]["compile_s"] / s["typst"]["pages"]
    s["press_pdf_same_edition"] = {"seconds": t_art, "pages": tp,
                                   "pages_per_s": tp / t_art if tp and t_art else None,
                                   "ms_per_page": 1000 * t_art / tp if tp and t_art else None}
    nv = s["naive"]["per_edition_s"].get(typst_lang, {})
    np_ = s["naive"]["sizes"].get(typst_lang, {}).get("pdf_pages")
    s["naive_pdf_same_edition"] = {"seconds": nv.get("pdf_s"), "pages": np_,
                                   "pages_per_s": np_ / nv["pdf_s"] if np_ and nv.get("pdf_s") else None,
                                   "ms_per_page": 1000 * nv["pdf_s"] / np_ if np_ and nv.get("pdf_s") else None}
    m["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    return s


def _mb(n: int | None) -> str:
    return "–" if n is None else (f"{n / 2**20:.1f} MB" if n >= 2**20 else f"{n / 1024:.0f} KB")


def _f(x: float | None, fmt: str = "{:.1f}") -> str:
    return "–" if x is None else fmt.format(x)


def ratio_text(r: float) -> str:
    """naive time / press time, said the way round that reads naturally."""
    return f"{r:.1f}× faster" if r >= 1 else f"{r:.2f}× ({1 / r:.1f}× slower)"


def preview_markdown(s: dict) -> list[str]:
    pv = s.get("preview") or {"skipped": "not measured"}
    if "skipped" in pv:
        return ["", "## Live preview", "", f"Not measured: {pv['skipped']}."]
    runs = ", ".join(f"{t:.2f}" for t in pv["runs_s"])
    return ["", "## Live preview", "",
            "| what | median | runs |", "|---|---:|---|",
            f"| save `{pv['edition']}/timeline.md` → the open page (Chromium) shows the new text "
            f"| {pv['median_s']:.2f} s | {runs} s |", "",
            f"Load average {pv['load_1min']:.1f} during the measurement (2 cores: above 2 the machine is shared)."]


def _reason(st: dict) -> str:
    """Why a row was not measured, safe inside a table cell."""
    return st["not_measured"].replace("|", "\\|")


def engine_markdown(s: dict) -> list[str]:
    e, wp, pr, again = s["engine"], s["engine"]["weasyprint"], s["engine"]["press"], s["engine"]["press_again"]

    def row(label: str, st: dict, pages: str, ratio: str | None = None) -> str:
        ratio = ratio or f"{pr['wall_s'] / st['wall_s']:.2f}×"
        return (f"| {label} | {_f(st['wall_s'])} s | {_f(st['cpu_s'])} s | {pages} "
                f"| {1000 * st['wall_s'] / st['pages']:.0f} | {ratio} |")

    lines = ["", f"## The PDF step against the engine, edition `{e['edition']}`", "",
             "| engine | wall | CPU | pages | ms/page (wall) | press ÷ engine (wall) |",
             "|---|---:|---:|---:|---:|---:|",
             row(f"WeasyPrint {s['machine']['weasyprint']} alone (`python -c`: import, render, `write_pdf`)", wp,
                 f"{wp['pages']} ({wp['blank_pages']} blank)"),
             f"| … of which render + `write_pdf` | {_f(wp['render_write_s'])} s | – | "
             f"| {1000 * wp['render_write_s'] / wp['pages']:.0f} | {pr['wall_s'] / wp['render_write_s']:.2f}× |",
             row("the press, PDF step (`build.py pdf -B -j 1`), first run: pandoc for every chapter", pr,
                 str(pr["pages"])),
             row("the press, the same command again: laid out and written again, pandoc's output from "
                 "`<out>/.pandoc-cache`", again, str(again["pages"]),
                 f"{e['ratio_wall_again']:.2f}× WeasyPrint alone")]
    for name, peer in e["peers"].items():
        lines.append(row(f"`{name}` (same HTML, stylesheets linked)", peer, str(peer["pages"])) if "wall_s" in peer
                     else f"| `{name}` | {_reason(peer)} | | | | |")
    return lines + [
        "", f"Target: the press's PDF step ≤ {e['target']}× WeasyPrint alone, whole process against whole "
        f"process (wall). First run, every chapter through pandoc: **{'met' if e['met'] else 'not met'}** "
        f"({e['ratio_wall']:.2f}×; CPU {e['ratio_cpu']:.2f}×). Run again (`-B`, what an edited stylesheet "
        f"costs: every chapter's pandoc output is in the cache): **{'met' if e['met_again'] else 'not met'}** ({e['ratio_wall_again']:.2f}×; "
        f"CPU {e['ratio_cpu_again']:.2f}×).",
        "",
        f"Medians of {e['samples']} measurements, each WeasyPrint alone, then the press, then the press again, "
        f"one after the other. Each measurement's own ratio (wall), first run: "
        f"{', '.join(f'{r:.2f}' for r in e['pair_ratios'])}; run again: "
        f"{', '.join(f'{r:.2f}' for r in e['pair_ratios_again'])}.",
        "",
        f"WeasyPrint alone lays out the `{e['edition']}` HTML the press makes for its PDF (`tools/bench.py "
        "_press_html`: manifest, chapters, citations, `render_chapters`, `render_book_html`, as "
        "`render_artifact` does) with the stylesheets the press lays the edition out with, in its order "
        "(book.css, rtl.css for right-to-left editions, print.css, and press.css from the manifest's "
        "`print:`), base URL the book root, each run from a fresh cache directory like the press, and writes "
        "the kind of PDF the press writes (`pdf_variant=\"pdf/ua-1\"`: tagged), its streams deflated at "
        "pydyf's zlib level 9 (the press deflates at 6, `pdf.DEFLATE_LEVEL`: 0.5% larger, a third of a "
        "second less for the ja edition). Its pages "
        "include the blank versos of recto starts (\"blank\"); the press's screen PDF has none. The press's "
        "time holds what WeasyPrint alone is handed ready-made: the manifest, pandoc for every chapter, "
        "citations, the glyph check and a worker process. Vivliostyle and Paged.js, "
        "where installed, get the same HTML with the stylesheets linked and the book root as `<base>`; a "
        "property one of them lacks (WeasyPrint's `bleed`, `marks`) it ignores, so its layout may differ."]


def release_markdown(s: dict) -> list[str]:
    rel, n = s["release"], len(s["langs"])
    base = rel["all_no_epubcheck"]
    lines = ["", f"## Release against all, {n} edition(s), clean", "",
             "| command | wall | CPU | cores used | ÷ `all --no-epubcheck` (wall) | ÷ `all --no-epubcheck` (CPU) |",
             "|---|---:|---:|---:|---:|---:|"]
    for key, label in (("all_no_epubcheck", "`all --no-epubcheck`"), ("all", "`all` (epubcheck)"),
                       ("release", "`release`"), ("release_no_web", "`release` without the web edition")):
        st = rel[key]
        if "wall_s" not in st:
            lines.append(f"| {label} | {_reason(st)} | | | | |")
            continue
        failed = st.get("failed_runs")
        label += f" ({len(failed)} run(s) failed: {failed[0]})" if failed else ""
        lines.append(f"| {label} | {_f(st['wall_s'])} s | {_f(st['cpu_s'])} s | {_f(st['cores_used'], '{:.2f}')} "
                     f"| {st['wall_s'] / base['wall_s']:.2f}× | {st['cpu_s'] / base['cpu_s']:.2f}× |")
    def verdict(key: str, met: str) -> str:
        return (f"**{'met' if rel[met] else 'not met'}** ({rel[key]['wall_s'] / base['wall_s']:.2f}×, as in the table)"
                if rel.get(met) is not None else "not measured (the release failed)")
    return lines + [
        "", f"Target: `release` ≤ {rel['target']}× `all --no-epubcheck` (wall): {verdict('release', 'met')}; "
        f"without the web edition, the release the target was set on: {verdict('release_no_web', 'met_no_web')}.", "",
        f"Each a clean build of the {n} edition(s) into a fresh output directory with a fresh "
        "`XDG_CACHE_HOME`; `all --no-epubcheck` is the press's clean build of \"Full clean build\" below, "
        "same run. `release` makes more than `all`: each edition's press PDF and cover (`print`), the web "
        f"edition ({n} site(s) + the Pagefind search index) and its zip, then SHA256SUMS and manifest.json. "
        "`release` without the web edition makes the rest (`tools/bench.py` RELEASE_WITHOUT_WEB: the press's "
        "`build` and `index`, as the command line calls them)."]


def format_markdown(s: dict) -> str:
    m, n, p, ec = s["machine"], s["naive"], s["press"], s["release"]["all"]
    lines = [
        "# Benchmark: the press against the naive pipeline",
        "",
        f"Measured by `make bench` (`tools/bench.py`) on {m['date']}: {m['cores_logical']} cores "
        f"({m['cpu_model']}), {m['memory_gb']} GB, {m['os']}; Python {m['python']}, {m['pandoc']}, "
        f"WeasyPrint {m['weasyprint']}, typst {m['typst']}; commit {m['git_commit']}, press as copied at "
        f"the start (sha256 {m.get('press_snapshot_sha256', '?')}). Load average "
        f"{m['load_avg_start']} at the start, {m['load_avg_end']} at the end (other work on the machine "
        f"makes absolute times noisy; the ratio comes from the same run). {s['runs']} run(s), medians; "
        f"editions: {', '.join(s['langs'])}.",
        *engine_markdown(s),
        *release_markdown(s),
        "",
        "## Full clean build, PDF + EPUB of every edition",
        "",
        "| pipeline | wall time | CPU time | cores used (CPU/wall) | peak RSS (tree) | vs naive (wall) |",
        "|---|---:|---:|---:|---:|---:|",
        f"| naive (sequential, no cache) | {_f(n['clean']['wall_s'])} s | {_f(n['clean']['cpu_s'])} s "
        f"| {_f(n['clean']['cores_used'], '{:.2f}')} | {_f(n['clean']['peak_rss_mb'], '{:.0f}')} MB | 1.0× |",
        f"| press (`--no-epubcheck`) | {_f(p['clean']['wall_s'])} s | {_f(p['clean']['cpu_s'])} s "
        f"| {_f(p['clean']['cores_used'], '{:.2f}')} | {_f(p['clean']['peak_rss_mb'], '{:.0f}')} MB | **{ratio_text(s['ratio_clean'])}** |",
        f"| press with epubcheck (`all`) | {_f(ec['wall_s'])} s | {_f(ec['cpu_s'])} s "
        f"| {_f(ec['cores_used'], '{:.2f}')} | {_f(ec['peak_rss_mb'], '{:.0f}')} MB "
        f"| {ratio_text(n['clean']['wall_s'] / ec['wall_s'])} |",
        "",
        f"CPU time, naive / press: {n['clean']['cpu_s'] / p['clean']['cpu_s']:.2f}: how much work each "
        f"does, which other load on the machine barely changes; the wall-time ratio also depends on how "
        f"many of the {m['cores_logical']} cores each build got (\"cores used\"; the press could use "
        f"{m['cores_logical']}, the naive pipeline about 1).",
        "",
        "## Press rebuilds (same output directory)",
        "",
        "| rebuild | wall time | peak RSS | artifacts rendered | files replaced |",
        "|---|---:|---:|---|---|",
    ]
    names = {"noop": "no-op (same command again)", "edit_ja": f"one chapter edited (`{EDIT_JA[0]}`)",
             "edit_shared": f"shared appendix edited (`{EDIT_SHARED[0]}`)"}
    for k, label in names.items():
        lines.append(f"| {label} | {_f(p[k]['wall_s'])} s | {_f(p[k]['peak_rss_mb'], '{:.0f}')} MB | "
                     f"{len(p[k]['rendered'])}: {' '.join(p[k]['rendered']) or '–'} | "
                     f"{len(p[k]['rewritten'])} |")
    lines += ["", "## Sizes and times per edition", "",
              "| edition | naive PDF | press PDF | naive EPUB | press EPUB | pages naive / press "
              "| naive s (html+pdf, epub) | press s (pdf, epub) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for lang in s["langs"]:
        ns, ps, nt = n["sizes"].get(lang, {}), p["sizes"].get(lang, {}), n["per_edition_s"][lang]
        pa = p["per_artifact_s"]
        lines.append(f"| {lang} | {_mb(ns.get('pdf_bytes'))} | {_mb(ps.get('pdf_bytes'))} | "
                     f"{_mb(ns.get('epub_bytes'))} | {_mb(ps.get('epub_bytes'))} | "
                     f"{ns.get('pdf_pages', '–')} / {ps.get('pdf_pages', '–')} | "
                     f"{nt['html_s'] + nt['pdf_s']:.1f}, {nt['epub_s']:.1f} | "
                     f"{_f(pa.get(lang + '.pdf'))}, {_f(pa.get(lang + '.epub'))} |")
    t, tp, nvp = s["typst"], s["press_pdf_same_edition"], s["naive_pdf_same_edition"]
    lines += ["", f"## Outside reference: Typst, edition `{t['edition']}` ({t['chapters']})", "",
              "| renderer | PDF time | pages | ms/page | pages/s |", "|---|---:|---:|---:|---:|",
              f"| typst {m['typst']} (`typst.compile`; pandoc → Typst took {t['pandoc_s']:.2f} s more) "
              f"| {t['compile_s']:.2f} s | {t['pages']} | {t['ms_per_page']:.0f} | {t['pages_per_s']:.0f} |",
              f"| press PDF (in a worker, beside another) | {_f(tp['seconds'], '{:.2f}')} s | {tp['pages'] or '–'} "
              f"| {_f(tp['ms_per_page'], '{:.0f}')} | {_f(tp['pages_per_s'], '{:.0f}')} |",
              f"| naive WeasyPrint | {_f(nvp['seconds'], '{:.2f}')} s | {nvp['pages'] or '–'} "
              f"| {_f(nvp['ms_per_page'], '{:.0f}')} | {_f(nvp['pages_per_s'], '{:.0f}')} |",
              "",
              "## What is measured",
              "",
              "- **naive**: per edition, one after the other, what a user writes by hand: pandoc (the same "
              "pinned binary, `--citeproc` with the book's bibliography and CSL) → standalone HTML → "
              "WeasyPrint with a plain stylesheet (`@page { size: A5 }`, the edition's serif family); "
              "pandoc → EPUB with the edition's whole serif font file embedded (`--epub-embed-font`, the "
              "file `fc-match` names: for CJK the full `.ttc` collection). The chapters are the manifest's "
              "files given to pandoc in order; zh-Hant uses the zh-Hans files with `lang=zh-Hant` (no "
              "OpenCC). No footnote placement, running heads, table of contents, font subsetting for "
              "EPUB, validation or atomic output.",
              "- **press**: `python build.py all --book <copy> --out <fresh dir> --no-epubcheck` (worker "
              "processes, one per core) into a fresh output directory, so its content-hash state "
              "(`<out>/.build-state.json`) starts empty; the epubcheck row is the same clean build with "
              "epubcheck (`all`, of \"Release against all\"). Rebuilds run the same command into the same "
              "output directory after appending one sentence to the file named. \"Artifacts rendered\" are "
              "the per-artifact lines the press printed on stderr, \"files replaced\" the artifacts whose "
              "inode or mtime changed.",
              "- **wall time**: the child process from start to exit; **CPU time**: user + system of it and "
              "its descendants (`wait4`); **peak RSS**: the largest sum of RSS over the process and all its "
              "descendants, sampled every 50 ms with psutil (shared pages of forked workers count once "
              "per process; children living under 50 ms can be missed).",
              "- **Typst**: the same edition's chapters converted with `pandoc -t typst` (Noto serif font, A5), "
              "compiled with `typst.compile(font_paths=[Noto directories])`; no footnote or layout work "
              "comparable to the press's, so it is a lower bound for a fast renderer, not a like-for-like.",
              ""]
    return "\n".join(lines + preview_markdown(s))


def _rounded(x):
    """Three decimals are plenty for seconds and megabytes; keeps bench.json readable."""
    if isinstance(x, float):
        return round(x, 3)
    if isinstance(x, dict):
        return {k: _rounded(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_rounded(v) for v in x]
    return x


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_naive"]:
        return naive_worker(argv[1])
    if argv[:1] == ["_typst"]:
        return typst_worker(argv[1])
    if argv[:1] == ["_press_html"]:
        return press_html_worker(*argv[1:4])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs of each measurement (default 3); medians are reported")
    ap.add_argument("--langs", action="append", metavar="TAG", help="only these editions (repeatable or comma-separated)")
    ap.add_argument("--quick", action="store_true", help=f"1 run, editions {' and '.join(QUICK_LANGS)}: to try it out")
    ap.add_argument("--engine-lang", default="ja",
                    help="edition whose PDF step is measured against WeasyPrint alone (default ja)")
    ap.add_argument("--engine-pairs", type=int, default=3,
                    help="measurements of the PDF step against WeasyPrint alone in each run, one after the "
                         "other (default 3): their differences are smaller than this machine's noise")
    ap.add_argument("--typst-lang", default="ko", help="edition rendered with Typst for the outside reference (default ko)")
    ap.add_argument("--no-docs", action="store_true", help="print the table only; do not write docs/bench.md and docs/bench.json")
    ap.add_argument("--keep-logs", metavar="DIR", help="keep every command's stdout/stderr in DIR")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from press.manifest import load_manifest

    all_langs = [e.lang for e in load_manifest(ROOT / "book").editions]
    langs = [l for item in (args.langs or []) for l in item.split(",") if l] or \
        (QUICK_LANGS if args.quick else all_langs)
    unknown = [l for l in langs if l not in all_langs]
    if unknown:
        ap.error(f"unknown edition(s) {unknown}; the book has {all_langs}")
    runs = 1 if args.quick else args.runs
    pairs = 1 if args.quick else max(1, args.engine_pairs)
    typst_lang = args.typst_lang if args.typst_lang in langs else langs[0]
    engine_lang = args.engine_lang if args.engine_lang in langs else langs[0]
    m = machine()

    with tempfile.TemporaryDirectory(prefix="keep4o-bench-") as tmp_name:
        tmp = Path(tmp_name)
        log_dir = Path(args.keep_logs) if args.keep_logs else tmp / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        naive_book = copy_book(tmp / "naive-book")
        m["press_snapshot_sha256"] = snapshot_press(tmp / "press-src")
        PRESS_SRC[0] = tmp / "press-src"
        print(f"bench: the press's HTML and CSS of {engine_lang}, for WeasyPrint alone …", file=sys.stderr, flush=True)
        engine_spec = export_press_html(tmp, engine_lang, log_dir)
        naive, press, engine, releases = [], [], [], []
        for i in range(runs):
            # Interleaved, so that other load on the machine falls on both sides alike.
            print(f"bench: run {i + 1}/{runs}: naive pipeline, {len(langs)} edition(s) …", file=sys.stderr, flush=True)
            naive.append(naive_run(tmp, i, naive_book, langs, log_dir))
            print(f"bench:   naive {naive[-1]['wall_s']:.1f} s; press: clean, no-op, edits …", file=sys.stderr, flush=True)
            press.append(press_scenarios(tmp, i, langs, log_dir))
            print(f"bench:   press clean {press[-1]['clean']['wall_s']:.1f} s, no-op {press[-1]['noop']['wall_s']:.1f} s, "
                  f"edit ja {press[-1]['edit_ja']['wall_s']:.1f} s, edit appendix {press[-1]['edit_shared']['wall_s']:.1f} s",
                  file=sys.stderr, flush=True)
            print(f"bench:   PDF step of {engine_lang}: WeasyPrint alone, the press, peers …", file=sys.stderr, flush=True)
            for j in range(pairs):
                engine.append(engine_run(tmp, i * pairs + j, engine_spec, engine_lang, log_dir))
                print(f"bench:   WeasyPrint alone {engine[-1]['weasyprint']['wall_s']:.1f} s, press pdf "
                      f"{engine[-1]['press']['wall_s']:.1f} s, again {engine[-1]['press_again']['wall_s']:.1f} s",
                      file=sys.stderr, flush=True)
            print("bench:   clean `all` and `release` …", file=sys.stderr, flush=True)
            releases.append(release_runs(tmp, i, langs, log_dir))
            said = {k: f"{r['wall_s']:.1f} s" if "wall_s" in r else r["not_measured"] for k, r in releases[-1].items()}
            print(f"bench:   all {said['all']}, release {said['release']}, without the web edition "
                  f"{said['release_no_web']}", file=sys.stderr, flush=True)
        print(f"bench: typst reference ({typst_lang}) …", file=sys.stderr, flush=True)
        typst_runs = [typst_run(tmp, i, naive_book, typst_lang, log_dir) for i in range(runs)]
        print(f"bench: live preview, save → reload ({langs[0]}) …", file=sys.stderr, flush=True)
        preview = preview_reload(tmp, langs[0], runs)
    s = summarize(m, naive, press, engine, releases, typst_runs, langs, engine_lang, typst_lang, runs)
    s["preview"] = preview
    s["quick"] = args.quick
    s = _rounded(s)
    text = format_markdown(s)
    print(text)
    if not args.no_docs:
        (ROOT / "docs").mkdir(exist_ok=True)
        (ROOT / "docs" / "bench.md").write_text(text, encoding="utf-8")
        (ROOT / "docs" / "bench.json").write_text(json.dumps(s, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print("bench: wrote docs/bench.md and docs/bench.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
