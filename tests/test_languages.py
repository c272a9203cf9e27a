"""A language is data: tags through CLDR, strings from pandoc and the book, faces by script, and
the conventions (hyphenation, French spacing); the scripts fixture book builds in languages the
press was never told about by name."""
from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
import zipfile
from collections import Counter

import pypdf
import pytest

from conftest import FIXTURES, layout_lines, overlay, run_cli
from press import languages, qa
from press.errors import BuildError
from press.languages import UnknownLanguage, default_strings, language
from press.manifest import load_manifest

SCRIPTS = FIXTURES / "scripts"
EDITIONS = ["th", "he", "fa", "ur", "bn", "vi", "ru", "el", "sw", "fr", "de"]


# --- tags ------------------------------------------------------------------------------------

@pytest.mark.parametrize("tag,name,script,locale,direction", [
    ("fr", "français", "Latn", "fr-FR", "ltr"),
    ("de", "Deutsch", "Latn", "de-DE", "ltr"),
    ("zh-Hans", "中文 (简体)", "Hans", "zh-CN", "ltr"),
    ("zh-Hant", "中文 (繁體)", "Hant", "zh-TW", "ltr"),
    ("hi", "हिन्दी", "Deva", "hi-IN", "ltr"),
    ("ar", "العربية", "Arab", "ar-EG", "rtl"),
    ("he", "עברית", "Hebr", "he-IL", "rtl"),
    ("ur", "اردو", "Arab", "ur-PK", "rtl"),
    ("th", "ไทย", "Thai", "th-TH", "ltr"),
    ("ru", "русский", "Cyrl", "ru-RU", "ltr"),
    ("pt-BR", "português (Brasil)", "Latn", "pt-BR", "ltr"),
    ("sr-Latn", "srpski (latinica)", "Latn", "sr-RS", "ltr"),
])
def test_tag_gives_name_script_locale_direction(tag, name, script, locale, direction):
    lang = language(tag)
    assert (lang.name, lang.script, lang.locale, lang.dir) == (name, script, locale, direction)


@pytest.mark.parametrize("tag,message,hint", [
    ("jp", "unknown language tag 'jp'", "did you mean 'ja'?"),
    ("zh-hans", "unknown language tag 'zh-hans'", "did you mean 'zh-Hans'?"),
    ("jpn", "unknown language tag 'jpn'", "did you mean 'ja'?"),
    ("iw", "unknown language tag 'iw'", "did you mean 'he'?"),
    ("english", "malformed language tag 'english'", "did you mean 'en'?"),
    ("français", "malformed language tag 'français'", "did you mean 'fr'?"),
    ("fr-JP", "unknown language tag 'fr-JP'", "did you mean 'fr'?"),
    ("abc", "unknown language tag 'abc'", "nearest known tags: ab"),
    ("und", "malformed language tag 'und'", "BCP 47"),
])
def test_bad_tags_say_what_was_meant(tag, message, hint):
    with pytest.raises(UnknownLanguage) as info:
        language(tag)
    assert str(info.value) == message and hint in info.value.hint


def test_bad_tag_in_the_manifest_has_its_line(minimal_book):
    text = (minimal_book / "book.yaml").read_text(encoding="utf-8").replace("- lang: zh-Hans", "- lang: frr-XX")
    overlay(minimal_book, {"book.yaml": text})
    with pytest.raises(BuildError) as info:
        load_manifest(minimal_book)
    line = text.split("\n").index("  - lang: frr-XX") + 1
    assert info.value.line == line and "unknown language tag 'frr-XX'" in str(info.value)
    assert "did you mean 'frr'?" in str(info.value)


# --- strings ---------------------------------------------------------------------------------

