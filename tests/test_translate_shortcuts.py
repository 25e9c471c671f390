"""Work the translator skips must not change what it returns: the senses' literal guard, the fast paths
of the Apertium repairs, and the file hashes of a pair's identity remembered in the run's cache (with
git's "racy file" guard: a file modified just before its hash was taken is hashed again)."""

from __future__ import annotations

import os
import re
import time

import pytest

from pipeline.cache import Cache
from pipeline.translate import engine
from pipeline.translate.apertium import _has_mark, _pivot_words, _strip_accents
from pipeline.translate.engine import FILE_HASHES, file_identities, pair_identity
from pipeline.translate.senses import SENSES, fix_senses, required_text

from conftest import apertium_missing

needs_apertium = pytest.mark.skipif(apertium_missing() is not None, reason=apertium_missing() or "")

# English as the pivot writes it, with a phrase each entry of SENSES rewrites (and ones it must not)
PIVOT_ENGLISH = [
    "The pattern of Total is here.", "The patterns left.", "A thing is true: he will come.", "He is of return.",
    "He puts in cause the government.", "Now well, the Centre considers it a myth.", "Of another side, he needs help.",
    "He speaks with Jon Holmquist, that works for Coinabul.", "He will vote the the text to to the day.",
    "Consistently, 180 projects of law.", "He works here to leave of 2009.", "these new disposals",
    "the tax of participation and the tax of unemployment", "It treats of Venus.", "the project of law",
    "It does not import where.", "They say does not import what.", "It does fault counter it.", "Sure enough, he came.",
    "He is come for that, they were gone.", "He leaves morning.", "the apresamiento of functions of the president",
    "Definitely that runs.", "His children love his school.", "He equally spoke.", "He sells arms.",
    "The report among the Higgs and the mass.", "The house finds in Paris. Finds it.", "Afterwards, he left.",
    "The constituents voted.", "It does lacking to keep in mind.", "The palliative cures are free.",
    "He works whereas she sleeps.", "He would have to leave.", "Of numerous nationals came; numerous others.",
    "The scientific investigation advances.", "The agreements obtained.", "He speaks of politics and of sport or of art.",
    "The prize of petrol dropped; prizes rose.", "Unemployment augments, augmented, augmenting, augment.",
    "He started the first world-wide war.", "They can not occupy it. Can not.", "Like this, he came; like this, no.",
    "There is near of 300 cases.", "He lives near of the station.", "The spokesman of the society spoke; an society.",
    "The authorities have darse cuenta of the problem.", "It is necessary to darse of the problem.",
    "She was the one of the first. The one of them.", "They do not know the tongue of the country; tongues.",
    "It fails to say that it is hard.", "It fails an immense accelerator.", "The flare took off; flares.",
    "The exchanges based in of the central banks.", "The end of the years 1980 was hard.",
    "According to Palas, the UE would have had to pay the ONU, the OTAN and the FMI.",
    "Nothing here is rewritten at all.", "pattern-less, armsful, Amongst, prized, societyX, Whereas",
]
# French that makes every entry's `when` hold, and French that makes none of them hold
FRENCH_ALL = ("Or, le patron et les patrons d'un autre côté, qui En conséquence les dispositions, demain, leur "
              "également armes entre se trouve ensuite électeurs soins alors que devrait nombreux recherches contrats "
              "prix augmente ainsi société langues faut fusées")
FRENCH_NONE = "Rien de tout cela."


def _every_entry(english: str, french: str) -> str:
    """fix_senses as it was before the literal guard: every entry whose `when` holds, applied in order."""
    for sense in SENSES:
        if sense.when is None or sense.when.search(french):
            english = sense.pattern.sub(sense.replacement, english)  # type: ignore[arg-type]
    return english


def test_required_text_is_what_every_match_contains():
    assert required_text(re.compile(r"\bprize(s?)\b")) == "prize"
    assert required_text(re.compile(r"\b(?:of )?numerous\b")) == "numerous"
    assert required_text(re.compile(r"\b([Aa]) thing is true\b")) == " thing is true"
    assert required_text(re.compile(r"^Consistently,")) == "Consistently,"
    assert required_text(re.compile(r"\b(UE|ONU)\b")) == ""  # an alternation: nothing sure
    assert required_text(re.compile(r"cat|dog")) == ""
    assert required_text(re.compile(r"\bprize\b", re.IGNORECASE)) == ""  # case ignored: not a literal
    assert required_text(re.compile(r"ab?c")) == "a"
    for sense in SENSES:
        for english in PIVOT_ENGLISH:
            for m in sense.pattern.finditer(english):
                assert sense.needs in m.group(0), (sense.pattern.pattern, english)


