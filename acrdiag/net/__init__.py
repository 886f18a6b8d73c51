"""Network layer: resolution, connections with per-phase timing, proxies, error classification."""
