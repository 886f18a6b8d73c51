"""acrdiag: which step of a container image pull broke, why, and what to hand to support."""

__version__ = "0.1.0"

import sys as _sys

# httpx's __init__ imports its optional command line (click, rich, pygments) whenever
# they are installed: about 50 ms at every start, for a CLI acrdiag never calls. A None
# entry makes that import fail, and httpx falls back to its stub. Only before httpx loads.
if "httpx" not in _sys.modules:
    _sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
