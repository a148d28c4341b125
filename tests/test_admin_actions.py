"""The admin's bulk actions: each model's own action, never a bulk delete."""

import pytest
from django.contrib import admin

from devices.models import Host
from projects.models import Project
from tasks.models import Task
from tests.kits.common import make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("model", "action"), [(Host, "revoke_hosts"), (Project, "resync"), (Task, "cancel")])
def test_it_offers_the_models_action_and_no_bulk_delete(rf, model, action):
    request = rf.get("/admin/")
    request.user = make_user("root@example.com")
    request.user.is_staff = request.user.is_superuser = True
    actions = admin.site._registry[model].get_actions(request)
    assert list(actions) == [action]
