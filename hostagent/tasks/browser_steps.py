"""A browser task's steps (docs/protocol.md, "Browser tasks"), checked on the agent before a browser starts.

The hub checks them too, with the same step model (protocol.tasks); the
agent does not trust that: a bad list fails the task at once, with an error
naming the step. Step numbers in messages count from 1 (`step 3 (click
"#buy")`); `index` in results and artifact names (`step-2.png`) count from 0,
as the protocol's results do. `open` URLs are judged against the executor's
allow-list here as well, so a task that would leave the list later on fails
before it touched any site.
"""

from __future__ import annotations

from typing import Any

from hostagent.tasks.sites import SiteList
from protocol.limits import MAX_STEPS
from protocol.steps import quoted

__all__ = ["MAX_STEPS", "quoted", "step_label", "steps_error"]


def step_label(index: int, step: dict[str, Any]) -> str:
    """`step 3 (click "#buy")`, `step 1 (open)`: how messages name the step at `index`."""
    action = step["action"]
    subject = step.get("key") if action == "press" else step.get("selector") or step.get("text")
    return f"step {index + 1} ({action} {quoted(subject)})" if subject else f"step {index + 1} ({action})"


def steps_error(steps: object, sites: SiteList | None = None) -> str | None:
    """Why `steps` cannot run (naming the first bad step), or None."""
    if not isinstance(steps, list) or not steps:
        return f"a browser task needs a list of 1-{MAX_STEPS} steps"
    if len(steps) > MAX_STEPS:
        return f"a browser task has at most {MAX_STEPS} steps (this one has {len(steps)})"
    from protocol.tasks import step_error  # pydantic: on the first browser task, not at start

    for index, step in enumerate(steps):
        error = _site_error(index, step, sites) or step_error(index, step)
        if error is not None:
            return error
    return None


def _site_error(index: int, step: object, sites: SiteList | None) -> str | None:
    """An `open` of a site off the allow-list, said as such (before the step's own checks,
    which would only say that a `file:` URL is not http)."""
    if sites is None or not isinstance(step, dict) or step.get("action") != "open":
        return None
    url = step.get("url")
    error = sites.url_error(url) if isinstance(url, str) else None
    return f"step {index + 1} (open): {error}" if error else None
