"""Helpers for pairing tests: the agent's side of the HTTP API."""

import json

from django.test import Client


def start(client: Client, name="MacBook Pro", ip="198.51.100.10", **fields):
    body = {"name": name, "platform": "darwin-arm64", "agent_version": "0.1.0", **fields}
    return client.post("/api/pairing/", json.dumps(body), content_type="application/json", REMOTE_ADDR=ip)


def poll(client: Client, device_code: str, ip="198.51.100.10"):
    return client.post(
        "/api/pairing/token/",
        json.dumps({"device_code": device_code}),
        content_type="application/json",
        REMOTE_ADDR=ip,
    )


def bearer_post(client: Client, path: str, token: str):
    return client.post(path, "{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
