import os
import subprocess

import pytest

from hostagent import config
from hostagent.__main__ import main
from hostagent.mirror.index import Index
from tests.hostagent.conftest import ROOT
from tests.kits.fakehub import TOKEN, FakePairingApi


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_it_adds_lists_and_removes_projects_through_the_config_file(tmp_path, config_path, capsys):
    config.save(
        config_path, config.Config(hub="https://hub.example.com", host_id=12, name="box", token=TOKEN)
    )
    docs = tmp_path / "my docs"
    docs.mkdir()
    (tmp_path / "code").mkdir()
    cfg = ["--config", str(config_path)]
    assert run(capsys, "project", "add", str(docs), *cfg) == (
        0,
        f"Added project 'my docs': {docs}\n"
        "A running agent shares it at once.\n",
        "",
    )
    code, out, _ = run(
        capsys, "project", "add", str(tmp_path / "code" / ".." / "code"), "--name", "work", *cfg
    )
    assert code == 0 and out.startswith(f"Added project 'work': {tmp_path / 'code'}\n")
    assert run(capsys, "project", "list", *cfg) == (0, f"my docs  {docs}\nwork  {tmp_path / 'code'}\n", "")
    loaded = config.load(config_path)
    assert loaded.projects == {"my docs": str(docs), "work": str(tmp_path / "code")}
    assert loaded.token == TOKEN and loaded.host_id == 12  # the pairing is kept
    assert config_path.stat().st_mode & 0o777 == 0o600
    assert run(capsys, "project", "remove", "my docs", *cfg) == (
        0,
        "Removed project 'my docs'. A running agent stops sharing it at once.\n",
        "",
    )
    assert run(capsys, "project", "list", *cfg) == (0, f"work  {tmp_path / 'code'}\n", "")
    assert run(capsys, "project", "remove", "work", *cfg)[0] == 0
    assert run(capsys, "project", "list", *cfg) == (
        0,
        "No shared projects. Add one with: python -m hostagent project add PATH\n",
        "",
    )
    assert "[projects]" not in config_path.read_text()


def test_it_refuses_bad_folders_and_names(tmp_path, config_path, capsys):
    cfg = ["--config", str(config_path)]
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "ok").mkdir()
    assert run(capsys, "project", "add", str(tmp_path / "missing"), *cfg) == (
        2,
        "",
        f"hostagent: not a folder: {tmp_path / 'missing'}\n",
    )
    assert run(capsys, "project", "add", str(tmp_path / "file.txt"), *cfg)[0] == 2
    for name, why in [
        ("a/b", "must not contain /"),
        ("tab\there", "must not contain control characters"),
        ("c1\x85", "must not contain control characters"),
        ("evil\u202etxt.exe", "must not contain control characters"),
        ("x" * 65, "has at most 64 characters"),
        ("", "must not be empty"),
    ]:
        code, out, err = run(capsys, "project", "add", str(tmp_path / "ok"), "--name", name, *cfg)
        assert (code, out) == (2, ""), name
        assert why in err and "\t" not in err and "\x85" not in err
    assert run(capsys, "project", "add", str(tmp_path / "ok"), "--name", "x" * 64, *cfg)[0] == 0
    assert run(capsys, "project", "add", str(tmp_path / "ok"), *cfg)[0] == 0
    assert run(capsys, "project", "add", str(tmp_path / "ok"), *cfg) == (
        2,
        "",
        "hostagent: a project named 'ok' already exists.\n",
    )
    assert run(capsys, "project", "remove", "nope", *cfg) == (2, "", "hostagent: no project named 'nope'.\n")
    assert set(config.load(config_path).projects) == {"x" * 64, "ok"}


def test_it_defaults_the_name_to_the_real_folder_name(tmp_path, config_path, capsys):
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "alias")
    assert run(capsys, "project", "add", str(tmp_path / "alias"), "--config", str(config_path))[0] == 0
    assert config.load(config_path).projects == {"real": str(tmp_path / "real")}


def test_it_reads_configs_without_projects_and_refuses_broken_ones(config_path):
    config_path.parent.mkdir(parents=True)
    config_path.write_text('hub = "https://hub.example.com"\nname = "box"\ntoken = "t"\n')
    assert config.load(config_path).projects == {}
    config_path.write_text('hub = ""\n[projects]\n"a/b" = "/tmp"\n')
    with pytest.raises(config.ConfigError, match="must not contain /"):
        config.load(config_path)  # a bad project name
    config_path.write_text('hub = ""\n[projects]\nok = "relative/path"\n')
    with pytest.raises(config.ConfigError, match="absolute"):
        config.load(config_path)  # a relative project path


def test_it_round_trips_awkward_names_and_paths(config_path):
    cfg = config.Config(projects={'quote " and \\ back': '/tmp/with "quotes"', "日本": "/tmp/ünï"})
    config.save(config_path, cfg)
    assert config.load(config_path).projects == cfg.projects


def test_its_help_says_a_running_agent_applies_changes_at_once(agent_cmd):
    result = subprocess.run(
        agent_cmd("project", "add", "--help"), cwd=ROOT, capture_output=True, text=True, timeout=8
    )
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "at once, without a restart" in text and "--name NAME" in text and "--config PATH" in text


def test_it_forgets_the_mirror_index_on_unpair_but_keeps_the_projects(tmp_path, config_path, capsys):
    with FakePairingApi() as fake:
        config.save(
            config_path,
            config.Config(hub=fake.url, host_id=12, name="box", token=TOKEN, projects={"p": str(tmp_path)}),
        )
        Index(config.mirror_index_path(config_path)).close()
        assert main(["unpair", "--config", str(config_path)]) == 0
    assert not config.mirror_index_path(config_path).exists()
    assert config.load(config_path).projects == {"p": str(tmp_path)}


def test_it_forgets_the_mirror_index_on_pair_but_keeps_the_projects(tmp_path, config_path, capsys):
    with FakePairingApi() as fake:
        config.save(config_path, config.Config(projects={"p": str(tmp_path)}))
        Index(config.mirror_index_path(config_path)).close()
        assert main(["pair", "--hub", fake.url, "--name", "box", "--yes", "--config", str(config_path)]) == 0
    assert not config.mirror_index_path(config_path).exists()
    loaded = config.load(config_path)
    assert loaded.projects == {"p": str(tmp_path)} and loaded.token == TOKEN
