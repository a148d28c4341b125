"""The `computer` executor without a display: its config, how the agent lists and offers it,
the key combinations and window allow-list it reads, and the assignments it refuses."""

import pytest

from hostagent.__main__ import main
from hostagent.config import ConfigError, ExecutorConfig
from hostagent.tasks.computer import WindowList, display_of, outside_error, steps_error
from hostagent.tasks.desktop import Window
from hostagent.tasks.desktop_x11 import keysym
from hostagent.tasks.executors import offered
from protocol.keys import BadKeys, parse_keys
from tests.kits.agent_tasks import NO_ENV, load_config, running_agent

FULL = """
[executors.desk]
type = "computer"
label = "Desktop"
display = ":99"
input = "pynput"
monitor = "primary"
actions = ["screenshot", "click", "type", "key"]
allowed_titles = ["Invoices - *", "Calculator"]
allowed_classes = ["gnome-calculator"]
max_actions = 20
step_timeout = 10
screenshot_max_bytes = 1048576
timeout = 300

[executors.any]
type = "computer"

[tasks]
builtins = false
"""


def test_it_reads_a_computer_executor(tmp_path):
    cfg = load_config(tmp_path, FULL)
    assert cfg.executors["desk"] == ExecutorConfig(
        type="computer",
        label="Desktop",
        display=":99",
        input="pynput",
        monitor="primary",
        actions=["screenshot", "click", "type", "key"],
        allowed_titles=["Invoices - *", "Calculator"],
        allowed_classes=["gnome-calculator"],
        max_actions=20,
        step_timeout=10,
        screenshot_max_bytes=1048576,
        timeout=300,
    )
    executors = offered(cfg, which=lambda _: None)
    desk, default = executors["desk"], executors["any"]
    assert desk.describe() == {
        "name": "desk",
        "label": "Desktop",
        "kind": "computer",
        "needs_file": False,
        "actions": ["screenshot", "click", "type", "key"],
        **NO_ENV,
    }
    assert (desk.display, desk.input, desk.max_actions, desk.step_timeout) == (":99", "pynput", 20, 10)
    assert default.input is None  # the platform's own: xdotool on Linux, pynput on macOS
    assert default.actions == (
        "screenshot",
        "move",
        "click",
        "type",
        "key",
        "scroll",
        "drag",
        "wait",
        "focus",
    )
    assert (default.display, default.max_actions, default.allowed_titles) == ("", 50, ())
    assert display_of(default, {"DISPLAY": ":3"}) == ":3" and display_of(desk, {"DISPLAY": ":3"}) == ":99"
    assert display_of(default, {}) == ""


BASE = '[executors.c]\ntype = "computer"\n'


@pytest.mark.parametrize(
    "text, message",
    [
        ('[executors.c]\ntype = "desktop"', 'or "codex" or "computer"'),
        (BASE + 'display = "0"', 'executors.c.display must be a local X11 display, like ":0" or ":99"'),
        (BASE + 'display = "evil.example:0"', "executors.c.display must be a local X11 display"),
        (BASE + "display = 0", "executors.c.display must be a local X11 display"),
        (BASE + 'input = "uinput"', "executors.c.input must be 'xdotool' or 'pynput'"),
        (BASE + "input = 1", "executors.c.input must be 'xdotool' or 'pynput'"),
        (BASE + "actions = []", "executors.c.actions must hold some of screenshot, move, click"),
        (BASE + 'actions = ["click", "shell"]', "executors.c.actions must hold some of"),
        (BASE + "allowed_titles = []", "executors.c.allowed_titles must hold 1-100 window titles"),
        (
            BASE + 'allowed_titles = ["a\\u0007b"]',
            "executors.c.allowed_titles: 'a\\x07b' is not 1-200 characters",
        ),
        (BASE + 'allowed_classes = "xterm"', "executors.c.allowed_classes must be a list of strings"),
        (BASE + "max_actions = 0", "executors.c.max_actions must be an integer between 1 and 1000"),
        (BASE + "max_actions = 1001", "executors.c.max_actions must be an integer between 1 and 1000"),
        (BASE + "max_actions = true", "executors.c.max_actions must be an integer between 1 and 1000"),
        (BASE + "step_timeout = 0", "executors.c.step_timeout must be a number of seconds between 1 and 120"),
        (
            BASE + 'allowed_sites = ["a.example"]',
            "executors.c.allowed_sites is not a key of a computer executor",
        ),
        (BASE + 'command = ["/x"]', "executors.c.command is not a key of a computer executor"),
    ],
)
def test_it_refuses_bad_computer_settings_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, text)
    assert message in str(info.value)


