import pytest

from hostagent import api
from tests.kits.fakehub import TOKEN, FakePairingApi


@pytest.mark.parametrize("url", ["http://example.com", "http://10.0.0.1:8000", "ws://127.0.0.1", "ftp://x"])
def test_it_refuses_an_insecure_hub(url):
    with pytest.raises(api.InsecureHubUrl, match="https"):
        api.check_hub_url(url)


def test_it_says_why_plain_http_is_refused():
    with pytest.raises(api.InsecureHubUrl) as info:
        api.pairing_start("http://example.com", "box", "linux-x86_64", "0.1.0")
    assert "must use https://" in str(info.value) and "loopback" in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://hub.example.com/",
        "http://127.0.0.1:1",
        "http://127.9.9.9",
        "http://[::1]:8000",
        "http://localhost",
    ],
)
def test_it_allows_https_and_loopback(url):
    assert api.check_hub_url(url) == url.rstrip("/")


def test_it_turns_a_refused_connection_into_hub_unreachable():
    with pytest.raises(api.HubUnreachable, match="cannot reach the hub"):
        api.pairing_start("http://127.0.0.1:1", "box", "linux-x86_64", "0.1.0")


def test_it_parses_error_bodies():
    with FakePairingApi() as fake:
        fake.answers["/api/pairing/token/"] = (
            400,
            {"error": "slow_down", "error_description": "too fast", "interval": 10},
        )
        with pytest.raises(api.ApiError) as info:
            api.pairing_poll(fake.url, "whatever")
        assert (info.value.code, info.value.description, info.value.status, info.value.interval) == (
            "slow_down",
            "too fast",
            400,
            10.0,
        )
        with pytest.raises(api.ApiError) as info:
            api.pairing_confirm(fake.url, "chub_wrong")
        assert (info.value.code, info.value.status, info.value.interval) == ("invalid_token", 401, None)
        fake.answers["/api/pairing/"] = (502, {"not": "an error body"})
        with pytest.raises(api.ApiError) as info:
            api.pairing_start(fake.url, "box", "p", "v")
        assert (info.value.code, info.value.status) == ("http_error", 502)


def test_it_sends_json_and_the_bearer_token():
    with FakePairingApi() as fake:
        assert api.pairing_start(fake.url, "box", "linux-x86_64", "0.1.0")["user_code"] == "WDJB-MJHT"
        assert api.host_unpair(fake.url, TOKEN) == {"status": "revoked"}
        (path1, body1, auth1, _), (path2, body2, auth2, _) = fake.requests
        assert (path1, body1, auth1) == (
            "/api/pairing/",
            {"name": "box", "platform": "linux-x86_64", "agent_version": "0.1.0"},
            None,
        )
        assert (path2, body2, auth2) == ("/api/host/unpair/", {}, f"Bearer {TOKEN}")
