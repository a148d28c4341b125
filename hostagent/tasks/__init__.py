"""Running the tasks the hub assigns (docs/protocol.md, "Tasks"; SECURITY.md 1.8).

- `executors`: what this host offers, building argv, running a command in its own process group.
- `openai_backend`: the `openai` executor (an OpenAI-compatible chat-completions endpoint).
- `output`: the task log, coalesced into `task.log` pieces and capped.
- `changes`: what a run changed in the project (created, modified, deleted, with diffs).
- `ledger`: task id -> state on disk, so a task starts at most once.
- `browser`: the `browser` executor (Playwright steps in the host's Chrome or Chromium), with
  `browser_steps` (checking a task's steps), `sites` (the allow-list) and `browser_gate` (the
  filtering proxy the browser goes out through).
- `service`: `TaskService`, wiring the above to a HostLink (stream `tasks`).
"""
