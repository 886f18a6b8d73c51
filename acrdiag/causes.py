"""Stable cause codes.

These strings are public API: reports, tests, docs and users' scripts match on
them. Add codes freely; never rename or remove one without bumping the report's
schema_version. Network causes are the same at every hop (a token service refusing
connections is tcp_refused at step 3); the step and the evidence's "hop" say where.
"""

from __future__ import annotations

from enum import StrEnum


class Cause(StrEnum):
    # Name resolution (any host).
    DNS_NXDOMAIN = "dns_nxdomain"
    DNS_NO_ANSWER = "dns_no_answer"
    DNS_TIMEOUT = "dns_timeout"
    DNS_ERROR = "dns_error"
    # TCP, TLS and HTTP transport (any host).
    TCP_REFUSED = "tcp_refused"
    TCP_TIMEOUT = "tcp_timeout"
    TCP_UNREACHABLE = "tcp_unreachable"
    TLS_UNTRUSTED = "tls_untrusted"
    TLS_HOSTNAME_MISMATCH = "tls_hostname_mismatch"
    TLS_EXPIRED = "tls_expired"
    TLS_ERROR = "tls_error"
    TLS_VERIFY_DISABLED = "tls_verify_disabled"
    TLS_EXPIRING_SOON = "tls_expiring_soon"
    READ_TIMEOUT = "read_timeout"
    CONNECTION_RESET = "connection_reset"
    PROTOCOL_ERROR = "protocol_error"
    PROXY_UNREACHABLE = "proxy_unreachable"
    PROXY_AUTH_REQUIRED = "proxy_auth_required"
    PROXY_REFUSED = "proxy_refused"
    HTTP_ERROR = "http_error"
    RESPONSE_TOO_LARGE = "response_too_large"
    INSECURE_REDIRECT = "insecure_redirect"
    CREDENTIALS_IN_REDIRECT = "credentials_in_redirect"
    # Step 1.
    NOT_A_REGISTRY = "not_a_registry"
    PLAIN_HTTP_FALLBACK = "plain_http_fallback"
    # Step 2.
    MISSING_CHALLENGE = "missing_challenge"
    MALFORMED_CHALLENGE = "malformed_challenge"
    UNSUPPORTED_SCHEME = "unsupported_scheme"
    INSECURE_REALM = "insecure_realm"
    # Step 3.
    AUTH_REQUIRED = "auth_required"
    BAD_CREDENTIALS = "bad_credentials"
    CREDENTIAL_HELPER_FAILED = "credential_helper_failed"
    CREDENTIAL_FILE_INVALID = "credential_file_invalid"
    FORBIDDEN = "forbidden"
    SERVER_ERROR = "server_error"
    BAD_RESPONSE = "bad_response"
    NO_TOKEN = "no_token"
    # Step 4.
    SCOPE_MISSING = "scope_missing"
    WRONG_AUDIENCE = "wrong_audience"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    CLOCK_SKEW = "clock_skew"
    OPAQUE_TOKEN = "opaque_token"
    # Step 5.
    UNAUTHORIZED = "unauthorized"
    DENIED = "denied"
    NAME_UNKNOWN = "name_unknown"
    MANIFEST_UNKNOWN = "manifest_unknown"
    RATE_LIMITED = "rate_limited"
    PLATFORM_MISSING = "platform_missing"
    PLATFORM_MISMATCH = "platform_mismatch"
    SCHEMA1_DEPRECATED = "schema1_deprecated"
    DIGEST_MISMATCH = "digest_mismatch"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    # Step 6.
    BLOB_UNKNOWN = "blob_unknown"
    NO_LOCATION = "no_location"
    URL_EXPIRED = "url_expired"
    URL_EXPIRING = "url_expiring"
    STALE_REDIRECT = "stale_redirect"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    # Step 7.
    ACCESS_DENIED = "access_denied"
    SIGNATURE_MISMATCH = "signature_mismatch"
    AUTH_HEADER_CONFLICT = "auth_header_conflict"
    STORAGE_OBJECT_MISSING = "storage_object_missing"
    SIZE_MISMATCH = "size_mismatch"
    TRUNCATED = "truncated"
    # The runtime's view (README "What the runtime sees").
    MIRROR_FAILED = "mirror_failed"
    REGISTRY_BLOCKED = "registry_blocked"
    # Health checks (acrdiag check, serve).
    SLOW_STEP = "slow_step"
    # Any step.
    DEADLINE_EXCEEDED = "deadline_exceeded"
    INTERRUPTED = "interrupted"
    INTERNAL_ERROR = "internal_error"
    BAD_INPUT = "bad_input"


