from django import forms

from devices.models import Host


class UserCodeForm(forms.Form):
    code = forms.CharField(
        label="Code shown on the host",
        max_length=16,
        widget=forms.TextInput(
            attrs={
                "placeholder": "WDJB-MJHT",
                "autocapitalize": "characters",
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
    )


class ApproveForm(forms.Form):
    team = forms.TypedChoiceField(coerce=int, label="Add to team")
    otp_code = forms.CharField(
        label="Your two-factor code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "placeholder": "123456"}
        ),
    )

    def __init__(self, *args, memberships, **kwargs):
        super().__init__(*args, **kwargs)
        team: forms.ChoiceField = self.fields["team"]  # type: ignore[assignment]  # declared above
        team.choices = [(m.team_id, m.team.name) for m in memberships]


class RenameForm(forms.ModelForm):
    class Meta:
        model = Host
        fields = ["name"]


class ApproveRoleForm(forms.ModelForm):
    class Meta:
        model = Host
        fields = ["approve_role"]
        widgets = {"approve_role": forms.RadioSelect}


class GitRoleForm(forms.ModelForm):
    class Meta:
        model = Host
        fields = ["git_role"]
        widgets = {"git_role": forms.RadioSelect}


class RevokeForm(forms.Form):
    otp_code = forms.CharField(
        label="Your two-factor code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "placeholder": "123456"}
        ),
    )
