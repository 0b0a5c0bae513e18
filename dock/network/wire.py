"""The network service's wire names: gossip topics, request protocols (docs/PROTOCOL.md), and the
msgpack limits every peer message is decoded with. Its own module so the service and the search
over peers share them without importing each other."""

RECORDS_TOPIC = "/lwdock/records/1.0.0"
HAVE_TOPIC = "/lwdock/have/1.0.0"
SYNC_PROTOCOL = "/lwdock/sync/1.0.0"
SEARCH_PROTOCOL = "/lwdock/search/1.0.0"
UNPACK = dict(
    raw=False,
    strict_map_key=True,
    max_bin_len=16 << 20,
    max_str_len=1 << 20,
    max_array_len=10_000,
    max_map_len=64,
    max_ext_len=0,
)
