"""Schema-driven fuzz of the panel's API (schemathesis, from its own OpenAPI schema): no request gets a 5xx."""

from __future__ import annotations

import time
from pathlib import Path

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from capturerig_sim import VirtualStudio
from tests.web.conftest import start_panel

TOKEN = "fuzz-token-0123456789-abcdefghij"
EXAMPLES_PER_OPERATION = 8
BUDGET_S = 30.0  # the whole fuzz stops generating after this, whatever is left


def test_no_request_the_schema_allows_or_nearly_allows_gets_a_server_error(tmp_path: Path,
                                                                            studio: VirtualStudio) -> None:
    live = start_panel(tmp_path, token=TOKEN)
    started = time.monotonic()
    failures: list[str] = []
    calls = 0
    statuses: dict[int, int] = {}
    try:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        raw = session.get(f"{live.url}/openapi.json", timeout=30).json()
        schema = schemathesis.openapi.from_dict(raw)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 20, "the panel's API should be in its schema"
        for operation in operations:
            if time.monotonic() - started > BUDGET_S:
                break

            strategy = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                                 operation.as_strategy(GenerationMode.NEGATIVE))

            @given(case=strategy)
            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def probe(case: schemathesis.Case) -> None:
                nonlocal calls
                calls += 1
                response = case.call(base_url=live.url, session=session, timeout=60)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: "
                                    f"{response.text[:300]}")

            probe()
    finally:
        if live.panel.runs.running:
            live.panel.runs.abort()
        live.server.stop()
    print(f"fuzz: {calls} requests over {len(operations)} operations in {time.monotonic() - started:.1f} s; "
          f"statuses {dict(sorted(statuses.items()))}")
    assert calls >= len(operations)
    assert sum(n for code, n in statuses.items() if code < 300) >= len(operations) // 2  # it got past the guard
    assert not failures, "\n".join(failures)
