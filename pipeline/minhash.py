"""Near-duplicate and containment detection over a list of texts.

``find_similar_pairs(texts)`` returns every pair of texts whose word-shingle
sets have an exact Jaccard similarity of at least ``jaccard_threshold`` or in
which one text's shingles are, for at least ``containment_threshold`` of
them, found in the other (a paragraph quoted inside a longer one). Numbers
below are for the defaults (3-word shingles, 0.7, 0.8, 128 permutations).

Method
======

1. **Shingles.** A text is normalised (Unicode NFC, typographic quotes and
   apostrophes mapped to ASCII ``'`` and ``"``, lower case) and cut into
   words with the Unicode ``\\w+`` rule (``tokenize`` is the readable
   reference). Each word is hashed once, to 64 bits (a polynomial hash of
   its code points modulo ``2**64``, then the splitmix64 finaliser), and the
   hashes of ``n`` consecutive words are combined in numpy into one 64-bit
   shingle hash. A text with fewer than ``n`` words (but at least one) has
   one shingle, made of all its words; a text with no word at all has no
   shingle and is never paired. The fast path works on the code points of a
   few hundred texts at a time, so no Python object is created per word; it
   gives exactly the words of ``tokenize`` (tested). Nothing depends on
   Python's per-process ``hash()``.

2. **MinHash.** Permutation ``k`` is ``h_k(x) = (a_k * x + b_k) mod 2**64``
   over the 64-bit shingle hash ``x``, with ``a_k`` odd and ``a_k, b_k``
   spread over the whole 64-bit range (a splitmix64 stream of ``seed``, the
   same on every machine). Arithmetic modulo
   ``2**64`` is exactly what uint64 numpy arithmetic does, so nothing
   overflows in an unplanned way; the minimum of a text's values is decided
   by their high bits, which depend on every bit of ``x`` (the
   multiply-add-shift family of Dietzfelbinger, universal for its high
   bits), and ``x`` is itself the output of a mixing function. This is the
   64-bit equivalent of ``(a*x + b) mod (2**61 - 1)`` without the 128-bit
   products that the latter needs; the trap to avoid is small parameters
   without wrap-around, which make every permutation nearly the same
   monotone order (measured on this project: precision fell to 0.17).

3. **LSH on Jaccard, bands tuned low.** ``choose_bands`` picks the most rows
   per band ``r`` such that a pair at exactly the Jaccard threshold becomes a
   candidate with probability at least 0.985, with ``b = num_perm // r``
   bands. For 0.7 and 128 permutations that is **25 bands x 5 rows** (125
   permutations used); ``P(candidate) = 1 - (1 - J**5)**25`` is 0.06 at
   J=0.3, 0.55 at J=0.5, 0.87 at J=0.6, 0.990 at J=0.7 and 0.99995 at J=0.8.
   The S-curve sits around J=0.5 on purpose: a curve centred on 0.7 misses
   about 40% of the pairs with J in 0.7-0.8, while a low curve only adds
   candidates, which step 5 checks exactly. Band keys are kept as 32-bit
   values: about ``n**2 / 2**33`` chance collisions per band (one at 100k
   texts), extra candidates that step 5 rejects.

4. **Containment index.** Jaccard LSH cannot see a short paragraph inside a
   long one (60 shingles in 300: J = 0.2). Every text therefore also keeps
   the shingles whose re-mixed hash falls below a fixed cut-off, a quarter
   of them on average. This is consistent sampling: a shingle is sampled in
   every text or in none, so the sample of ``A`` found in ``B`` is exactly
   the sample of ``A & B``, whatever the sizes. An inverted index over the
   samples gives, for every pair sharing samples, how many they share; a
   pair is a candidate when that count reaches the lower 5% tail of
   ``Binomial(n, containment_threshold)``, ``n`` being the smaller sample
   size: in that binomial model a pair exactly at the threshold passes with
   probability 0.95 or more, one at containment 0.9 with 15 samples with
   probability 0.9997 (the real sampling is without replacement, which only
   narrows the spread). Postings shared by too many texts (a
   common phrase) are skipped so that the work stays linear: the cap is the
   largest posting length that keeps the pair counts within
   ``_PAIR_BUDGET_PER_TEXT`` per text, and never below
   ``_MIN_POSTING_CAP`` texts. Limits: a text of ``s`` shingles has no
   sample at all with probability ``0.75**s`` (0.1 for 8 shingles, 3e-8 for
   60), and a passage repeated in more texts than the cap is left to the
   Jaccard LSH.

5. **Exact verification.** Every candidate pair is re-shingled from the input
   texts and its exact intersection is counted on the sorted shingle arrays;
   only pairs that meet a threshold are returned, with their exact Jaccard
   and containments. Precision is 1.0 by construction; recall depends on
   steps 3-4 only.

Memory: no per-text Python objects are kept. Between the steps the state is
the band keys (4 bytes x 25 per text, freed after step 3), the containment
samples (8 bytes each, about 16 for a 60-word text) and, during step 5, the
shingles of one block of candidate texts; temporary arrays are bounded per
chunk or block. Work grows linearly with the number of texts (chunks of
texts, capped postings); only the output can be quadratic, when very many
texts are duplicates of each other.
"""

