import asyncio
import signal

import pytest

from tests.kits.fakehub import FakeHub, finish, start_agent, wait_for, write_paired_config


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_it_closes_with_1000_and_exits_0_on_a_signal(config_path, sig):
    async with FakeHub() as hub:
        write_paired_config(config_path, hub.url)
        proc = await start_agent(config_path)
        conn = await hub.connection(0, timeout=8)
        await wait_for(lambda: any(m.get("type") == "hello" for m in conn.received), what="hello")
        proc.send_signal(sig)
        code, _, err = await finish(proc, timeout=5)
        await conn.closed.wait()
    assert code == 0, err
    assert conn.close_code == 1000
    assert len(hub.connections) == 1
    assert err.rstrip().endswith("stopped")


async def test_it_stops_during_back_off(config_path):
    async with FakeHub() as hub:
        url = hub.url
    write_paired_config(config_path, url)
    proc = await start_agent(config_path)
    try:
        line = await asyncio.wait_for(proc.stderr.readline(), 5)
    except TimeoutError:
        proc.kill()
        raise
    assert b"connecting to" in line
    proc.send_signal(signal.SIGTERM)
    code, _, _ = await finish(proc, timeout=5)
    assert code == 0
