"""What the hub sends a host about its tasks: assignments, and what a running
agent session must hear (again, until the host reports it)."""

from tasks.models import PermissionRequest, PermissionState, Task, TaskMessage


def assignment(task: Task) -> dict:
    message = {
        "id": task.id,
        "project": task.project.name,
        "executor": task.executor,
        "prompt": task.prompt,
        "target": task.target,
        "workspace": task.workspace,
    }
    if task.steps:  # a computer task's steps are of another kind than a browser's
        message["computer_steps" if task.executor_kind == "computer" else "steps"] = task.steps
    if task.base_branch:
        message["base"] = task.base_branch
    if task.worktree_of_id:
        message["worktree_of"] = task.worktree_of_id
    if task.model:
        message["model"] = task.model
    if task.effort:
        message["effort"] = task.effort
    if task.resume_thread:
        message["resume_thread"] = task.resume_thread
    return message


def answer_message(request: PermissionRequest) -> dict:
    return {
        "type": "task.answer",
        "task_id": request.task_id,
        "request_id": request.request_id,
        "option_id": request.option_id,
    }


def followup_message(message: TaskMessage) -> dict:
    return {
        "type": "task.message",
        "task_id": message.task_id,
        "message_id": message.id,
        "text": message.text,
    }


def session_resends(task: Task) -> list[dict]:
    """What the host must hear again about a session until it reports it:
    answers not yet closed, follow-ups no turn carried, the end."""
    answered = task.permissions.filter(state=PermissionState.ANSWERED).order_by("id")
    waiting = task.messages.filter(delivered_at__isnull=True).order_by("id")
    resends = [answer_message(request) for request in answered]
    resends += [followup_message(message) for message in waiting]
    if task.end_requested_at:
        resends.append({"type": "task.end", "task_id": task.id})
    return resends
