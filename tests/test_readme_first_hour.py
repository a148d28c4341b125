"""What the README tells a new user holds: its status line names what is in
place (not an old "next issue"), and what the agent adds to a prompt sent on
stdin is what it really sends."""

import re
from pathlib import Path

from hostagent.tasks.executors import Executor, stdin_text

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_the_status_line_names_agent_sessions_as_in_place():
    status = one_line(README.split("**Status.**", 1)[1].split("\n\n", 1)[0])
    assert "next issue" not in status
    assert "agent sessions over ACP" in status
    assert "Codex threads" in status and "desktop tasks" in status


def test_the_readme_says_what_is_appended_to_a_prompt_on_stdin():
    executor = Executor("codex", "Codex", "command", False, 60, ("codex", "exec", "-"), True)
    sent = stdin_text(executor, "Tidy it", "notes/plan.md")
    assert sent == b"Tidy it\n\nTarget file: ./notes/plan.md"
    assert (
        "A prompt sent on stdin for a file gets a blank line and `Target file: ./path` appended"
        in one_line(README)
    )
