"""Commands that change agent.toml edit it in place: the user's comments, blank lines and order
survive, only what changed is written, and the token stays 0600."""

import os
import stat

import pytest

from hostagent import config
from hostagent.__main__ import main
from tests.kits.fakehub import TOKEN, FakePairingApi

COMMENTED = """\
# My agent. Keep this file private: it holds the token.

name = "box"   # what the hub calls this machine
hub = "https://hub.example.com"
token = "chub_secret"
host_id = 12
mystery = "a key this agent does not know"

# Executors come before [tasks] here, on purpose.
[executors.notes]
command = ["/usr/local/bin/notes", "{file}"]  # the wrapper
needs_file = true

[tasks]
# two at a time is plenty
concurrency = 2
timeout = 600

# the end
"""

WITH_PROJECTS = """\
hub = "https://hub.example.com"  # the hub
name = "box"
token = "chub_secret"

[projects]
# folders shared with the hub
docs = "/srv/docs"  # the handbook

# Tasks: one at a time.
[tasks]
concurrency = 1
"""


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def folder(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    return work


def write(path, text, file_mode=0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(file_mode)


def test_it_adds_the_projects_table_and_keeps_the_rest_byte_for_byte(config_path, folder, capsys):
    write(config_path, COMMENTED)
    assert run(capsys, "project", "add", str(folder), "--config", str(config_path))[0] == 0
    assert config_path.read_text() == COMMENTED + f'\n[projects]\nwork = "{folder}"\n'
    assert run(capsys, "project", "remove", "work", "--config", str(config_path))[0] == 0
    assert config_path.read_text() == COMMENTED


def test_it_adds_and_removes_exactly_one_line_in_an_existing_projects_table(config_path, folder, capsys):
    write(config_path, WITH_PROJECTS)
    code, _, _ = run(capsys, "project", "add", str(folder), "--name", "my work", "--config", str(config_path))
    assert code == 0
    added = f'"my work" = "{folder}"\n'
    anchor = 'docs = "/srv/docs"  # the handbook\n'
    assert config_path.read_text() == WITH_PROJECTS.replace(anchor, anchor + added)
    assert run(capsys, "project", "remove", "my work", "--config", str(config_path))[0] == 0
    assert config_path.read_text() == WITH_PROJECTS


def test_it_keeps_the_users_comments_when_the_last_project_goes(config_path, capsys):
    write(config_path, WITH_PROJECTS)
    assert run(capsys, "project", "remove", "docs", "--config", str(config_path))[0] == 0
    assert config_path.read_text() == WITH_PROJECTS.replace('docs = "/srv/docs"  # the handbook\n', "")
    assert config.load(config_path).projects == {}


def test_unpair_removes_only_the_token_line(config_path, capsys):
    with FakePairingApi() as fake:
        text = COMMENTED.replace("https://hub.example.com", fake.url).replace("chub_secret", TOKEN)
        write(config_path, text)
        assert main(["unpair", "--config", str(config_path)]) == 0
    assert config_path.read_text() == text.replace(f'token = "{TOKEN}"\n', "")


def test_pairing_again_changes_the_pairing_and_keeps_the_comments(config_path, capsys):
    with FakePairingApi() as fake:
        write(config_path, COMMENTED)
        assert main(["pair", "--hub", fake.url, "--name", "box", "--yes", "--config", str(config_path)]) == 0
    expected = COMMENTED.replace("https://hub.example.com", fake.url).replace("chub_secret", TOKEN)
    assert config_path.read_text() == expected
    loaded = config.load(config_path)
    assert (loaded.hub, loaded.token, loaded.host_id) == (fake.url, TOKEN, 12)


def test_a_new_file_is_written_in_the_usual_order(config_path):
    cfg = config.Config(hub="https://h.example", host_id=3, name="box", token="t", projects={"a b": "/a"})
    cfg.tasks.concurrency = 4
    cfg.executors["x"] = config.ExecutorConfig(command=["/bin/x"])
    config.save(config_path, cfg)
    assert config_path.read_text() == (
        'hub = "https://h.example"\nhost_id = 3\nname = "box"\ntoken = "t"\n\n'
        '[projects]\n"a b" = "/a"\n\n'
        "[tasks]\nconcurrency = 4\nparallel_per_project = false\ntimeout = 1800\n"
        "output_cap = 1048576\nbuiltins = true\n\n"
        '[executors.x]\ntype = "command"\ncommand = ["/bin/x"]\n'
    )
    assert config.load(config_path) == cfg


def test_it_rewrites_an_unreadable_file_whole_as_pairing_always_did(config_path):
    write(config_path, "hub = [not toml\n# lost\n")
    config.save(config_path, config.Config(hub="https://h.example", name="box", token="t"))
    assert config_path.read_text() == 'hub = "https://h.example"\nname = "box"\ntoken = "t"\n'


def test_the_token_stays_0600_whatever_the_file_was(config_path, folder, capsys):
    write(config_path, COMMENTED, file_mode=0o644)
    old = os.umask(0)
    try:
        assert run(capsys, "project", "add", str(folder), "--config", str(config_path))[0] == 0
    finally:
        os.umask(old)
    assert mode(config_path) == 0o600
    assert sorted(os.listdir(config_path.parent)) == ["agent.toml"]  # no temporary file left


def test_it_refuses_to_write_through_a_symlinked_config_file(tmp_path, config_path, folder, capsys):
    elsewhere = tmp_path / "elsewhere.toml"
    write(elsewhere, COMMENTED)
    config_path.parent.mkdir(parents=True)
    config_path.symlink_to(elsewhere)
    code, out, err = run(capsys, "project", "add", str(folder), "--config", str(config_path))
    assert (code, out) == (1, "")
    assert err == f"hostagent: cannot write {config_path}: it is not a regular file\n"
    assert elsewhere.read_text() == COMMENTED and config_path.is_symlink()


def test_it_writes_through_a_symlinked_config_folder_the_user_chose(tmp_path, folder, capsys):
    (tmp_path / "dotfiles").mkdir()
    (tmp_path / "config").symlink_to(tmp_path / "dotfiles")
    path = tmp_path / "config" / "agent.toml"
    write(path, COMMENTED)
    assert run(capsys, "project", "add", str(folder), "--config", str(path))[0] == 0
    assert (tmp_path / "dotfiles" / "agent.toml").read_text().startswith(COMMENTED)
    assert mode(tmp_path / "dotfiles" / "agent.toml") == 0o600
