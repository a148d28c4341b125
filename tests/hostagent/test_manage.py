"""Managing a host from the phone, on the host (hostagent.manage): the folders under the roots its
agent.toml names, sharing one of them, no longer sharing a project, restarting. Everything the hub
asks is checked again here: a folder outside the roots (`..`, an absolute path, a symlink leading
out), a file, a bad name, or any request while agent.toml does not allow it is refused, and
agent.toml is left exactly as it was."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hostagent import config, manage
from tests.kits.agent_manage import manage_agent, manage_toml, result, results
from tests.kits.fakehub import wait_for


@pytest.fixture
def tree(tmp_path):
    """~/code with two repositories, a plain folder with a repository inside, hidden and huge
    folders, a file, and symlinks leading in and out; /elsewhere outside it."""
    code = tmp_path / "code"
    for repo in ("api", "web", "misc/tool"):
        (code / repo / ".git").mkdir(parents=True)
        (code / repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (code / "api" / "src").mkdir()  # inside a repository: not listed
    (code / "misc" / "deep" / "er" / "est").mkdir(parents=True)
    (code / ".cache").mkdir()
    (code / "node_modules").mkdir()
    (code / "notes.txt").write_text("a file\n")
    (code / "red\x1b[31mname").mkdir()  # a name the hub would refuse: never listed
    os.mkdir(bytes(code) + b"/caf\xe9")  # not UTF-8: never listed
    outside = tmp_path / "elsewhere"
    (outside / "secret").mkdir(parents=True)
    (code / "escape").symlink_to(outside)
    (code / "api-link").symlink_to(code / "api")
    return code, outside


@pytest.fixture
def toml(tmp_path, tree):
    code, _ = tree
    return manage_toml(tmp_path / "cfg" / "agent.toml", [code])


def hello(hub):
    return next((m["payload"] for m in hub.applied_messages if m["type"] == "hello"), None)


async def test_hello_offers_managing_only_when_agent_toml_allows_it(tmp_path, toml):
    async with manage_agent(tmp_path, toml) as (hub, agent):
        await wait_for(lambda: hello(hub), what="hello")
    assert "manage" in hello(hub)["capabilities"]
    off = manage_toml(tmp_path / "off" / "agent.toml", [tmp_path], allow=False)
    async with manage_agent(tmp_path / "off", off, allowed=False) as (hub, agent):
        await wait_for(lambda: hello(hub), what="hello")
    assert "manage" not in hello(hub)["capabilities"]


async def test_the_folder_list_holds_what_is_under_the_roots_and_nothing_else(tmp_path, tree):
    code, _ = tree
    toml = manage_toml(tmp_path / "cfg" / "agent.toml", [code], projects=f'web = "{code / "web"}"\n')
    async with manage_agent(tmp_path, toml) as (hub, agent):
        listed = await agent.do("folders")
    assert listed["ok"] is True and listed["truncated"] is False
    assert listed["roots"] == [str(code)]
    folders = {
        Path(f["path"]).relative_to(code).as_posix(): (f["git"], f["project"]) for f in listed["folders"]
    }
    assert folders == {
        ".": (False, None),
        "api": (True, None),
        "misc": (False, None),
        "misc/deep": (False, None),
        "misc/deep/er": (False, None),
        "misc/tool": (True, None),
        "web": (True, "web"),
    }  # not api/src (in a repository), misc/deep/er/est (too deep), symlinks, hidden, node_modules, a file,
    # names with control characters or not in UTF-8
    assert all(f["root"] == str(code) for f in listed["folders"])


async def test_a_long_list_is_cut_and_says_so(tmp_path, monkeypatch):
    code = tmp_path / "code"
    for n in range(30):
        (code / f"p{n:02d}").mkdir(parents=True)
    monkeypatch.setattr(manage.limits, "MAX_MANAGE_FOLDERS", 10)
    toml = manage_toml(tmp_path / "cfg" / "agent.toml", [code])
    async with manage_agent(tmp_path, toml) as (hub, agent):
        listed = await agent.do("folders")
    assert listed["truncated"] is True and len(listed["folders"]) == 10


async def test_a_root_that_is_a_symlink_is_the_hosts_choice(tmp_path, tree):
    code, _ = tree
    (tmp_path / "link-to-code").symlink_to(code)
    toml = manage_toml(tmp_path / "cfg" / "agent.toml", [tmp_path / "link-to-code"])
    async with manage_agent(tmp_path, toml) as (hub, agent):
        listed = await agent.do("folders")
        added = await agent.do("add_project", path=str(tmp_path / "link-to-code" / "api"), name="api")
    assert listed["roots"] == [str(code)]
    assert (added["ok"], added["path"]) == (True, str(code / "api"))


async def test_sharing_a_listed_folder_edits_agent_toml_in_place_and_applies_it(tmp_path, tree, toml):
    code, _ = tree
    async with manage_agent(tmp_path, toml) as (hub, agent):
        added = await agent.do("add_project", path=str(code / "api"), name="api")
        assert agent.reloads == 1
    assert added == {**added, "ok": True, "project": "api", "path": str(code / "api"), "error": None}
    text = toml.read_text()
    assert f'[projects]\n# the notes I keep\napi = "{code / "api"}"\n' in text
    assert "# my workstation\n" in text and "# the phone may pick from these\nallow = true\n" in text
    assert config.load(toml).projects == {"api": str(code / "api")}


async def test_removing_a_project_edits_agent_toml_and_keeps_the_files(tmp_path, tree):
    code, _ = tree
    toml = manage_toml(tmp_path / "cfg" / "agent.toml", [code], projects=f'api = "{code / "api"}"\n')
    async with manage_agent(tmp_path, toml) as (hub, agent):
        removed = await agent.do("remove_project", name="api")
        missing = await agent.do("remove_project", name="api")
        assert agent.reloads == 1
    assert (removed["ok"], removed["project"]) == (True, "api")
    assert (missing["ok"], missing["error"]) == (False, "this host shares no project named 'api'")
    assert config.load(toml).projects == {}
    assert "# the notes I keep\n" in toml.read_text() and (code / "api" / ".git" / "HEAD").exists()


def hostile(code: Path, outside: Path, tmp_path: Path) -> dict[str, tuple[dict, str]]:
    """Requests a hostile hub could send, and the start of the refusal each gets."""
    return {
        "dot-dot": ({"path": f"{code}/api/../../elsewhere", "name": "x"}, manage.DOT_DOT),
        "dot-dot inside": ({"path": f"{code}/misc/../api", "name": "x"}, manage.DOT_DOT),
        "absolute outside": ({"path": str(outside), "name": "x"}, f"'{outside}' is not inside"),
        "root's parent": ({"path": str(code.parent), "name": "x"}, f"'{code.parent}' is not inside"),
        "symlink out": ({"path": str(code / "escape"), "name": "x"}, f"'{code / 'escape'}' is not inside"),
        "below a symlink out": (
            {"path": str(code / "escape" / "secret"), "name": "x"},
            f"'{code / 'escape' / 'secret'}' is not inside",
        ),
        "relative": ({"path": "code/api", "name": "x"}, manage.NOT_ABSOLUTE),
        "a file": ({"path": str(code / "notes.txt"), "name": "x"}, "not a folder"),
        "missing": ({"path": str(code / "gone"), "name": "x"}, "no such folder"),
        "config folder": ({"path": str(tmp_path / "cfg"), "name": "x"}, "holds the agent's own config"),
        "huge name": ({"path": str(code / "api"), "name": "n" * 65}, "refused: name: a project name is 1-64"),
        "control char": (
            {"path": str(code / "api"), "name": "a\x1b[31mb"},
            "refused: name: a project name must",
        ),
        "slash": ({"path": str(code / "api"), "name": "a/b"}, "refused: a project name must not contain /"),
        "bidi": ({"path": str(code / "api"), "name": "txt.\u202eexe"}, "refused: name: a project name must"),
        "NUL in path": ({"path": f"{code}/api\x00", "name": "x"}, "refused: path: a folder must not"),
        "huge path": ({"path": "/" + "a" * 5000, "name": "x"}, "refused: path: a folder is 1-4096"),
        "no name": ({"path": str(code / "api")}, "refused: add_project needs name"),
        "taken name": (
            {"path": str(code / "web"), "name": "notes"},
            "a project named 'notes' exists already",
        ),
        "shared folder": ({"path": str(code / "misc"), "name": "again"}, "is shared already, as 'notes'"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "dot-dot",
        "dot-dot inside",
        "absolute outside",
        "root's parent",
        "symlink out",
        "below a symlink out",
        "relative",
        "a file",
        "missing",
        "config folder",
        "huge name",
        "control char",
        "slash",
        "bidi",
        "NUL in path",
        "huge path",
        "no name",
        "taken name",
        "shared folder",
    ],
)
async def test_a_hostile_request_is_refused_on_the_host_and_changes_nothing(tmp_path, tree, case):
    code, outside = tree
    # The config folder is inside a root only in its own case, so only its own rule refuses it.
    roots = [tmp_path] if case == "config folder" else [code]
    toml = manage_toml(tmp_path / "cfg" / "agent.toml", roots, projects=f'notes = "{code / "misc"}"\n')
    fields, refusal = hostile(code, outside, tmp_path)[case]
    before = toml.read_bytes()
    async with manage_agent(tmp_path, toml) as (hub, agent):
        answer = await agent.do("add_project", **fields)
        assert agent.reloads == 0
    assert answer["ok"] is False and refusal in answer["error"], answer["error"]
    assert toml.read_bytes() == before


async def test_a_symlink_in_the_roots_to_a_folder_in_them_shares_the_real_folder(tmp_path, tree, toml):
    code, _ = tree
    async with manage_agent(tmp_path, toml) as (hub, agent):
        added = await agent.do("add_project", path=str(code / "api-link"), name="api")
    assert (added["ok"], added["path"]) == (True, str(code / "api"))


@pytest.mark.parametrize("action", ["folders", "add_project", "remove_project", "restart"])
async def test_nothing_is_done_unless_agent_toml_allows_it_even_if_the_hub_asks(tmp_path, tree, action):
    code, _ = tree
    toml = manage_toml(
        tmp_path / "cfg" / "agent.toml", [code], allow=False, projects=f'web = "{code / "web"}"\n'
    )
    before = toml.read_bytes()
    fields = {"add_project": {"path": str(code / "api"), "name": "api"}, "remove_project": {"name": "web"}}
    async with manage_agent(tmp_path, toml, allowed=True) as (hub, agent):  # allowed at start, not now
        answer = await agent.do(action, **fields.get(action, {}))
        assert not agent.service.restart_requested and agent.link.state.value == "connected"
    assert (answer["ok"], answer["error"]) == (False, manage.MANAGE_OFF)
    assert answer.get("folders") == [] and toml.read_bytes() == before


async def test_no_roots_means_nothing_to_pick(tmp_path):
    toml = manage_toml(tmp_path / "cfg" / "agent.toml", [])
    async with manage_agent(tmp_path, toml) as (hub, agent):
        listed = await agent.do("folders")
        added = await agent.do("add_project", path=str(tmp_path), name="all")
    assert (listed["ok"], listed["error"]) == (False, manage.NO_ROOTS)
    assert (added["ok"], added["error"]) == (False, manage.NO_ROOTS)


async def test_each_request_runs_at_most_once(tmp_path, tree, toml):
    code, _ = tree
    async with manage_agent(tmp_path, toml) as (hub, agent):
        request = await agent.ask("add_project", request="r" * 24, path=str(code / "api"), name="api")
        await result(hub, request)
        await agent.ask("add_project", request="r" * 24, path=str(code / "web"), name="web")
        later = await agent.do("folders")  # answered after the copy was ignored
        assert agent.reloads == 1
    assert later["ok"] and len(results(hub, request)) == 1
    assert config.load(toml).projects == {"api": str(code / "api")}


async def test_a_request_running_when_the_agent_stopped_is_reported_not_run_again(tmp_path, toml):
    from hostagent.tasks.ledger import Ledger

    with Ledger(tmp_path / "tasks.sqlite3", owner="test") as ledger:
        ledger.request_start("manage", "s" * 24)
    async with manage_agent(tmp_path, toml) as (hub, agent):
        stopped = await result(hub, "s" * 24)
    assert (stopped["ok"], stopped["error"]) == (False, manage.STOPPED)


async def test_restart_answers_then_closes_the_link_cleanly(tmp_path, toml):
    async with manage_agent(tmp_path, toml) as (hub, agent):
        answer = await agent.do("restart")
        await wait_for(lambda: agent.task.done(), what="the link to stop")
        assert agent.service.restart_requested
        await hub.connections[-1].closed.wait()
    assert answer["ok"] is True and hub.connections[-1].close_code == 1000
