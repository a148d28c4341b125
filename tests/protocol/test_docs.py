"""docs/protocol.md and the protocol's models say the same: every sequenced
type a host may send is documented, every field of each model is named in
its section, the numbers the prose states are those of protocol/limits.py,
and the doc's table of limits is generated from it.

After changing protocol/limits.py, print the new table with
`python -m tests.protocol.test_docs` and paste it into the doc."""

import re
from pathlib import Path

import pytest

from protocol import (
    codex,
    computer,
    files,
    git,
    limits,
    link,
    live,
    manage,
    mirror,
    sequenced,
    sessions,
    tasks,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
BEGIN = "<!-- limits: generated from protocol/limits.py by `python -m tests.protocol.test_docs` -->"
END = "<!-- end of limits -->"

# Each model, and the sections (by heading) that describe it.
SECTIONS = {
    link.Hello: ["The host link (`/ws/host/`)", "The executors a host offers"],
    link.Executor: ["The executors a host offers"],
    link.Model: ["The executors a host offers"],
    link.Cli: ["The host link (`/ws/host/`)"],
    link.Welcome: ["The host link (`/ws/host/`)"],
    link.Ack: ["The host link (`/ws/host/`)"],
    link.Error: ["The host link (`/ws/host/`)"],
    link.Envelope: ["The host link (`/ws/host/`)"],
    mirror.MirrorProjects: ["The mirror (stream `mirror`)"],
    mirror.Project: ["The mirror (stream `mirror`)"],
    mirror.MirrorBatch: ["The mirror (stream `mirror`)"],
    mirror.Change: ["The mirror (stream `mirror`)"],
    mirror.MirrorResync: ["The mirror (stream `mirror`)"],
    files.FileFetch: ["Files on request"],
    files.FileRefused: ["Files on request"],
    tasks.TaskReceived: ["Tasks (stream `tasks`)"],
    tasks.TaskStarted: ["Tasks (stream `tasks`)", "Git (stream `git`)"],
    tasks.TaskLog: ["Tasks (stream `tasks`)"],
    tasks.TaskFinished: ["Tasks (stream `tasks`)", "Browser tasks"],
    tasks.FileChange: ["Tasks (stream `tasks`)"],
    tasks.StepResult: ["Browser tasks"],
    tasks.TaskStep: ["Each step as it ends"],
    live.ComputerFrame: ["Watching a computer task live"],
    live.ComputerWatch: ["Watching a computer task live"],
    tasks.BrowserStep: ["Browser tasks"],
    computer.ComputerStep: ["Computer tasks"],
    tasks.Assignment: [
        "Tasks (stream `tasks`)",
        "Browser tasks",
        "Git (stream `git`)",
        "Resuming a thread",
        "Codex threads",
        "Computer tasks",
    ],
    tasks.TaskAssign: ["Tasks (stream `tasks`)"],
    tasks.TaskCancel: ["Tasks (stream `tasks`)"],
    sessions.TaskItem: ["Agent sessions (ACP)"],
    sessions.UserData: ["Agent sessions (ACP)"],
    sessions.TextData: ["Agent sessions (ACP)"],
    sessions.PlanData: ["Agent sessions (ACP)"],
    sessions.PlanEntry: ["Agent sessions (ACP)"],
    sessions.ToolData: ["Agent sessions (ACP)"],
    sessions.FileDiff: ["Agent sessions (ACP)"],
    sessions.NoticeData: ["Agent sessions (ACP)"],
    sessions.TaskTurn: ["Agent sessions (ACP)"],
    sessions.TaskPermission: ["Agent sessions (ACP)"],
    sessions.Option: ["Agent sessions (ACP)"],
    sessions.TaskPermissionClosed: ["Agent sessions (ACP)"],
    sessions.TaskAnswer: ["Agent sessions (ACP)"],
    sessions.FollowUp: ["Agent sessions (ACP)"],
    sessions.TaskInterrupt: ["Agent sessions (ACP)"],
    sessions.TaskEnd: ["Agent sessions (ACP)"],
    git.GitRequest: ["Git (stream `git`)"],
    git.GitUser: ["Git (stream `git`)"],
    git.GitResult: ["Git (stream `git`)"],
    git.RepoState: ["Git (stream `git`)"],
    git.DirtyFile: ["Git (stream `git`)"],
    codex.TaskThread: ["Resuming a thread"],
    codex.CodexThreadsRequest: ["The host's threads"],
    codex.CodexThreads: ["The host's threads"],
    codex.CodexThread: ["The host's threads"],
    manage.ManageRequest: ["Managing a host (stream `manage`)"],
    manage.ManageResult: ["Managing a host (stream `manage`)"],
    manage.Folder: ["Managing a host (stream `manage`)"],
}

# What the prose says of a number, as it says it.
STATED = [
    (limits.MAX_FRAME, "at most {mib} MiB"),
    (limits.MAX_PATH_BYTES, "at most {n} bytes"),
    (limits.MAX_SEGMENTS, "and {n} segments"),
    (limits.MAX_PROJECT_NAME, "Project names are 1-{n} characters"),
    (limits.MAX_PROJECTS, "at most {n} projects per host"),
    (limits.MAX_MIRROR_CHANGES, "{n:,} changes per\nbatch"),
    (limits.SENT_MIRROR_CHANGES, "the agent sends at most {n:,}"),
    (limits.MAX_TEXT, "`text` at most {kib} KiB"),
    (limits.MAX_SIZE, "below\n2^{log2}"),
    (limits.MAX_EXECUTORS, "At most {n}; `name`"),
    (limits.MAX_EXECUTOR_LABEL, "`label` is at most\n{n} characters"),
    (limits.MAX_EXECUTOR_ENV, "a list of at most {n} names"),
    (limits.MAX_AGENT_VERSION, "`agent_version` at most {n} characters"),
    (limits.MAX_PLATFORM, "`platform` at most {n}"),
    (limits.MAX_CAPABILITIES, "`capabilities` at most {n}"),
    (limits.MAX_CLIS, "`clis` at\nmost {n} agent CLIs"),
    (limits.MAX_CLI_VERSION, "the first line of its `--version`, 1-{n} characters"),
    (limits.MAX_LOG_PIECE, "`text` is at most {kib} KiB of UTF-8"),
    (limits.MAX_LOG_TEXT, "the hub keeps {kib} KiB"),
    (limits.MAX_LOG_SEQ, "(below 2^{log2})"),
    (limits.MAX_OUTPUT, "({mib} MiB by default)"),
    (limits.MAX_FILE_CHANGES, "At most {n}\n  changes"),
    (limits.MAX_DIFF, "of at most {kib} KiB (cut"),
    (limits.MAX_DIFF_KEPT, "the hub keeps {kib} KiB),"),
    (limits.MAX_ERROR, "keeps {n} characters"),
    (limits.MAX_STEPS, "Steps (at most {n};"),
    (limits.MAX_STEP_TEXT, "every string 1-{n:,} characters"),
    (limits.MAX_SELECTOR, "a selector at\nmost {n}"),
    (limits.MAX_STEP_TIMEOUT, "1-{n} seconds"),
    (limits.MAX_ARTIFACT, "at most {mib} MiB; the same name"),
    (limits.MAX_FETCH, "`max_size` is at most {mib} MiB"),
    (limits.MAX_RESULT_TEXT, "`text` is at most {n:,} characters"),
    (limits.MAX_STEP_ACTION, "hub keeps {n} characters) and `error` "),
    (limits.MAX_STEP_ERROR, "`error` ({n})"),
    (limits.MAX_ITEMS, "a task has at most {n:,} entries"),
    (limits.MAX_USER_TEXT, "`text` (at most {kib} KiB), `message_id`"),
    (limits.MAX_AGENT_TEXT, "`text` (at most {kib} KiB): the agent's message"),
    (limits.MAX_PLAN_ENTRIES, "at most {n} of"),
    (limits.MAX_PLAN_CONTENT, '"content": str ({n})'),
    (limits.MAX_TITLE, "`title` ({n})"),
    (limits.MAX_LOCATIONS, "at most {n} strings"),
    (limits.MAX_LOCATION, "strings of {n:,}"),
    (limits.MAX_TOOL_TEXT, "`text` (at most {kib} KiB of output)"),
    (limits.MAX_DIFFS, "`diffs` (at most {n} of"),
    (limits.MAX_NOTICE, "`notice` | `text` ({n})"),
    (limits.MAX_OPTIONS, "1-{n} options"),
    (limits.MAX_OPTION_ID, "`option_id` 1-{n}"),
    (limits.MAX_OPTION_NAME, "`name` at most {n}"),
    (limits.MAX_PERMISSION_TIMEOUT, "at most {n:,} (`null`: forever)"),
    (limits.MAX_STOP_REASON, "at most {n} characters kept"),
    (limits.MAX_MODELS, 'at most {n}: `{{"id"'),
    (limits.MAX_MODEL_ID, "an `id` of 1-{n} characters"),
    (limits.MAX_MODEL_LABEL, 'a `label` ({n}, `""`: the id)'),
    (limits.MAX_EFFORTS, "at most {n}\n`efforts`"),
    (limits.MAX_COMMIT_MESSAGE, "(1-{n:,} characters, no NUL)"),
    (limits.MAX_PR_TITLE, "at most {n} characters, `body`"),
    (limits.MAX_PR_BODY, "`body` at most {kib} KiB"),
    (limits.MAX_GIT_ERROR, "kept to {n:,}\n  characters"),
    (limits.MAX_GIT_FILES, "to {n} paths"),
    (limits.MAX_DIRTY, "at most\n  {n:,} `dirty` files"),
    (limits.MAX_REPO_DIFF, "at\n  most {kib} KiB the hub keeps"),
    (limits.MAX_BRANCHES, "at most {n} `branches`"),
    (limits.MAX_REMOTES, "and {n} `remotes`"),
    (limits.MAX_CODEX_THREADS, "At most {n} threads, newest first"),
    (limits.MAX_THREAD_PREVIEW, "4,096 and {n} characters"),
    (limits.MAX_MANAGE_DEPTH, "at most {n} levels\n  below each root"),
    (limits.MAX_MANAGE_FOLDERS, "at most {n} in all"),
    (limits.MAX_MANAGE_ROOTS, "at most {n} `roots`"),
    (limits.MAX_TYPE_TEXT, "`text`: 1-{n:,} characters, tabs"),
    (limits.MAX_COORDINATE, "integers 0-{n} and inside the screen"),
    (limits.MAX_CLICKS, "`count` (1-{n})"),
    (limits.MAX_SCROLL, "(1-{n} notches, default 3)"),
    (limits.MAX_KEYS, "at most {n} characters. Any other name"),
    (limits.MAX_WAIT, "`seconds` (0.1-{n})"),
    (limits.MAX_WINDOW_TITLE, "`title` (1-{n} characters)"),
    (limits.MAX_LIVE_FPS, "at most {n} times a second"),
    (limits.LIVE_WIDTH, "`width` (1-{n})"),
    (limits.LIVE_HEIGHT, "`height` (1-{n})"),
    (limits.MAX_LIVE_FRAME, "at most {kib} KiB once decoded"),
    (limits.MAX_LIVE_NUMBER, "per task (below 2^{log2})"),
    (limits.LIVE_WATCH, "`seconds` (1-{n})"),
    (limits.MAX_MANAGE_ERROR, "`error` is kept to {n} characters; a request"),
]


def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def section(heading: str) -> str:
    """The text under a heading (of any level), up to the next heading of the same or a higher level."""
    text = doc()
    match = re.search(rf"^(#+) {re.escape(heading)}\n", text, re.MULTILINE)
    assert match, f"no section {heading!r} in docs/protocol.md"
    level = len(match.group(1))
    following = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(text, match.end())
    return text[match.end() : following.start() if following else len(text)]


@pytest.mark.parametrize("key", sorted(sequenced()), ids=lambda key: key[1])
def test_every_message_a_host_may_send_is_documented(key):
    stream, type_ = key
    text = doc()
    assert f"`{type_}`" in text
    assert f"`{stream}`" in text


def test_every_model_is_placed_in_a_section():
    models = {m for m in sequenced().values()}
    assert models <= set(SECTIONS)


@pytest.mark.parametrize("model", list(SECTIONS), ids=lambda model: model.__name__)
def test_every_field_is_named_in_its_section(model):
    text = "".join(section(heading) for heading in SECTIONS[model])
    for field in model.model_fields:
        assert f"`{field}`" in text or f'"{field}"' in text, f"{model.__name__}.{field}"
    if hasattr(model, "type") and isinstance(getattr(model, "type", None), str):
        assert f"`{model.type}`" in text or f'"{model.type}"' in text


def phrase(value: int, template: str) -> str:
    return template.format(
        n=value,
        kib=value // 1024,
        mib=value // (1024 * 1024),
        log2=value.bit_length() - 1,
    )


@pytest.mark.parametrize(("value", "template"), STATED, ids=[t for _, t in STATED])
def test_the_numbers_the_doc_states_are_the_protocols(value, template):
    said = phrase(value, template)
    assert said in doc(), f"docs/protocol.md should say {said!r}"


def test_the_choices_the_doc_lists_are_the_protocols():
    text = doc()
    for values in (
        limits.CAPABILITIES,
        limits.EXECUTOR_KINDS,
        limits.ENTRY_KINDS,
        limits.FILE_OPS,
        limits.OUTCOMES,
        limits.ITEM_KINDS,
        limits.PLAN_STATUSES,
        limits.PRIORITIES,
        limits.TOOL_KINDS,
        limits.TOOL_STATUSES,
        limits.NOTICE_LEVELS,
        limits.OPTION_KINDS,
        limits.ON_TIMEOUT,
        limits.TURN_STATES,
        limits.STOP_REASONS,
        limits.CLOSE_OUTCOMES,
        tuple(tasks.STEP_FIELDS),
        tuple(computer.STEP_FIELDS),
        limits.MOUSE_BUTTONS,
        limits.SCROLL_DIRECTIONS,
    ):
        for value in values:
            assert f"`{value}`" in text or f'"{value}"' in text, value
    patterns = (limits.EXECUTOR_NAME, limits.ITEM_KEY, limits.REQUEST_ID, limits.THREAD_ID, limits.CLI_NAME)
    for pattern in patterns:
        assert f"`^{pattern.pattern}$`" in text


def limits_table() -> str:
    rows = ["| name | value |", "| --- | --- |"]
    for name, value in vars(limits).items():
        if not name.isupper():
            continue
        if isinstance(value, re.Pattern):
            shown = f"`^{value.pattern}$`"
        elif isinstance(value, tuple):
            shown = ", ".join(f"`{item}`" for item in value)
        elif isinstance(value, int) and value >= 1024 and value % 1024 == 0:
            kib = value // 1024
            shown = f"{value:,} ({kib // 1024} MiB)" if kib % 1024 == 0 else f"{value:,} ({kib:,} KiB)"
            shown = f"2^{value.bit_length() - 1}" if value & (value - 1) == 0 and value > 2**30 else shown
        else:
            shown = f"{value:,}" if isinstance(value, int) else f"{value:g}"
        rows.append(f"| `{name}` | {shown.replace('|', chr(92) + '|')} |")
    return "\n".join([BEGIN, "", *rows, "", END])


def test_the_table_of_limits_is_up_to_date():
    assert limits_table() in doc(), (
        "run `python -m tests.protocol.test_docs` and paste its output into the doc"
    )


if __name__ == "__main__":
    print(limits_table())
