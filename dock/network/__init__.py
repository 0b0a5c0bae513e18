"""The network service: NetworkService (service), its wire constants (wire), sync, fetch, search over peers
(peer_search), ingesting records (ingest), signed envelopes (signed_records), budgets and the trust list."""
