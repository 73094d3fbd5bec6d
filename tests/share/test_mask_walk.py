"""JSON field masking's fast path (`Masker.walk_kept`: otherwise = keep, in place, visiting only what a
rule may name) gives exactly what the general walk (`Masker.walk`) gives: on generated documents
and rules, and on a whole dataset masked each way."""
from __future__ import annotations

import copy
import hashlib
import hmac
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import evkit
from evkit.share.mask import _JSON, _MISSING, ACTIONS, Masker, MaskRules
from evkit.store.records import records_table
from evkit.store.writer import write_records
from support.dumping import dataset_rows

KEY = b"k" * 32
NAMES = ["id", "user", "email", "items", "sku", "a.b", "n"]
PATHS = ["$", "$.id", "$.user", "$.user.email", "$.**.email", "$.items[*]", "$.items[*].sku", "$.*", "$.us*",
         "$.**", "$.items", "$.a.b", "$.user.*", "$.**.n", "$[*]", "$[*].id"]

leaf = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**20), st.floats(allow_nan=False, allow_infinity=False),
                 st.text(max_size=4))
document = st.recursive(leaf, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NAMES), inner,
                                                                                          max_size=4), max_leaves=12)
rules = st.dictionaries(st.sampled_from(PATHS), st.sampled_from(ACTIONS), max_size=4)


def masker(paths: dict[str, str]) -> tuple[Masker, object]:
    m = Masker(MaskRules({"key": "keep", **paths}), KEY)
    return m, m.topic("t")


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.one_of(st.lists(document, max_size=3), st.dictionaries(st.sampled_from(NAMES), document, max_size=5)),
       paths=rules)
def test_fast_walk_equals_the_general_walk(doc, paths):
    m, topic = masker(paths)
    assert topic.otherwise == "keep"
    general = m.walk(copy.deepcopy(doc), "$", topic)
    fast = m.walk_kept(copy.deepcopy(doc), "$", topic)
    assert (fast is _MISSING) == (general is _MISSING)  # `"$" = "drop"`
    if general is not _MISSING:
        assert _JSON.encode(fast) == _JSON.encode(general)


def test_a_dataset_masked_by_either_walk_is_the_same(tmp_path, monkeypatch):
    docs = [{"id": f"e{i}", "user": {"email": f"u{i}@example.org", "n": i, "tags": ["a", {"email": "x"}]},
             "items": [{"sku": f"S{i}", "n": 1.50}, {"n": None}], "amount": 12.5e3, "note": "é\u2028"} for i in range(40)]
    values = [json.dumps(d).encode() for d in docs] + [b"[1, 2]", b'{"id": 1}  ', b"not json", b"", None, b"\xff{",
                                                        '{"id": "\ud800"}'.encode("utf-8", "surrogatepass"), b'{"x": "\\udc00", "id": 2}']
    rows = [{"topic": "t", "partition": 0, "offset": n, "timestamp": 1_764_000_000_000 + n, "key": b"k%d" % (n % 3),
             "value": v, "headers": None} for n, v in enumerate(values)]
    write_records(tmp_path / "raw", records_table(rows))
    paths = {"key": "hash", "$.**.email": "hash", "$.items[*].sku": "drop", "$.user.n": "redact_same_size", "$.id": "redact"}
    evkit.mask(tmp_path / "raw", out=tmp_path / "fast", rules={"defaults": paths}, key=KEY, quiet=True)
    monkeypatch.setattr(Masker, "walk_kept", Masker.walk)
    evkit.mask(tmp_path / "raw", out=tmp_path / "general", rules={"defaults": paths}, key=KEY, quiet=True)
    fast, general = dataset_rows(tmp_path / "fast"), dataset_rows(tmp_path / "general")
    assert fast == general and len(fast) == len(values)
    assert fast[0]["value"] != values[0] and b"u0@example.org" not in fast[0]["value"]
    assert fast[-1]["value"] == b'{"x":"\\udc00","id":"[redacted]"}'  # a lone surrogate stays escaped


def test_hash_is_hmac_sha256_for_any_key_length():
    """Masker.hashed computes HMAC from copied SHA-256 states: the same as hmac for short, block-long
    and long (hashed first) keys; a pickled masker hashes alike."""
    import pickle

    for key in (b"s" * 16, b"b" * 64, b"l" * 100):
        m = Masker(MaskRules({"key": "hash"}), key)
        for data in (b"user-17", b"", b"x" * 200):
            assert m.hashed(data) == hmac.new(key, data, hashlib.sha256).hexdigest()[:32]
        assert pickle.loads(pickle.dumps(m)).hashed(b"other") == hmac.new(key, b"other", hashlib.sha256).hexdigest()[:32]


def test_a_rule_on_the_whole_document():
    """`$` names the whole JSON document: drop makes the value null (as `value = "drop"`), other
    actions make it a JSON string; a value that is no JSON document is left to `otherwise`."""
    for action, expected in (("drop", None), ("redact", b'"[redacted]"'), ("keep", b'{"a":1}')):
        m, topic = masker({"$": action})
        assert (m.value(b'{"a": 1}', topic), m.value(b"text", topic)) == (expected, b"text")


def test_framed_values_no_stored_schema_reaches_under_field_rules():
    """In `evkit mask` (stored schemas known), a JSON document behind a registry frame (JSON Schema) is
    walked and keeps its frame; a framed payload no rule can see into is hashed whole, never kept raw;
    a value that is not framed is left to `otherwise` as before."""
    from evkit.share.mask_framed import FramedValues

    m, topic = masker({"$.user_id": "hash"})
    m.framed = FramedValues({}, {})
    frame = b"\x00\x00\x00\x00\x0c"
    user = hmac.new(KEY, b"user-17", hashlib.sha256).hexdigest()[:32].encode()
    assert m.value(frame + b'{"user_id": "user-17", "n": 1}', topic) == frame + b'{"user_id":"' + user + b'","n":1}'
    opaque = frame + b"\x02user-17"
    assert m.value(opaque, topic) == hmac.new(KEY, opaque, hashlib.sha256).hexdigest()[:32].encode()
    assert m.value(b"user-17 logged in", topic) == b"user-17 logged in"
