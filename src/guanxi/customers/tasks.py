from celery import shared_task


@shared_task(acks_late=True)
def import_job_run(job_id: int) -> int:
    from guanxi.customers.imports import import_run
    from guanxi.customers.models import ImportJob

    job = ImportJob.objects.get(pk=job_id)
    return import_run(job).created_count
