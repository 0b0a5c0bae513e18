"""Screens: search (home), detail, reuse, publish, network, help."""