@pytest.mark.parametrize("french", [FRENCH_ALL, FRENCH_NONE])
def test_senses_guard_changes_no_translation(french):
    changed = 0
    for english in [*PIVOT_ENGLISH, " ".join(PIVOT_ENGLISH)]:
        assert fix_senses(english, french) == _every_entry(english, french)
        changed += fix_senses(english, french) != english
    assert changed >= (40 if french == FRENCH_ALL else 20)  # the phrases do reach the entries


def test_repairs_fast_paths_keep_their_results():
    assert _strip_accents("pélican") == "pelican" and _strip_accents("pelican") == "pelican"
    assert _strip_accents("Éloïse-Noël") == "Eloise-Noel"
    assert not _has_mark("Le chat.", "The cat.")
    assert _has_mark("Le chat.", "The *gato.") and _has_mark("Le chat.", "The gato#.")
    assert not _has_mark("Le *chat.", "The *cat.")  # as many marks as the source: not Apertium's
    assert _pivot_words("The *reflexionar of *Renault", "La réflexion de Renault") == ["reflexionar"]
    assert _pivot_words("The *pélican", "Le pelican") == []  # the source's word, accents aside
    assert _pivot_words("The cat", "Le chat") == []


class _Store:
    """A hash store that records what is asked and stored."""

    def __init__(self):
        self.values: dict[str, str] = {}
        self.stored: list[str] = []

    def get_many(self, kind, keys):
        assert kind == FILE_HASHES
        return {k: self.values[k] for k in keys if k in self.values}

    def put_many(self, kind, items):
        for k, v in items:
            self.values[k] = v
            self.stored.append(k)


def _hash_calls(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = engine._file_hash.__wrapped__

    def counted(path, size, mtime_ns):
        calls.append(path)
        return real(path, size, mtime_ns)

    monkeypatch.setattr(engine, "_file_hash", counted)
    return calls


@needs_apertium
def test_pair_files_hashed_once_then_read_from_the_cache(tmp_path, monkeypatch):
    expected = pair_identity("fr-es")
    cache = Cache(tmp_path / "cache.sqlite")
    calls = _hash_calls(monkeypatch)
    assert pair_identity("fr-es", cache) == expected
    assert calls, "the first run hashes the pair's files"
    calls.clear()
    again = Cache(tmp_path / "cache.sqlite")  # the next run
    assert pair_identity("fr-es", again) == expected
    assert calls == []
    assert again.stats[FILE_HASHES].hits > 0 and again.stats[FILE_HASHES].misses == 0


def test_a_file_modified_in_place_is_hashed_again(tmp_path, monkeypatch):
    data = tmp_path / "pair.bin"
    data.write_bytes(b"version 1")
    settled = time.time_ns() - 10 * 10**9
    os.utime(data, ns=(settled, settled))
    real_now = time.time_ns
    monkeypatch.setattr(engine.time, "time_ns", lambda: real_now() + 10 * 10**9)  # hashed 10 s after the change
    store = _Store()
    calls = _hash_calls(monkeypatch)
    first = file_identities([str(data)], store)[0]
    assert len(store.stored) == 1 and len(calls) == 1
    assert file_identities([str(data)], store)[0] == first and len(calls) == 1  # remembered
    # the same size and mtime, other bytes (an edit that restores the time): the ctime moved, so it is hashed again
    time.sleep(0.05)  # (past the file system's timestamp granularity)
    data.write_bytes(b"version 2")
    os.utime(data, ns=(settled, settled))
    second = file_identities([str(data)], store)[0]
    assert second[:4] == first[:4] and second[4] != first[4]


def test_a_file_modified_just_before_its_hash_is_not_remembered(tmp_path, monkeypatch):
    data = tmp_path / "pair.bin"
    data.write_bytes(b"fresh")  # mtime and ctime: now, within the racy window
    store = _Store()
    calls = _hash_calls(monkeypatch)
    first = file_identities([str(data)], store)[0]
    assert store.stored == []
    assert file_identities([str(data)], store)[0] == first and len(calls) == 2  # hashed again
    assert file_identities([str(tmp_path / "gone.bin")], store) == [[str(tmp_path / "gone.bin"), "missing"]]


def test_a_file_whose_mtime_was_set_back_just_now_is_not_remembered(tmp_path):
    data = tmp_path / "pair.bin"
    data.write_bytes(b"unpacked")
    settled = time.time_ns() - 10 * 10**9
    os.utime(data, ns=(settled, settled))  # an old mtime (as dpkg sets), but its ctime is now
    store = _Store()
    file_identities([str(data)], store)
    assert store.stored == []
