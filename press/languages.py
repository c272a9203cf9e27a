"""What the press knows about each language: locale, direction, fonts and fixed strings."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    tag: str            # BCP 47 tag as used in the manifest and in lang=""
    name: str           # the language's own name, for title pages
    locale: str         # pandoc/CSL locale (a bare tag can silently fall back to English)
    dir: str            # ltr | rtl
    serif: str          # body face (fontconfig family name)
    sans: str           # headings face
    strings: dict[str, str]

LANGUAGES: dict[str, Language] = {
    lang.tag: lang
    for lang in [
        Language("ja", "日本語", "ja-JP", "ltr", "Noto Serif CJK JP", "Noto Sans CJK JP", {
            "bibliography": "参考文献", "contents": "目次", "appendix": "付録{letter}", "edition": "日本語版",
            "authors": "著者", "date": "日付", "letter": "手紙", "in_korean": "この付録は韓国語です。",
        }),
        Language("zh-Hans", "简体中文", "zh-CN", "ltr", "Noto Serif CJK SC", "Noto Sans CJK SC", {
            "bibliography": "参考文献", "contents": "目录", "appendix": "附录{letter}", "edition": "简体中文版",
            "authors": "作者", "date": "日期", "letter": "信", "in_korean": "本附录为韩文。",
        }),
        Language("zh-Hant", "繁體中文", "zh-TW", "ltr", "Noto Serif CJK TC", "Noto Sans CJK TC", {
            "bibliography": "參考文獻", "contents": "目錄", "appendix": "附錄{letter}", "edition": "繁體中文版",
            "authors": "作者", "date": "日期", "letter": "信", "in_korean": "本附錄為韓文。",
        }),
        Language("ko", "한국어", "ko-KR", "ltr", "Noto Serif CJK KR", "Noto Sans CJK KR", {
            "bibliography": "참고 문헌", "contents": "차례", "appendix": "부록 {letter}", "edition": "한국어판",
            "authors": "저자", "date": "날짜", "letter": "편지", "in_korean": "",
        }),
        Language("en", "English", "en-US", "ltr", "Noto Serif", "Noto Sans", {
            "bibliography": "Bibliography", "contents": "Contents", "appendix": "Appendix {letter}", "edition": "English edition",
            "authors": "Authors", "date": "Date", "letter": "Letter",
            "in_korean": "This appendix is in Korean.",
        }),
        Language("ar", "العربية", "ar", "rtl", "Noto Naskh Arabic", "Noto Sans Arabic", {
            "bibliography": "المراجع", "contents": "المحتويات", "appendix": "الملحق {letter}", "appendix_letters": "أبجدهوزحطي",
            "edition": "الطبعة العربية",
            "authors": "المؤلفون", "date": "التاريخ", "letter": "الرسالة",
            "in_korean": "هذا الملحق باللغة الكورية.",
        }),
        Language("hi", "हिन्दी", "hi-IN", "ltr", "Noto Serif Devanagari", "Noto Sans Devanagari", {
            "bibliography": "ग्रंथसूची", "contents": "विषय-सूची", "appendix": "परिशिष्ट {letter}", "edition": "हिन्दी संस्करण",
            "authors": "लेखक", "date": "तिथि", "letter": "पत्र",
            "in_korean": "यह परिशिष्ट कोरियाई भाषा में है।",
        }),
    ]
}


def known_tags() -> list[str]:
    return sorted(LANGUAGES)


# Tags people write for a language the press knows under another tag.
ALIASES = {"jp": "ja", "jpn": "ja", "ja-jp": "ja", "zh": "zh-Hans", "cn": "zh-Hans", "zh-cn": "zh-Hans",
           "zh-sg": "zh-Hans", "zh-tw": "zh-Hant", "zh-hk": "zh-Hant", "tw": "zh-Hant", "kr": "ko",
           "kor": "ko", "ko-kr": "ko", "en-us": "en", "en-gb": "en", "eng": "en", "ara": "ar",
           "ar-sa": "ar", "hin": "hi", "hi-in": "hi", "in": "hi"}


def unknown_tag_hint(tag: object) -> str:
    """'did you mean …?' for a tag the press does not know, then the known tags."""
    known = "known: " + ", ".join(known_tags())
    if not isinstance(tag, str):
        return "a language tag is a single string; " + known
    lowered = {t.lower(): t for t in LANGUAGES}
    guess = ALIASES.get(tag.lower()) or lowered.get(tag.lower())
    if not guess:
        import difflib

        near = difflib.get_close_matches(tag.lower(), list(lowered), n=1, cutoff=0.5)
        guess = lowered[near[0]] if near else None
    return (f"did you mean {guess!r}? " if guess else "") + known