def test_strings_come_from_pandoc():
    fr, missing = default_strings(language("fr"))
    assert (fr["contents"], fr["bibliography"], fr["appendix"]) == ("Table des matières", "Bibliographie",
                                                                    "Annexe {letter}")
    assert missing == ()
    ja, _ = default_strings(language("ja"))
    assert ja["appendix"] == "付録{letter}"              # no space in a script written without them
    sw, missing = default_strings(language("sw"))
    assert sw["contents"] == "Contents" and set(missing) == {"contents", "bibliography", "appendix"}


def test_book_strings_override_pandoc(minimal_book):
    overlay(minimal_book, {"ja/strings.yaml": "contents: もくじ\nappendix: \"付録 {letter}\"\n"
                                              "title_note: 試験用の版。\nlanguage_notice:\n  ko: 韓国語の付録。\n"})
    book = load_manifest(minimal_book)
    ja = book.edition("ja")
    assert ja.strings["contents"] == "もくじ" and ja.strings["appendix"] == "付録 {letter}"
    assert ja.strings["bibliography"] == "文献目録"       # pandoc's, since the file no longer says 参考文献
    assert ja.strings["language_notice"] == {"ko": "韓国語の付録。"}
    assert book.edition("zh-Hans").strings["bibliography"] == "参考文献"


def _strings_error(minimal_book, text):
    overlay(minimal_book, {"ja/strings.yaml": text})
    with pytest.raises(BuildError) as info:
        load_manifest(minimal_book)
    return info.value


@pytest.mark.parametrize("text,line,words", [
    ("contents: 目次\ncontent: 目次\n", 2, ["unknown key 'content' in strings", "did you mean 'contents'?"]),
    ("edition: [日本語版]\n", 1, ["strings.edition must be a string, not a list"]),
    ("appendix: 付録\n", 1, ["must contain {letter}"]),
    ("language_notice:\n  ko: 韓国語\n  kr: 韓国語\n", 3, ["unknown language tag 'kr'", "did you mean 'ko'?"]),
    ("language_notice:\n  ko: [a]\n", 2, ["language_notice.ko must be a string"]),
    ("contents: [\n", 2, ["malformed YAML"]),
])
def test_strings_file_errors_have_file_and_line(minimal_book, text, line, words):
    err = _strings_error(minimal_book, text)
    shown = str(err)
    assert "ja/strings.yaml" in str(err.path) and err.line == line, shown
    for word in words:
        assert word in shown, shown


# --- fonts -----------------------------------------------------------------------------------

@pytest.mark.parametrize("tag,serif,sans", [
    ("th", "Noto Serif Thai", "Noto Sans Thai"),
    ("he", "Noto Serif Hebrew", "Noto Sans Hebrew"),
    ("fa", "Noto Naskh Arabic", "Noto Sans Arabic"),
    ("ur", "Noto Nastaliq Urdu", "Noto Nastaliq Urdu"),      # the one language exception
    ("bn", "Noto Serif Bengali", "Noto Sans Bengali"),
    ("ru", "Noto Serif", "Noto Sans"),
    ("el", "Noto Serif", "Noto Sans"),
    ("ja", "Noto Serif CJK JP", "Noto Sans CJK JP"),
    ("ko", "Noto Serif CJK KR", "Noto Sans CJK KR"),
    ("am", "Noto Serif Ethiopic", "Noto Sans Ethiopic"),
    ("dv", "Noto Sans Thaana", "Noto Sans Thaana"),          # not in scripts.yaml: Noto's naming
])
def test_faces_by_script(tag, serif, sans):
    lang = language(tag)
    assert (lang.serif, lang.sans, lang.fonts_installed) == (serif, sans, True)


