"""Schemathesis's coverage phase over the admin API's own OpenAPI document (served at
/admin/v1/openapi.json), every operation, with the admin key: every field missing, at its
bounds and of each wrong type, and the methods no route has. No 5xx, every error the envelope,
no hang, and the books still balance afterwards."""

from __future__ import annotations

import schemathesis
from schemathesis.core.result import Ok

from tests.hostile.conftest import ADMIN_KEY
from tests.hostile.driver import Driver, coverage_cases
from tests.support import http
from tests.support.gateway import Gateway


def test_the_admin_api_under_its_own_coverage_phase(gateway: Gateway, key: str) -> None:
    admin = f"{gateway.server.url}/admin/v1"
    doc = http.get(f"{admin}/openapi.json", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json()
    schema = schemathesis.openapi.from_dict(doc)
    driver = Driver(admin, ADMIN_KEY, auth_cases=False)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    for operation in operations:
        for case in coverage_cases(operation):
            driver.send(case)
    assert len(operations) >= 15 and driver.sent > 300, (len(operations), driver.sent)
    assert driver.faults == [], driver.report()
    assert driver.statuses.get(200, 0) >= 5 and 429 not in driver.statuses, driver.statuses
    assert gateway.check() and all(row["ok"] for row in gateway.check())
    reply = http.get(f"{admin}/accounts/mallory", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert reply.status_code == 200, reply.text