DESCRIPTIONS: dict[Cause, str] = {
    Cause.MIRROR_FAILED: "a mirror the runtime tries first failed; a later host served the pull",
    Cause.SLOW_STEP: "a step passed but took longer than its health-check threshold",
    Cause.REGISTRY_BLOCKED: "the runtime's configuration refuses this pull (blocked, or unusable)",
    Cause.DNS_NXDOMAIN: "the host name does not exist in DNS",
    Cause.DNS_NO_ANSWER: "the name exists but has no A or AAAA record",
    Cause.DNS_TIMEOUT: "no DNS server answered in time",
    Cause.DNS_ERROR: "DNS servers failed (SERVFAIL/REFUSED) or the system resolver disagrees",
    Cause.TCP_REFUSED: "the host answered the TCP connection with a reset (port closed)",
    Cause.TCP_TIMEOUT: "the TCP connection got no answer (dropped by a firewall or route)",
    Cause.TCP_UNREACHABLE: "no route to the host or network",
    Cause.TLS_UNTRUSTED: "the server certificate is not signed by a trusted CA",
    Cause.TLS_HOSTNAME_MISMATCH: "the server certificate does not name this host",
    Cause.TLS_EXPIRED: "the server certificate is expired or not yet valid",
    Cause.TLS_ERROR: "the TLS handshake failed",
    Cause.TLS_VERIFY_DISABLED: "certificate verification was turned off with --insecure",
    Cause.TLS_EXPIRING_SOON: "the server certificate expires within 14 days",
    Cause.READ_TIMEOUT: "the server accepted the connection but did not answer in time",
    Cause.CONNECTION_RESET: "the connection was closed or reset mid-exchange",
    Cause.PROTOCOL_ERROR: "the server's answer was not valid HTTP",
    Cause.PROXY_UNREACHABLE: "the HTTP(S) proxy in the environment could not be reached",
    Cause.PROXY_AUTH_REQUIRED: "the proxy asks for credentials (407)",
    Cause.PROXY_REFUSED: "the proxy refused to open the tunnel",
    Cause.HTTP_ERROR: "the server answered with an unexpected HTTP status",
    Cause.RESPONSE_TOO_LARGE: "the server sent more data than a puller accepts",
    Cause.INSECURE_REDIRECT: "a redirect left https for plain http; credentials were withheld",
    Cause.CREDENTIALS_IN_REDIRECT: "a URL from a server carried user:password; it was not sent",
    Cause.NOT_A_REGISTRY: "the host answers HTTP but is not an OCI/Docker registry",
    Cause.PLAIN_HTTP_FALLBACK: "TLS failed on localhost or 127.0.0.0/8, and plain HTTP worked, "
    "as docker falls back",
    Cause.MISSING_CHALLENGE: "401 without a WWW-Authenticate header",
    Cause.MALFORMED_CHALLENGE: "the WWW-Authenticate header cannot be parsed or lacks a realm",
    Cause.UNSUPPORTED_SCHEME: "the registry asks for an authentication scheme pullers do not speak",
    Cause.INSECURE_REALM: "the token service is plain http for an https registry",
    Cause.AUTH_REQUIRED: "the registry requires credentials and none were given",
    Cause.BAD_CREDENTIALS: "the token service rejected the username or password",
    Cause.CREDENTIAL_HELPER_FAILED: "the docker credential helper is missing, failed or "
    "answered garbage",
    Cause.CREDENTIAL_FILE_INVALID: "a credentials file or pull secret cannot be used; the puller "
    "skips it too",
    Cause.FORBIDDEN: "the server refused access (403)",
    Cause.SERVER_ERROR: "the server failed (5xx)",
    Cause.BAD_RESPONSE: "the token service answered with something that is not token JSON",
    Cause.NO_TOKEN: "the token response holds no token",
    Cause.SCOPE_MISSING: "the token grants no pull right on this repository",
    Cause.WRONG_AUDIENCE: "the token was issued for another service",
    Cause.NOT_YET_VALID: "the token is not valid yet by the registry's clock",
    Cause.EXPIRED: "the token is already expired by the registry's clock",
    Cause.CLOCK_SKEW: "two clocks differ: the local one from the servers', or the token "
    "service's from the registry's",
    Cause.OPAQUE_TOKEN: "the token is not a JWT, so its scope cannot be checked",
    Cause.UNAUTHORIZED: "the registry did not accept the token",
    Cause.DENIED: "the registry denied access to this repository",
    Cause.NAME_UNKNOWN: "the repository does not exist",
    Cause.MANIFEST_UNKNOWN: "the tag or digest does not exist in the repository",
    Cause.RATE_LIMITED: "the registry's pull rate limit is exhausted",
    Cause.PLATFORM_MISSING: "the image index has no manifest for the requested platform",
    Cause.PLATFORM_MISMATCH: "a single-platform image is for another platform than requested",
    Cause.SCHEMA1_DEPRECATED: "the image is a schema 1 manifest that docker and containerd refuse",
    Cause.DIGEST_MISMATCH: "the content does not hash to the digest it was asked for",
    Cause.UNSUPPORTED_MEDIA_TYPE: "the manifest's media type is not one pullers understand",
    Cause.BLOB_UNKNOWN: "the registry does not know the blob, or --blob names one the image lacks",
    Cause.NO_LOCATION: "a blob redirect without a Location header",
    Cause.URL_EXPIRED: "the signed storage URL is expired",
    Cause.URL_EXPIRING: "the signed storage URL has little lifetime left",
    Cause.STALE_REDIRECT: "the blob redirect is a cached answer replayed long after it was issued",
    Cause.TOO_MANY_REDIRECTS: "the blob redirects go on too long or loop",
    Cause.ACCESS_DENIED: "object storage refused the signed URL (AccessDenied)",
    Cause.SIGNATURE_MISMATCH: "object storage says the URL signature does not match",
    Cause.AUTH_HEADER_CONFLICT: "an Authorization header reached object storage with a signed URL",
    Cause.STORAGE_OBJECT_MISSING: "the object behind the signed URL does not exist",
    Cause.SIZE_MISMATCH: "the blob's size differs from its descriptor",
    Cause.TRUNCATED: "the download ended early",
    Cause.DEADLINE_EXCEEDED: "the run's --deadline ran out during this step",
    Cause.INTERRUPTED: "the run was interrupted (Ctrl-C) or stopped (SIGTERM) during this step",
    Cause.INTERNAL_ERROR: "acrdiag itself failed; please report it",
    Cause.BAD_INPUT: "the run did not start: a bad reference, flag or file (exit 2)",
}
