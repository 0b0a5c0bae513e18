"""Paged, sorted, filtered listing (issue 16 item 3): Dock.list_page / count embedded, over the
control socket of a real `lwdock node --offline`, and `lwdock list --limit/--offset/--sort/--json`.
Real DuckDB; records stored through the sync's bulk path (signed by real keys)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from dock import Dock
from dock.errors import DockError
from dock.network.bulk_ingest import ingest_page
from dock.network.signed_records import decode_envelope
from p2p import Identity

from .test_api_parity import _daemon
from .test_network_trust import _fake_id, record

NAMES = ["delta", "Alpha", "charlie", "bravo", "echo", "foxtrot", "golf"]


def _fill(home, names=NAMES):
    """One record per name (Classification, scenario Nature), signed by one new publisher."""
    publisher = Identity.generate()
    page = []
    for n, name in enumerate(names):
        envelope = record(publisher, _fake_id(name), seq=1000 + n, name=name)
        page.append(decode_envelope(envelope))
    with Dock.open(home) as dock:
        for signed in page:  # one page per record: distinct added_at, so "added" order is defined
            outcomes, refused = ingest_page(dock, [signed], None)
            assert outcomes == ["stored"] and not refused
    return publisher


def _names(records):
    return [r.name for r in records]


def test_pages_follow_the_sort_and_cover_every_record_once(tmp_path):
    _fill(tmp_path / "h")
    with Dock.open(tmp_path / "h") as dock:
        everything = dock.list()  # no arguments: every record, newest first, as before
        assert _names(everything) == list(reversed(NAMES))
        assert dock.count() == len(NAMES)

        by_name = sorted(NAMES, key=str.casefold)
        first = dock.list_page(limit=3, sort="name")
        assert _names(first.records) == by_name[:3] and first.total == len(NAMES) and first.next_after
        # keyset paging and offset paging give the same sequence, each record once
        seen, after = [], None
        while True:
            page = dock.list_page(limit=3, sort="name", after=after)
            seen += _names(page.records)
            if page.next_after is None:
                break
            after = page.next_after
        assert seen == by_name
        assert _names(dock.list_page(limit=3, offset=3, sort="name").records) == by_name[3:6]
        assert _names(dock.list_page(limit=3, sort="-name").records) == by_name[::-1][:3]
        assert _names(dock.list(limit=2)) == list(reversed(NAMES))[:2]  # limit alone: newest first
        assert dock.list_page(limit=5, offset=100).records == []


def test_filters_narrow_the_page_and_the_count(tmp_path):
    publisher = _fill(tmp_path / "h")
    with Dock.open(tmp_path / "h") as dock:
        assert dock.count({"name": "ALP"}) == 1
        assert _names(dock.list_page(filter={"name": "o"}, sort="name").records) == ["bravo", "echo", "foxtrot", "golf"]
        assert dock.count({"publisher": publisher.peer_id}) == len(NAMES)
        assert dock.count({"publisher": Identity.generate().peer_id}) == 0
        assert dock.count({"task_type": "Classification", "scenario": "Nature"}) == len(NAMES)
        assert dock.count({"local": True}) == 0 and dock.count({"local": False}) == len(NAMES)


@pytest.mark.parametrize("kwargs, message", [
    ({"sort": "popularity"}, "unknown sort 'popularity'"),
    ({"filter": {"colour": "red"}}, "unknown listing filter"),
    ({"filter": {"local": "yes"}}, "local must be true or false"),
    ({"limit": 0}, "limit must be an integer in 1..10000"),
    ({"offset": -1}, "offset must be a non-negative integer"),
    ({"offset": 2, "after": "x"}, "not both"),
    ({"after": "not-a-cursor"}, "not one a listing returned"),
])
def test_bad_paging_arguments_say_what_is_wrong(tmp_path, kwargs, message):
    _fill(tmp_path / "h", NAMES[:2])
    with Dock.open(tmp_path / "h") as dock:
        with pytest.raises(DockError, match=message):
            dock.list_page(**kwargs)
        cursor = dock.list_page(limit=1, sort="name").next_after
        with pytest.raises(DockError, match="was made for sort 'name'"):
            dock.list_page(limit=1, sort="size", after=cursor)
        assert len(dock.list_page(limit=1, sort="name", after=cursor).records) == 1  # the honest path


def test_the_same_pages_over_the_control_socket_and_the_cli(tmp_path):
    home = tmp_path / "home"
    _fill(home)
    proc, remote = _daemon(home)
    try:
        with remote as dock:
            page = dock.list_page(limit=2, sort="name")
            assert _names(page.records) == sorted(NAMES, key=str.casefold)[:2] and page.total == len(NAMES)
            nxt = dock.list_page(limit=2, sort="name", after=page.next_after)
            assert _names(nxt.records) == sorted(NAMES, key=str.casefold)[2:4]
            assert dock.count({"name": "a"}) == 4  # Alpha, charlie, bravo, delta
            assert _names(dock.list(limit=1)) == [NAMES[-1]]
            with pytest.raises(DockError, match="unknown sort"):
                dock.list_page(sort="nope")
        env = dict(os.environ, LWDOCK_HOME=str(home))
        cli = subprocess.run([sys.executable, "-m", "dock.cli", "list", "--limit", "3", "--offset", "1", "--sort",
                              "name", "--json"], env=env, capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        shown = json.loads(cli.stdout)
        assert [r["name"] for r in shown["records"]] == sorted(NAMES, key=str.casefold)[1:4]
        assert shown["total"] == len(NAMES) and shown["offset"] == 1
        bad = subprocess.run([sys.executable, "-m", "dock.cli", "list", "--filter", "colour"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode != 0 and "KEY=VALUE" in bad.stderr and not bad.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
