"""What a diff reads: each dataset's files verified (sha256) once, even when A and B are one dataset."""
from __future__ import annotations

from collections import Counter

import evkit
import evkit.analysis.verify as verify
from evkit.store.records import records_table
from evkit.store.writer import write_records


def test_each_file_is_verified_once(tmp_path, monkeypatch):
    rows = [{"topic": "t", "partition": p, "offset": o, "timestamp": 1_764_000_000_000 + o, "key": b"k%d-%d" % (p, o),
             "value": b"v%d" % o, "headers": None} for p in (0, 1) for o in range(3)]
    write_records(tmp_path / "a", records_table(rows))
    write_records(tmp_path / "b", records_table(rows[1:]), cluster_id="other")
    hashed = Counter()
    real = verify.sha256_file

    def counting(path):  # a spy on the real function: which files were hashed, how often
        hashed[path] += 1
        return real(path)

    monkeypatch.setattr(verify, "sha256_file", counting)
    same = evkit.diff(tmp_path / "a", tmp_path / "a", quiet=True)
    assert same.equal and len(hashed) == 2 and set(hashed.values()) == {1}  # two partition files, once each
    hashed.clear()
    other = evkit.diff(tmp_path / "a", tmp_path / "b", quiet=True)
    assert other.counts() == {"only_in_a": 1, "only_in_b": 0, "changed": 0, "moved": 0}
    assert len(hashed) == 4 and set(hashed.values()) == {1}
