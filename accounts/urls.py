from django.urls import path

from accounts import views

urlpatterns = [
    path("settings/", views.settings_index, name="settings"),
    path("settings/2fa/setup/", views.otp_setup, name="otp_setup"),
    path("settings/2fa/verify/", views.otp_verify, name="otp_verify"),
    path("settings/2fa/backup-codes/", views.backup_codes_regenerate, name="backup_codes_regenerate"),
    path("teams/", views.team_list, name="team_list"),
    path("teams/<int:team_id>/", views.team_detail, name="team_detail"),
    path("teams/<int:team_id>/invite/", views.team_invite, name="team_invite"),
    path("teams/<int:team_id>/switch/", views.team_switch, name="team_switch"),
    path("teams/<int:team_id>/members/<int:member_id>/role/", views.member_role, name="member_role"),
    path("teams/<int:team_id>/members/<int:member_id>/remove/", views.member_remove, name="member_remove"),
    path("invite/<str:token>/", views.invitation_accept, name="invitation_accept"),
]
