"""Compatibility layers for scripts written against other learnware systems.

`dock.compat.learnware` mirrors the reference package (`learnware` 0.3.2, Beimingwu's engine): a script
rewrites `from learnware.X import Y` to `from dock.compat.learnware.X import Y` and runs on lwdock's own
engine. docs/COMPAT.md lists every public name of the reference and what became of it.
"""
