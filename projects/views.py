from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.teams import current_membership


@login_required
def project_list(request):
    return render(request, "projects/project_list.html", {"membership": current_membership(request)})
