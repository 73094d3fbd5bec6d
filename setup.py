"""evkit's optional C kernel (evkit/_hashes.c); all other metadata is in pyproject.toml.

`optional=True`: where no C compiler is at hand the build warns and goes on, and evkit.partitioners
computes the same partitions with NumPy, more slowly."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("evkit._hashes", ["evkit/_hashes.c"], extra_compile_args=["-O3"], optional=True)])
