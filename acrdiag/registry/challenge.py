"""WWW-Authenticate challenges (RFC 7235 section 4.1, RFC 9110 section 11.6.1).

The header is a comma-separated list in which commas also separate the
parameters of one challenge, so a new challenge is recognised by lookahead:
`token BWS "="` continues the current challenge, anything else starts a new one.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

# RFC 9110 tchar; parameter names, schemes and unquoted values are made of these.
_TCHAR = frozenset("!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits)
_TOKEN68_CHAR = frozenset("-._~+/" + string.ascii_letters + string.digits)
_WHITESPACE = frozenset(" \t")
_SHOWN_MAX = 200


class ChallengeError(ValueError):
    """A WWW-Authenticate value that cannot be parsed."""


@dataclass(frozen=True)
class Challenge:
    scheme: str
    params: dict[str, str] = field(default_factory=dict)
    # Some schemes (Negotiate, NTLM) carry one opaque token68 instead of parameters.
    token68: str | None = None

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")

    @property
    def error(self) -> str | None:
        return self.params.get("error")

    @property
    def error_description(self) -> str | None:
        return self.params.get("error_description")


def parse_www_authenticate(values: list[str]) -> list[Challenge]:
    """All challenges of all WWW-Authenticate header values, in order."""
    challenges: list[Challenge] = []
    for value in values:
        challenges.extend(_Parser(value).challenges())
    return challenges


def pick_challenge(challenges: list[Challenge]) -> Challenge | None:
    """The challenge a registry client would answer: Bearer, else Basic, else the first."""
    for scheme in ("bearer", "basic"):
        for challenge in challenges:
            if challenge.scheme == scheme:
                return challenge
    return challenges[0] if challenges else None


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def challenges(self) -> list[Challenge]:
        found: list[Challenge] = []
        # Empty list elements (", ,") are allowed by RFC 9110 section 5.6.1.
        self._skip_separators()
        while not self._at_end():
            found.append(self._challenge())
        return found

    def _challenge(self) -> Challenge:
        scheme = self._token()
        if not scheme:
            raise self._error("expected an authentication scheme")
        spaced = self._skip_whitespace()
        if self._peek() == "=":
            raise self._error(f"parameter '{scheme}' has no authentication scheme before it")
        if self._at_end() or self._peek() == ",":
            self._skip_separators()
            return Challenge(scheme.lower())
        if not spaced:
            raise self._error(f"unexpected {self._peek()!r} after scheme '{scheme}'")
        token68 = self._token68()
        if token68 is not None:
            return Challenge(scheme.lower(), token68=token68)
        return Challenge(scheme.lower(), self._params())

    def _params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        while True:
            name = self._token()
            self._skip_whitespace()
            if not name or self._peek() != "=":
                raise self._error("expected a parameter name=value")
            self.pos += 1
            self._skip_whitespace()
            # Duplicates are invalid; the last one wins, as in docker's parser.
            params[name.lower()] = self._value(name)
            self._skip_whitespace()
            if self._at_end():
                return params
            if self._peek() != ",":
                raise self._error(f"expected ',' after parameter '{name}'")
            self._skip_separators()
            if self._at_end() or not self._param_ahead():
                return params

    def _value(self, name: str) -> str:
        if self._peek() == '"':
            return self._quoted()
        value = self._token()
        if not value:
            raise self._error(f"parameter '{name}' has no value")
        return value

    def _param_ahead(self) -> bool:
        """True if a `name=` follows, i.e. the current challenge goes on."""
        start = self.pos
        name = self._token()
        self._skip_whitespace()
        is_param = bool(name) and self._peek() == "="
        self.pos = start
        return is_param

    def _token68(self) -> str | None:
        """Read `Negotiate abc==`-style credentials; None (and no move) if not one."""
        start = self.pos
        while self._peek() and self._peek() in _TOKEN68_CHAR:
            self.pos += 1
        if self.pos == start:
            return None
        while self._peek() == "=":
            self.pos += 1
        value = self.text[start : self.pos]
        self._skip_whitespace()
        if self._at_end() or self._peek() == ",":
            self._skip_separators()
            return value
        self.pos = start
        return None

    def _quoted(self) -> str:
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == '"':
                self.pos += 1
                return "".join(chars)
            if char == "\\" and self.pos + 1 < len(self.text):
                char = self.text[self.pos + 1]
                self.pos += 1
            elif char == "\\":
                break
            chars.append(char)
            self.pos += 1
        self.pos = start
        raise self._error("unterminated quoted string")

    def _token(self) -> str:
        start = self.pos
        while self._peek() and self._peek() in _TCHAR:
            self.pos += 1
        return self.text[start : self.pos]

    def _skip_whitespace(self) -> bool:
        start = self.pos
        while self._peek() and self._peek() in _WHITESPACE:
            self.pos += 1
        return self.pos > start

    def _skip_separators(self) -> None:
        while self._peek() and self._peek() in " \t,":
            self.pos += 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _error(self, reason: str) -> ChallengeError:
        shown = self.text if len(self.text) <= _SHOWN_MAX else self.text[:_SHOWN_MAX] + "..."
        return ChallengeError(
            f"cannot parse WWW-Authenticate {shown!r}: {reason} at offset {self.pos}"
        )
