"""The one redaction layer: URLs, headers and free text lose their secrets here.

Everything is an allowlist: a query value or header survives only when it is
known to be harmless, so a signing parameter nobody has heard of yet is
redacted by default (go-containerregistry's internal/redact works the same way).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import quote, unquote

# Brackets: no URL, header or token grammar can take this for a real value.
REDACTED = "[REDACTED]"

# Query keys whose values say *when* and *how* a URL was signed, never the secret.
_SAFE_QUERY_KEYS = frozenset(
    key.lower()
    for key in (
        "Expires",
        "x-oss-expires",
        "x-oss-date",
        "x-oss-signature-version",
        "x-oss-traffic-limit",
        "X-Amz-Algorithm",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Goog-Algorithm",
        "X-Goog-Date",
        "X-Goog-Expires",
        "X-Goog-SignedHeaders",
        "se",
        "st",
        "sp",
        "sv",
        "sr",
        "spr",
        "service",
        "scope",
        "account",
        "digest",
        "n",
        "last",
        "mount",
        "from",
        "response-content-type",
        "response-content-disposition",
    )
)

# The key family (LTAI = long-term key, STS. = temporary) helps support; the key does not.
_KEY_ID_QUERY_KEYS = frozenset({"ossaccesskeyid"})
_KEY_ID_PREFIX = 4

_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
_SECRET_HEADERS = frozenset(
    {
        "cookie",
        "set-cookie",
        "x-amz-security-token",
        "x-oss-security-token",
        "x-registry-auth",
        "x-registry-config",
        "x-auth-token",
    }
)
# Catches vendor headers not listed above (x-goog-api-key, private-token, …).
_SECRET_HEADER_WORDS = ("token", "secret", "password", "credential", "api-key", "apikey")
_URL_HEADERS = frozenset({"location", "content-location"})

# Only a known scheme name is echoed, so "Authorization: <raw token>" never leaks a word.
_AUTH_SCHEMES = frozenset(
    {
        "basic",
        "bearer",
        "digest",
        "negotiate",
        "ntlm",
        "token",
        "aws",
        "aws4-hmac-sha256",
        "oss",
        "oss4-hmac-sha256",
        "goog4-hmac-sha256",
        "sharedkey",
        "sharedkeylite",
    }
)

_SCHEME_PREFIX = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//")
_QUERY_SEPARATORS = re.compile(r"([&;])")
_LINK_TARGET = re.compile(r"<([^>]*)>")

# These patterns run over text a server chose, so each must stay linear in its length: a
# match may only start where a run of its characters starts (the look-behinds), so no
# position inside a long run of letters is tried again.
# A URL's scheme starts at the first letter of its run ("1https://…" holds "https://…").
_URL_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<lead>[0-9+.-]*)(?P<url>[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>`]+)"
)
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*")
_SIGNATURE_PARAM = re.compile(
    r"(?i)((?<![\w-])(?:x-amz-signature|x-oss-signature|x-goog-signature|signature|sig)=)"
    r"[^&\s\"'<>#;,]+"
)
_AUTH_IN_TEXT = re.compile(
    r"(?i)(\b(?:proxy-)?authorization\s*[:=]\s*\"?(?:[A-Za-z][\w.+-]*\s+)?)[^\s\"',;]+"
)
# A credential after its scheme anywhere, e.g. an httpx error quoting b'Bearer <token>'.
_SCHEME_CREDENTIAL = re.compile(r"\b((?:Bearer|Basic)\s+)([A-Za-z0-9._~+/=-]{8,})")
# Error bodies echo what was sent: S3 puts the leaked "Bearer …" in ArgumentValue.
_SECRET_XML = re.compile(
    r"(?i)(<(ArgumentValue|SignatureProvided|OSSAccessKeyId|AWSAccessKeyId|SecurityToken)>)"
    r"[^<]*(</\2>)"
)


def redact_url(url: str) -> str:
    """The URL with userinfo, fragment and every non-allowlisted query value redacted.

    Parsed by hand rather than with urllib so that no input can raise.
    """
    # Userinfo first: a password may hold "/", "#" or ":" that would end the authority early.
    rest, hash_mark, fragment = _redact_userinfo(url).partition("#")
    base, question_mark, query = rest.partition("?")
    out = base
    if question_mark:
        out += "?" + _redact_query(query)
    if hash_mark:
        # Fragments carry OAuth implicit-flow tokens; nothing a puller needs.
        out += "#" + (REDACTED if fragment else "")
    return out


# Query keys whose values sign a URL: a server may echo them (S3 echoes SignatureProvided).
_SIGNING_KEY_PARTS = (
    "signature",
    "credential",
    "token",
    "accesskeyid",
    "sig",
    "key-pair-id",
    "policy",
    "security",
)
_MAX_URL_SECRETS = 8


def url_secrets(url: str) -> list[str]:
    """The userinfo and signing values of ``url``: to search for in every output.

    Only signing keys count: every other query value is hidden where the URL is shown
    anyway, and a server could otherwise name thousands of "secrets" (each one searched for
    in the whole report) or make ordinary words of the report secret.
    """
    from urllib.parse import parse_qsl, unquote, urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found = [
        value
        for key, value in parse_qsl(parts.query[:65536], keep_blank_values=False)
        if any(p in key.lower() for p in _SIGNING_KEY_PARTS) and len(value) >= 8
    ]
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        found += [unquote(part) for part in userinfo.split(":", 1) if part]
    return found[:_MAX_URL_SECRETS]


def _redact_userinfo(url: str) -> str:
    scheme = _SCHEME_PREFIX.match(url)
    if scheme is None:
        return url
    head = url[scheme.end() :]
    at = head.split("?", 1)[0].rfind("@")
    if at < 0:
        return url
    return f"{url[: scheme.end()]}{REDACTED}@{head[at + 1 :]}"


def _redact_query(query: str) -> str:
    # ";" is split too: some servers honour it, so "Expires=1;Signature=x" must not pass.
    pieces = _QUERY_SEPARATORS.split(query)
    pieces[::2] = [_redact_param(p) for p in pieces[::2]]
    return "".join(pieces)


def _redact_param(param: str) -> str:
    if not param:
        return param
    key, equals, value = param.partition("=")
    # Allowlisted names are short: decoding more of a hostile key only costs time.
    name = unquote(key[:64]).strip().lower()
    if name in _SAFE_QUERY_KEYS:
        return param
    if not equals:
        # A bare item may itself be a token (?<token>); its name tells nobody anything.
        return REDACTED
    if not value:
        return param  # an empty signature is itself a finding
    if name in _KEY_ID_QUERY_KEYS:
        return f"{key}={_shorten_key_id(value)}"
    return f"{key}={REDACTED}"


def _shorten_key_id(value: str) -> str:
    raw = unquote(value[:64])  # only the first few characters are shown
    if len(raw) <= _KEY_ID_PREFIX:
        return REDACTED
    return quote(raw[:_KEY_ID_PREFIX], safe=".") + "…"


def redact_headers(headers: Iterable[tuple[str, str]] | Mapping[str, str]) -> dict[str, str]:
    """Headers safe to print; repeated names (any case) are joined with ", "."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    spelling: dict[str, str] = {}
    for name, value in items:
        key = spelling.setdefault(name.lower(), name)
        redacted = _redact_header_value(name.strip().lower(), value)
        out[key] = f"{out[key]}, {redacted}" if key in out else redacted
    return out


