from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acrdiag.net.proxy import ProxyConfig

OSS_URL = (
    "https://cri-x-registry.oss-cn-hangzhou.aliyuncs.com/docker/registry/v2/blobs/sha256/4a/4abc"
    "/data?Expires=1700000000&OSSAccessKeyId=LTAI5tQp8sJ9&Signature=Wq3"
)
REGISTRY = "https://shop-registry.cn-hangzhou.cr.aliyuncs.com/v2/"


@pytest.mark.parametrize(
    ("environ", "expected", "source"),
    [
        pytest.param(
            {"HTTPS_PROXY": "http://upper:3128", "https_proxy": "http://lower:3128"},
            ProxyConfig(None, "http://upper:3128", None),
            {"https_proxy": "HTTPS_PROXY"},
            id="uppercase-wins",
        ),
        pytest.param(
            {"HTTPS_PROXY": "", "https_proxy": "http://lower:3128", "no_proxy": ".corp"},
            ProxyConfig(None, "http://lower:3128", ".corp"),
            {"https_proxy": "https_proxy", "no_proxy": "no_proxy"},
            id="empty-uppercase-falls-back",
        ),
        pytest.param(
            {"ALL_PROXY": "socks5://p:1080", "all_proxy": "socks5://p:1080"},
            ProxyConfig(None, None, None),
            {},
            id="all-proxy-not-read-by-go",
        ),
        pytest.param(
            {"HTTP_PROXY": "http://p:3128", "REQUEST_METHOD": "GET"},
            ProxyConfig("http://p:3128", None, None, cgi=True),
            {"http_proxy": "HTTP_PROXY"},
            id="cgi-noted",
        ),
    ],
)
def test_from_environ_like_go(
    environ: dict[str, str], expected: ProxyConfig, source: dict[str, str]
) -> None:
    config = ProxyConfig.from_environ(environ)
    assert (config.http_proxy, config.https_proxy, config.no_proxy, config.cgi) == (
        expected.http_proxy,
        expected.https_proxy,
        expected.no_proxy,
        expected.cgi,
    )
    assert config.source == source


PROXY = {"HTTPS_PROXY": "http://proxy.corp:3128", "HTTP_PROXY": "http://proxy.corp:3128"}


@pytest.mark.parametrize(
    ("no_proxy", "url", "proxy"),
    [
        # users-and-peers row 11, kind#1304: a CIDR does not cover a name that resolves into it.
        pytest.param(
            "172.17.0.0/16",
            "https://kind-registry:5000/v2/",
            "http://proxy.corp:3128",
            id="kind-1304-name",
        ),
        pytest.param("172.17.0.0/16", "https://172.17.0.2:5000/v2/", None, id="kind-1304-ip"),
        pytest.param(".aliyuncs.com", OSS_URL, None, id="dot-domain-subdomain"),
        pytest.param("aliyuncs.com", OSS_URL, None, id="domain-covers-subdomains"),
        pytest.param(
            "oss-cn-hangzhou.aliyuncs.com", OSS_URL, None, id="endpoint-covers-bucket-host"
        ),
        pytest.param("*.aliyuncs.com", OSS_URL, None, id="star-dot"),
        pytest.param(
            "oss-cn-hangzhou-internal.aliyuncs.com",
            OSS_URL,
            "http://proxy.corp:3128",
            id="internal-entry-misses-public",
        ),
        pytest.param(
            "cr.aliyuncs.com", OSS_URL, "http://proxy.corp:3128", id="registry-entry-misses-storage"
        ),
        pytest.param(
            ".aliyuncs.com",
            "https://aliyuncs.com/",
            "http://proxy.corp:3128",
            id="dot-domain-not-apex",
        ),
        pytest.param("aliyuncs.com", "https://aliyuncs.com/", None, id="domain-matches-apex"),
        pytest.param(
            "aliyuncs.com",
            "https://notaliyuncs.com/",
            "http://proxy.corp:3128",
            id="no-partial-label",
        ),
        pytest.param(
            " .Aliyuncs.COM ,",
            "https://Shop-Registry.cn-hangzhou.cr.aliyuncs.com/v2/",
            None,
            id="trimmed-lowercased",
        ),
        pytest.param(
            "shop-registry.cn-hangzhou.cr.aliyuncs.com:443", REGISTRY, None, id="port-matches"
        ),
        pytest.param(
            "shop-registry.cn-hangzhou.cr.aliyuncs.com:5000",
            REGISTRY,
            "http://proxy.corp:3128",
            id="port-differs",
        ),
        pytest.param("10.0.3.7", "http://10.0.3.7:5000/v2/", None, id="ip-any-port"),
        pytest.param(
            "10.0.3.7:80",
            "http://10.0.3.7:5000/v2/",
            "http://proxy.corp:3128",
            id="ip-port-differs",
        ),
        pytest.param(
            "[2408:4000:200::21]:443", "https://[2408:4000:200::21]/v2/", None, id="ipv6-with-port"
        ),
        pytest.param("*", OSS_URL, None, id="star"),
        pytest.param("", "https://localhost:5000/v2/", None, id="localhost-never"),
        pytest.param("", "http://127.0.0.53/v2/", None, id="loopback-never"),
        pytest.param("", "https://[::1]:5000/v2/", None, id="ipv6-loopback-never"),
        pytest.param(
            "", "https://localhost.corp/v2/", "http://proxy.corp:3128", id="only-exact-localhost"
        ),
        pytest.param("", "ftp://mirror.example/x", None, id="other-scheme"),
    ],
)
def test_proxy_for_matches_go(no_proxy: str, url: str, proxy: str | None) -> None:
    config = ProxyConfig.from_environ({**PROXY, "NO_PROXY": no_proxy})
    assert config.proxy_for(url) == proxy


