"""Webhook URL checks and address pinning: pure, no connection and no real DNS anywhere."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditdesk.server.webhook_urls import (
    UrlRefused,
    WebhookPolicy,
    check_url,
    forbidden_reason,
    parse_ipv4_literal,
    pin,
)

STRICT = WebhookPolicy()
OPEN = WebhookPolicy(allow_http=True, allow_private=True)


def no_dns(name: str) -> list[str]:
    raise AssertionError(f"the resolver must not be asked about {name}")


def answering(*addresses: str):
    asked: list[str] = []

    def resolve(name: str) -> list[str]:
        asked.append(name)
        return list(addresses)
    resolve.asked = asked
    return resolve


@pytest.mark.parametrize("spelling, address", [
    ("127.0.0.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"), ("127.1", "127.0.0.1"), ("0x7f.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"), ("10.0.0.1.", "10.0.0.1"), ("0", "0.0.0.0"),
    ("0xA9.0xFE.0xA9.0xFE", "169.254.169.254"), ("025177524776", "169.254.169.254"),
    ("3232235777", "192.168.1.1"),
])
def test_every_ipv4_spelling_is_read_as_its_address(spelling, address):
    assert parse_ipv4_literal(spelling) == ipaddress.IPv4Address(address)


@pytest.mark.parametrize("host", ["example.com", "hooks.example", "localhost", "a1.b2"])
def test_names_are_not_addresses(host):
    assert parse_ipv4_literal(host) is None


@pytest.mark.parametrize("host", ["1.2.3.4.5", "256.1.1.1", "08.1.1.1", "example.123",
                                  "1.16777216", "4294967296"])
def test_malformed_numeric_hosts_are_refused(host):
    with pytest.raises(UrlRefused):
        parse_ipv4_literal(host)


FORBIDDEN = ["10.0.0.1", "172.16.5.4", "192.168.1.1", "127.0.0.1", "127.255.0.9",
             "169.254.169.254", "0.0.0.0", "100.64.0.1", "224.0.0.1", "240.0.0.1",
             "255.255.255.255", "198.18.0.1", "192.0.2.1",
             "::1", "::", "fd00::1", "fe80::1", "ff02::1", "::ffff:127.0.0.1",
             "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1", "2002:a00:1::",
             "::10.0.0.1", "2001:db8::1"]


@pytest.mark.parametrize("address", FORBIDDEN)
def test_forbidden_addresses(address):
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "8.8.8.8",
                                     "::ffff:93.184.216.34", "2002:5db8:d822::"])
def test_public_addresses_are_allowed(address):
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def test_reasons_name_the_kind():
    assert "loopback" in forbidden_reason(ipaddress.ip_address("::ffff:127.0.0.1"))
    assert "link-local" in forbidden_reason(ipaddress.ip_address("169.254.169.254"))
    assert "private" in forbidden_reason(ipaddress.ip_address("10.0.0.1"))
    assert "unspecified" in forbidden_reason(ipaddress.ip_address("::"))


@pytest.mark.parametrize("url, words", [
    ("http://hooks.example.com/x", "https"),
    ("ftp://hooks.example.com/x", "https"),
    ("hooks.example.com/x", "https"),
    ("https://user:pw@hooks.example.com/", "user name"),
    ("https://hooks.example.com/#frag", "fragment"),
    ("https:///path", "no host"),
    ("https://exa mple.com/", "spaces"),
    ("https://bad_host!.com/", "not a valid host"),
    ("https://hooks.example.com:99999/", "not a valid URL"),
    ("https://2130706433/", "loopback"),
    ("https://0x7f.1/", "loopback"),
    ("https://0177.0.0.1/", "loopback"),
    ("https://[::ffff:7f00:1]/", "loopback"),
    ("https://[::1]/", "loopback"),
    ("https://[fe80::1%25eth0]/", "link-local"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://0/", "unspecified"),
    ("https://[fd00::1]/", "private"),
    ("https://" + "a" * 2050 + ".com/", "at most"),
    (12, "text"),
])
def test_refused_urls_name_the_field(url, words):
    with pytest.raises(UrlRefused) as caught:
        check_url(url, STRICT)
    assert caught.value.field == "url" and words in caught.value.message


def test_policy_flags_lift_the_checks():
    assert check_url("http://127.0.0.1:8080/h", OPEN).port == 8080
    with pytest.raises(UrlRefused, match="loopback"):
        check_url("http://127.0.0.1:8080/h", WebhookPolicy(allow_http=True))
    with pytest.raises(UrlRefused, match="https"):
        check_url("http://hooks.example.com/h", WebhookPolicy(allow_private=True))


@pytest.mark.parametrize("answers", [
    ["10.0.0.1"], ["169.254.169.254"], ["::1"], ["fd00::1"], ["0.0.0.0"],
    ["::ffff:127.0.0.1"], ["93.184.216.34", "10.0.0.1"], ["fe80::1%eth0"], [],
    ["not-an-address"],
])
def test_every_resolved_address_is_checked(answers):
    resolve = answering(*answers)
    with pytest.raises(UrlRefused) as caught:
        pin(check_url("https://hooks.example.com/h", STRICT), STRICT, resolve)
    assert caught.value.field == "url"
    assert resolve.asked == ["hooks.example.com"]


def test_a_literal_address_never_asks_the_resolver():
    with pytest.raises(UrlRefused):
        pin(check_url("https://[::1]/", OPEN), STRICT, no_dns)  # checked again when pinned
    pinned = pin(check_url("http://127.0.0.1:9/x", OPEN), OPEN, no_dns)
    assert pinned.url == "http://127.0.0.1:9/x"


def test_the_request_is_pinned_to_the_checked_address():
    resolve = answering("93.184.216.34", "2606:4700::1111")
    pinned = pin(check_url("https://Hooks.Example.com/in?a=1", STRICT), STRICT, resolve)
    assert pinned.url == "https://93.184.216.34:443/in?a=1"
    assert pinned.headers == {"Host": "hooks.example.com"}
    assert pinned.extensions == {"sni_hostname": "hooks.example.com"}


def test_pinning_ipv6_and_ports():
    pinned = pin(check_url("https://hooks.example.com:8443/", STRICT), STRICT,
                 answering("2606:4700::1111"))
    assert pinned.url == "https://[2606:4700::1111]:8443/"
    assert pinned.headers == {"Host": "hooks.example.com:8443"}
    literal = pin(check_url("http://[::1]:8080/", OPEN), OPEN, no_dns)
    assert literal.headers == {"Host": "[::1]:8080"} and literal.extensions == {}


def test_port_zero_is_not_the_default_port():
    with pytest.raises(UrlRefused, match="port 0"):
        check_url("https://hooks.example.com:0/", STRICT)


# --- property: any spelling of an address is judged as that address ---------------------

def spellings(value: int):
    """Strategies for the ways URL parsers accept to write one IPv4 address."""
    octets = value.to_bytes(4, "big")

    def part(n: int, style: str) -> str:
        return {"dec": str(n), "hex": hex(n), "oct": "0" + oct(n)[2:] if n else "0"}[style]
    styles = st.sampled_from(["dec", "hex", "oct"])
    four = st.tuples(styles, styles, styles, styles).map(
        lambda s: ".".join(part(o, x) for o, x in zip(octets, s)))
    two = styles.map(lambda x: f"{octets[0]}.{part(value & 0xFFFFFF, x)}")
    three = styles.map(lambda x: f"{octets[0]}.{octets[1]}.{part(value & 0xFFFF, x)}")
    one = styles.map(lambda x: part(value, x))
    return st.one_of(four, three, two, one)


addresses = st.integers(0, 2**32 - 1)


@settings(max_examples=400, deadline=None)
@given(data=st.data(), value=addresses)
def test_every_spelling_is_judged_as_its_address(data, value):
    spelled = data.draw(spellings(value))
    address = ipaddress.IPv4Address(value)
    assert parse_ipv4_literal(spelled) == address
    url = f"https://{spelled}/hook"
    if forbidden_reason(address):
        with pytest.raises(UrlRefused):
            check_url(url, STRICT)
    else:
        pinned = pin(check_url(url, STRICT), STRICT, no_dns)
        assert pinned.address == address and pinned.url == f"https://{address}:443/hook"
        assert pinned.headers == {"Host": str(address)}