def test_missing_script_font_fails_before_rendering(minimal_book, monkeypatch):
    """A script with no installed face: the manifest's line and the Debian package to install."""
    from press import system

    families = system.installed_families() - {"Noto Serif Thai", "Noto Sans Thai"}
    monkeypatch.setattr(languages, "installed_families", lambda: families)
    monkeypatch.setattr("press.manifest.installed_families", lambda: families)
    language.cache_clear()
    try:
        text = (minimal_book / "book.yaml").read_text(encoding="utf-8") + "  - lang: th\n    timeline: ja/timeline.md\n"
        overlay(minimal_book, {"book.yaml": text})
        with pytest.raises(BuildError) as info:
            load_manifest(minimal_book)
    finally:
        language.cache_clear()
    err = info.value
    assert err.line == text.split("\n").index("  - lang: th") + 1
    assert "no installed font for 'th'" in str(err) and "Thai script" in str(err)
    assert "apt-get install -y fonts-noto-core" in err.hint


# --- conventions -----------------------------------------------------------------------------

def _line_ends(tag: str, text: str) -> list[str]:
    """The text of each line WeasyPrint sets for a paragraph in a 28 mm column, with the press's CSS."""
    from weasyprint import CSS, HTML

    from press.html import language_css

    doc = (f'<html lang="{tag}"><head><style>{language_css([tag])} '
           f'p {{ width: 28mm; font: 10pt "Noto Serif"; }}</style></head><body><p>{text}</p></body></html>')
    pages = HTML(string=doc).render(stylesheets=[CSS(string="html { hyphens: manual; }")]).pages

    return layout_lines(pages)


@pytest.mark.parametrize("tag,text", [
    ("fr", "Les institutions internationales reconnaissent anticonstitutionnellement la typographie."),
    ("de", "Die Donaudampfschifffahrtsgesellschaft braucht einen Silbentrennungsalgorithmus."),
])
def test_hyphenation_in_a_narrow_column(tag, text):
    assert language(tag).hyphenate
    ends = _line_ends(tag, text)
    assert any(line.rstrip().endswith(("\u2010", "-", "\u00ad")) for line in ends[:-1]), ends


def test_no_hyphenation_without_a_dictionary():
    assert not language("hi").hyphenate and not language("ar").hyphenate


def test_french_spacing_filter(tmp_path):
    from press.html import pandoc_html
    from press.sanitize import parse

    def html(markdown: str, lang: str) -> str:
        ast = parse(markdown, "t.md", 1, tmp_path, tmp_path).ast
        return pandoc_html(ast, "t.md", "x-", inline_notes=False, lang=lang)

    out = html("# Titre : essai\n\nIl dit : « oui » ; puis «non» ! Vraiment ? À 10:30, voir "
               "https://exemple.fr/a:b et `a ; b`.\n\n::: {lang=en}\nEnglish: no; change?\n:::\n", "fr")
    n = "\u202f"
    assert f"Titre{n}: essai" in out
    assert f"Il dit{n}: «{n}oui{n}»{n}; puis «{n}non{n}»{n}! Vraiment{n}?" in out
    assert "10:30" in out and "https://exemple.fr/a:b" in out and "<code>a ; b</code>" in out
    assert "English: no; change?" in out
    assert n not in html("Il dit : oui ?", "en")


# --- the scripts fixture book ---------------------------------------------------------------

