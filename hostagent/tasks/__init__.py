"""Running the tasks the hub assigns (docs/protocol.md, "Tasks"; SECURITY.md 1.8).

- `executors`: what this host offers, building argv, running a command in its own process group.
- `openai_backend`: the `openai` executor (an OpenAI-compatible chat-completions endpoint).
- `output`: the task log, coalesced into `task.log` pieces and capped.
- `changes`: what a run changed in the project (created, modified, deleted, with diffs).
- `ledger`: task id -> state on disk, so a task starts at most once.
- `browser`: the `browser` executor (Playwright steps in the host's Chrome or Chromium), with
  `browser_steps` (checking a task's steps), `sites` (the allow-list) and `browser_gate` (the
  filtering proxy the browser goes out through).
- `computer`: the `computer` executor (steps on the host's desktop: screenshots, pointer, keys),
  with `desktop` (one X11 display through mss, python-xlib and xdotool).
- `acp_session`: the `acp` executor (a session with a coding agent over the Agent Client
  Protocol), with `acp_client` (what the agent may ask of the host: permissions, files,
  terminals), `acp_timeline` (its updates as `task.item`s), `acp_files` (the project-root
  policy) and `acp_terminals` (commands it runs).
- `service`: `TaskService`, wiring the above to a HostLink (stream `tasks`).
"""
