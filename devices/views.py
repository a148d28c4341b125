from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.services import otp_is_enrolled
from accounts.teams import current_membership


@login_required
def host_list(request):
    context = {
        "membership": current_membership(request),
        "otp_enrolled": otp_is_enrolled(user=request.user),
    }
    return render(request, "devices/host_list.html", context)
