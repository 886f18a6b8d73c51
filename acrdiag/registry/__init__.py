"""Registry protocol knowledge: parsers and tables, no I/O."""