def _redact_header_value(name: str, value: str) -> str:
    if name in _AUTH_HEADERS:
        return _redact_credentials(value)
    if name in _SECRET_HEADERS or any(word in name for word in _SECRET_HEADER_WORDS):
        return REDACTED
    if name in _URL_HEADERS:
        return redact_url(value)
    if name == "link":
        return _LINK_TARGET.sub(lambda m: f"<{redact_url(m.group(1))}>", value)
    return value


def _redact_credentials(value: str) -> str:
    # A lone word is the credential itself, even when it happens to spell a scheme name.
    words = value.split(None, 1)
    if len(words) == 2 and words[0].lower() in _AUTH_SCHEMES:
        return f"{words[0]} {REDACTED}"
    return REDACTED


def redact_text(text: str, secrets: Iterable[str]) -> str:
    """Free text (exception messages, bodies) without the given secrets or anything token-shaped."""
    return redact_with(text, secret_forms(secrets))


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """The spellings of ``secrets`` to search for, longest first; compute once, redact often."""
    # Shorter strings would redact ordinary words; a password also appears URL-encoded.
    forms: set[str] = set()
    for secret in secrets:
        if len(secret) >= 4:
            forms.update({secret, quote(secret, safe="")})
    return sorted(forms, key=len, reverse=True)


def _credential_or_word(match: re.Match[str]) -> str:
    # "Basic credentials", "Bearer authentication": a lower-case word is prose, not base64.
    value = match.group(2)
    if value.isalpha() and value.islower():
        return match.group(0)
    return match.group(1) + REDACTED


def redact_known(text: str, forms: list[str]) -> str:
    """Only the known secrets of ``forms`` replaced: plain search, fast on text of any length."""
    # Longest first, so a secret inside another is not half-replaced.
    for secret in forms:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_with(text: str, forms: list[str]) -> str:
    """redact_text with secret_forms() already computed.

    Linear in the length of ``text``: known secrets are replaced by plain search, not by a
    pattern built from them (a 1 MiB token would make a 1 MiB pattern).
    """
    return redact_patterns(redact_known(text, forms))


def redact_patterns(text: str) -> str:
    """Only what looks like a secret: URLs' secrets, JWTs, signatures, credentials."""
    text = _URL_IN_TEXT.sub(lambda m: m.group("lead") + redact_url(m.group("url")), text)
    text = _JWT.sub(REDACTED, text)
    text = _SIGNATURE_PARAM.sub(rf"\g<1>{REDACTED}", text)
    text = _AUTH_IN_TEXT.sub(rf"\g<1>{REDACTED}", text)
    text = _SCHEME_CREDENTIAL.sub(_credential_or_word, text)
    return _SECRET_XML.sub(rf"\g<1>{REDACTED}\g<3>", text)
