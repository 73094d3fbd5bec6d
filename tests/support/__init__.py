"""Helpers shared by the tests: datasets without a broker, dumping through the real broker, the secure broker."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
