"""The command palette (ctrl+p): every action of the screen it is opened from, plus the global ones."""

from __future__ import annotations

from typing import Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider


class LwdockCommands(Provider):
    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        entries = []
        palette = getattr(self.screen, "palette_commands", None)
        if callable(palette):
            entries += palette()
        entries += self.app.global_commands()  # type: ignore[attr-defined]
        return entries

    async def discover(self) -> Hits:
        for title, help_text, callback in self._commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self._commands():
            score = max(matcher.match(title), matcher.match(help_text) * 0.5)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
