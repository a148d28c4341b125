from django.core.management.base import BaseCommand

from notifications import vapid


class Command(BaseCommand):
    help = "Create the hub's VAPID key pair for Web Push, once (kept in the data dir, mode 0600)."

    def handle(self, *args, **options):
        path = vapid.key_path()
        if vapid.generate(path):
            self.stdout.write(f"Created the VAPID private key in {path}.")
        else:
            self.stdout.write(f"The VAPID private key is in {path}.")
        self.stdout.write(f"Public key: {vapid.public_key()}")
