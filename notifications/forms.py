from django import forms

from notifications.models import Preference, TeamReminder


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = Preference
        fields = ["task_succeeded", "task_failed", "permission_asked", "host_offline"]


class TeamReminderForm(forms.ModelForm):
    class Meta:
        model = TeamReminder
        fields = ["remind_after", "escalate"]
        widgets = {"remind_after": forms.NumberInput(attrs={"min": 0, "max": 10080, "inputmode": "numeric"})}
