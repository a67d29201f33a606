"""Which of the site's two languages (Polish, English) a short metadata text is in.

Titles and descriptions come in `_pl` and `_en` fields, but a layer's licence, attribution,
quality notes and keywords are one free text each, written in either language. The DCAT
catalogue tags a literal with a language only where this module is sure; otherwise it leaves the
literal untagged, which is never wrong, where a guessed tag could be.
"""

import re

POLISH_LETTERS = frozenset("ąćęłńóśźż")
WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# Words frequent in one language and not words of the other ("a", "to", "do", "we", "on" are both).
# Besides function words, the words of city metadata that keywords are made of (themes, kinds of
# places and registers), in their base forms.
POLISH_WORDS = frozenset("""
    i w z ze na od dla nie jest są oraz lub przez po przy pod nad bez jako czy też tylko
    dane danych miasta miasto urząd gmina gminy się który która które ponownego wykorzystania
    kultura zdrowie edukacja oświata sport środowisko zieleń gospodarka finanse energia
    ludność społeczeństwo bezpieczeństwo nauka rolnictwo administracja wybory granica granice
    szkoły przedszkola biblioteki obwody okręgi lokale projekty budżet zgłoszenia mieszkańcy
    drogi ulice parki rejestr
""".split())
ENGLISH_WORDS = frozenset("""
    the and of in for with is are by from under not or as at be this that an its their
    was were has have been may any without into only than which who data city
    culture health education environment greenery economy finance energy population society
    safety security science agriculture governance government elections boundary boundaries
    schools kindergartens libraries districts precincts stations projects budget reports
    citizens roads streets parks register accessibility
""".split())
STEM = 4  # an inflected form shares at least this many first letters with its context word


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text or "")]


def guess(text: str, polish_context: str = "", english_context: str = "") -> str | None:
    """"pl", "en" or None (not sure). The contexts are texts known to be in each language (a
    layer's Polish and English title and description): a keyword found in only one of them is
    taken to be in that language."""
    pl_context, en_context = _stems(words(polish_context)), _stems(words(english_context))
    polish = english = 0
    for word in words(text):
        stem = _stem(word)
        if POLISH_LETTERS & set(word) or word in POLISH_WORDS:
            polish += 1
        elif word in ENGLISH_WORDS:
            english += 1
        elif stem in pl_context and stem not in en_context:
            polish += 1
        elif stem in en_context and stem not in pl_context:
            english += 1
    if polish > english:
        return "pl"
    if english > polish:
        return "en"
    return None


def _stem(word: str) -> str | None:
    # "gmina" and "gminy", "okręg" and "okręgi": the same stem; short words have none.
    return word[:max(STEM, len(word) - 1)] if len(word) > STEM else None


def _stems(found: list[str]) -> set[str]:
    # Every prefix a keyword's stem could be: a context word longer than the keyword counts.
    return {word[:n] for word in found for n in range(STEM, len(word) + 1)}