@pytest.fixture(scope="session")
def scripts_built(tmp_path_factory):
    """Every edition of tests/fixtures/scripts, PDF and EPUB, in one build (epubcheck included:
    the build fails on any epubcheck warning or error)."""
    out = tmp_path_factory.mktemp("scripts")
    proc = run_cli("all", "--book", str(SCRIPTS), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_every_edition_builds_and_passes_epubcheck(scripts_built):
    out, proc = scripts_built
    for tag in EDITIONS:
        assert (out / f"scripts-{tag}.pdf").stat().st_size > 0
        assert (out / f"scripts-{tag}.epub").stat().st_size > 0
    # The one language pandoc has no strings for: one warning saying how to add them.
    said = proc.stderr + proc.stdout
    assert said.count("pandoc has no fixed strings") == 1 and "'sw'" in said and "strings.yaml" in said


@pytest.mark.parametrize("tag,face", [
    ("th", "NotoSerifThai"), ("he", "NotoSerifHebrew"), ("fa", "NotoNaskhArabic"),
    ("ur", "NotoNastaliqUrdu"), ("bn", "NotoSerifBengali"), ("vi", "NotoSerif"), ("ru", "NotoSerif"),
    ("el", "NotoSerif"), ("sw", "NotoSerif"), ("fr", "NotoSerif"), ("de", "NotoSerif"),
])
def test_a_face_of_the_script_is_embedded(scripts_built, tag, face):
    out, _ = scripts_built
    fonts = subprocess.run(["pdffonts", str(out / f"scripts-{tag}.pdf")], capture_output=True, text=True,
                           check=True).stdout
    names = {line.split()[0].split("+")[-1].replace("-", "") for line in fonts.splitlines()[2:]}
    assert any(n.startswith(face) and (face != "NotoSerif" or n in ("NotoSerif", "NotoSerifBold"))
               for n in names), names


@pytest.mark.parametrize("tag", EDITIONS)
def test_page_text_is_extractable(scripts_built, tag):
    """Every page has text, and the chapter's letters come out of the PDF (no missing glyph)."""
    out, _ = scripts_built
    pdf = out / f"scripts-{tag}.pdf"
    for number, page in enumerate(pypdf.PdfReader(pdf).pages, start=1):
        if not re.search(rb"\bT[Jj]\b", page.get_contents().get_data()):
            continue                                         # a blank page (verso)
        text = subprocess.run(["pdftotext", "-f", str(number), "-l", str(number), str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        assert text.strip(), f"page {number} draws text that does not extract"
    source = (SCRIPTS / tag / "timeline.md").read_text(encoding="utf-8").split("---")[-1]
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    wanted = Counter(c for c in unicodedata.normalize("NFKC", source) if c.isalpha())
    got = Counter(c for c in unicodedata.normalize("NFKC", text) if c.isalpha())
    found = sum(min(n, got[c]) for c, n in wanted.items())
    assert found >= 0.99 * sum(wanted.values()), (found, sum(wanted.values()))


@pytest.mark.parametrize("tag", ["he", "fa", "ur"])
def test_right_to_left_editions(scripts_built, tag):
    out, _ = scripts_built
    with zipfile.ZipFile(out / f"scripts-{tag}.epub") as z:
        opf = z.read("EPUB/content.opf").decode()
        texts = [z.read(n).decode() for n in z.namelist() if n.endswith(".xhtml")]
    assert 'page-progression-direction="rtl"' in opf and f"<dc:language>{tag}</dc:language>" in opf
    assert all('<html dir="rtl"' in t for t in texts)
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextLineHorizontal

    pdf = out / f"scripts-{tag}.pdf"
    page = next(extract_pages(str(pdf), page_numbers=[len(pypdf.PdfReader(pdf).pages) - 1]))
    lines = []

    def walk(obj):
        if isinstance(obj, LTTextLineHorizontal) and 60 < obj.y0 < page.height - 60 and obj.get_text().strip():
            lines.append((obj.y0, obj.x0, obj.x1))
        for child in getattr(obj, "_objs", None) or []:
            walk(child)

    walk(page)
    right, left = max(x1 for _, _, x1 in lines), min(x0 for _, x0, _ in lines)
    # The chapter heading, short and set at the start edge: flush right (pdfminer may cut a
    # Nastaliq line into pieces at different heights, hence a band rather than one line).
    top = max(y for y, _, _ in lines)
    heading = [(x0, x1) for y, x0, x1 in lines if y > top - 8]
    assert right - max(x1 for _, x1 in heading) < 3 and min(x0 for x0, _ in heading) - left > 20, lines


def test_language_notice_of_any_language(scripts_built):
    """The Russian edition's Greek appendix gets the notice from ru/strings.yaml."""
    out, _ = scripts_built
    notice = "Это приложение написано на греческом языке."
    text = subprocess.run(["pdftotext", str(out / "scripts-ru.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert notice in text and "Στοιχειοθεσία" in text
    with zipfile.ZipFile(out / "scripts-ru.epub") as z:
        greek = [z.read(n).decode() for n in z.namelist() if n.endswith(".xhtml") and "Στοιχειοθεσία" in z.read(n).decode()
                 and "nav" not in n]
    assert any(notice in t and 'lang="el"' in t for t in greek)


def test_french_spacing_in_the_fr_pdf_and_epub(scripts_built):
    out, _ = scripts_built
    n = "\u202f"
    pdf = "".join(p.extract_text() for p in pypdf.PdfReader(out / "scripts-fr.pdf").pages)
    pdf = re.sub(r"\s*\n\s*", " ", pdf)
    with zipfile.ZipFile(out / "scripts-fr.epub") as z:
        epub = "".join(z.read(n_).decode() for n_ in z.namelist() if n_.endswith(".xhtml"))
    for text in (pdf, epub):
        assert f"page{n};" in text and f"interrogation{n}:" in text and f"ancienne{n}!" in text
        assert f"«{n}la ponctuation haute{n}»" in text
    assert f"Pourquoi{n}?" in epub
    de = "".join(p.extract_text() for p in pypdf.PdfReader(out / "scripts-de.pdf").pages)
    assert n not in de


def test_every_script_is_searchable(scripts_built):
    """≥ 99% of each chapter's words (NFC, as typed; Thai by character pairs) are found by a
    search of pdftotext's output, in every script of the fixture book."""
    from press.manifest import load_manifest
    from test_typography import searchability

    out, _ = scripts_built
    book = load_manifest(SCRIPTS)
    found = searchability(book, out, lambda ed: out / f"scripts-{ed.lang}.pdf")
    assert not {k: f"{v:.1%}" for k, v in found.items() if v < 0.99}, found


# Vowel marks placed above and below their letters (Naskh), and a Nastaliq line whose letters
# step down a cascade and whose dots are glyphs of their own.
MARKED = [("ar", "Noto Naskh Arabic", "غرّد علنًا ومكيَّفة ليلًا"), ("ur", "Noto Nastaliq Urdu", "حروف کی ترتیب اور پڑھنے والے")]


def _ink(pdf, png):
    subprocess.run(["pdftoppm", "-png", "-r", "200", "-singlefile", str(pdf), str(png.with_suffix(""))], check=True)
    from PIL import Image

    return Image.open(png).convert("L").point(lambda v: 255 if v < 128 else 0)


@pytest.mark.parametrize("lang,face,text", MARKED)
def test_right_to_left_glyphs_sit_on_the_baseline_and_extract_whole(tmp_path, lang, face, text):
    """A glyph HarfBuzz places off the baseline is drawn as a composite glyph of the embedded font
    at its pen position, with no text rise: pdftotext finds every word as typed (it set a raised
    mark or a cascading Nastaliq letter on a line of its own), and the page looks as WeasyPrint
    alone draws it."""
    from io import BytesIO

    from fontTools.ttLib import TTFont
    from PIL import ImageChops, ImageFilter

    from press import pdf as pdf_stage

    html = (f'<html lang="{lang}" dir="rtl"><body style="font-family: \'{face}\'; font-size: 14pt">'
            f"<p>{text}</p></body></html>")
    document, _ = pdf_stage.render(html, tmp_path, [], [tmp_path])
    press_pdf, plain_pdf = tmp_path / "press.pdf", tmp_path / "plain.pdf"
    pdf_stage.write(document, press_pdf, b"t")
    subprocess.run([sys.executable, "-c", "import sys; from weasyprint import HTML; "
                    "HTML(string=sys.argv[1]).write_pdf(sys.argv[2])", html, str(plain_pdf)], check=True)

    page = pypdf.PdfReader(press_pdf).pages[0]
    assert not re.search(rb"[1-9][\d.]* Ts", page.get_contents().get_data())        # no text rise
    plain = pypdf.PdfReader(plain_pdf).pages[0].get_contents().get_data()
    assert re.search(rb"[1-9][\d.]* Ts", plain)              # which WeasyPrint alone draws with
    font = page["/Resources"]["/Font"]
    embedded = TTFont(BytesIO(next(iter(font.values())).get_object()["/DescendantFonts"][0]
                              .get_object()["/FontDescriptor"]["/FontFile2"].get_data()))
    glyphs = [embedded["glyf"][name] for name in embedded.getGlyphOrder()]
    moved = [g for g in glyphs if g.isComposite() and any(c.x or c.y for c in g.components)]
    assert moved

    extracted = subprocess.run(["pdftotext", str(press_pdf), "-"], capture_output=True, text=True,
                               check=True).stdout
    before = subprocess.run(["pdftotext", str(plain_pdf), "-"], capture_output=True, text=True,
                            check=True).stdout
    hits, total, missing = qa.searchable(text, extracted)["ARABIC"]
    assert hits == total, (missing, extracted)
    assert qa.searchable(text, before)["ARABIC"][0] < total      # what WeasyPrint alone gives

    # Same drawing: every inked pixel of one is within a pixel of ink in the other (the offsets
    # differ by WeasyPrint's rounding of Pango units: 1/1000 for 1/1024).
    new, old = _ink(press_pdf, tmp_path / "press.png"), _ink(plain_pdf, tmp_path / "plain.png")
    for a, b in ((new, old), (old, new)):
        stray = ImageChops.subtract(a, b.filter(ImageFilter.MaxFilter(5)))
        assert sum(1 for v in stray.get_flattened_data() if v) < 0.002 * sum(1 for v in a.get_flattened_data() if v)


def test_a_right_to_left_phrase_in_a_left_to_right_line_is_flattened_too(tmp_path):
    """Lines are flattened only where a run may go right to left (tounicode.MAY_RUN_RTL: the
    others skip it); an Urdu phrase quoted in an English line is such a run: its glyphs are drawn
    with no text rise, and it extracts as typed."""
    from press import pdf as pdf_stage

    text = MARKED[1][2]
    html = (f'<html lang="en"><body style="font-family: \'Noto Serif\'; font-size: 14pt"><p>He wrote '
            f'<span lang="ur" style="font-family: \'Noto Nastaliq Urdu\'">{text}</span> on the wall.</p>'
            "</body></html>")
    document, _ = pdf_stage.render(html, tmp_path, [], [tmp_path])
    pdf = tmp_path / "mixed.pdf"
    pdf_stage.write(document, pdf, b"t")
    assert not re.search(rb"[1-9][\d.]* Ts", pypdf.PdfReader(pdf).pages[0].get_contents().get_data())
    extracted = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    hits, total, missing = qa.searchable(text, extracted)["ARABIC"]
    assert hits == total, (missing, extracted)
    assert "He wrote" in extracted and "on the wall." in extracted


def test_nastaliq_gets_the_leading_it_needs(scripts_built):
    """Urdu's lines are 2.5 em apart (scripts.yaml): at the book's 1.75 a line's tall letters
    touch the next line's descending words. Other scripts keep the book's leading."""
    out, _ = scripts_built

    def spacing(pdf):
        data = pypdf.PdfReader(pdf).pages[-1].get_contents().get_data()
        lines = re.findall(rb"1 0 0 -1 [\d.]+ ([\d.]+) Tm\s*/\w+ ([\d.]+) Tf", data)
        size = Counter(s for _, s in lines).most_common(1)[0][0]          # the body's size
        ys = [float(y) for y, s in lines if s == size]
        return min(b - a for a, b in zip(ys, ys[1:])) / float(size)

    assert 2.45 < spacing(out / "scripts-ur.pdf") < 2.55
    assert 1.7 < spacing(out / "scripts-fa.pdf") < 1.8
