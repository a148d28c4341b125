"""Helpers the tests share, one module per kind of thing a test needs.

common: people, second factors, signed-in clients, a paired host, a sequenced stream.
processes: daphne, Celery, Redis, HAProxy and the agent as real processes on loopback.
deployed: the hub as the README's Deploy section runs it (soak and outage tests).
loopback: one loopback HTTP(S) server that the fake services are built on.
hostlink, host_messages, pairing_api: a host's side of /ws/host/ and of the pairing API.
ui_socket: a phone's /ws/ui/ socket.
mirror_stream, task_stream, sessions: what an agent sends on the mirror and tasks streams.
render_budget: the slow Markdown shapes and a step clock for the rendering budget.
fakehub, agent_mirror, agent_tasks, agent_toml: the hub faked for agent tests, and agent configs.
protocol_checks: validating as the hub does, for the protocol's tests.
"""
