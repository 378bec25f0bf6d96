"""A subscriber the broker tests load into a real worker (``--include``): it leaves a visible trace."""

from guanxi.core.events import subscriber


@subscriber("note.added", name="tests.trace")
def trace(event) -> None:
    from guanxi.customers.services import timeline_record

    timeline_record(customer_id=event.customer_id, kind="test.delivered", data={"event": event.pk})
