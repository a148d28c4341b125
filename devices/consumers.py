"""/ws/host/: the host agents' socket. Pairing (issue 3) issues the tokens it
will accept; until then no token is valid, so every agent is told so."""

from channels.generic.websocket import AsyncJsonWebsocketConsumer

CLOSE_UNAUTHORIZED = 4401


class HostConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        # Accept, then close with a code the agent can read: a bare refusal
        # would reach it as an HTTP 403 with no reason.
        await self.accept()
        await self.close(code=CLOSE_UNAUTHORIZED)
