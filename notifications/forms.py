from django import forms

from notifications.models import Preference


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = Preference
        fields = ["task_succeeded", "task_failed", "permission_asked", "host_offline"]
