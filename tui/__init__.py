"""The Textual terminal UI. Talks to dock's client API only.

Nothing here is imported by `dock`; `tui.launcher` (the `lwdock` console script) imports
Textual only when it actually opens the UI, so `lwdock <command>` stays as fast as `dock.cli`.
"""
