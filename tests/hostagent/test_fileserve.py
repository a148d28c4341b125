"""The agent's answer to file.fetch: only what the mirror shares, read without
following symlinks, at most max_size bytes, sent to the hub or refused with a
reason (docs/protocol.md, "Files on request")."""

import json
import os

import pytest

from hostagent import api
from hostagent.fileserve import FileServer, Refused
from hostagent.link import HostLink

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64
REQUEST = "req_0123456789abcdef"


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "acme"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "logo.png").write_bytes(PNG)
    (root / ".gitignore").write_text("secret.png\nbuild/\n")
    (root / "secret.png").write_bytes(PNG)
    (root / "build").mkdir()
    (root / "build" / "out.png").write_bytes(PNG)
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("[core]\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "key.png").write_bytes(b"TOP-SECRET")
    (root / "link.png").symlink_to(outside / "key.png")
    (root / "away").symlink_to(outside, target_is_directory=True)
    (root / "big.png").write_bytes(b"x" * 2000)
    return root


@pytest.fixture
def server(tree, tmp_path):
    agent_dir = tree / ".agent"
    agent_dir.mkdir()
    (agent_dir / "token.png").write_bytes(b"agent's own")
    return FileServer({"acme": str(tree)}, exclude=[str(agent_dir)], hub="http://127.0.0.1:9", token="t")


def test_it_reads_a_shared_file(server):
    assert server.read("acme", "docs/logo.png", 1024) == PNG


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("secret.png", "ignored"),  # .gitignore
        ("build/out.png", "ignored"),  # under an ignored folder
        (".git/config", "ignored"),
        (".agent/token.png", "ignored"),  # the agent's own folder
        ("link.png", "not_a_file"),  # a symlink, never followed
        ("away/key.png", "ignored"),  # a symlinked folder on the way out
        ("docs", "not_a_file"),
        ("docs/nothing.png", "missing"),
        ("big.png", "too_large"),
    ],
)
def test_it_refuses_what_the_mirror_does_not_share(server, path, why):
    with pytest.raises(Refused, match=f"^{why}$"):
        server.read("acme", path, 1000)


def test_an_unknown_project_is_refused(server):
    with pytest.raises(Refused, match="^unknown_project$"):
        server.read("other", "docs/logo.png", 1000)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_blocking(server, tree):
    os.mkfifo(tree / "pipe.png")
    with pytest.raises(Refused, match="^not_a_file$"):
        server.read("acme", "pipe.png", 1000)


@pytest.fixture
def calls(monkeypatch):
    """What the agent sends the hub over HTTP."""
    sent = []

    def fake_send(hub, path, data, content_type, token, method, timeout):
        sent.append((method, path, data, content_type, token))
        return {}

    def fake_post(hub, path, body, token=None):
        sent.append(("POST", path, body, "application/json", token))
        return {}

    monkeypatch.setattr(api, "_send", fake_send)
    monkeypatch.setattr(api, "post", fake_post)
    return sent


def link_with(server) -> HostLink:
    link = HostLink("http://127.0.0.1:9", "t", outbox=None, platform="test")  # type: ignore[arg-type]
    server.attach(link)
    return link


async def test_a_fetch_from_the_hub_is_answered_with_the_bytes(server, calls):
    frame = {
        "type": "file.fetch",
        "request": REQUEST,
        "project": "acme",
        "path": "docs/logo.png",
        "max_size": 99,
    }
    await link_with(server).handle_frame(json.dumps(frame))
    assert calls == [("PUT", f"/api/host/files/{REQUEST}", PNG, "application/octet-stream", "t")]


async def test_a_refused_fetch_tells_the_hub_why(server, calls):
    frame = {"type": "file.fetch", "request": REQUEST, "project": "acme", "path": "secret.png"}
    await link_with(server).handle_frame(json.dumps(frame))
    assert calls == [
        ("POST", f"/api/host/files/{REQUEST}/refused", {"reason": "ignored"}, "application/json", "t")
    ]


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "file.fetch", "request": REQUEST, "project": "acme", "path": "../outside/key.png"},
        {"type": "file.fetch", "request": REQUEST, "project": "acme", "path": "/etc/passwd"},
        {"type": "file.fetch", "request": "../../api/x", "project": "acme", "path": "docs/logo.png"},
        {
            "type": "file.fetch",
            "request": REQUEST,
            "project": "acme",
            "path": "docs/logo.png",
            "max_size": 10**9,
        },
    ],
)
async def test_a_malformed_fetch_reads_and_sends_nothing(server, calls, frame, monkeypatch):
    read = []
    monkeypatch.setattr(server, "read", lambda *args: read.append(args))
    await link_with(server).handle_frame(json.dumps(frame))
    assert calls == [] and read == []
