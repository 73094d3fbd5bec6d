"""The C kernel of evkit.partitioning.hashes (evkit/partitioning/_hashes.c) against its NumPy fallback, and its own
checks of the buffers it is given. The published vectors and librdkafka's functions are checked on
both in tests/test_partitioners.py."""
from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest

import evkit.partitioning.hashes
from evkit.partitioning.hashes import partition_all, placement_hashes


def test_c_kernel_equals_numpy_on_every_partitioner(native_kernel, monkeypatch):
    # Chunks of 700 keys cross the kernel's 512-key blocks; nulls and empty keys in every chunk.
    rng = random.Random(5)
    keys = [None if i % 97 == 0 else rng.randbytes(rng.choice([0, 1, 3, 4, 5, 8, 16, 33]) + rng.randrange(3))
            for i in range(5000)]
    monkeypatch.setattr(evkit.partitioning.hashes, "CHUNK_ROWS", 700)
    column = pa.array(keys, type=pa.large_binary()).slice(3)
    results = {}
    for backend, native in (("c", native_kernel), ("numpy", None)):
        monkeypatch.setattr(evkit.partitioning.hashes, "_native", native)
        results[backend] = [placement_hashes(column)] + [partition_all(column, n) for n in (1, 12, 2**31 - 1)]
    for c_placed, numpy_placed in zip(results["c"], results["numpy"]):
        assert {name: p.tolist() for name, p in c_placed.items()} == {name: p.tolist() for name, p in numpy_placed.items()}


def test_c_kernel_refuses_bad_buffers(native_kernel):
    out = np.empty(2, np.int32)
    with pytest.raises(ValueError, match="^offset 2 is negative, decreasing or past the 4 data bytes$"):
        native_kernel.place_keys(np.array([0, 3, 9], np.int32), b"abcd", None, 12, out, None, None, None, None, None)
    offsets = np.array([0, 3, 4], np.int32)
    too_small = "^the outputs must be signed integer buffers of one size, one item per key, that hold modulus - 1$"
    with pytest.raises(ValueError, match=too_small):
        native_kernel.place_keys(offsets, b"abcd", None, 2**32, out, None, None, None, None, None)
    with pytest.raises(ValueError, match=too_small):  # int8 holds partitions up to 127
        native_kernel.place_keys(offsets, b"abcd", None, 129, np.empty(2, np.int8), None, None, None, None, None)
    with pytest.raises(ValueError, match=too_small):
        native_kernel.place_keys(offsets, b"abcd", None, 12, out, np.empty(2, np.int16), None, None, None, None)
