"""The seven probes, one module each, run in order by the engine."""
