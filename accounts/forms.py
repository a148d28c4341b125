from django import forms

from accounts.models import Role, Team


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name"]
        widgets = {"name": forms.TextInput(attrs={"placeholder": "e.g. Home lab", "autocomplete": "off"})}


class InviteForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"placeholder": "name@example.com"}))
    role = forms.ChoiceField(choices=[(Role.MEMBER, "Member"), (Role.ADMIN, "Admin")], initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


def otp_code_field(label: str = "Code", **attrs) -> forms.CharField:
    """A field for a TOTP or backup code, as phones' keyboards and autofill expect it."""
    widget_attrs = {
        "autocomplete": "one-time-code",
        "autocapitalize": "characters",
        "spellcheck": "false",
        "placeholder": "123456",
        **attrs,
    }
    return forms.CharField(label=label, max_length=32, widget=forms.TextInput(attrs=widget_attrs))


class OTPCodeForm(forms.Form):
    code = otp_code_field(autofocus=True)
