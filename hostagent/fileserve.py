"""Sending the hub one file's bytes when it asks (docs/protocol.md, "Files on
request"): the images a README shows, which the mirror sends as metadata only.

`file.fetch` names a project, a path and a size limit. The file is looked up
the way the mirror's scanner sees it (`Scanner.scan` of that one path), so
whatever the mirror does not share is refused here too: a path under `.git`,
an ignored file, one under the agent's own folder, a symlink (never followed,
nor are symlinked parent folders), a FIFO or device. The bytes are read with
O_NOFOLLOW and the same-inode check the mirror uses, at most `max_size`, and
go to the hub with `PUT /api/host/files/<request>`; a refusal goes as
`POST /api/host/files/<request>/refused` with one of the protocol's reasons.
A hub that asks for many files gets them a few at a time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Iterable
from typing import Any

from pydantic import ValidationError

from hostagent import api
from hostagent.link import HostLink
from hostagent.mirror.safefile import open_regular
from hostagent.mirror.scan import RootMissing, Scanner, Scope
from protocol.base import reason
from protocol.files import FileFetch

log = logging.getLogger("hostagent.files")

PARALLEL = 4  # files read and sent at once
UPLOAD_TIMEOUT = api.UPLOAD_TIMEOUT


class Refused(Exception):
    """Why a file is not sent: one of protocol.limits.FETCH_REFUSALS."""


class FileServer:
    def __init__(
        self, projects: dict[str, str], *, exclude: Iterable[str] = (), hub: str = "", token: str = ""
    ) -> None:
        self.exclude = list(exclude)
        self.scanners = {name: Scanner(root, self.exclude) for name, root in projects.items()}
        self.hub = hub
        self.token = token
        self.limit = asyncio.Semaphore(PARALLEL)

    def set_projects(self, projects: dict[str, str]) -> None:
        """Send files of `projects` from now on (a live config edit)."""
        old = self.scanners
        self.scanners = {
            name: old[name]
            if name in old and old[name].configured_root == root
            else Scanner(root, self.exclude)
            for name, root in projects.items()
        }

    def attach(self, link: HostLink) -> None:
        link.extend({"file.fetch": self.on_fetch}, after_welcome=_nothing)

    async def on_fetch(self, message: dict[str, Any]) -> None:
        try:
            fetch = FileFetch.model_validate(message)
        except ValidationError as exc:
            log.warning("ignoring a file.fetch: %s", reason(exc))
            return
        async with self.limit:
            try:
                data = await asyncio.to_thread(self.read, fetch.project, fetch.path, fetch.max_size)
            except Refused as exc:
                log.info("not sending %s of %s: %s", ascii(fetch.path)[:300], ascii(fetch.project), exc)
                await asyncio.to_thread(self._refuse, fetch.request, str(exc))
                return
            log.info("sending %s of %s (%d bytes)", ascii(fetch.path)[:300], ascii(fetch.project), len(data))
            await asyncio.to_thread(self._put, fetch.request, data)

    def read(self, project: str, path: str, max_size: int) -> bytes:
        """The bytes of the shared, regular file at `path`; raises Refused."""
        scanner = self.scanners.get(project)
        if scanner is None:
            raise Refused("unknown_project")
        try:
            found = scanner.scan([Scope(path, recursive=False)], hash_files=False)
        except RootMissing:
            raise Refused("missing") from None
        entry = found.entries.get(path)
        if entry is None:
            try:
                st = os.lstat(scanner.abspath(path))
            except OSError:
                raise Refused("missing") from None
            raise Refused("ignored" if stat.S_ISREG(st.st_mode) else "not_a_file")
        if entry.kind != "file":
            raise Refused("not_a_file")
        if entry.size > max_size:
            raise Refused("too_large")
        fd = open_regular(entry.fs_path)
        if fd is None:
            raise Refused("unreadable")
        try:
            with os.fdopen(fd, "rb") as f:
                data = f.read(max_size + 1)
        except OSError:
            raise Refused("unreadable") from None
        if len(data) > max_size:
            raise Refused("too_large")
        return data

    def _put(self, request: str, data: bytes) -> None:
        try:
            api._send(  # noqa: SLF001 (the one raw-bytes call, as put_artifact makes it)
                self.hub, f"/api/host/files/{request}", data, "application/octet-stream",
                self.token, "PUT", UPLOAD_TIMEOUT,
            )  # fmt: skip
        except (api.ApiError, api.HubUnreachable, api.InsecureHubUrl) as exc:
            log.warning("could not send a file to the hub: %s", exc)

    def _refuse(self, request: str, why: str) -> None:
        try:
            api.post(self.hub, f"/api/host/files/{request}/refused", {"reason": why}, token=self.token)
        except (api.ApiError, api.HubUnreachable, api.InsecureHubUrl) as exc:
            log.warning("could not tell the hub a file was refused: %s", exc)


async def _nothing() -> None:
    return None
