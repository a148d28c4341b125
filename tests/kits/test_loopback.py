"""The loopback server the fakes share: what it records, how it answers, how it stops."""

import json
import urllib.request

from tests.kits.loopback import LoopbackServer, Reply, Request, json_reply


class Echo(LoopbackServer):
    def answer(self, request: Request) -> Reply:
        echoed = {"method": request.method, "query": request.query, "got": request.json()}
        return json_reply(echoed, status=201)


def test_it_records_each_request_and_answers_with_the_reply():
    with Echo() as server:
        sent = urllib.request.Request(
            f"{server.url}/v1/things?a=1&a=2", data=b'{"x": 1}', headers={"X-Key": "k"}, method="PUT"
        )
        with urllib.request.urlopen(sent, timeout=5) as response:
            status, content_type, body = response.status, response.headers["Content-Type"], response.read()
    assert (status, content_type) == (201, "application/json")
    assert json.loads(body) == {"method": "PUT", "query": {"a": "1"}, "got": {"x": 1}}
    (request,) = server.received
    assert (request.path, request.route) == ("/v1/things?a=1&a=2", "/v1/things")
    assert request.headers["x-key"] == "k"
    assert server.url == f"http://127.0.0.1:{server.port}" and server.netloc == f"127.0.0.1:{server.port}"


def test_it_stops_once_whether_or_not_it_was_started():
    never_started = LoopbackServer()
    never_started.stop()
    with LoopbackServer() as server:
        pass
    server.stop()
    assert not server._thread.is_alive()
