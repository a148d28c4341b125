from accounts.models import AuditEvent, Team, User


def audit_record(
    *,
    action: str,
    team: Team | None = None,
    team_id: int | None = None,
    actor: User | None = None,
    target: str = "",
    ip: str | None = None,
    **detail,
) -> AuditEvent:
    return AuditEvent.objects.create(
        action=action,
        team_id=team.id if team else team_id,
        actor=actor,
        target=target[:200],
        ip=ip,
        detail=detail,
    )
