import os
import stat
import tomllib

import pytest

from hostagent import config
from hostagent.__main__ import main


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_it_writes_the_file_0600_in_a_0700_dir(tmp_path):
    path = tmp_path / "new" / "codexhub" / "agent.toml"
    config.save(path, config.Config(hub="https://hub.example", host_id=3, name="box", token="chub_x"))
    assert mode(path) == 0o600
    assert mode(path.parent) == 0o700
    assert mode(path.parent.parent) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["agent.toml"]  # no temp file left


@pytest.mark.parametrize(
    "value",
    ['say "hi"', "back\\slash\\", "ünïcødé 名前 🚀", "tab\tnew\nline\r\x00\x1b\x7f", "'single' \\u0041", ""],
)
def test_it_round_trips_strings(tmp_path, value):
    path = tmp_path / "agent.toml"
    written = config.Config(hub="https://h.example/x", host_id=7, name=value, token=value)
    config.save(path, written)
    assert tomllib.loads(path.read_text(encoding="utf-8"))["name"] == value
    assert config.load(path) == written


def test_it_replaces_an_existing_file(tmp_path):
    path = tmp_path / "agent.toml"
    config.save(path, config.Config(hub="https://a.example", host_id=1, name="a", token="t1"))
    config.save(path, config.Config(hub="https://a.example", host_id=1, name="a", token=""))
    loaded = config.load(path)
    assert loaded is not None and loaded.token == "" and not loaded.paired
    assert "token" not in path.read_text()


def test_it_reports_a_broken_file(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text("hub = [not toml")
    with pytest.raises(config.ConfigError):
        config.load(path)
    path.write_text('hub = "x"\nhost_id = "twelve"\n')
    with pytest.raises(config.ConfigError, match="host_id"):
        config.load(path)


def test_it_picks_the_path_by_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEXHUB_AGENT_CONFIG", str(tmp_path / "env.toml"))
    assert config.config_path(str(tmp_path / "cli.toml")) == tmp_path / "cli.toml"
    assert config.config_path(None) == tmp_path / "env.toml"
    monkeypatch.delenv("CODEXHUB_AGENT_CONFIG")
    monkeypatch.setattr(config.sys, "platform", "linux")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert config.config_path(None) == tmp_path / "xdg" / "codexhub" / "agent.toml"
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert config.config_path(None) == tmp_path / "home" / ".config" / "codexhub" / "agent.toml"
    monkeypatch.setattr(config.sys, "platform", "darwin")
    assert (
        config.config_path(None)
        == tmp_path / "home" / "Library" / "Application Support" / "codexhub" / "agent.toml"
    )
    monkeypatch.setattr(config.sys, "platform", "win32")
    monkeypatch.setenv("APPDATA", str(tmp_path / "appdata"))
    assert config.config_path(None) == tmp_path / "appdata" / "codexhub" / "agent.toml"


def test_it_uses_config_over_the_env_var_on_the_command_line(tmp_path, monkeypatch, capsys):
    env_path, cli_path = tmp_path / "env" / "agent.toml", tmp_path / "cli" / "agent.toml"
    shared = {"from-env": str(tmp_path / "a")}, {"from-cli": str(tmp_path / "b")}
    config.save(env_path, config.Config(hub="https://env.example", host_id=1, name="env", token="t"))
    config.save(cli_path, config.Config(hub="https://cli.example", host_id=2, name="cli", token="t"))
    for path, projects in zip((env_path, cli_path), shared, strict=True):
        cfg = config.load(path)
        cfg.projects.update(projects)
        config.save(path, cfg)
    monkeypatch.setenv("CODEXHUB_AGENT_CONFIG", str(env_path))
    assert main(["project", "list"]) == 0
    assert capsys.readouterr().out.startswith("from-env  ")
    assert main(["project", "list", "--config", str(cli_path)]) == 0
    assert capsys.readouterr().out.startswith("from-cli  ")


def test_it_keeps_the_outbox_beside_the_config(tmp_path):
    assert config.outbox_path(tmp_path / "x" / "agent.toml") == tmp_path / "x" / "outbox.sqlite3"
