"""Every number of the host protocol (docs/protocol.md), in one place: the hub
checks against them and the agent builds within them."""

import re

# The link --------------------------------------------------------------------------------

MAX_FRAME = 1024 * 1024  # daphne refuses a larger frame
MAX_STREAM_NAME = 32
MAX_TYPE_NAME = 64
MAX_SEQ = 2**62
MAX_ID = 2**63  # task and message ids, exclusive

# hello -----------------------------------------------------------------------------------

MAX_AGENT_VERSION = 32
MAX_PLATFORM = 64
MAX_CAPABILITIES = 16
CAPABILITIES = ("agent", "browser", "shell", "mirror", "git", "gh", "manage")
MAX_EXECUTORS = 32
EXECUTOR_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
MAX_EXECUTOR_LABEL = 64
EXECUTOR_KINDS = ("command", "openai", "browser", "acp", "codex", "computer")
MAX_MODELS = 50  # models a codex executor offers (its `model/list`)
MAX_MODEL_ID = 100
MAX_MODEL_LABEL = 100
EFFORT = re.compile(r"[a-z]{1,16}")  # a reasoning effort: low, medium, high, ...
MAX_EFFORTS = 10
MAX_EXECUTOR_ENV = 32  # variable names in an executor's `env` and `env_missing` (more are cut)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_CLIS = 8  # agent CLIs whose version hello carries (codex, claude, gemini, aider)
CLI_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_CLI_VERSION = 64  # characters of a CLI's `--version` line, as the agent cuts it

# The mirror ------------------------------------------------------------------------------

MAX_PATH_BYTES = 4096
MAX_SEGMENTS = 64
MAX_PROJECT_NAME = 64
MAX_PROJECTS = 200
MAX_MIRROR_CHANGES = 5000  # per batch, as the hub takes them
SENT_MIRROR_CHANGES = 1000  # per batch, as the agent sends them
MAX_BATCH = MAX_FRAME - 8 * 1024  # bytes of a batch's JSON: room for the envelope
MAX_TEXT = 512 * 1024  # characters (and bytes, as the agent reads) of a mirrored file's text
MAX_SIZE = 2**62
MAX_MTIME = 1e11  # seconds, exclusive
ENTRY_KINDS = ("file", "dir", "symlink")

# Files on request ------------------------------------------------------------------------

MAX_FETCH = 5 * 1024 * 1024  # bytes of one file the hub asks for (an image a README shows)
FETCH_REQUEST = re.compile(r"[A-Za-z0-9_-]{16,64}")
FETCH_REFUSALS = ("unknown_project", "missing", "ignored", "not_a_file", "too_large", "unreadable")

# Tasks -----------------------------------------------------------------------------------

MAX_PROMPT = 64 * 1024
MAX_LOG_PIECE = 16 * 1024  # bytes of UTF-8 per task.log, as the agent sends them
MAX_LOG_TEXT = 32 * 1024  # characters of a task.log the hub keeps (it cuts the rest)
MAX_LOG_SEQ = 2**31  # exclusive
MAX_OUTPUT = 1024 * 1024  # the agent's default output cap per task
MAX_ERROR = 200  # characters of a task's error the hub keeps
MAX_FILE_CHANGES = 100
MAX_DIFF = 64 * 1024  # bytes of a unified diff, as the agent cuts it
MAX_DIFF_KEPT = 80 * 1024  # characters of a diff the hub keeps
MAX_EXIT_CODE = 2**31  # exclusive, either sign
MAX_DURATION = 1e8  # seconds, exclusive
FILE_OPS = ("created", "modified", "deleted")
OUTCOMES = ("succeeded", "failed", "cancelled")

# Browser tasks ---------------------------------------------------------------------------

MAX_STEPS = 50
MAX_STEP_TEXT = 2000
MAX_SELECTOR = 500
MIN_STEP_TIMEOUT, MAX_STEP_TIMEOUT = 1, 120
MAX_RESULT_TEXT = 10_000
MAX_STEP_ACTION = 16  # characters of a result's action the hub keeps
MAX_STEP_ERROR = 300  # characters of a result's error the hub keeps
MAX_ARTIFACT = 5 * 1024 * 1024
# a step's screenshot or PDF; a computer task's model-driven action's screenshot (up to 1000 actions)
ARTIFACT_NAME = re.compile(r"(?:step-\d{1,2}|action-\d{1,4})\.(png|pdf)")

# Computer tasks (docs/protocol.md, "Computer tasks") ----------------------------------------

