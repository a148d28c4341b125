import logging

import pytest

from tests.kits.fakehub import FakeHub, start_link, stop_link, wait_for


async def close_1011(conn):
    await conn.welcome()
    await conn.recv_until(lambda m: m.get("type") == "hello")
    await conn.close(1011, "internal error")


async def abrupt(conn):
    await conn.welcome()
    await conn.recv_until(lambda m: m.get("type") == "hello")
    conn.abort()


async def close_before_welcome(conn):
    await conn.close(1012, "restart")


@pytest.mark.parametrize(
    ("script", "code"), [(close_1011, 1011), (abrupt, 1006), (close_before_welcome, 1012)]
)
async def test_it_reconnects_after_a_drop(tmp_path, caplog, script, code):
    caplog.set_level(logging.INFO, logger="hostagent")
    async with FakeHub(scripts=[script]) as hub:
        link, task = start_link(hub.url, tmp_path / "outbox.sqlite3", backoff_base=0.05, backoff_cap=5)
        await hub.connection(1)
        assert 0 <= link.delays[0] <= 0.05
        await stop_link(link, task)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"disconnected: code {code}") for m in messages), messages
    assert any(m.startswith("reconnecting in ") for m in messages)
    assert sum(m.startswith("connecting to ") for m in messages) == 2


async def test_it_backs_off_with_full_jitter_while_the_hub_is_down(tmp_path):
    async with FakeHub() as hub:
        url = hub.url
    # The port is closed now: every attempt is refused.
    link, task = start_link(url, tmp_path / "outbox.sqlite3", backoff_base=0.01, backoff_cap=0.04)
    await wait_for(lambda: len(link.delays) >= 6, what="6 attempts")
    await stop_link(link, task)
    for attempt, delay in enumerate(link.delays):
        assert 0 <= delay <= min(0.04, 0.01 * 2**attempt)
    assert all("ConnectionRefusedError" in r or "OSError" in r for r in link.drop_reasons)


async def test_it_resets_the_back_off_after_a_welcome(tmp_path):
    async def flap(conn):
        await conn.welcome()
        await conn.recv_until(lambda m: m.get("type") == "hello")
        await conn.close(1001, "going away")

    async with FakeHub(scripts=[flap] * 3) as hub:
        link, task = start_link(hub.url, tmp_path / "outbox.sqlite3", backoff_base=0.01, backoff_cap=1)
        await hub.connection(3)
        await stop_link(link, task)
    assert len(link.delays) >= 3
    assert all(delay <= 0.01 for delay in link.delays)  # attempt went back to 0 each time
