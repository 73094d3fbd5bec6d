"""Sharing a dump after the review (docs/sharing.md): `mask` (no customer data), `replay` (into a
staging cluster) and `diff` (two dumps or ranges), one module per job."""
