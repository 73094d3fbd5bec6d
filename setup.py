"""evkit's optional C kernel (evkit/partitioning/_hashes.c); all other metadata is in pyproject.toml.

`optional=True`: where no C compiler is at hand the build warns and goes on, and evkit.partitioning.hashes
computes the same partitions with NumPy, more slowly."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("evkit.partitioning._hashes", ["evkit/partitioning/_hashes.c"], extra_compile_args=["-O3"], optional=True)])
