"""Watching a computer task live (docs/protocol.md, "Watching a computer task live"): the
frames a host sends while someone watches, and the hub's word that someone does.

Neither is sequenced: a frame is the latest picture of the screen, relayed to the task's
pages and never stored, so one that is lost or dropped is simply replaced by the next."""

import binascii
from typing import Annotated, Literal

from pydantic import Field, StrictInt, model_validator

from protocol import limits
from protocol.base import Id, ProtocolModel, refuse

MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n"}
MAX_DATA = (limits.MAX_LIVE_FRAME + 2) // 3 * 4  # characters of base64 of the largest image


def encoded_size(size: int) -> int:
    """Characters of base64 for an image of `size` bytes."""
    return (size + 2) // 3 * 4


class ComputerFrame(ProtocolModel):
    """Agent to hub: the screen of a running computer task, scaled down and encoded, in base64."""

    type: Literal["computer.frame"]
    task_id: Id
    frame: Annotated[StrictInt, Field(gt=0, lt=limits.MAX_LIVE_NUMBER)]
    mime: Literal[limits.LIVE_MIMES]  # type: ignore[valid-type]
    width: Annotated[StrictInt, Field(ge=1, le=limits.LIVE_WIDTH)]
    height: Annotated[StrictInt, Field(ge=1, le=limits.LIVE_HEIGHT)]
    data: Annotated[str, Field(min_length=4, max_length=MAX_DATA)]

    @model_validator(mode="after")
    def _an_image(self) -> "ComputerFrame":
        try:
            image = binascii.a2b_base64(self.data, strict_mode=True)
        except (binascii.Error, ValueError):
            raise refuse("data must be base64") from None
        if len(image) > limits.MAX_LIVE_FRAME:
            raise refuse(f"the image is over {limits.MAX_LIVE_FRAME} bytes")
        if not image.startswith(MAGIC[self.mime]):
            raise refuse(f"data is not a {self.mime.removeprefix('image/').upper()} image")
        return self


class ComputerWatch(ProtocolModel):
    """Hub to agent: a page shows task `task_id` live: send frames for `seconds` more."""

    type: Literal["computer.watch"] = "computer.watch"
    task_id: Id
    seconds: Annotated[StrictInt, Field(ge=1, le=limits.LIVE_WATCH)] = limits.LIVE_WATCH