COMPUTER_ACTIONS = ("screenshot", "move", "click", "type", "key", "scroll", "drag", "wait", "focus")
MAX_COORDINATE = 32767  # X11's own limit; the agent also checks against its screen
MOUSE_BUTTONS = ("left", "middle", "right")
MAX_CLICKS = 3  # a click's `count`: single, double, triple
SCROLL_DIRECTIONS = ("up", "down", "left", "right")
MAX_SCROLL = 50  # notches of one scroll
MAX_TYPE_TEXT = 2000  # characters one `type` step types
MAX_KEYS = 64  # characters of a key combination (`ctrl+shift+t`)
MAX_WAIT = MAX_STEP_TIMEOUT  # seconds a `wait` step waits
MAX_WINDOW_TITLE = 200
MAX_COMPUTER_ACTIONS = 1000  # actions per task an executor may allow (`max_actions`)
# Watching a computer task live: frames are never stored, and dropped when someone is slower.
MAX_LIVE_FPS = 4  # frames a second the agent sends at most (an executor's `live_fps`)
LIVE_WIDTH, LIVE_HEIGHT = 780, 1600  # pixels: a frame is scaled down to fit (a phone's screen)
MAX_LIVE_FRAME = 256 * 1024  # bytes of one frame's image
LIVE_MIMES = ("image/jpeg", "image/png")
MAX_LIVE_NUMBER = 2**31  # a frame's `frame` number, exclusive
LIVE_WATCH = 15  # seconds the agent sends frames after the hub said someone watches (pages say it every 5 s)

# Git (task branches, review, commit, merge, push) -----------------------------------------

WORKSPACES = ("working_copy", "worktree")
GIT_ACTIONS = ("state", "commit", "merge", "push", "pull_request", "discard")
GIT_REQUEST = FETCH_REQUEST
COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1 or SHA-256 object names
MAX_COMMIT_MESSAGE = 16 * 1024  # characters the phone may write
MAX_GIT_USER = 100  # characters of the hub user's name in a commit's trailer
MAX_EMAIL = 254
MAX_PR_TITLE = 256
MAX_PR_BODY = 16 * 1024
MAX_GIT_ERROR = 2000  # characters of git's own words the hub keeps
MAX_GIT_FILES = 200  # paths a result names (a conflict's, a refusal's)
MAX_URL = 2000
MAX_DIRTY = 1000  # uncommitted files a repository state lists
MAX_REPO_DIFF = 256 * 1024  # characters of a working copy's uncommitted diff the hub keeps
MAX_BRANCH = 200
MAX_BRANCHES = 200  # local branches a repository state lists (the base branches offered)
MAX_REMOTES = 20

# Managing a host from the phone ------------------------------------------------------------

MANAGE_ACTIONS = ("folders", "add_project", "remove_project", "restart")
MANAGE_REQUEST = FETCH_REQUEST
MAX_MANAGE_ROOTS = 20  # folders under which the host lets the phone pick a new shared folder
MAX_MANAGE_DEPTH = 3  # levels below a root the folder list goes
MAX_MANAGE_FOLDERS = 500  # folders one list holds (more: `truncated`)
MAX_MANAGE_ERROR = 500  # characters of a refusal the hub keeps

# Agent sessions --------------------------------------------------------------------------

ITEM_KEY = re.compile(r"[A-Za-z0-9._:-]{1,80}")
MAX_ITEMS = 2000
MAX_USER_TEXT = 64 * 1024
MAX_AGENT_TEXT = 32 * 1024
MAX_PLAN_ENTRIES = 50
MAX_PLAN_CONTENT = 500
MAX_TITLE = 200
MAX_LOCATIONS = 20
MAX_LOCATION = 1000
MAX_TOOL_TEXT = 8 * 1024
MAX_DIFFS = 10
MAX_NOTICE = 500
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
MAX_OPTIONS = 8
MAX_OPTION_ID = 64
MAX_OPTION_NAME = 64
MAX_PERMISSION_TIMEOUT = 7 * 24 * 3600
MAX_STOP_REASON = 64
ITEM_KINDS = ("user", "agent", "thought", "plan", "tool", "notice")
PLAN_STATUSES = ("pending", "in_progress", "completed")
PRIORITIES = ("high", "medium", "low")
# ACP's tool kinds, and `computer`: an action on the desktop a model asked for ("Computer tasks")
TOOL_KINDS = (
    "read",
    "edit",
    "delete",
    "move",
    "search",
    "execute",
    "think",
    "fetch",
    "switch_mode",
    "other",
    "computer",
)
TOOL_STATUSES = ("pending", "in_progress", "completed", "failed")
NOTICE_LEVELS = ("info", "error")
OPTION_KINDS = ("allow_once", "allow_always", "reject_once", "reject_always")
ON_TIMEOUT = ("reject", "wait")
TURN_STATES = ("working", "waiting")
STOP_REASONS = ("end_turn", "max_tokens", "max_turn_requests", "refusal", "cancelled")
CLOSE_OUTCOMES = ("selected", "timed_out", "cancelled")

# Codex threads -----------------------------------------------------------------------------

THREAD_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # codex's are UUIDv7
MAX_CODEX_THREADS = 50  # threads a host lists, newest first
MAX_THREAD_PREVIEW = 500  # characters of a thread's first message the hub keeps
MAX_THREAD_SOURCE = 32
