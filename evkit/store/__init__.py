"""The dataset directory format: layout, atomic files, offset intervals, manifests, records, writers."""
