from celery import shared_task


@shared_task(acks_late=True)
def import_job_run(job_id: int) -> int:
    from guanxi.customers.imports import import_run
    from guanxi.customers.models import ImportJob

    job = ImportJob.objects.get(pk=job_id)
    # Only a queued job runs: a second delivery of the task (a broker redelivery, or the reaper's re-queue
    # of a job that was merely waiting) finds it started or finished and leaves it alone.
    if not ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.PENDING).update(
        status=ImportJob.Status.VALIDATING if job.dry_run else ImportJob.Status.RUNNING
    ):
        return 0
    return import_run(job).created_count


@shared_task
def import_jobs_reap_task() -> dict:
    """Beat, every minute: re-queue lost import jobs, fail those whose worker died (``import_jobs_reap_stale``)."""
    from guanxi.customers.services import import_jobs_reap_stale

    result = import_jobs_reap_stale()
    return {"requeued": result.requeued, "failed": result.failed}
