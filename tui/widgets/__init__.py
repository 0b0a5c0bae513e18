"""Reusable widgets: result table, filters, path input, progress line."""
