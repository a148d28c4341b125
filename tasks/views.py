from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accounts.teams import current_membership


@login_required
def task_list(request):
    return render(request, "tasks/task_list.html", {"membership": current_membership(request)})
