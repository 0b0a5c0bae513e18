"""Demo data: learnwares built from bundled datasets (market) and the three-node demo network the TUI opens
(network)."""
