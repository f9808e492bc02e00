"""Search: what people type, turned into full-text queries, and the strategy that keeps it fast.

A query is words, "quoted phrases" and filters (template, case, party, class, status, dates);
no FTS syntax passes through. The record store (``records/catalog.py``) runs the SQL; this module
decides what to ask it:

- a query that is an id finds that case or record by its index;
- a person who may see at most :data:`FEW_VISIBLE` records (with the filters) has them tested one
  by one, newest first (about 0.05 ms each);
- other text looks at no more than the newest :data:`CANDIDATES` matches, ranked by bm25 when there
  are fewer, so a name found in a fifth of a million records costs no more than a rare one.

Results come with a snippet around the first match, ``[matches]`` in brackets, accents ignored.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from typing import Any

from pipeline.errors import CatalogError
from pipeline.records.catalog import Catalog
from pipeline.text import searchable


@dataclass(frozen=True)
class SearchQuery:
    text: str | None = None
    template: str | None = None
    case_id: str | None = None
    party: str | None = None
    record_class: str | None = None
    status: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    limit: int = 50
    offset: int = 0


def search_page(catalog: Catalog, query: SearchQuery, visible: tuple[str, list[Any]] = ("1", []),
                count: bool = True) -> tuple[list[dict[str, Any]], int | None]:
    """One page of results and the number of matches (text queries count up to :data:`COUNT_CAP`),
    among the records in ``visible``: an SQL condition on ``r`` (from
    :func:`pipeline.governance.access.search_filter`), so what the user may not see is neither
    listed nor counted."""
    where, params = [visible[0]], list(visible[1])
    for column, value in (("template", query.template), ("case_id", query.case_id),
                          ("record_class", query.record_class), ("status", query.status)):
        if value:
            where.append(f"r.{column} = ?")
            params.append(value)
    if query.date_from:
        where.append("coalesce(r.record_date, substr(r.created, 1, 10)) >= ?")
        params.append(query.date_from.isoformat())
    if query.date_to:
        where.append("coalesce(r.record_date, substr(r.created, 1, 10)) <= ?")
        params.append(query.date_to.isoformat())
    limit, offset = max(1, query.limit), max(0, query.offset)
    cap = COUNT_CAP if count else None
    text = (query.text or "").strip()
    try:
        if text and _ID_QUERY.fullmatch(text):
            condition = " AND ".join(["(r.case_id = ? OR r.record_id = ?)", *where])
            by_id = catalog.page_where(condition, [text, text, *params], limit, offset, cap)
            if by_id[1] or by_id[0]:
                return by_id
        match = _fts_expression(text, query.party)
        if not match:
            return catalog.page_where(" AND ".join(where), params, limit, offset, cap)
        return _ranked(catalog, match, " AND ".join(where), params, limit, offset, count)
    except sqlite3.OperationalError as exc:
        raise CatalogError(f"The search could not be run: {exc}.") from None


def _ranked(catalog: Catalog, match: str, condition: str, params: list[Any], limit: int, offset: int,
            count: bool) -> tuple[list[dict[str, Any]], int | None]:
    """Text results: ranked by bm25 when the query matches fewer than :data:`CANDIDATES` visible
    records; when it matches more, the newest come first.

    bm25 needs each word's document frequency, which FTS5 computes by reading the word's whole
    doclist: 30-50 ms for a name found in a fifth of a million records, against 5-10 ms for
    taking the newest matches. A query that broad is narrowed by its filters or more words anyway.
    """
    if condition != "1":
        few = catalog.rowids_where(condition, params, FEW_VISIBLE + 1)
        if len(few) <= FEW_VISIBLE:
            return _among(catalog, match, sorted(few, reverse=True), limit, offset, count)
    newest = catalog.newest_matches(match, condition, params, CANDIDATES)
    if len(newest) < CANDIDATES and newest:
        wanted = set(newest)
        scored = catalog.bm25_between(match, min(wanted), max(wanted))
        order = [r for r, _ in sorted((c for c in scored if c[0] in wanted), key=lambda c: (c[1], -c[0]))]
    else:
        order = newest
    return _with_snippets(catalog, order[offset:offset + limit], match), (len(newest) if count else None)


def _among(catalog: Catalog, match: str, rowids: list[int], limit: int, offset: int,
           count: bool) -> tuple[list[dict[str, Any]], int | None]:
    """The few records a person may see that match, newest first.

    Walking the matches of a frequent word to find a coordinator's dozen visible records took
    0.5 s on a million records; asking FTS5 about each visible record takes about 0.05 ms. A
    multi-word phrase is asked as its words joined by AND (FTS5 answers a phrase, or a NEAR group
    of distance 0, about one row as slowly as about all of them: 0.5 s), then its word order is
    checked on the record's indexed text.
    """
    loose, phrases = _loose_expression(match)
    hits = [rowid for rowid in rowids if catalog.text_matches(loose, rowid)]
    if phrases:
        hits = [rowid for rowid in hits if _phrases_hold(catalog, rowid, phrases)]
    return _with_snippets(catalog, hits[offset:offset + limit], match), (len(hits) if count else None)


def _phrases_hold(catalog: Catalog, rowid: int, phrases: list[tuple[str | None, list[str], bool]]) -> bool:
    row = catalog.indexed_text(rowid)
    columns = {name: _tokens(row[name] or "") for name in ("title", "case_id", "parties", "body")}
    return all(any(_contains_phrase(columns[c], words, prefix) for c in ([column] if column else columns))
               for column, words, prefix in phrases)


def _with_snippets(catalog: Catalog, rowids: list[int], match: str) -> list[dict[str, Any]]:
    found = catalog.rows_with_text(rowids)
    terms = _snippet_terms(match) if rowids else []
    records = []
    for rowid in rowids:
        record, body = found[rowid]
        record["snippet"] = snippet(body, terms)
        records.append(record)
    return records


#: A person who may see at most this many records (with the query's filters) has them tested one by one.
FEW_VISIBLE = 1000
#: Text queries are ranked among the newest this many matches (see :meth:`Catalog.search_page`).
CANDIDATES = 500
#: Counts stop here ("500 or more"): text queries never look past the newest CANDIDATES matches.
COUNT_CAP = CANDIDATES
_ID_QUERY = re.compile(r"(?=.*\d)(?=.*[-_.])[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@functools.lru_cache(maxsize=100_000)
def _fold(word: str) -> str:
    """Lower case without accents, as the index's tokenizer sees a word (cached: words repeat)."""
    if word.isascii():
        return word.lower()
    return "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))


