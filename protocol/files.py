"""Files on request (docs/protocol.md, "Files on request"): the hub asks for the
bytes of one file of a shared project (an image a README shows); the agent
sends them over HTTP, or says why not. Nothing here is sequenced: a request
that gets no answer is simply asked again later."""

from typing import Annotated, Literal

from pydantic import Field, StrictInt

from protocol import limits
from protocol.base import MirrorPath, Name, ProtocolModel, Token

FETCH_REQUEST_REFUSED = "a request is 16-64 of A-Z, a-z, 0-9, - and _"


class FileFetch(ProtocolModel):
    """Hub to agent: send the bytes of `path` in `project`, at most `max_size` of them,
    with `PUT /api/host/files/<request>`; or why not, with `POST .../refused`."""

    type: Literal["file.fetch"] = "file.fetch"
    request: Annotated[str, Token(limits.FETCH_REQUEST, FETCH_REQUEST_REFUSED)]
    project: Annotated[str, Name(limits.MAX_PROJECT_NAME, "a project name")]
    path: MirrorPath
    max_size: Annotated[StrictInt, Field(gt=0, le=limits.MAX_FETCH)] = limits.MAX_FETCH


class FileRefused(ProtocolModel):
    """Agent to hub, the JSON body of `POST /api/host/files/<request>/refused`."""

    reason: Literal[limits.FETCH_REFUSALS]  # type: ignore[valid-type]
