"""Health checks: many targets from definition files, run concurrently, reported for
monitoring (`acrdiag check`, `acrdiag serve`; README "Health checks")."""
