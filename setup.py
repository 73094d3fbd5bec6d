"""evkit's optional C extensions; all other metadata is in pyproject.toml.

* `evkit.partitioning._hashes` (evkit/partitioning/_hashes.c): the partitioner kernel; without it
  evkit.partitioning.hashes computes the same partitions with NumPy, more slowly.
* `evkit.cluster._native_reader` (evkit/cluster/_native_reader.c): the dump reader that fills Arrow
  buffers in C from librdkafka (the one confluent-kafka bundles, found at run time: no librdkafka
  headers or -dev package needed); without it `evkit dump` reads with the Python reader.
  EVKIT_NATIVE_READER=0 leaves it out of a build (`make demo` reads no Kafka and skips it).

`optional=True`: where no C compiler is at hand the build warns and goes on without them.
"""
import os

from setuptools import Extension, setup

extensions = [Extension("evkit.partitioning._hashes", ["evkit/partitioning/_hashes.c"], extra_compile_args=["-O3"],
                        optional=True)]
if os.environ.get("EVKIT_NATIVE_READER", "1") != "0":
    extensions.append(Extension("evkit.cluster._native_reader", ["evkit/cluster/_native_reader.c"],
                                depends=["evkit/cluster/_rdkafka_abi.h"], extra_compile_args=["-O3", "-pthread"],
                                libraries=["dl"], optional=True))
setup(ext_modules=extensions)
