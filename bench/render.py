"""The rendering budget (projects/render.py): each costly Markdown shape at the
size limit, unbudgeted and budgeted, against an ordinary document of the same
size in the same process; Pygments likewise; and a session page with 50 agent
messages of 32 KiB, first load against cached loads. CPU times of this thread
(time.thread_time), best of RUNS."""

import time

from _setup import django_on_temp_db

django_on_temp_db()

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from accounts.models import Membership, Role, Team  # noqa: E402
from projects import render  # noqa: E402
from protocol.limits import MAX_AGENT_TEXT  # noqa: E402
from tests.kits.common import login, make_user  # noqa: E402
from tests.kits.render_budget import SHAPES  # noqa: E402
from tests.kits.sessions import SessionStream, make_session, session_project  # noqa: E402

RUNS = 3
ITEMS = 50

ORDINARY = """## Section {n}

The hub mirrors a project's files and shows them on a phone, with *emphasis*,
**strong words**, a [link](https://example.com/{n}) and `inline code` here and there.
A second line of the same paragraph, longer, so that the text reads like prose.

- a list item with `code`
- another item, with a [second link](https://example.com/a/{n})
  - a nested item

```python
def example_{n}():
    return {n}
```

| column | value |
|--------|-------|
| a      | {n}   |

"""


def ordinary(size: int) -> str:
    text, n = "", 0
    while len(text) < size:
        text += ORDINARY.format(n=n)
        n += 1
    return text[:size]


def best(fn) -> float:
    """Milliseconds of CPU, best of RUNS."""
    times = []
    for _ in range(RUNS):
        start = time.thread_time()
        fn()
        times.append((time.thread_time() - start) * 1000)
    return min(times)


def unbudgeted(fn):
    def run():
        saved, render.RENDER_BUDGET_SECONDS = render.RENDER_BUDGET_SECONDS, 1000.0
        try:
            fn()
        finally:
            render.RENDER_BUDGET_SECONDS = saved

    return run


def markdown_outcome(text: str) -> str:
    return "too complex" if render._markdown_fresh(text, "this file").notice else "rendered"


def markdown_shapes() -> None:
    size = render.MARKDOWN_MAX_BYTES
    plain = ordinary(size)
    base = best(lambda: render._markdown_fresh(plain, "this file"))
    budget = render.RENDER_BUDGET_SECONDS * 1000
    print(f"Markdown at the limit ({size // 1024} KiB), budget {budget:.0f} ms CPU")
    print(f"  {'ordinary document':18} {base:8.1f} ms  {markdown_outcome(plain)}")
    print(f"  {'shape':18} {'unbudgeted':>11} {'budgeted':>11} {'ratio':>6}  outcome")
    for name, shape in SHAPES.items():
        text = shape(size)
        free = best(unbudgeted(lambda text=text: render._markdown_html(text)))
        capped = best(lambda text=text: render._markdown_fresh(text, "this file"))
        print(f"  {name:18} {free:8.1f} ms {capped:8.1f} ms {capped / base:6.2f}  {markdown_outcome(text)}")
    over = SHAPES["brackets"](400 * 1024)
    fallback = best(lambda: render.markdown_render(text=over))
    print(f"  400 KB of '[' (over the size limit): {fallback:.1f} ms, shown as plain text")


CODE_SHAPES = {
    "Python (": ("a.py", lambda size: "(" * size),
    "Rust r#": ("a.rs", lambda size: "r#" * (size // 2)),
    "JavaScript a/": ("a.js", lambda size: "a/" * (size // 2)),
    "CSS a{": ("a.css", lambda size: "a{" * (size // 2)),
    "Ruby %": ("a.rb", lambda size: "%" * size),
    "Bash ${": ("a.sh", lambda size: "${" * (size // 2)),
}


def code_shapes() -> None:
    import pathlib

    import django

    size = render.HIGHLIGHT_MAX_BYTES
    source = (pathlib.Path(django.__file__).parent / "db/models/query.py").read_text()[:size]
    lexer = render._lexer("a.py")
    base = best(unbudgeted(lambda: render._code_html(source, lexer)))
    outcome = "too complex" if _code_uncached("a.py", source).notice else "rendered"
    print(f"Pygments at the limit ({size // 1024} KiB)")
    print(f"  {'Python (Django query.py)':25} {base:8.1f} ms  {outcome}")
    print(f"  {'shape':25} {'unbudgeted':>11} {'budgeted':>11} {'ratio':>6}  outcome")
    for name, (path, shape) in CODE_SHAPES.items():
        text, lexer = shape(size), render._lexer(path)
        free = best(unbudgeted(lambda text=text, lexer=lexer: render._code_html(text, lexer)))
        capped = best(lambda text=text, path=path: _code_uncached(path, text))
        outcome = "too complex" if _code_uncached(path, text).notice else "rendered"
        print(f"  {name:25} {free:8.1f} ms {capped:8.1f} ms {capped / base:6.2f}  {outcome}")


def _code_uncached(path: str, text: str):
    try:
        return render.Rendered(render._code_html(text, render._lexer(path)))
    except render.OverBudget:
        return render._plain(text, "too complex")


def task_page() -> None:
    from django.core.cache import cache

    settings.ALLOWED_HOSTS.append("testserver")
    team = Team.objects.create(name="Bench")
    user = make_user("bench@example.com")
    Membership.objects.create(team=team, user=user, role=Role.OWNER)
    client = login(Client(), user)
    project = session_project(team)
    stream = SessionStream(project.host_id)  # one stream: its sequence numbers go on across tasks
    for label, unit in (("ordinary", None), ("'[' shape", "[")):
        task = make_session(project, user)
        for n in range(ITEMS):
            text = ordinary(MAX_AGENT_TEXT - 8) if unit is None else unit * (MAX_AGENT_TEXT - 8)
            stream.item(task.id, f"agent:{n}", "agent", text=f"{n:06d}\n\n{text}")
        cache.clear()
        url = reverse("task_detail", args=[task.id])
        print(f"Session page, {ITEMS} agent messages of {MAX_AGENT_TEXT // 1024} KiB ({label}), LocMem cache")
        for load in range(1, 30):
            start, cpu = time.perf_counter(), time.thread_time()
            body = client.get(url).content.decode()
            wall, cpu = (time.perf_counter() - start) * 1000, (time.thread_time() - cpu) * 1000
            deferred = body.count("Shown as plain text for now")
            print(f"  load {load:2}: {cpu:6.1f} ms CPU {wall:7.1f} ms wall, {deferred:2} still plain")
            if not deferred:
                break
        cached = best(lambda url=url: client.get(url))
        print(f"  cached load: {cached:7.1f} ms CPU")


if __name__ == "__main__":
    markdown_shapes()
    code_shapes()
    task_page()
