import pytest

from tests.kits.fakehub import TOKEN, FakeHub, finish, start_agent, wait_for, write_paired_config

REVOKED = (
    "hostagent: this host was revoked or its token is no longer valid. "
    'Pair it again: python -m hostagent pair --hub {hub} --name "box"\n'
)
REPLACED = "hostagent: another agent connected with this host's token; this one stops.\n"


def closing_with(code: int):
    async def script(conn):
        await conn.welcome()
        await conn.recv_until(lambda m: m.get("type") == "hello")
        await conn.close(code, "bye")

    return script


async def test_it_exits_3_when_the_hub_closes_with_4401(config_path):
    async with FakeHub(scripts=[closing_with(4401)]) as hub:
        write_paired_config(config_path, hub.url)
        code, out, err = await finish(await start_agent(config_path), timeout=5)
    assert code == 3
    assert err.endswith(REVOKED.format(hub=hub.url))
    assert len(hub.connections) == 1  # no retry with a dead token
    assert "connecting to ws://127.0.0.1" in err and "disconnected: code 4401 reason 'bye'" in err
    assert TOKEN not in out + err


async def test_it_exits_4_when_another_agent_takes_over(config_path):
    async with FakeHub(scripts=[closing_with(4409)]) as hub:
        write_paired_config(config_path, hub.url)
        code, _, err = await finish(await start_agent(config_path), timeout=5)
    assert code == 4
    assert err.endswith(REPLACED)
    assert len(hub.connections) == 1


@pytest.mark.parametrize("status", [401, 403])
async def test_it_exits_3_when_the_handshake_is_refused(config_path, status):
    async with FakeHub() as hub:
        hub.refuse_status = status
        write_paired_config(config_path, hub.url)
        code, _, err = await finish(await start_agent(config_path), timeout=5)
    assert code == 3
    assert err.endswith(REVOKED.format(hub=hub.url))
    assert hub.refused == [status]


async def test_it_exits_3_for_a_token_the_hub_does_not_know(config_path):
    async with FakeHub() as hub:
        write_paired_config(config_path, hub.url, token="chub_wrong")
        code, _, err = await finish(await start_agent(config_path), timeout=5)
    assert code == 3 and hub.refused == [401]
    assert "chub_wrong" not in err


async def test_it_retries_when_the_handshake_fails_with_5xx(config_path):
    async with FakeHub() as hub:
        hub.refuse_status = 503
        write_paired_config(config_path, hub.url)
        proc = await start_agent(config_path)
        await wait_for(lambda: len(hub.refused) >= 2, what="a retry after 503")
        hub.refuse_status = None
        await hub.connection(0)
        proc.terminate()
        code, _, err = await finish(proc)
    assert code == 0
    assert "handshake refused with HTTP 503" in err
