"""WWW-Authenticate challenges (RFC 7235 section 4.1, RFC 9110 section 11.6.1).

The header is a comma-separated list in which commas also separate the
parameters of one challenge, so a new challenge is recognised by lookahead:
`token BWS "="` continues the current challenge, anything else starts a new one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Every scan below is one compiled match from the current position, never a Python loop per
# character, and every pattern has a single way to match (possessive where a group repeats),
# so a 1 MB header is one linear pass with nothing to backtrack into.
# RFC 9110 tchar; parameter names, schemes and unquoted values are made of these.
_TCHARS = r"[!#$%&'*+\-.^_`|~A-Za-z0-9]"
_TOKEN = re.compile(_TCHARS + "*")
# RFC 9110 quoted-string; a backslash escapes any character, as in docker's parser.
_QUOTED = r'"((?:[^"\\]++|\\.)*+)"'
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_WHITESPACE = re.compile(r"[ \t]*")
_SEPARATORS = re.compile(r"[ \t,]*")
# A challenge that is a scheme alone ("Negotiate,"): the common case gets one match.
_BARE_SCHEME = re.compile(rf"({_TCHARS}+)[ \t]*(?:,[ \t,]*|\Z)")
# token68 only counts when it ends the challenge ("Negotiate abc==", "Basic realm=").
_TOKEN68 = re.compile(r"([-._~+/A-Za-z0-9]+=*)[ \t]*(?:,[ \t,]*|\Z)")
_PARAM = re.compile(rf"({_TCHARS}+)[ \t]*=[ \t]*(?:{_QUOTED}|({_TCHARS}+))[ \t]*", re.DOTALL)
_PARAM_AHEAD = re.compile(rf"{_TCHARS}+[ \t]*=")
_SHOWN_MAX = 200
# Names quoted inside a reason; the header itself is already shown (capped) in front of it.
_NAME_MAX = 40
# Per header value. A client answers one challenge (Bearer, else Basic; docker even reads one
# per header value) and no registry sends more than a handful: a hostile header must not cost
# a million objects. The rest is still parsed, so a syntax error anywhere is still reported.
MAX_CHALLENGES = 64


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
        self._skip(_SEPARATORS)
        while not self._at_end():
            scheme, params, token68 = self._challenge()
            if len(found) < MAX_CHALLENGES:
                found.append(Challenge(scheme.lower(), params, token68))
        return found

    def _challenge(self) -> tuple[str, dict[str, str], str | None]:
        bare = self._match(_BARE_SCHEME)
        if bare is not None:
            return bare.group(1), {}, None
        scheme = self._skip(_TOKEN)
        if not scheme:
            raise self._error("expected an authentication scheme")
        spaced = bool(self._skip(_WHITESPACE))
        if self._peek() == "=":
            raise self._error(f"parameter {_quote(scheme)} has no authentication scheme before it")
        if not spaced:
            raise self._error(f"unexpected {self._peek()!r} after scheme {_quote(scheme)}")
        token68 = self._match(_TOKEN68)
        if token68 is not None:
            return scheme, {}, token68.group(1)
        return scheme, self._params(), None

    def _params(self) -> dict[str, str]:
        params: dict[str, str] = {}
        while True:
            param = self._match(_PARAM)
            if param is None:
                raise self._param_error()
            name, quoted, plain = param.groups()
            # Duplicates are invalid; the last one wins, as in docker's parser.
            params[name.lower()] = plain if quoted is None else _unescape(quoted)
            if self._at_end():
                return params
            if self._peek() != ",":
                raise self._error(f"expected ',' after parameter {_quote(name)}")
            self._skip(_SEPARATORS)
            # `token BWS "="` continues this challenge; anything else starts the next one.
            if self._at_end() or _PARAM_AHEAD.match(self.text, self.pos) is None:
                return params

    def _param_error(self) -> ChallengeError:
        """Say which part of `name = value` is missing, at the position where it is."""
        name = self._skip(_TOKEN)
        self._skip(_WHITESPACE)
        if not name or self._peek() != "=":
            return self._error("expected a parameter name=value")
        self.pos += 1
        self._skip(_WHITESPACE)
        if self._peek() == '"':
            return self._error("unterminated quoted string")
        return self._error(f"parameter {_quote(name)} has no value")

    def _match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        """Match `pattern` here and move past it, or stay put and return None."""
        match = pattern.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
        return match

    def _skip(self, pattern: re.Pattern[str]) -> str:
        """Move past what `pattern` (which may match nothing) matches here; return it."""
        match = self._match(pattern)
        return "" if match is None else match.group()

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _error(self, reason: str) -> ChallengeError:
        shown = self.text if len(self.text) <= _SHOWN_MAX else self.text[:_SHOWN_MAX] + "..."
        return ChallengeError(
            f"cannot parse WWW-Authenticate {shown!r}: {reason} at offset {self.pos}"
        )


def _unescape(quoted: str) -> str:
    return _ESCAPED.sub(r"\1", quoted) if "\\" in quoted else quoted


def _quote(name: str) -> str:
    """A scheme or parameter name (tchars only) for a message; a server can make it 1 MB long."""
    return f"'{name}'" if len(name) <= _NAME_MAX else f"'{name[:_NAME_MAX]}...'"
