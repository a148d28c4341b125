import subprocess

import pytest

from hostagent import __version__, config
from hostagent.__main__ import main
from hostagent.outbox import Outbox
from tests.hostagent.conftest import ROOT
from tests.kits.fakehub import TOKEN, FakePairingApi

NOT_PAIRED = "hostagent: not paired. Run: python -m hostagent pair --hub URL --name NAME\n"


def paired(path, hub="https://hub.example.com", token=TOKEN):
    config.save(path, config.Config(hub=hub, host_id=12, name='Mac "Pro"', token=token))


def test_it_refuses_to_run_when_not_paired(config_path, agent_cmd):
    result = subprocess.run(
        agent_cmd("run", "--config", str(config_path)), cwd=ROOT, capture_output=True, text=True, timeout=8
    )
    assert (result.returncode, result.stdout, result.stderr) == (2, "", NOT_PAIRED)


def test_it_refuses_to_run_without_a_token(config_path, capsys):
    paired(config_path, token="")
    assert main(["run", "--config", str(config_path)]) == 2
    assert capsys.readouterr().err == NOT_PAIRED


def test_it_prints_its_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"codexhub-agent {__version__}\n"


def test_it_shows_status_without_the_token(config_path, capsys):
    with FakePairingApi() as fake:
        paired(config_path, hub=fake.url)
        with Outbox(config.outbox_path(config_path)) as box:
            box.append("host", "hello", {})
            box.append("host", "hello", {})
        assert main(["status", "--config", str(config_path)]) == 0
        assert fake.paths() == ["/api/host/status/"]
    out = capsys.readouterr().out
    assert out == (
        f'Config: {config_path}\nHub: {fake.url}\nHost id: 12\nName: Mac "Pro"\n'
        f'Paired: yes (host "box" of team "Team A" on {fake.url})\nUnsent messages: 2\n'
    )
    assert TOKEN not in out


def test_it_shows_status_when_not_paired(config_path, capsys):
    assert main(["status", "--config", str(config_path)]) == 2
    assert capsys.readouterr().out == f"Config: {config_path}\nPaired: no\n"


def test_it_unpairs_on_the_hub_and_forgets_the_token(config_path, capsys):
    with FakePairingApi() as fake:
        paired(config_path, hub=fake.url)
        Outbox(config.outbox_path(config_path)).close()
        assert main(["unpair", "--config", str(config_path)]) == 0
        assert fake.paths() == ["/api/host/unpair/"]
    out = capsys.readouterr().out
    assert out == f"The hub revoked host 12.\nForgot this host's token (config: {config_path}).\n"
    left = config.load(config_path)
    assert left is not None and left.token == "" and left.hub == fake.url
    assert TOKEN not in config_path.read_text()
    assert not config.outbox_path(config_path).exists()
    assert main(["unpair", "--config", str(config_path)]) == 2
    assert capsys.readouterr().err == NOT_PAIRED


def test_it_forgets_locally_when_the_hub_says_the_token_is_invalid(config_path, capsys):
    with FakePairingApi() as fake:
        paired(config_path, hub=fake.url, token="chub_revoked")
        assert main(["unpair", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("The hub no longer accepted this host's token (already revoked).\n")
    assert config.load(config_path).token == ""


def test_it_forgets_locally_when_the_hub_is_unreachable(config_path, capsys):
    paired(config_path, hub="http://127.0.0.1:1")
    assert main(["unpair", "--config", str(config_path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("Could not tell the hub (cannot reach the hub at http://127.0.0.1:1:")
    assert "revoke host 12 on the hub's page." in out
    assert config.load(config_path).token == ""