def _snippet_terms(match: str) -> list[str]:
    return [_fold(t) for t in re.findall(r"\w+", re.sub(r"\bparties\b\s*:", " ", match))
            if t not in ("AND", "OR", "NOT")]


_NON_WORD = re.compile(r"\W+")


def snippet(body: str, terms: list[str], width: int = 12) -> str:
    """A few words of ``body`` around the first query word, matches in [brackets] (accents ignored)."""
    words = body.split()
    prefixes = tuple(t for t in terms if t)

    def matches(i: int) -> bool:
        return bool(prefixes) and _fold(_NON_WORD.sub("", words[i])).startswith(prefixes)

    hit = next((i for i in range(len(words)) if matches(i)), None)
    if hit is None:
        return " ".join(words[:width]) + (" …" if len(words) > width else "")
    start = max(0, hit - width // 3)
    shown = [f"[{words[i]}]" if matches(i) else words[i] for i in range(start, min(len(words), start + width))]
    return ("… " if start else "") + " ".join(shown) + (" …" if start + width < len(words) else "")


_TOKEN = re.compile(r'"([^"]*)"|(\S+)')


def _fts_terms(text: str) -> list[str]:
    """User words and "quoted phrases" as FTS5 strings: no FTS syntax passes through (and no
    invisible character, as none is indexed)."""
    text = searchable(text)
    terms = []
    for phrase, word in _TOKEN.findall(text):
        value = phrase or word.replace('"', "")
        prefix = not phrase and value.endswith("*") and len(value) > 1
        value = value.rstrip("*") if prefix else value
        if not re.search(r"\w", value):
            continue
        quoted = '"' + value.replace('"', '""') + '"'
        terms.append(quoted + ("*" if prefix else ""))
    return terms


def _fts_expression(text: str | None, party: str | None) -> str | None:
    parts = []
    if text:
        parts.extend(_fts_terms(text))
    if party:
        names = _fts_terms(f'"{party.replace(chr(34), " ")}"')
        parts.extend(f"parties : {n}" for n in names)
    return " AND ".join(parts) if parts else None


_PART = re.compile(r'(?:(parties) : )?"((?:[^"]|"")*)"(\*?)')
_TOKEN_CHARS = re.compile(r"[^\W_]+")


def _tokens(text: str) -> list[str]:
    """Words as the index's tokenizer (unicode61, diacritics removed) sees them."""
    return [_fold(t) for t in _TOKEN_CHARS.findall(text)]


def _loose_expression(match: str) -> tuple[str, list[tuple[str | None, list[str], bool]]]:
    """``match`` (as :func:`_fts_expression` writes it) with every multi-word phrase as its words
    joined by AND, and those phrases (column, folded words, last word a prefix) to check in order
    afterwards."""
    parts, phrases = [], []
    for column, quoted, star in _PART.findall(match):
        words = _TOKEN_CHARS.findall(quoted.replace('""', '"'))
        prefix = f"{column} : " if column else ""
        if len(words) < 2:
            parts.append(f'{prefix}"{quoted}"{star}')
            continue
        parts.extend(f'{prefix}"{w}"' + (star if i == len(words) - 1 else "") for i, w in enumerate(words))
        phrases.append((column or None, [_fold(w) for w in words], bool(star)))
    return " AND ".join(parts), phrases


def _contains_phrase(tokens: list[str], words: list[str], prefix: bool) -> bool:
    n = len(words)
    for i in range(len(tokens) - n + 1):
        if tokens[i:i + n - 1] == words[:-1] and (
                tokens[i + n - 1].startswith(words[-1]) if prefix else tokens[i + n - 1] == words[-1]):
            return True
    return False
