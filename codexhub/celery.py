import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "codexhub.settings")

app = Celery("codexhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Jobs live in each app's jobs.py: `tasks.py` would be ambiguous in the tasks app.
app.autodiscover_tasks(related_name="jobs")