def test_it_lists_the_computer_executor_on_the_command_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DISPLAY", ":7")
    load_config(tmp_path, FULL)
    assert main(["executors", "--config", str(tmp_path / "cfg" / "agent.toml")]) == 0
    assert capsys.readouterr().out == (
        "any  any  computer  (display $DISPLAY (:7); input xdotool; screenshot, move, click, type, key, "
        "scroll, drag, wait, focus; windows: any; at most 50 actions)\n"
        "desk  Desktop  computer  (display :99, monitor primary; input pynput; screenshot, click, type, "
        'key; windows: "Invoices - *", "Calculator", class gnome-calculator; at most 20 actions)\n'
    )


async def test_it_offers_the_computer_executor_in_hello(tmp_path):
    cfg = load_config(tmp_path, BASE + 'actions = ["screenshot"]\n[tasks]\nbuiltins = false\n')
    async with running_agent(tmp_path, cfg, {"docs": tmp_path}) as (hub, _):
        pass  # welcomed: it said hello
    hello = [m["payload"] for m in hub.applied_messages if m["type"] == "hello"][0]
    assert hello["capabilities"] == ["agent"]
    assert hello["executors"] == [
        {
            "name": "c",
            "label": "c",
            "kind": "computer",
            "needs_file": False,
            "actions": ["screenshot"],
            **NO_ENV,
        }
    ]


@pytest.mark.parametrize(
    "keys, names, x11",
    [
        ("ctrl+shift+t", ["ctrl", "shift", "t"], "ctrl+shift+t"),
        ("Control+Return", ["ctrl", "enter"], "ctrl+Return"),
        ("cmd+q", ["super", "q"], "super+q"),
        ("alt+F4", ["alt", "f4"], "alt+F4"),
        ("ctrl++", ["ctrl", "plus"], "ctrl+plus"),
        ("ctrl+-", ["ctrl", "minus"], "ctrl+minus"),
        ("pagedown", ["pagedown"], "Next"),
        ("super", ["super"], "super"),
        ("shift+Tab", ["shift", "tab"], "shift+Tab"),
    ],
)
def test_key_combinations_are_read_and_mapped_to_x11_keysyms(keys, names, x11):
    assert parse_keys(keys) == names
    assert "+".join(keysym(name) for name in names) == x11


@pytest.mark.parametrize(
    "keys, said",
    [
        ("", "keys must be 1-64 characters"),
        ("a" * 65, "keys must be 1-64 characters"),
        ("ctrl+hyper", "unknown key 'hyper'"),
        ("ctrl+", "unknown key '(empty)'"),
        ("t+ctrl", "only modifiers (ctrl, shift, alt, super) may come before the key"),
        ("ctrl+control+t", "a key is named twice"),
        ("ctrl+é", "unknown key 'é'"),
        ("ctrl+shift+t; rm -rf /", "unknown key 't; rm -rf /'"),
    ],
)
def test_unknown_or_misordered_keys_are_refused(keys, said):
    with pytest.raises(BadKeys) as info:
        parse_keys(keys)
    assert said in str(info.value)


def test_the_window_allow_list_matches_whole_titles_and_classes():
    windows = WindowList(("Invoices - *", "Calculator"), ("Gnome-calculator",))
    assert windows.allows(Window(1, "Invoices - March.ods", ("libreoffice", "Soffice")))
    assert windows.allows(Window(2, "Calculator", ()))
    assert windows.allows(Window(3, "Sums", ("gnome-calculator", "Gnome-calculator")))
    assert not windows.allows(Window(4, "My Calculator", ("xterm", "XTerm")))
    assert not windows.allows(Window(5, "Invoices", ()))
    assert not WindowList(("a.c",)).allows(Window(6, "abc", ()))  # `*` is the only wildcard
    assert not windows.allows(None)
    assert WindowList().allows(None) and WindowList().any


def test_coordinates_are_checked_against_the_screen():
    steps = [
        {"action": "click", "x": 10, "y": 10},
        {"action": "drag", "x": 0, "y": 0, "to_x": 1024, "to_y": 5},
    ]
    assert outside_error(steps[:1], 1024, 768) is None
    assert outside_error(steps, 1024, 768) == (
        "step 2 (drag 0,0 to 1024,5): to_x 1024 is outside the screen (1024x768; coordinates count from 0)"
    )


def test_the_agent_checks_steps_against_its_executor(tmp_path):
    cfg = load_config(tmp_path, FULL)
    desk = offered(cfg, which=lambda _: None)["desk"]
    assert steps_error(desk, [{"action": "click", "x": 1, "y": 1}]) is None
    assert steps_error(desk, [{"action": "scroll", "direction": "up"}]) == (
        "step 1 (scroll): scroll is not allowed on this host (it allows screenshot, click, type, key)"
    )
    assert steps_error(desk, [{"action": "screenshot"}] * 21) == (
        "this host allows at most 20 actions per task (this one has 21)"
    )
