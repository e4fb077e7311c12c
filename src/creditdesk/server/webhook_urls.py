"""Which webhook URLs the server may POST to, and the address it then connects to.

Server-side request forgery is the risk: an owner registers a URL that points into our own
network (a database, a cloud metadata service at 169.254.169.254, loopback). So:

- a URL is checked when registered (scheme, credentials, a literal address in any of its
  spellings: `2130706433`, `0x7f.1`, `0177.0.0.1`, `[::ffff:127.0.0.1]`, ...);
- before every attempt the host name is resolved through an injected resolver, *every*
  address it answers is checked, and the request is then sent to the checked address
  itself (the URL rewritten to the IP, the name kept in `Host` and in TLS's SNI and
  certificate check), so a second DNS answer can never switch the connection elsewhere
  (DNS rebinding);
- redirects are not followed at all (the deliverer counts one as a failed attempt).

Nothing in this module opens a connection; `system_resolver` only asks the system's DNS.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import InvalidRequest

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[str]]

MAX_URL_LENGTH = 2048
_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"^(?=.{{1,253}}\.?$){_LABEL}(\.{_LABEL})*\.?$")
_NUMBER = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")
# NAT64 prefixes carry an IPv4 address in their last 32 bits (RFC 6052, RFC 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class UrlRefused(InvalidRequest):
    """A webhook URL or address the policy forbids; `field` is always `url`."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="url")


@dataclass(frozen=True, slots=True)
class WebhookPolicy:
    allow_http: bool = False      # serve --allow-http-webhooks (tests)
    allow_private: bool = False   # serve --allow-private-webhooks (a receiver on our network)


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL, split; `literal` is set when the host is an address, not a name."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, at least "/"
    literal: IPAddress | None


@dataclass(frozen=True, slots=True)
class PinnedRequest:
    """What to hand to httpx: the URL on the checked IP, and the name in Host and SNI."""

    url: str
    address: IPAddress
    headers: dict[str, str]
    extensions: dict[str, str]


# --- addresses --------------------------------------------------------------------------

def parse_ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """An IPv4 address in any spelling a URL parser or inet_aton accepts, else None.

    Like the URL standard: a host whose last label is a number is an IPv4 address, with
    1 to 4 parts, each decimal, `0x` hex or `0`-led octal, the last filling the rest
    (`127.1`, `2130706433`, `0x7f000001`). One that ends in a number but does not parse
    is refused rather than handed to a resolver that might read it differently.
    """
    labels = host.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels = labels[:-1]  # one trailing dot is allowed
    if not _NUMBER.match(labels[-1]):
        return None
    if len(labels) > 4 or not all(_NUMBER.match(label) for label in labels):
        raise UrlRefused(f"{host} looks like an IP address but is not a valid one")
    parts = [_parse_number(label) for label in labels]
    *head, last = parts
    if any(p > 255 for p in head) or last >= 256 ** (5 - len(parts)):
        raise UrlRefused(f"{host} looks like an IP address but is out of range")
    value = last
    for index, part in enumerate(head):
        value += part << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _parse_number(label: str) -> int:
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        if not set(label) <= set("01234567"):
            raise UrlRefused(f"{label} is not a valid octal number")
        return int(label, 8)
    return int(label)


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, compatible, 6to4, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    # IPv4-compatible (::a.b.c.d, deprecated) but not :: and ::1, which are their own kinds.
    if any(address in net for net in _NAT64) or (int(address) >> 32 == 0 and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: IPAddress) -> str | None:
    """Why the server must not connect to this address without --allow-private-webhooks."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None and (reason := forbidden_reason(inner)):
            return f"{reason} (carried inside {address})"
        if address.ipv4_mapped is not None:
            return None  # ::ffff:a.b.c.d is a.b.c.d on the wire, judged just above
    for test, words in (("is_loopback", "a loopback address"),
                        ("is_unspecified", "the unspecified address"),
                        ("is_link_local", "a link-local address"),
                        ("is_multicast", "a multicast address"),
                        ("is_private", "a private address"),
                        ("is_reserved", "a reserved address")):
        if getattr(address, test):
            return words
    if not address.is_global:  # shared (100.64/10), benchmarking, documentation ranges
        return "not a public address"
    return None


def check_address(address: IPAddress, policy: WebhookPolicy, host: str) -> None:
    if policy.allow_private:
        return
    reason = forbidden_reason(address)
    if reason:
        shown = host if host == str(address) else f"{host} ({address})"
        raise UrlRefused(f"{shown} is {reason}; webhooks go only to public addresses "
                         "(serve --allow-private-webhooks allows others)")


def parse_address(text: str) -> IPAddress:
    """An address as a resolver answers it (an IPv6 scope `%eth0` is dropped)."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        raise UrlRefused(f"the resolver answered {text!r}, which is not an address") from None


# --- URLs -------------------------------------------------------------------------------

def check_url(url: object, policy: WebhookPolicy) -> Target:
    """Validate a URL at registration (no DNS yet); raise UrlRefused (field `url`)."""
    if not isinstance(url, str):
        raise UrlRefused(f"url must be text, not {type(url).__name__}")
    if not url or len(url) > MAX_URL_LENGTH or any(c.isspace() or ord(c) < 32 for c in url):
        raise UrlRefused(f"url must be a URL of at most {MAX_URL_LENGTH} characters, "
                         "without spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused(f"url is not a valid URL ({exc})") from None
    if port == 0:
        raise UrlRefused("url has port 0, which no receiver listens on")
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if policy.allow_http else ("https",)
    if scheme not in allowed:
        raise UrlRefused("url must start with https://"
                         + (" or http://" if policy.allow_http else
                            " (serve --allow-http-webhooks also allows http)"))
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("url must not carry a user name or password")
    if parts.fragment:
        raise UrlRefused("url must not have a #fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise UrlRefused("url has no host")
    literal = _literal(host)
    if literal is None and not _NAME.match(host):
        raise UrlRefused(f"{host} is not a valid host name")
    if literal is not None:
        check_address(literal, policy, host)
        host = str(literal)  # one spelling from here on, also in the Host header
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path, literal)


def _literal(host: str) -> IPAddress | None:
    if ":" in host:  # urlsplit already took the brackets off an IPv6 literal
        return parse_address(host)
    return parse_ipv4_literal(host)


def pin(target: Target, policy: WebhookPolicy, resolver: Resolver) -> PinnedRequest:
    """Resolve, check every address, and build the request on the first one.

    Every address is checked, not just the one used: a name that answers one public and
    one private address is refused, since another client's choice could be the other.
    """
    if target.literal is not None:
        addresses = [target.literal]
    else:
        answered = resolver(target.host)
        if not answered:
            raise UrlRefused(f"{target.host} did not resolve to any address")
        addresses = [parse_address(text) for text in answered]
    for address in addresses:
        check_address(address, policy, target.host)
    address = addresses[0]
    shown = f"[{address}]" if address.version == 6 else str(address)
    default = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default else f"{target.host}:{target.port}"
    if ":" in target.host:
        host_header = (f"[{target.host}]" if target.port == default
                       else f"[{target.host}]:{target.port}")
    extensions = {}
    if target.scheme == "https" and target.literal is None:
        # TLS must name (and verify the certificate of) the host, not the pinned IP.
        extensions["sni_hostname"] = target.host.rstrip(".")
    return PinnedRequest(f"{target.scheme}://{shown}:{target.port}{target.path}", address,
                         {"Host": host_header}, extensions)


def system_resolver(name: str) -> list[str]:
    """The production resolver: every address the system's DNS answers, in its order."""
    answers = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in answers))
