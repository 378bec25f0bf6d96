from celery import shared_task


@shared_task(acks_late=True)
def scores_refresh_task(actor_id: int | None = None) -> int:
    """Recompute every customer's analytics scores (beat: nightly; also queued from the dashboard)."""
    from guanxi.accounts.models import User
    from guanxi.analytics.services import scores_refresh

    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    return scores_refresh(actor=actor).customers
