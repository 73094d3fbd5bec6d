"""The dump side: what to read (ranges, plan), a read-only connection, and reading it into a dataset."""
