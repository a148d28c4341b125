"""The agent's versions: the agent CLIs it finds (`<cli> --version`, short and clipped), what
hello carries, the protocol header, and a hub that refuses its protocol (exit 5, no reconnect)."""

import os
import shutil
import time

import pytest

from hostagent.clis import cli_versions, version_line
from protocol import limits
from protocol.link import Hello
from protocol.version import CLOSE_INCOMPATIBLE, PROTOCOL_HEADER, PROTOCOL_VERSION
from tests.kits.fakehub import (
    FakeHub,
    finish,
    start_agent,
    start_link,
    stop_link,
    wait_for,
    write_paired_config,
)

UPDATE = "pipx install --force https://hub.example.com/agent/codexhub_agent-9.0.0-py3-none-any.whl"
REFUSAL = (
    f"this hub needs agent protocol 9 and this agent speaks protocol {PROTOCOL_VERSION}: "
    f"update the agent: {UPDATE}"
)


def program(folder, name: str, script: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


@pytest.fixture
def clis_bin(tmp_path):
    """codex, claude and aider on a PATH of their own (gemini is not there), each saying it its way."""
    folder = tmp_path / "bin"
    folder.mkdir()
    program(folder, "codex", 'echo "codex-cli 0.171.0"')
    program(folder, "claude", r"printf '\033[1m2.0.14\033[0m (Claude Code)\r\nsecond line\n'")
    program(folder, "aider", 'echo ""; echo "  aider 0.86.1  "')
    return folder


def on_path(folder):
    return lambda name: shutil.which(name, path=str(folder))


async def test_it_lists_the_clis_on_path_with_their_first_line_clean(clis_bin):
    assert await cli_versions(on_path(clis_bin)) == [
        {"name": "codex", "version": "codex-cli 0.171.0"},
        {"name": "claude", "version": "2.0.14 (Claude Code)"},
        {"name": "aider", "version": "aider 0.86.1"},
    ]


async def test_a_cli_that_fails_hangs_or_says_nothing_is_left_out(tmp_path):
    folder = tmp_path / "bin"
    folder.mkdir()
    program(folder, "codex", 'echo "codex-cli 1.0"; exit 1')
    program(folder, "claude", "sleep 30 & wait")  # its child too holds the pipe
    program(folder, "gemini", "true")
    program(folder, "aider", 'echo "aider 0.86.1"')
    started = time.monotonic()
    assert await cli_versions(on_path(folder), timeout=0.5) == [{"name": "aider", "version": "aider 0.86.1"}]
    assert time.monotonic() - started < 5  # side by side, each within its timeout


@pytest.mark.parametrize(
    "output, line",
    [
        (b"x" * 500, "x" * limits.MAX_CLI_VERSION),
        (b"\x1b]0;title\x07gemini 0.9.0\x1b[K", "gemini 0.9.0"),
        (b"1.0\x00\x7f\xc2\x9b\xe2\x80\xae-beta", "1.0-beta"),
        (b"\xff\xfe 2.1", "\ufffd\ufffd 2.1"),
        (b"\n\n   \n", ""),
    ],
)
def test_a_version_line_is_what_the_hub_takes(output, line):
    assert version_line(output) == line
    if line:
        assert Hello.model_validate({"clis": [{"name": "codex", "version": line}]}).clis[0].version == line


async def test_hello_carries_the_protocol_and_the_clis_and_the_handshake_names_the_protocol(
    config_path, clis_bin, monkeypatch
):
    monkeypatch.setenv("PATH", f"{clis_bin}{os.pathsep}/usr/bin{os.pathsep}/bin")
    async with FakeHub() as hub:
        write_paired_config(config_path, hub.url)
        proc = await start_agent(config_path)
        await wait_for(lambda: hub.applied.get("host"), timeout=10, what="hello")
        proc.terminate()
        await finish(proc)
    hello = next(m["payload"] for m in hub.applied_messages if m["type"] == "hello")
    assert hello["protocol_version"] == PROTOCOL_VERSION
    assert hello["clis"] == [
        {"name": "codex", "version": "codex-cli 0.171.0"},
        {"name": "claude", "version": "2.0.14 (Claude Code)"},
        {"name": "aider", "version": "aider 0.86.1"},
    ]
    assert hub.handshakes[0][PROTOCOL_HEADER.lower()] == str(PROTOCOL_VERSION)


def refusing(message: str = REFUSAL):
    async def script(conn):
        await conn.send({"type": "refused", "error": "protocol", "message": message})
        await conn.close(CLOSE_INCOMPATIBLE, "agent protocol 1 refused: the hub takes 9")

    return script


async def test_it_exits_5_with_what_to_run_and_does_not_reconnect(config_path):
    async with FakeHub(scripts=[refusing()]) as hub:
        write_paired_config(config_path, hub.url)
        code, out, err = await finish(await start_agent(config_path), timeout=10)
    assert code == 5
    assert err.endswith(f"hostagent: the hub refused this agent: {REFUSAL}\n")
    assert len(hub.connections) == 1
    assert hub.seen == []  # it sent nothing: no hello, no mirror


async def test_without_the_frame_it_shows_the_close_reason(config_path):
    async def script(conn):
        await conn.close(CLOSE_INCOMPATIBLE, "agent protocol 1 refused: the hub takes 9")

    async with FakeHub(scripts=[script]) as hub:
        write_paired_config(config_path, hub.url)
        code, _, err = await finish(await start_agent(config_path), timeout=10)
    assert code == 5
    assert err.endswith("hostagent: the hub refused this agent: agent protocol 1 refused: the hub takes 9\n")


async def test_a_hostile_refusal_is_cut_and_cleaned(tmp_path):
    async with FakeHub(scripts=[refusing("\x1b[2Jupdate \u202eplease " + "x" * 10_000)]) as hub:
        from hostagent.link import ProtocolRefused

        link, task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        with pytest.raises(ProtocolRefused) as refused:
            await task
        link.outbox.close()
    assert str(refused.value).startswith("[2Jupdate please xxx")
    assert len(str(refused.value)) <= 500


async def test_a_link_sends_the_protocol_header(tmp_path):
    async with FakeHub() as hub:
        link, task = start_link(hub.url, tmp_path / "outbox.sqlite3")
        await hub.connection(0)
        await stop_link(link, task)
    assert hub.handshakes[0][PROTOCOL_HEADER.lower()] == str(PROTOCOL_VERSION)
