"""The live frames one host link relays (docs/protocol.md, "Watching a computer task live").

A frame is checked by its protocol model, then sent to the group its task's app names
(devices.hooks.live_frame_target): never stored, never acked, dropped when the task is not
running. Where a task's frames go is asked of the database at most once a second per task,
not for every frame; the link forgets it when the host reports the task finished."""

import time

from channels.db import database_sync_to_async
from pydantic import ValidationError

from devices.hooks import FrameTarget, live_frame_target
from protocol.base import reason
from protocol.live import ComputerFrame

TARGET_TTL = 1.0  # seconds a task's target is trusted before the database is asked again
MAX_TARGETS = 64  # tasks one link remembers (a host streams one task per display)


class Refused(Exception):
    """The frame is refused; the message is the reason the host is told."""


class FrameRelay:
    def __init__(self, host_id: int) -> None:
        self.host_id = host_id
        self.targets: dict[int, tuple[float, FrameTarget]] = {}

    async def event(self, message: dict) -> tuple[str, dict] | None:
        """(group, channel-layer event) for a frame from the host, or None to drop it quietly.
        Raises Refused for a frame the host must not send."""
        try:
            frame = ComputerFrame.model_validate(message)
        except ValidationError as exc:
            raise Refused(f"computer.frame: {reason(exc)}") from None
        target = await self._target(frame.task_id)
        if target.refused:
            raise Refused(f"computer.frame: {target.refused}")
        if target.group is None:
            return None
        fields = {"frame": frame.frame, "mime": frame.mime, "width": frame.width, "height": frame.height}
        return target.group, {"type": "computer.frame", "task": frame.task_id, **fields, "data": frame.data}

    def forget(self, task_id: object) -> None:
        """The task ended (or may have): ask the database again for its next frame."""
        if type(task_id) is int:
            self.targets.pop(task_id, None)

    async def _target(self, task_id: int) -> FrameTarget:
        now = time.monotonic()
        kept = self.targets.get(task_id)
        if kept is not None and now - kept[0] < TARGET_TTL:
            return kept[1]
        target = await database_sync_to_async(live_frame_target)(host_id=self.host_id, task_id=task_id)
        if len(self.targets) >= MAX_TARGETS:
            self.targets.clear()
        self.targets[task_id] = (now, target)
        return target
