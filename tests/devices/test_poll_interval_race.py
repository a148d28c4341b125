"""RFC 8628 slow_down under racing polls: the check and the write are one
conditional UPDATE, so two polls that read the same row cannot both pass, and
no interval increment is lost."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from codexhub.errors import ServiceError
from devices import pairing as pairing_services
from devices.models import PairingRequest


def start():
    return pairing_services.pairing_start(name="box", platform="linux", agent_version="1", ip="198.51.100.1")


def outcome(pairing, now) -> str:
    try:
        pairing_services._check_poll_interval(pairing, now)
    except ServiceError as exc:
        assert exc.code == "slow_down"
        return f"slow_down {exc.extra['interval']}"
    return "passed"


@pytest.mark.django_db
def test_of_two_first_polls_that_read_the_same_row_one_passes():
    pairing_id = start().pairing.id
    first, second = PairingRequest.objects.get(id=pairing_id), PairingRequest.objects.get(id=pairing_id)
    now = timezone.now()
    assert [outcome(first, now), outcome(second, now)] == ["passed", "slow_down 10"]


@pytest.mark.django_db
def test_racing_polls_that_are_too_fast_each_add_five_seconds():
    pairing_id = start().pairing.id
    now = timezone.now()
    assert outcome(PairingRequest.objects.get(id=pairing_id), now) == "passed"
    first, second = PairingRequest.objects.get(id=pairing_id), PairingRequest.objects.get(id=pairing_id)
    later = now + timedelta(seconds=1)
    assert [outcome(first, later), outcome(second, later)] == ["slow_down 10", "slow_down 15"]
    assert PairingRequest.objects.get(id=pairing_id).interval == 15


@pytest.mark.django_db
def test_a_poll_on_time_passes_and_a_stale_interval_counts_as_too_fast():
    pairing_id = start().pairing.id
    now = timezone.now()
    stale = PairingRequest.objects.get(id=pairing_id)
    assert outcome(PairingRequest.objects.get(id=pairing_id), now) == "passed"
    assert outcome(PairingRequest.objects.get(id=pairing_id), now + timedelta(seconds=1)) == "slow_down 10"
    assert outcome(PairingRequest.objects.get(id=pairing_id), now + timedelta(seconds=12)) == "passed"
    # A copy read before the interval grew does not pass on the old interval.
    assert outcome(stale, now + timedelta(seconds=30)) == "slow_down 15"


@pytest.mark.django_db(transaction=True)
def test_two_polls_racing_in_threads_through_the_database(monkeypatch):
    device_code = start().device_code
    barrier = threading.Barrier(2, timeout=10)
    check = pairing_services._check_poll_interval

    def both_read_before_either_writes(pairing, now):
        barrier.wait()
        check(pairing, now)

    monkeypatch.setattr(pairing_services, "_check_poll_interval", both_read_before_either_writes)
    errors: list[str] = []

    def poll():
        try:
            pairing_services.pairing_poll(device_code=device_code)
        except ServiceError as exc:
            errors.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=poll) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(errors) == ["authorization_pending", "slow_down"]
    assert PairingRequest.objects.get().interval == 10
