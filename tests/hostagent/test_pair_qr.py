"""The pairing QR code says when a phone cannot open it: a hub reached at a
loopback address puts that address in the QR, and the agent says how to pair
so that the phone can scan it."""

import io

import pytest

from hostagent import pairing


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/pair/?code=WDJB-MJHT",
        "http://localhost:8000/pair/?code=WDJB-MJHT",
        "http://[::1]:8000/pair/?code=WDJB-MJHT",
        "http://127.0.1.1/pair/?code=WDJB-MJHT",
    ],
)
def test_a_loopback_qr_code_says_a_phone_cannot_open_it_and_how_to_fix_it(url):
    out = Terminal()
    pairing._show_code(out, "WDJB-MJHT", url)
    text = out.getvalue()
    assert "\u2588" in text or "\u2580" in text or "\u2584" in text  # the QR code itself
    assert f"This QR code opens {url.split('?')[0]}, an address only this computer reaches" in text
    assert "a phone cannot open it" in text
    assert "--hub set to an address the phone reaches" in text
    assert "ALLOWED_HOSTS=192.168.1.20 make run HOST=0.0.0.0" in text


@pytest.mark.parametrize(
    "url", ["https://hub.example.com/pair/?code=WDJB-MJHT", "http://192.168.1.20:8000/pair/?code=WDJB-MJHT"]
)
def test_a_qr_code_a_phone_can_open_has_no_note(url):
    out = Terminal()
    pairing._show_code(out, "WDJB-MJHT", url)
    assert "phone cannot open" not in out.getvalue()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8000/pair/", True),
        ("http://LOCALHOST/pair/", True),
        ("http://dev.localhost:8000/", True),
        ("http://[::1]/", True),
        ("http://10.0.0.2/", False),
        ("https://hub.example.com/", False),
        ("http://[bad/", False),
        ("", False),
    ],
)
def test_is_loopback_url(url, expected):
    assert pairing.is_loopback_url(url) is expected
