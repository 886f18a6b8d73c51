"""End-to-end tests that drive acrdiag against a lab of real servers."""
