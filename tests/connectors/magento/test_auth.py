"""OAuth 1.0a signing: a known-answer test, the wire format, and fresh nonces per send."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import responses
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_AUTH_HEADER, Client

from connectors.errors import AuthError
from connectors.magento.auth import OAuth1Signer, encode_query, parse_oauth_header
from connectors.magento.client import MagentoClient
from connectors.magento.criteria import Filter, SearchCriteria

CK, CS, AT, ATS = "ck" * 16, "cs&secret", "at" * 16, "ats secret"
UNRESERVED = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def rfc3986(text: str) -> str:
    """RFC 5849 §3.6, written out byte by byte (independent of urllib.parse.quote)."""
    return "".join(chr(b) if chr(b) in UNRESERVED else f"%{b:02X}" for b in text.encode("utf-8"))


def fixed_signer() -> OAuth1Signer:
    return OAuth1Signer(
        CK, CS, AT, ATS, nonce_factory=lambda: "fixednonce123", clock=lambda: 1700000000
    )


URL = (
    "https://shop.example.com/rest/default/V1/customers/search?"
    "searchCriteria%5BfilterGroups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=updated_at&"
    "searchCriteria%5BfilterGroups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=2024-01-01%2000%3A00%3A00&"
    "searchCriteria%5BfilterGroups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5BconditionType%5D=gteq&"
    "searchCriteria%5BfilterGroups%5D%5B1%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=lastname&"
    "searchCriteria%5BfilterGroups%5D%5B1%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=O%27Brien%20%5Bsic%5D%2B&"
    "searchCriteria%5BfilterGroups%5D%5B1%5D%5Bfilters%5D%5B0%5D%5BconditionType%5D=like&"
    "searchCriteria%5BpageSize%5D=100"
)


def test_known_answer_signature_with_spaces_and_brackets() -> None:
    header = fixed_signer().authorization_header("GET", URL)
    sent = parse_oauth_header(header)
    assert sent is not None

    # The expected signature, built from RFC 5849 §3.4.1 by hand.
    query = urlsplit(URL).query
    params = [(unquote(k), unquote(v)) for k, _, v in (p.partition("=") for p in query.split("&"))]
    params += [
        ("oauth_consumer_key", CK),
        ("oauth_nonce", "fixednonce123"),
        ("oauth_signature_method", "HMAC-SHA256"),
        ("oauth_timestamp", "1700000000"),
        ("oauth_token", AT),
        ("oauth_version", "1.0"),
    ]
    normalized = "&".join(
        f"{k}={v}" for k, v in sorted((rfc3986(k), rfc3986(v)) for k, v in params)
    )
    base = "&".join(
        [
            "GET",
            rfc3986("https://shop.example.com/rest/default/V1/customers/search"),
            rfc3986(normalized),
        ]
    )
    assert "2024-01-01%2520" in base  # the space survives as %20, double-encoded in the base
    assert "%252B" in base  # a literal + in the value is signed as a plus, not a space
    key = f"{rfc3986(CS)}&{rfc3986(ATS)}".encode()
    expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha256).digest()).decode()

    assert sent["oauth_signature"] == expected
    assert sent["oauth_signature_method"] == "HMAC-SHA256"
    assert sent["oauth_nonce"] == "fixednonce123"


def test_signature_matches_oauthlib() -> None:
    client = Client(
        CK,
        client_secret=CS,
        resource_owner_key=AT,
        resource_owner_secret=ATS,
        signature_method=SIGNATURE_HMAC_SHA256,
        signature_type=SIGNATURE_TYPE_AUTH_HEADER,
        nonce="fixednonce123",
        timestamp="1700000000",
    )
    _, headers, _ = client.sign(URL, "GET")
    theirs = parse_oauth_header(headers["Authorization"])
    ours = parse_oauth_header(fixed_signer().authorization_header("GET", URL))
    assert theirs is not None
    assert ours is not None
    assert ours["oauth_signature"] == theirs["oauth_signature"]


def test_encode_query_uses_percent_twenty_and_encoded_brackets() -> None:
    query = encode_query([("searchCriteria[filterGroups][0][filters][0][value]", "a b+c@d.e")])
    assert (
        query
        == "searchCriteria%5BfilterGroups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=a%20b%2Bc%40d.e"
    )
    assert "+" not in query


@responses.activate
def test_client_sends_the_query_it_signed_and_a_fresh_nonce_each_time() -> None:
    seen: list[tuple[str, str]] = []

    def callback(request):
        seen.append((request.url, request.headers["Authorization"]))
        return (
            200,
            {},
            '{"items": [], "search_criteria": {"filter_groups": []}, "total_count": 0}',
        )

    responses.add_callback(
        responses.GET,
        "https://shop.example.com/rest/default/V1/customers/search",
        callback=callback,
    )
    client = MagentoClient("https://shop.example.com", auth=OAuth1Signer(CK, CS, AT, ATS))
    criteria = SearchCriteria(page_size=10).where(
        Filter("updated_at", "2024-01-01 00:00:00", "gteq")
    )
    client.search_customers(criteria)
    client.search_customers(criteria)

    url, _header = seen[0]
    assert "%20" in url
    assert "+" not in urlsplit(url).query
    assert "%5B" in url
    assert dict(parse_qsl(urlsplit(url).query))[
        "searchCriteria[filterGroups][0][filters][0][value]"
    ] == ("2024-01-01 00:00:00")
    nonces = {parse_oauth_header(h)["oauth_nonce"] for _, h in seen}
    assert len(nonces) == 2


def test_simulator_accepts_our_signature_and_rejects_a_tampered_one(client: MagentoClient) -> None:
    criteria = SearchCriteria(page_size=5).where(Filter("lastname", "%O'B%", "like"))
    criteria.where(Filter("updated_at", "2020-01-01 00:00:00", "gteq"))
    assert "items" in client.search_customers(criteria)

    signer = client.auth
    assert isinstance(signer, OAuth1Signer)
    signer.consumer_secret = "wrong"
    with pytest.raises(AuthError) as exc:
        client.search_customers(criteria)
    assert exc.value.status == 401
    assert exc.value.message == "magento: The signature is invalid. Verify and try again."
