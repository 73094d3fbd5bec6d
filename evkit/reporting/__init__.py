"""Notebook reports (`evkit report`, `evkit demo`) and the plots they draw."""