from __future__ import annotations

import math
import re
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = [
    "SimilarPair",
    "Sketches",
    "candidate_codes",
    "choose_bands",
    "find_similar_pairs",
    "normalise_text",
    "shingle_hashes",
    "sketch_texts",
    "tokenize",
    "verify_candidates",
]

U64Array = npt.NDArray[np.uint64]
I64Array = npt.NDArray[np.int64]

# --------------------------------------------------------------------------
# Normalisation and words (the readable reference)

_APOSTROPHES = "\u2019\u2018\u201b\u2032\u02bc\u02bb\u0060\u00b4"  # ’ ‘ ‛ ′ ʼ ʻ ` ´
_DOUBLE_QUOTES = "\u00ab\u00bb\u201c\u201d\u201e\u201f\u2033"  # « » “ ” „ ‟ ″
_QUOTE_TABLE = str.maketrans(
    {**{c: "'" for c in _APOSTROPHES}, **{c: '"' for c in _DOUBLE_QUOTES}}
)
_WORD_RE = re.compile(r"\w+")
_WORD_CHAR_RE = re.compile(r"\w")


def normalise_text(text: str) -> str:
    """NFC, typographic quotes and apostrophes to ASCII, then lower case."""
    return unicodedata.normalize("NFC", text).translate(_QUOTE_TABLE).lower()


def tokenize(text: str) -> list[str]:
    """The words of ``text`` as shingling sees them (reference implementation).

    ``re.findall(r"\\w+", normalise_text(text))``: "L’Élysée" and "l'élysée"
    both give ``["l", "élysée"]``.
    """
    return _WORD_RE.findall(normalise_text(text))


# --------------------------------------------------------------------------
# Fast path: code points -> word hashes -> shingle hashes, in numpy

_MASK64 = (1 << 64) - 1
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SHINGLE_MULT = 0x9E3779B97F4A7C15  # odd; combines consecutive word hashes
_SHORT_TEXT_TAG = 0x5851F42D4C957F2D  # marks the single shingle of a short text
_SAMPLE_SALT = 0xD6E8FEB86659FD93  # re-mixing for the containment sample
_SEP = "\x00"  # joins the texts of a chunk; never a word character

# Per code point: 0 = not yet known, 1 = not a word character, otherwise
# 2 + the code point of its lower-case form. Filled lazily with the rules of
# ``tokenize``: the typographic quotes and apostrophes are not word
# characters (they become ASCII ' and "). Lower-casing one character at a
# time equals ``str.lower`` except for U+0130 (two characters) and the
# context-dependent final sigma of U+03A3: chunks holding either are
# lower-cased as strings first.
_FOLD = np.zeros(0x110000, dtype=np.uint32)
_FOLD[0] = 1
_FORCED_SEPARATORS = frozenset(map(ord, _APOSTROPHES + _DOUBLE_QUOTES))
_STRING_LOWER = (0x130, 0x3A3)
_POLY_BASE = 0x100000001B3 | (0x9E37 << 48)  # odd: invertible modulo 2**64
_POLY_BASE_INV = pow(_POLY_BASE, -1, 1 << 64)

# Texts are processed in chunks of about this many characters: it bounds
# the temporary arrays (a few MB) whatever the corpus size.
_CHUNK_CHARS = 1 << 16
_PERM_GROUP = 8  # permutations evaluated together in one numpy call


