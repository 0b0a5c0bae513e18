"""The Textual terminal UI. Talks to dock's client API only."""
