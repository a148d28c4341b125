"""Entry.parent_hash: the hash of the folder an entry is in, filled for the
entries already mirrored, and an index for a folder's page and set deletes."""

import hashlib

from django.db import migrations, models


def _hash(path: str) -> str:  # protocol.paths.path_hash, as it is today
    return hashlib.sha256(path.encode("utf-8")).hexdigest()


def fill_parent_hashes(apps, schema_editor):
    Entry = apps.get_model("projects", "Entry")
    pending = []
    for entry in Entry.objects.only("id", "path").iterator(chunk_size=2000):
        entry.parent_hash = _hash(entry.path.rpartition("/")[0])
        pending.append(entry)
        if len(pending) >= 2000:
            Entry.objects.bulk_update(pending, ["parent_hash"])
            pending = []
    if pending:
        Entry.objects.bulk_update(pending, ["parent_hash"])


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0003_file_fetch"),
    ]

    operations = [
        migrations.AddField(
            model_name="entry",
            name="parent_hash",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(fill_parent_hashes, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="entry",
            index=models.Index(fields=["project", "parent_hash"], name="entry_project_parent"),
        ),
    ]