def _mix64(z: U64Array) -> U64Array:
    """splitmix64 finaliser (a bijection of uint64 with full avalanche), in place."""
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def _fold(cps: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """``_FOLD`` of every code point, learning the ones not seen before."""
    folded = _FOLD[cps]
    unknown = folded == 0
    if unknown.any():
        for cp in np.unique(cps[unknown]).tolist():
            lower = chr(cp).lower()
            word = cp not in _FORCED_SEPARATORS and _WORD_CHAR_RE.match(lower[0]) is not None
            _FOLD[cp] = ord(lower[0]) + 2 if word and len(lower) == 1 else 1
        folded = _FOLD[cps]
    return folded


_POWERS: dict[int, U64Array] = {}
_POWERS_KEPT = 1 << 18  # longer tables are computed for the call and not kept


def _powers(base: int, count: int) -> U64Array:
    """``base**k mod 2**64`` for k < count (read-only)."""
    table = _POWERS.get(base)
    if table is None or table.size < count:
        size = max(count, 1 << 16)
        table = np.full(size, base, dtype=np.uint64)
        table[0] = 1
        np.cumprod(table, out=table)
        table.flags.writeable = False
        if size <= _POWERS_KEPT:
            _POWERS[base] = table
    return table[:count]


def _word_hashes(texts: Sequence[str]) -> tuple[U64Array, I64Array]:
    """Hash of every word of ``texts`` (in order) and the index of its text.

    A word's hash is the splitmix64 mix of the polynomial
    ``sum(c_k * B**k) mod 2**64`` over its lower-cased code points ``c_k``
    (plus 2). It is computed for all words at once from one running sum
    over the chunk and the inverse powers of the odd base ``B``.
    """
    parts = []
    for t in texts:
        if not isinstance(t, str):
            raise TypeError(f"expected str, got {type(t).__name__}")
        parts.append(t.replace(_SEP, " ") if _SEP in t else t)
    joined = unicodedata.normalize("NFC", _SEP.join(parts))
    cps = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if ((cps == _STRING_LOWER[0]) | (cps == _STRING_LOWER[1])).any():
        cps = np.frombuffer(joined.lower().encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    folded = _fold(cps)
    is_word = (folded > 1).view(np.int8)
    edges = np.flatnonzero(np.diff(is_word, prepend=np.int8(0), append=np.int8(0)))
    starts, ends = edges[0::2], edges[1::2]
    text_of_word = np.searchsorted(np.flatnonzero(cps == 0), starts).astype(np.int64)
    if starts.size == 0:
        return np.empty(0, np.uint64), text_of_word
    running = np.zeros(cps.size + 1, dtype=np.uint64)
    np.cumsum(folded * _powers(_POLY_BASE, cps.size), out=running[1:])
    h = running[ends] - running[starts]
    h *= _powers(_POLY_BASE_INV, int(starts[-1]) + 1)[starts]
    return _mix64(h), text_of_word


def _shingles_of_words(
    words: U64Array, text_of_word: I64Array, n_texts: int, n: int
) -> tuple[U64Array, I64Array]:
    """Shingle hashes (with repeats), grouped by text in text order, and their text."""
    nw = words.size
    m = nw - n + 1
    if m > 0:
        g = words[:m].copy()
        for t in range(1, n):
            g *= np.uint64(_SHINGLE_MULT)
            g += words[t : t + m]
        inside = text_of_word[:m] == text_of_word[n - 1 : n - 1 + m]
        shingles = g[inside]
        owners = text_of_word[:m][inside]
    else:
        shingles = np.empty(0, np.uint64)
        owners = np.empty(0, np.int64)
    counts = np.bincount(text_of_word, minlength=n_texts)
    short = np.flatnonzero((counts > 0) & (counts < n))
    if short.size:
        firsts = np.searchsorted(text_of_word, short)
        values = []
        for first, count in zip(firsts.tolist(), counts[short].tolist(), strict=True):
            g_int = 0
            for w in words[first : first + count].tolist():
                g_int = (g_int * _SHINGLE_MULT + w) & _MASK64
            values.append((g_int + _SHORT_TEXT_TAG * count) & _MASK64)
        shingles = np.concatenate([shingles, np.array(values, dtype=np.uint64)])
        owners = np.concatenate([owners, short.astype(np.int64)])
        order = np.argsort(owners, kind="stable")
        shingles, owners = shingles[order], owners[order]
    return _mix64(shingles), owners


def _chunk_shingles(texts: Sequence[str], n: int) -> tuple[U64Array, I64Array]:
    words, text_of_word = _word_hashes(texts)
    return _shingles_of_words(words, text_of_word, len(texts), n)


def _sorted_distinct(values: U64Array) -> U64Array:
    """The distinct values of a sorted array."""
    if values.size < 2:
        return values
    keep = np.empty(values.size, dtype=bool)
    keep[0] = True
    np.not_equal(values[1:], values[:-1], out=keep[1:])
    return values[keep]


def unique_sorted(values: npt.NDArray) -> npt.NDArray:
    """``np.unique(values)`` (sorted distinct values) by one sort.

    numpy 2.3+ finds the distinct values of a plain ``np.unique`` call with a hash table, which is
    much slower than a sort on big integer arrays and grows faster than linearly (2,000,000 random
    int64: 4.1 s against 0.03 s; 4,000,000: 13.4 s against 0.09 s, numpy 2.4.6). So is
    everything built on it (``union1d``, ``intersect1d`` and ``isin`` without ``assume_unique``):
    use this and ``isin_sorted`` instead."""
    return _sorted_distinct(np.sort(np.asarray(values).ravel()))


def isin_sorted(values: npt.NDArray, distinct: npt.NDArray) -> npt.NDArray[np.bool_]:
    """``np.isin(values, distinct)`` for ``distinct`` sorted and without repeats (``unique_sorted``)."""
    values = np.asarray(values)
    if distinct.size == 0:
        return np.zeros(values.shape, dtype=bool)
    at = np.minimum(np.searchsorted(distinct, values), distinct.size - 1)
    return distinct[at] == values


def _sorted_unique_per_text(
    shingles: U64Array, owners: I64Array, n_texts: int
) -> tuple[U64Array, I64Array]:
    """Flat array of each text's sorted unique shingles, and offsets (n_texts + 1).

    One radix sort of ``owner << (64 - b) | shingle >> b``; if two shingles
    of a text share their top ``64 - b`` bits (about one text in 10**10)
    the result is checked, found unsorted and redone with ``lexsort``.
    """
    bits = max(1, int(n_texts - 1).bit_length())
    key = (owners.astype(np.uint64) << np.uint64(64 - bits)) | (shingles >> np.uint64(bits))
    order = np.argsort(key, kind="stable")
    s, o = shingles[order], owners[order]
    same_text = o[1:] == o[:-1]
    if (same_text & (s[1:] < s[:-1])).any():
        order = np.lexsort((shingles, owners))
        s, o = shingles[order], owners[order]
        same_text = o[1:] == o[:-1]
    keep = np.ones(s.size, dtype=bool)
    keep[1:] = (s[1:] != s[:-1]) | ~same_text
    s, o = s[keep], o[keep]
    offsets = np.zeros(n_texts + 1, dtype=np.int64)
    np.cumsum(np.bincount(o, minlength=n_texts), out=offsets[1:])
    return s, offsets


def shingle_hashes(text: str, n: int = 3) -> U64Array:
    """Sorted unique uint64 hashes of the word ``n``-grams of ``text``.

    Words are those of ``tokenize``. A text with fewer than ``n`` words has
    one shingle made of all its words; a text without words has none.
    Deterministic across processes and machines.
    """
    if n < 1:
        raise ValueError(f"shingle size must be >= 1, got {n}")
    shingles, _ = _chunk_shingles([text], n)
    return unique_sorted(shingles)


def _chunks(texts: Sequence[str], ids: Sequence[int] | None = None) -> Iterator[list[int]]:
    """Consecutive groups of text indices of about ``_CHUNK_CHARS`` characters."""
    chunk: list[int] = []
    size = 0
    for i in range(len(texts)) if ids is None else ids:
        text = texts[i]
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, expected str")
        chunk.append(i)
        size += len(text) + 1
        if size >= _CHUNK_CHARS:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


# --------------------------------------------------------------------------
# Candidate generation


def choose_bands(jaccard_threshold: float, num_perm: int, min_hit: float = 0.985) -> tuple[int, int]:
    """(bands, rows): the most rows per band whose S-curve still gives a pair at
    ``jaccard_threshold`` a chance of at least ``min_hit`` of being a candidate.

    ``P(candidate | J) = 1 - (1 - J**rows)**bands`` with ``bands = num_perm // rows``.
    For 0.7 and 128: (25, 5); P = 0.55 at J=0.5, 0.990 at J=0.7.
    """
    if num_perm < 1:
        raise ValueError(f"num_perm must be >= 1, got {num_perm}")
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if 1.0 - (1.0 - jaccard_threshold**rows) ** bands >= min_hit:
            best = (bands, rows)
    return best


class _MinHasher:
    """Band keys of chunks of shingles: ``bands`` keys of ``rows`` minima each."""

    def __init__(self, bands: int, rows: int, seed: int) -> None:
        # Parameters from a splitmix64 stream of the seed: the same on every
        # machine and numpy version; a_k odd, a_k and b_k over all 64 bits.
        k = bands * rows
        self.bands, self.rows = bands, rows
        steps = np.arange(1, 2 * k + 1, dtype=np.uint64) * np.uint64(_SHINGLE_MULT)
        stream = _mix64(steps + np.uint64(seed & _MASK64))
        self.a = stream[0::2] | np.uint64(1)
        self.b = stream[1::2].copy()

    def band_keys(self, shingles: U64Array, starts: I64Array) -> npt.NDArray[np.uint32]:
        """``[bands, len(starts)]`` 32-bit keys; text t owns ``shingles[starts[t]:starts[t+1]]``."""
        k = self.a.size
        minima = np.empty((k, starts.size), dtype=np.uint64)
        buf = np.empty((min(_PERM_GROUP, k), shingles.size), dtype=np.uint64)
        for g0 in range(0, k, _PERM_GROUP):
            g = min(_PERM_GROUP, k - g0)
            view = buf[:g]
            np.multiply(self.a[g0 : g0 + g, None], shingles[None, :], out=view)
            np.add(view, self.b[g0 : g0 + g, None], out=view)
            minima[g0 : g0 + g] = np.minimum.reduceat(view, starts, axis=1)
        rows = minima.reshape(self.bands, self.rows, starts.size)
        key = rows[:, 0, :].copy()
        for row in range(1, self.rows):
            key *= np.uint64(_SHINGLE_MULT)
            key += rows[:, row, :]
            _mix64(key)
        return (key >> np.uint64(32)).astype(np.uint32)


def _pairs_in_runs(ids: I64Array, run_starts: I64Array, n_total: int, window: int | None = None) -> I64Array:
    """Codes ``lo * n_total + hi`` of all pairs of ids within each run (with ``window``: of ids at most
    ``window`` places apart in their run).

    ``ids`` is grouped in runs beginning at ``run_starts``; work is linear in
    the number of pairs produced.
    """
    run_ends = np.append(run_starts[1:], ids.size)
    lengths = run_ends - run_starts
    multi = lengths >= 2
    if not multi.any():
        return np.empty(0, np.int64)
    end_of = np.repeat(run_ends[multi], lengths[multi])
    pos = _ranges(run_starts[multi], lengths[multi])
    out = []
    d = 1
    active = pos[pos + d < end_of]
    ends_active = end_of[pos + d < end_of]
    while active.size and (window is None or d <= window):
        a, b = ids[active], ids[active + d]
        out.append(np.minimum(a, b) * n_total + np.maximum(a, b))
        d += 1
        keep = active + d < ends_active
        active, ends_active = active[keep], ends_active[keep]
    return np.concatenate(out)


def _ranges(starts: I64Array, lengths: I64Array) -> I64Array:
    """Concatenation of ``arange(s, s + l)`` for each start and length."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, np.int64)
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def _lsh_candidates(band_keys: npt.NDArray[np.uint32], live: I64Array, n_total: int,
                    window: int | None = None) -> I64Array:
    """Unique pair codes of texts that share a band key in at least one band (with ``window``: only
    texts at most ``window`` places apart in the bucket, in text order)."""
    found: list[I64Array] = []
    pending = 0
    low = np.uint64(0xFFFFFFFF)
    place = np.arange(live.size, dtype=np.uint64)
    for band in range(band_keys.shape[0]):
        keys = band_keys[band, live]
        # a stable argsort of the keys, as one sort of values (key << 32 | place: ties in place order)
        packed = np.sort((keys.astype(np.uint64) << np.uint64(32)) | place)
        order = (packed & low).astype(np.int64)
        sorted_keys = (packed >> np.uint64(32)).astype(np.uint32)
        starts = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
        if starts.size == keys.size:
            continue
        codes = _pairs_in_runs(live[order], starts, n_total, window)
        found.append(codes)
        pending += codes.size
        if pending > 4 * live.size + 65536:  # bound memory when buckets are big
            found = [unique_sorted(np.concatenate(found))]
            pending = found[0].size
    if not found:
        return np.empty(0, np.int64)
    return unique_sorted(np.concatenate(found))


# Containment index parameters (see the module docstring, step 4).
_SAMPLE_CUTOFF = 1 << 62  # a quarter of the 64-bit range
_PAIR_BUDGET_PER_TEXT = 32
_MIN_POSTING_CAP = 32
_TAIL = 0.05


@lru_cache(maxsize=4096)
def _min_shared(n: int, containment: float) -> int:
    """Largest k with P(Binomial(n, containment) < k) <= _TAIL (at least 1)."""
    if containment >= 1.0:
        return max(1, n)
    log_p, log_q = math.log(containment), math.log1p(-containment)
    cdf = 0.0
    k = 0
    while k <= n:
        log_pmf = math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        cdf += math.exp(log_pmf + k * log_p + (n - k) * log_q)
        if cdf > _TAIL:
            break
        k += 1
    return max(1, k)


def _containment_candidates(
    chunks: list[U64Array], samples_per_text: npt.NDArray[np.int32], containment_threshold: float
) -> I64Array:
    """Pair codes of texts sharing enough containment samples (module doc, step 4).

    ``chunks`` holds per chunk of texts the samples as ``key << 32 | text``;
    it is emptied here so that its memory can be reused.
    """
    n_total = samples_per_text.size
    samples = np.empty(sum(c.size for c in chunks), dtype=np.uint64)
    filled = 0
    while chunks:  # move, chunk by chunk, so that only one copy exists
        part = chunks.pop()
        samples[filled : filled + part.size] = part
        filled += part.size
    if samples.size == 0:
        return np.empty(0, np.int64)
    samples.sort()
    halves = samples.view(np.uint32).reshape(-1, 2)  # [low, high] on little-endian machines
    owners, keys = (halves[:, 0], halves[:, 1]) if sys.byteorder == "little" else (halves[:, 1], halves[:, 0])
    boundary = np.empty(samples.size, dtype=bool)
    boundary[0] = True
    np.not_equal(keys[1:], keys[:-1], out=boundary[1:])
    run_starts = np.flatnonzero(boundary)
    del boundary, keys
    lengths = np.diff(run_starts, append=samples.size)
    # The largest posting cap within the pair budget (never below the floor).
    pair_counts = np.bincount(lengths, weights=lengths * (lengths - 1) / 2.0)
    within = np.flatnonzero(np.cumsum(pair_counts) <= _PAIR_BUDGET_PER_TEXT * n_total)
    cap = max(_MIN_POSTING_CAP, int(within[-1]) if within.size else 0)
    counts = samples_per_text.astype(np.int64)
    dropped = np.flatnonzero(lengths > cap)
    if dropped.size:  # too common: no longer counted as samples of their texts
        in_dropped = owners[_ranges(run_starts[dropped], lengths[dropped])]
        counts -= np.bincount(in_dropped, minlength=n_total)
    del run_starts
    shared_runs = (lengths >= 2) & (lengths <= cap)
    if not shared_runs.any():
        return np.empty(0, np.int64)
    # The shared, not-too-common postings end to end; owners ascend in a run.
    members = owners[np.repeat(shared_runs, lengths)].astype(np.int32)
    del owners, halves, samples
    lengths = lengths[shared_runs]
    index_type = np.int32 if members.size < 2**31 else np.int64
    run_end = np.repeat(np.cumsum(lengths).astype(index_type), lengths)
    # Member k pairs with the members after it in its run. A pair (lo, hi)
    # comes only from lo's positions, so blocks of whole ranges of texts see
    # every sample a pair shares.
    emitted = np.bincount(members, weights=run_end - np.arange(members.size, dtype=index_type) - 1, minlength=n_total)
    cum = np.cumsum(emitted)
    del emitted
    block = max(1 << 20, n_total)  # (about 8 MB of codes a block; each block scans all members once)
    found: list[I64Array] = []
    first = 0
    while first < n_total:
        before = cum[first - 1] if first else 0.0
        last = min(n_total, max(first + 1, int(np.searchsorted(cum, before + block, side="right"))))
        positions = np.flatnonzero((members >= first) & (members < last))
        found.append(_count_and_filter(members, run_end, positions, counts, containment_threshold))
        first = last
    return np.concatenate(found)


def _count_and_filter(
    members: npt.NDArray[np.int32],
    run_end: npt.NDArray[np.int32] | I64Array,
    positions: I64Array,
    samples_per_text: I64Array,
    containment_threshold: float,
) -> I64Array:
    """Count the samples shared by the pairs starting at ``positions``; keep the likely contained."""
    n_total = samples_per_text.size
    codes: list[I64Array] = []
    ends = run_end[positions]
    d = 1
    keep = positions + d < ends
    active, ends = positions[keep], ends[keep]
    while active.size:
        codes.append(members[active].astype(np.int64) * n_total + members[active + d])
        d += 1
        keep = active + d < ends
        active, ends = active[keep], ends[keep]
    if not codes:
        return np.empty(0, np.int64)
    emitted = np.sort(np.concatenate(codes))  # (np.unique's counts, by one sort: see `unique_sorted`)
    starts = np.flatnonzero(np.concatenate(([True], emitted[1:] != emitted[:-1])))
    pairs, shared = emitted[starts], np.diff(np.append(starts, emitted.size))
    n_small = np.minimum(samples_per_text[pairs // n_total], samples_per_text[pairs % n_total])
    needed = np.zeros(int(n_small.max()) + 1, dtype=np.int64)
    values = unique_sorted(n_small)
    needed[values] = [_min_shared(int(v), containment_threshold) for v in values.tolist()]
    return pairs[shared >= needed[n_small]]


# --------------------------------------------------------------------------
# The public entry point


@dataclass(frozen=True)
class SimilarPair:
    """Two texts whose shingle sets are similar; all figures are exact."""

    i: int  # indices into the input list, i < j
    j: int
    jaccard: float  # |S_i & S_j| / |S_i | S_j|
    containment_ij: float  # |S_i & S_j| / |S_i|: share of i's shingles found in j
    containment_ji: float  # |S_i & S_j| / |S_j|


def find_similar_pairs(
    texts: Sequence[str],
    *,
    shingle_size: int = 3,
    jaccard_threshold: float = 0.7,
    containment_threshold: float = 0.8,
    num_perm: int = 128,
    seed: int = 1,
    bucket_window: int | None = None,
) -> list[SimilarPair]:
    """Every pair with exact Jaccard >= ``jaccard_threshold`` or with
    ``max(containment_ij, containment_ji) >= containment_threshold``, sorted by (i, j).

    Candidates come from MinHash LSH (bands from ``choose_bands``; 25 x 5 for
    the defaults) and from a consistent-sampling containment index; every
    candidate is verified exactly, so no returned pair is wrong. See the
    module docstring for the method and its limits.

    ``bucket_window``: in an LSH bucket, pair each text only with the next
    ``bucket_window`` texts of the bucket (in text order) instead of with all:
    1,000 syndicated copies of a paragraph then cost 1,000 x window
    candidates, not 500,000. Pairs farther apart in a big bucket may be
    missed, but each text keeps verified links to its neighbours, so groups
    made transitively (dedup's union-find) stay whole when the copies are near
    one another. Default: all pairs.
    """
    if shingle_size < 1:
        raise ValueError(f"shingle_size must be >= 1, got {shingle_size}")
    for name, value in (("jaccard_threshold", jaccard_threshold), ("containment_threshold", containment_threshold)):
        if not 0.0 < value <= 1.0:
            raise ValueError(f"{name} must be in (0, 1], got {value}")
    n_total = len(texts)
    if n_total < 2:
        return []

    sketches = sketch_texts(texts, shingle_size=shingle_size, jaccard_threshold=jaccard_threshold,
                            num_perm=num_perm, seed=seed)
    candidates = candidate_codes(sketches, containment_threshold=containment_threshold,
                                 bucket_window=bucket_window, keep=False)
    return _verify(texts, candidates, sketches.shingle_counts, shingle_size, jaccard_threshold, containment_threshold)


def sketch_texts(texts: Sequence[str], *, shingle_size: int = 3, jaccard_threshold: float = 0.7,
                 num_perm: int = 128, seed: int = 1) -> Sketches:
    """Steps 1-2 of ``find_similar_pairs`` (band keys, shingle counts, containment samples): what a text
    contributes on its own, so that a caller can keep them across runs (``Sketches.select``, ``concat``)."""
    bands, rows = choose_bands(jaccard_threshold, num_perm)
    return _sketch(texts, shingle_size, _MinHasher(bands, rows, seed))


def candidate_codes(sketches: Sketches, *, containment_threshold: float = 0.8, bucket_window: int | None = None,
                    keep: bool = True) -> I64Array:
    """Steps 3-4 of ``find_similar_pairs``: sorted unique codes ``i * n + j`` (i < j, ``n`` texts) of the
    candidate pairs (LSH buckets and containment index). ``keep=False`` frees the sketches' band keys
    and samples on the way."""
    n_total = sketches.shingle_counts.size
    candidates = _lsh_candidates(sketches.band_keys, np.flatnonzero(sketches.shingle_counts), n_total,
                                 bucket_window)
    samples = list(sketches.samples) if keep else sketches.samples
    if not keep:
        sketches.band_keys = np.empty((0, 0), dtype=np.uint32)  # free it before the next step
    contained = _containment_candidates(samples, sketches.sample_counts, containment_threshold)
    return unique_sorted(np.concatenate([candidates, contained]))


def verify_candidates(texts: Sequence[str], codes: I64Array, shingle_counts: npt.NDArray[np.int32], *,
                      shingle_size: int = 3, jaccard_threshold: float = 0.7,
                      containment_threshold: float = 0.8) -> list[SimilarPair]:
    """Step 5 of ``find_similar_pairs`` on the given sorted pair codes (``i * len(texts) + j``);
    ``shingle_counts``: the sketches' (they size the blocks)."""
    return _verify(texts, codes, shingle_counts, shingle_size, jaccard_threshold, containment_threshold)


@dataclass
class Sketches:
    band_keys: npt.NDArray[np.uint32]  # [bands, n_texts]
    shingle_counts: npt.NDArray[np.int32]  # shingles per text, repeats included; 0 = no word
    samples: list[U64Array]  # per chunk: containment samples as key << 32 | text index
    sample_counts: npt.NDArray[np.int32]  # containment samples per text

    def select(self, ids: I64Array) -> Sketches:
        """The sketches of texts ``ids`` (in that order), as if only they had been sketched."""
        ids = np.asarray(ids, dtype=np.int64)
        new_of = np.full(self.shingle_counts.size, -1, dtype=np.int64)
        new_of[ids] = np.arange(ids.size)
        flat = np.concatenate(self.samples) if self.samples else np.empty(0, np.uint64)
        owner = new_of[(flat & np.uint64(0xFFFFFFFF)).astype(np.int64)]
        kept = owner >= 0
        samples = np.sort((flat[kept] & ~np.uint64(0xFFFFFFFF)) | owner[kept].astype(np.uint64))
        return Sketches(np.ascontiguousarray(self.band_keys[:, ids]), self.shingle_counts[ids], [samples],
                        self.sample_counts[ids])

    @staticmethod
    def concat(parts: Sequence[Sketches]) -> Sketches:
        """The sketches of the texts of ``parts``, one after the other."""
        first = 0
        samples = []
        for p in parts:
            samples.extend(s + np.uint64(first) for s in p.samples)  # the text index is in the low 32 bits
            first += p.shingle_counts.size
        return Sketches(np.concatenate([p.band_keys for p in parts], axis=1),
                         np.concatenate([p.shingle_counts for p in parts]), samples,
                         np.concatenate([p.sample_counts for p in parts]))


def _sketch(texts: Sequence[str], n: int, hasher: _MinHasher) -> Sketches:
    """One pass over the texts: band keys, shingle counts and containment samples."""
    sketches = Sketches(
        band_keys=np.zeros((hasher.bands, len(texts)), dtype=np.uint32),
        shingle_counts=np.zeros(len(texts), dtype=np.int32),
        samples=[],
        sample_counts=np.zeros(len(texts), dtype=np.int32),
    )
    for chunk in _chunks(texts):
        _sketch_chunk(texts, chunk, n, hasher, sketches)
    return sketches


def _sketch_chunk(texts: Sequence[str], chunk: list[int], n: int, hasher: _MinHasher, out: Sketches) -> None:
    first = chunk[0]
    shingles, owners = _chunk_shingles([texts[i] for i in chunk], n)
    counts = np.bincount(owners, minlength=len(chunk))
    out.shingle_counts[first : first + len(chunk)] = counts
    nonempty = np.flatnonzero(counts)
    if nonempty.size == 0:
        return
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))[nonempty]
    out.band_keys[:, first + nonempty] = hasher.band_keys(shingles, starts)
    mixed = _mix64(shingles ^ np.uint64(_SAMPLE_SALT))
    picked = mixed < np.uint64(_SAMPLE_CUTOFF)
    # One sample per distinct shingle of a text: low 32 bits of the re-mixed
    # hash (the cut-off used the high bits) and the text's index.
    key = mixed[picked] & np.uint64(0xFFFFFFFF)
    samples = _sorted_distinct(np.sort((key << np.uint64(32)) | (owners[picked] + first).astype(np.uint64)))
    out.samples.append(samples)
    owner = (samples & np.uint64(0xFFFFFFFF)).astype(np.int64) - first
    out.sample_counts[first : first + len(chunk)] = np.bincount(owner, minlength=len(chunk))


def _verify(
    texts: Sequence[str],
    codes: I64Array,
    shingle_counts: npt.NDArray[np.int32],
    n: int,
    jaccard_threshold: float,
    containment_threshold: float,
) -> list[SimilarPair]:
    """Exact check of candidate pairs (sorted codes) on re-computed shingle sets.

    Pairs are processed in blocks of about ``len(texts)`` shingles, which
    bounds the memory; a block holds whole connected groups of candidates
    where it can, so that most texts are shingled once.
    """
    if codes.size == 0:
        return []
    n_total = len(texts)
    left, right = codes // n_total, codes % n_total
    ids = unique_sorted(np.concatenate([left, right]))
    group = _components(np.searchsorted(ids, left), np.searchsorted(ids, right), ids.size)
    order = np.argsort(group, kind="stable")
    group_ends = np.append(np.flatnonzero(group[order][1:] != group[order][:-1]) + 1, order.size)
    weight = np.cumsum((shingle_counts[left] + shingle_counts[right])[order].astype(np.int64))
    budget = max(1 << 15, n_total)
    inter = np.empty(codes.size, dtype=np.int64)
    size_l = np.empty(codes.size, dtype=np.int64)
    size_r = np.empty(codes.size, dtype=np.int64)
    start = 0
    while start < order.size:
        before = int(weight[start - 1]) if start else 0
        stop = max(start + 1, int(np.searchsorted(weight, before + budget, side="right")))
        group_stop = int(group_ends[np.searchsorted(group_ends, stop)])
        if weight[group_stop - 1] - before <= 2 * budget:  # else split a big group
            stop = group_stop
        block = order[start:stop]
        inter[block], size_l[block], size_r[block] = _intersections(texts, left[block], right[block], n)
        start = stop
    union = size_l + size_r - inter
    jac = inter / union
    c_lr = inter / size_l
    c_rl = inter / size_r
    ok = (jac >= jaccard_threshold) | (np.maximum(c_lr, c_rl) >= containment_threshold)
    return [
        SimilarPair(int(i), int(j), float(x), float(y), float(z))
        for i, j, x, y, z in zip(left[ok], right[ok], jac[ok], c_lr[ok], c_rl[ok], strict=True)
    ]


def _components(a: I64Array, b: I64Array, count: int, rounds: int = 32) -> I64Array:
    """Group label of each pair: connected components of the edges (a, b).

    Label propagation with pointer jumping; after ``rounds`` rounds a long
    chain may still be split in several groups, which only costs some
    texts being shingled twice.
    """
    label = np.arange(count, dtype=np.int64)
    for _ in range(rounds):
        low = np.minimum(label[a], label[b])
        new = label.copy()
        np.minimum.at(new, a, low)
        np.minimum.at(new, b, low)
        new = new[new]
        if np.array_equal(new, label):
            break
        label = new
    return label[a]


def _intersections(
    texts: Sequence[str], left: I64Array, right: I64Array, n: int
) -> tuple[I64Array, I64Array, I64Array]:
    """Exact ``|S_l & S_r|``, ``|S_l|`` and ``|S_r|`` of each pair (l, r)."""
    ids = unique_sorted(np.concatenate([left, right]))
    parts: list[U64Array] = []
    sizes: list[I64Array] = []
    for chunk in _chunks(texts, ids.tolist()):
        shingles, owners = _chunk_shingles([texts[i] for i in chunk], n)
        unique, offsets = _sorted_unique_per_text(shingles, owners, len(chunk))
        parts.append(unique)
        sizes.append(np.diff(offsets))
    flat = np.concatenate(parts)
    size = np.concatenate(sizes)
    del parts, sizes
    offsets = np.concatenate(([0], np.cumsum(size)))
    li, ri = np.searchsorted(ids, left), np.searchsorted(ids, right)
    swap = size[li] > size[ri]  # look the smaller set up in the larger one
    small, big = np.where(swap, ri, li), np.where(swap, li, ri)
    by_big = np.argsort(big, kind="stable")  # queries in (nearly) ascending order
    small, big = small[by_big], big[by_big]
    # Text-major keys, sorted because each text's shingles are: the text in
    # the top bits, the shingle's top bits below it. A hit on the key is
    # confirmed on the full 64-bit shingle; a text with two shingles sharing
    # their top bits (never seen: 1 in 10**9) is handled by the slow path.
    bits = max(1, int(ids.size - 1).bit_length())
    text_of = np.repeat(np.arange(ids.size, dtype=np.uint64), size)
    keys = (text_of << np.uint64(64 - bits)) | (flat >> np.uint64(bits))
    del text_of
    if (keys[1:] == keys[:-1]).any():
        return _intersections_slow(flat, offsets, li, ri)
    pair = np.repeat(np.arange(left.size), size[small])
    values = flat[_ranges(offsets[small], size[small])]
    queries = (big[pair].astype(np.uint64) << np.uint64(64 - bits)) | (values >> np.uint64(bits))
    pos = np.searchsorted(keys, queries)
    np.minimum(pos, keys.size - 1, out=pos)
    found = (keys[pos] == queries) & (flat[pos] == values)
    hits = np.empty(left.size, dtype=np.int64)
    hits[by_big] = np.bincount(pair, weights=found, minlength=left.size).astype(np.int64)
    return hits, size[li], size[ri]


def _intersections_slow(
    flat: U64Array, offsets: I64Array, li: I64Array, ri: I64Array
) -> tuple[I64Array, I64Array, I64Array]:
    """``np.intersect1d`` pair by pair (fallback of ``_intersections``)."""

    def members(t: int) -> U64Array:
        return flat[offsets[t] : offsets[t + 1]]

    hits = np.array(
        [
            np.intersect1d(members(a), members(b), assume_unique=True).size
            for a, b in zip(li.tolist(), ri.tolist(), strict=True)
        ],
        dtype=np.int64,
    )
    size = np.diff(offsets)
    return hits, size[li], size[ri]
