"""``client.datasets`` in both SDK modes refuses a description over its limit
(modelyard.limits) and registers nothing."""

from __future__ import annotations

import pyarrow as pa
import pytest

from modelyard import Client
from modelyard.errors import InvalidInput


def test_a_description_over_its_limit_registers_nothing(client: Client) -> None:
    table = pa.table({"x": [1, 2, 3]})
    with pytest.raises(
        InvalidInput, match=r"^description: 10001 characters, the limit is 10000$"
    ) as refused:
        client.datasets.register("d", table, project="p", description="d" * 10_001)
    assert refused.value.field == "description"
    assert client.datasets.list_datasets() == []