# The quoted, padded and CIDR cases were checked against skopeo 1.9.3 (Go) on this machine.
@pytest.mark.parametrize(
    ("environ", "url", "line"),
    [
        pytest.param(
            {**PROXY, "NO_PROXY": "localhost,.aliyuncs.com"},
            OSS_URL,
            "direct: NO_PROXY entry '.aliyuncs.com' matches",
            id="no-proxy-entry",
        ),
        pytest.param(
            {"HTTPS_PROXY": "proxy.corp:3128"},
            REGISTRY,
            "via http://proxy.corp:3128 (HTTPS_PROXY)",
            id="schemeless-means-http",
        ),
        pytest.param({}, REGISTRY, "direct: no proxy configured", id="nothing"),
        pytest.param(
            {"http_proxy": "http://proxy.corp:3128"},
            REGISTRY,
            "direct: no proxy configured for https URLs (http_proxy applies to http:// URLs only)",
            id="http-proxy-does-not-cover-https",
        ),
        pytest.param(
            {"HTTPS_PROXY": "http://alice:Pr0xyPass@proxy.corp:3128"},
            REGISTRY,
            "via http://[REDACTED]@proxy.corp:3128 (HTTPS_PROXY)",
            id="credentials-redacted",
        ),
        pytest.param(
            {**PROXY, "no_proxy": "172.17.0.0/16"},
            "https://kind-registry:5000/v2/",
            "via http://proxy.corp:3128 (HTTPS_PROXY); no_proxy IP/CIDR entries (172.17.0.0/16)"
            " match only URLs written with an IP address, not names that resolve to one",
            id="kind-1304-hint",
        ),
        pytest.param(
            {**PROXY, "NO_PROXY": "registry.corp:5000"},
            "https://registry.corp/v2/",
            "via http://proxy.corp:3128 (HTTPS_PROXY); NO_PROXY entry 'registry.corp:5000'"
            " applies only to port 5000, not 443",
            id="port-hint",
        ),
        pytest.param(
            {"HTTPS_PROXY": '"http://proxy.corp:3128"'},
            REGISTRY,
            'via http://"http://proxy.corp:3128" (HTTPS_PROXY); the value is not a clean URL,'
            " so Go connects to proxy host '\"http'",
            id="quoted-value",
        ),
        pytest.param(
            {"HTTPS_PROXY": "http://proxy.corp:3128 "},
            REGISTRY,
            "via http://http://proxy.corp:3128  (HTTPS_PROXY); the value is not a clean URL,"
            " so Go connects to proxy host 'http'",
            id="trailing-space",
        ),
        pytest.param(
            {"HTTPS_PROXY": " http://proxy.corp:3128"},
            REGISTRY,
            "direct: HTTPS_PROXY value ' http://proxy.corp:3128' is not a URL Go can parse,"
            " so Go ignores it",
            id="leading-space-silently-ignored",
        ),
        pytest.param(
            {"HTTP_PROXY": "http://proxy.corp:3128", "REQUEST_METHOD": "POST"},
            "http://registry.corp/v2/",
            "direct here, but Go fails the request: it refuses HTTP_PROXY while REQUEST_METHOD"
            " is set (CGI)",
            id="cgi",
        ),
        pytest.param(
            PROXY,
            "https://localhost:5000/v2/",
            "direct: localhost is never proxied",
            id="localhost",
        ),
    ],
)
def test_explain(environ: dict[str, str], url: str, line: str) -> None:
    assert ProxyConfig.from_environ(environ).explain(url) == line


