"""cache.digest: the key of a list of strings is the SHA-256 of their JSON, as for any other parts
(keys written by earlier versions stay valid)."""

import hashlib
import json
import random

from pipeline.cache import digest


def _reference(*parts):
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def test_strings_hash_as_their_json() -> None:
    rng = random.Random(7)
    ranges = [(0, 0x7F), (0x80, 0x7FF), (0x800, 0xD7FF), (0xE000, 0xFFFF), (0x10000, 0x10FFFF)]
    samples = ['', 'a', '"', '\\', '\n\t\r\b\f', '\x00\x1f\x7f', '\u2028\u2029', 'Le conseil a voté « ici »\u00a0!',
               'corpus-10000/9989_007.txt', 'e' * 64]
    for _ in range(2000):
        samples.append("".join(chr(rng.randint(*rng.choice(ranges))) for _ in range(rng.randint(0, 12))))
    for text in samples:
        assert digest("prefix", text) == _reference("prefix", text)
    assert digest() == _reference()
    assert digest(*samples[:10]) == _reference(*samples[:10])


def test_other_parts_unchanged() -> None:
    for parts in [("a", 1), ("a", None), ({"b": 1, "a": [1.5, "x"]},), (("t", "u"),), ("a", ["b"])]:
        assert digest(*parts) == _reference(*parts)
    assert digest({"a": 1, "b": 2}) == digest({"b": 2, "a": 1})
    assert digest("a", "b") != digest("a,b") != digest(["a", "b"], "")
