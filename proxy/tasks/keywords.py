"""Instruction keywords: which task a prompt's own words ask for, read in memory only.

Only a bounded window of the prompt is read (see `proxy.tasks.signals.instruction_window`),
lowercased and UTF-8 encoded; ASCII punctuation and whitespace become single spaces and the
window is split into words, which are looked up in one set. A word that starts a phrase
("yes" in "yes or no") fires only when the whole phrase is in the window. No regular
expression runs over the text, so the cost is a few microseconds whatever the prompt's
length and language. Nothing read here is kept: only the signal codes leave this module.

Languages: English, French, German, Spanish, Italian, Portuguese and Dutch, for the words
that name a task ("classify", "résume", "zusammenfassen", ...). Code and reasoning cues
are mostly English (programming vocabulary is).
"""

from __future__ import annotations

import string
from typing import NamedTuple


class Keyword(NamedTuple):
    code: str  # signal code stored with the call, e.g. "kw:cls"
    task: str
    weight: float
    words: tuple[str, ...]  # single words; anything with a space (or punctuation) is a phrase


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _phrases(*phrases: str) -> tuple[str, ...]:
    return phrases


KEYWORDS: tuple[Keyword, ...] = (
    Keyword("kw:cls", "classification", 1.5, _words("""
        classify classifies classified classification categorize categorise categorized
        categorised categorization categorisation category categories label labels labelled
        labeled labelling labeling sentiment intent spam
        classe classez classifie classifiez classer catégorie catégories catégoriser
        étiquette étiquettes
        klassifiziere klassifizieren klassifizierung kategorisiere kategorisieren kategorie
        stimmung
        clasifica clasificar clasificación categoriza categorizar categoría etiqueta
        sentimiento
        classifica classificare etichetta sentimento
        classifique classificar classificação rótulo
        classificeer classificeren categorie
    """) + _phrases(
        "yes or no", "true or false", "one word", "single word",
        "oui ou non", "vrai ou faux", "ja oder nein", "sí o no", "si o no", "sì o no",
        "sim ou não", "ja of nee",
    )),
    Keyword("kw:ext", "extraction", 1.5, _words("""
        extract extracts extraction entities entity parse
        extrais extrayez extraire entités
        extrahiere extrahieren extraktion
        extrae extraer extracción entidades
        estrai estrarre estrazione entità
        extraia extrair extração
        extraheer extraheren
    """) + _phrases("pull out", "fill in the fields")),
    Keyword("kw:json", "extraction", 0.75, _words("json")),
    Keyword("kw:sum", "summarisation", 2.0, _words("""
        summarize summarise summarized summarised summary summaries summarization
        summarisation tldr recap condense
        résume résumez résumer synthèse
        zusammenfassung zusammenfassen fasse
        resumen resumir resuma
        riassumi riassunto riassumere sintesi
        resumo
        samenvatting samenvatten
    """) + _phrases("tl;dr", "key points")),
    Keyword("kw:code", "code", 1.5, _words("""
        refactor debug debugging traceback stacktrace compile compiler python javascript
        typescript golang sql regex dockerfile
    """) + _phrases("unit test", "write a function", "this function", "stack trace")),
    Keyword("kw:rsn", "reasoning", 1.0, _words("""
        prove proof theorem derive
    """) + _phrases(
        "step by step", "step-by-step", "think carefully",
        "étape par étape", "schritt für schritt", "paso a paso", "passo dopo passo",
        "passo a passo", "stap voor stap",
    )),
    Keyword("kw:gen", "generation", 0.75, _words("""
        write draft compose story poem essay email blog rédige rédigez schreibe escribe
        scrivi escreva schrijf
    """)),
)

_SEPARATORS = string.punctuation + string.whitespace
# ASCII punctuation and whitespace -> space; UTF-8 multi-byte sequences (>= 0x80) untouched.
_SPACES = bytes.maketrans(_SEPARATORS.encode(), b" " * len(_SEPARATORS))


def _normalise(text: str) -> bytes:
    return text.lower().encode("utf-8", "replace").translate(_SPACES)


def _build() -> tuple[frozenset[bytes], dict[bytes, tuple[tuple[int, bytes | None], ...]]]:
    """Trigger words, and for each: (index into KEYWORDS, phrase to confirm or None)."""
    table: dict[bytes, list[tuple[int, bytes | None]]] = {}
    for index, keyword in enumerate(KEYWORDS):
        for entry in keyword.words:
            parts = _normalise(entry).split()
            phrase = b" " + b" ".join(parts) + b" " if len(parts) > 1 else None
            table.setdefault(parts[0], []).append((index, phrase))
    return frozenset(table), {word: tuple(hits) for word, hits in table.items()}


_TRIGGERS, _TABLE = _build()


def keyword_hits(window: str) -> set[int]:
    """Indices into `KEYWORDS` of the keyword groups present in `window`."""
    normalised = _normalise(window)
    found = _TRIGGERS.intersection(normalised.split())
    hits: set[int] = set()
    padded = b""
    for word in found:
        for index, phrase in _TABLE[word]:
            if phrase is not None:
                padded = padded or b" " + normalised + b" "
                if phrase not in padded:
                    continue
            hits.add(index)
    return hits
