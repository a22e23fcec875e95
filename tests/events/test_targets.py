"""Safe webhook targets: every class of address that is not public is refused when a
webhook is created and again at each attempt, unless its host is allowed by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from events_support import hook_settings
from receiver import Receiver

from modelyard.errors import InvalidInput
from modelyard.events.delivery import Deliverer
from modelyard.events.service import WebhookService
from modelyard.events.targets import check_target
from modelyard.sdk.client import Client

REFUSED = {
    "127.0.0.1": "loopback",
    "127.9.9.9": "loopback",
    "[::1]": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.1": "private",
    "[fc00::1]": "private",
    "169.254.169.254": "link-local",
    "[fe80::1]": "link-local",
    "224.0.0.1": "multicast",
    "[ff02::1]": "multicast",
    "240.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "0.0.0.0": "unspecified",
    "[::]": "unspecified",
    "[::ffff:127.0.0.1]": "loopback (carried in an IPv6 address)",
    "[::ffff:169.254.169.254]": "link-local (carried in an IPv6 address)",
    "[::ffff:10.0.0.1]": "private (carried in an IPv6 address)",
    "[2002:a00:1::1]": "private (carried in an IPv6 address)",
    "100.64.0.1": "not a public address",
}


def _public(host: str, port: int) -> list[str]:
    return ["93.184.215.14"]


@pytest.mark.parametrize(("host", "why"), list(REFUSED.items()), ids=list(REFUSED))
def test_each_class_of_address_is_refused(host: str, why: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_target(f"http://{host}:8080/hook", resolve=_public)
    assert exc.value.field == "url"
    assert f"which is {why};" in exc.value.message
    assert "webhooks.allowed_hosts" in exc.value.message


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/x",
        "file:///etc/passwd",
        "gopher://hooks.example.com/",
        "http://user:pw@hooks.example.com/",
        "http:///nohost",
        "hooks.example.com/x",
        "http://hooks.example.com:99999/",
    ],
)
def test_only_http_and_https_urls_with_a_host_are_taken(url: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        check_target(url, resolve=_public)
    assert exc.value.field == "url"


def test_a_name_is_refused_when_any_of_its_addresses_is_private() -> None:
    def mixed(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.0.0.7"]

    said = r"'hooks\.example\.com' resolves to 10\.0\.0\.7, which is private"
    with pytest.raises(InvalidInput, match=said):
        check_target("https://hooks.example.com/x", resolve=mixed)


def test_an_allowed_host_is_taken_by_its_name_only() -> None:
    def loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    found = check_target("http://Hooks.Internal:81/x?a=1", ["hooks.internal"], loopback)
    assert (found.host, found.port, found.path, found.addresses) == (
        "hooks.internal",
        81,
        "/x?a=1",
        ("127.0.0.1",),
    )
    assert found.url_for("127.0.0.1") == "http://127.0.0.1:81/x?a=1"
    assert found.host_header == "hooks.internal:81"
    with pytest.raises(InvalidInput, match="loopback"):  # another name, same address
        check_target("http://other.internal/x", ["hooks.internal"], loopback)


def test_a_public_address_is_taken() -> None:
    found = check_target("https://hooks.example.com/x", resolve=_public)
    assert found.addresses == ("93.184.215.14",) and found.host_header == "hooks.example.com"


def test_creating_a_webhook_on_a_name_that_resolves_to_loopback_is_refused(
    tmp_path: Path, store_url: str
) -> None:
    with Client(hook_settings(tmp_path, store_url, allowed_hosts=[])) as client:
        client.create_project("lab")
        with pytest.raises(InvalidInput, match=r"'localhost' resolves to .*loopback"):
            client.services.webhooks.create("lab", "http://localhost:9/x", events=["*"])
        with pytest.raises(InvalidInput, match=r"127\.0\.0\.1, which is loopback"):
            client.services.webhooks.create("lab", "http://127.0.0.1:9/x", events=["*"])


def test_a_name_that_resolves_to_loopback_at_delivery_is_not_sent_to(
    client: Client, hooks: WebhookService, receiver: Callable[..., Receiver]
) -> None:
    """DNS rebinding: the name resolved to a public address when the webhook was made and
    resolves to loopback when the worker sends; the worker refuses, and nothing reaches
    the receiver listening there."""
    got = receiver()
    port = got.url.split(":")[2].split("/")[0]
    answers = {"hooks.example.com": ["93.184.215.14"]}
    hooks.resolve = lambda host, port: answers[host]
    client.create_project("lab")
    made = hooks.create("lab", f"http://hooks.example.com:{port}/hook", events=["*"])
    answers["hooks.example.com"] = ["127.0.0.1"]
    client.dataset_service.register("d", pa.table({"x": [1]}), project="lab")
    assert Deliverer(hooks, worker="w", timeout_s=2).run_pass() == 1
    [delivery] = hooks.deliveries("lab", webhook_id=made.id)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert "resolves to 127.0.0.1, which is loopback" in (delivery.last_error or "")
    assert got.received == []


@pytest.mark.parametrize(
    "host",
    ["2130706433", "127.1", "0x7f000001", "017700000001", "[::ffff:7f00:1]", "localhost."],
)
def test_other_spellings_of_loopback_are_refused(host: str) -> None:
    """Decimal, short, hexadecimal and octal forms, hex-mapped IPv6 and a trailing dot
    reach 127.0.0.1 through the system's resolver: each is refused as loopback."""
    with pytest.raises(InvalidInput, match="loopback"):
        check_target(f"http://{host}/hook")
