from celery import shared_task
from django.core.exceptions import ValidationError


@shared_task(acks_late=True)
def import_job_run(job_id: int) -> int:
    """Run an import job; delivered again after a crash, it resumes the job (``import_run``), never repeats it."""
    from guanxi.customers.imports import ImportTakenOver, import_run
    from guanxi.customers.models import ImportJob

    job = ImportJob.objects.get(pk=job_id)
    if job.status == ImportJob.Status.DONE:
        return 0  # delivered late or again: the job is done, this delivery creates nothing
    # A second delivery of the task (a broker redelivery, the reaper's re-queue, "run again") resumes the job
    # after its committed rows; if another delivery is running it, this one stops (ImportTakenOver).
    try:
        return import_run(job).created_count
    except ValidationError:
        return 0  # the file cannot be read: the job is failed with the reason, which the wizard shows
    except ImportTakenOver:
        return 0  # another delivery of this task is running the job


@shared_task
def import_files_cleanup_task() -> dict[str, int]:
    from guanxi.customers.imports import import_files_cleanup

    return import_files_cleanup()


@shared_task
def import_jobs_reap_task() -> dict:
    """Beat, every minute: re-queue lost import jobs, fail those whose worker died (``import_jobs_reap_stale``)."""
    from guanxi.customers.services import import_jobs_reap_stale

    result = import_jobs_reap_stale()
    return {"requeued": result.requeued, "failed": result.failed}
