"""Schemathesis over the whole API (``/api/schema/``), in-process, as an admin and as store staff.

Every operation of the published schema gets a bounded number of generated requests, valid ones and
invalid ones (fixed seed), each sent once as the admin and once as a store clerk. No answer may be a 5xx,
and every answer must match the schema: status code documented, content type and body as documented.
Marked ``fuzz``: it takes minutes, so the default run skips it and ``.ci/run`` runs it on its own
(``pytest -m fuzz``). ``GUANXI_FUZZ_EXAMPLES`` sets the examples per operation and generation mode.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("GUANXI_FUZZ_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def wsgi_schema(db, admin_user):
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    # As Django's test client does: the requests run inside the test's transaction, on its connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        # The schema is for signed-in integrators only: it is read with the admin's token.
        headers = {"Authorization": f"Token {_token(admin_user)}"}
        yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), headers=headers)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _run_operation(operation, mode, users) -> str | None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        report_multiple_bugs=False,
        phases=["explicit", "generate", "target"],
    )
    def run(case):
        for headers in users:
            case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # nothing to generate (e.g. no parameter to make invalid)
        return None
    except (Exception, BaseExceptionGroup) as exc:  # one failing operation is reported, the others still run
        return f"{operation.label} [{mode.value}]\n{str(exc)[:1500]}"
    return None


@pytest.mark.fuzz
def test_api_answers_every_generated_request_within_its_schema(wsgi_schema, admin_user, staff_a, store_a, settings):

    _seed(store_a)
    settings.GUANXI_WEBHOOK_SECRET = "fuzz-secret"  # configured: unsigned pushes get 401, not 503
    users = [{"Authorization": f"Token {_token(user)}"} for user in (admin_user, staff_a)]
    only = os.environ.get("GUANXI_FUZZ_ONLY", "")
    failures = []
    operations = [result.ok() for result in wsgi_schema.get_all_operations()]
    assert len(operations) > 50
    for operation in operations:
        if only and only not in operation.label:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failure = _run_operation(operation, mode, users)
            if failure:
                failures.append(failure)
    assert not failures, f"{len(failures)} failing operations:\n\n" + "\n\n".join(failures)


def _seed(store) -> None:
    """A little data of each kind, so that generated ids 1, 2, ... hit objects and success answers are checked."""
    from guanxi.customers.tests.factories import make_customer
    from guanxi.loyalty import services as loyalty
    from guanxi.sales.services import order_ingest

    customer = make_customer(store=store)
    loyalty.member_enrol(actor=None, customer=customer)
    loyalty.coupon_template_create(
        actor=None, data={"name": "满100减20", "kind": "threshold", "amount": "20.00", "threshold": "100.00"}
    )
    order_ingest(
        actor=None,
        data={"external_ref": "SEED-1", "customer_id": customer.pk, "lines": [{"name": "x", "unit_price": "10.00"}]},
    )
    from guanxi.campaigns.models import Segment
    from guanxi.campaigns.services import campaign_save
    from guanxi.messaging.models import MessageTemplate

    segment = Segment.objects.create(name="全部", rules={"all": []}, store=store)
    MessageTemplate.objects.create(code="promo", name="promo", purpose="marketing", body="{name}您好,会员日8折")
    variants = [{"label": "A", "template_code": "promo", "split_percent": 100}]
    campaign_save(actor=None, data={"name": "会员日", "segment": segment.pk, "store": store.pk, "variants": variants})


def _token(user) -> str:
    from guanxi.accounts.services import api_token_create

    return api_token_create(user=user, name="fuzz")[1]