@pytest.mark.parametrize(
    ("https_proxy", "proxy"),
    [
        ("http://proxy.corp:3128", "http://proxy.corp:3128"),
        ("HTTP://proxy.corp:3128", "http://proxy.corp:3128"),
        ("https://proxy.corp:443", "https://proxy.corp:443"),
        ("socks5://proxy.corp:1080", "socks5://proxy.corp:1080"),
        ("proxy.corp:3128", "http://proxy.corp:3128"),
        ("10.0.0.8:3128", "http://10.0.0.8:3128"),
        # Go retries with "http://" prepended, which parses with host "http".
        ("http://proxy.corp:31x8", "http://http://proxy.corp:31x8"),
        ("http://proxy.corp:3128/%zz", None),
        ("http://proxy.corp:3128\t", None),
        ("proxy corp:3128", None),
    ],
)
def test_proxy_value_forms(https_proxy: str, proxy: str | None) -> None:
    assert ProxyConfig(None, https_proxy, None).proxy_for(REGISTRY) == proxy


@pytest.mark.parametrize(
    "no_proxy",
    [
        "fe11::/16",
        ",,, ,",
        ":99999",
        "host:99999",
        "[::1",
        "[::1]",
        "1.2.3.4/99",
        "*.",
        ".",
        "%zz",
        "例子.测试",
        "localhost:",
        "::ffff:10.0.0.0/104",
        "10.0.0.0/255.0.0.0",
    ],
)
def test_odd_no_proxy_values_never_raise(no_proxy: str) -> None:
    config = ProxyConfig.from_environ({**PROXY, "NO_PROXY": no_proxy})
    assert config.proxy_for(REGISTRY) == "http://proxy.corp:3128"
    assert config.explain(REGISTRY).startswith("via http://proxy.corp:3128")


def test_describe_redacts_proxy_credentials() -> None:
    config = ProxyConfig.from_environ(
        {"https_proxy": "http://alice:Pr0xyPass@proxy.corp:3128", "NO_PROXY": ".aliyuncs.com"}
    )
    assert config.describe() == {
        "https_proxy": "http://[REDACTED]@proxy.corp:3128",
        "NO_PROXY": ".aliyuncs.com",
    }


_ENV_KEYS = st.sampled_from(
    [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "NO_PROXY",
        "no_proxy",
        "REQUEST_METHOD",
    ]
)
_NO_PROXY_ENTRY = st.one_of(
    st.text(max_size=20),
    st.ip_addresses().map(str),
    st.builds(lambda ip, bits: f"{ip}/{bits}", st.ip_addresses(), st.integers(-1, 200)),
    st.builds(
        lambda h, p: f"{h}:{p}",
        st.sampled_from(["[::1]", "example.com", ""]),
        st.integers(-5, 99999),
    ),
)


@given(
    environ=st.dictionaries(_ENV_KEYS, st.text(max_size=30)),
    entries=st.lists(_NO_PROXY_ENTRY, max_size=5),
    url=st.one_of(st.text(), st.builds(lambda h: f"https://{h}/v2/", st.text(max_size=30))),
)
def test_proxy_for_never_raises(environ: dict[str, str], entries: list[str], url: str) -> None:
    config = ProxyConfig.from_environ({**environ, "NO_PROXY": ",".join(entries)})
    proxy = config.proxy_for(url)
    line = config.explain(url)
    assert proxy is None or isinstance(proxy, str)
    assert line.startswith("via ") == (proxy is not None)
