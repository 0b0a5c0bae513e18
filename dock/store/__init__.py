"""The catalogue: DuckDB tables and their migrations (catalogue), the network tables (network_tables) and the
content-addressed zips on disk (blobs)."""
