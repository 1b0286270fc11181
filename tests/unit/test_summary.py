"""Run summaries a person reads: sizes readable next to exact bytes, nested facts indented, XCom intact."""

from __future__ import annotations

import logging

import pytest

from platform_kit.summary import format_summary, readable, report
from platform_kit.utils import human_and_exact, size_fields

pytestmark = pytest.mark.unit

SUMMARY = {
    "dry_run": False,
    **size_fields("bytes_deleted", 7_310_034_944),
    "top_dags": [{"dag_id": "noisy", **size_fields("bytes", 5_120_000_000), "files_deleted": 30_000}],
    "size_cap": {"cap": human_and_exact(107_374_182_400), **size_fields("usage_before", 1536)},
    "error_samples": [],
}


def test_xcom_keeps_the_exact_number_and_the_readable_size_side_by_side(caplog):
    with caplog.at_level(logging.INFO):
        returned = report("Log cleanup", SUMMARY)
    assert returned == SUMMARY
    assert returned["bytes_deleted"] == 7_310_034_944 and returned["bytes_deleted_human"] == "6.8 GiB"
    assert list(returned).index("bytes_deleted_human") == list(returned).index("bytes_deleted") + 1


def test_the_log_shows_each_size_once_readable_and_exact():
    text = format_summary("Log cleanup", SUMMARY)
    assert text.splitlines() == [
        "Log cleanup",
        "  dry_run: false",
        "  bytes_deleted: 6.8 GiB (7,310,034,944 bytes)",
        "  top_dags:",
        "    - dag_id: noisy, bytes: 4.8 GiB (5,120,000,000 bytes), files_deleted: 30000",
        "  size_cap:",
        "    cap: 100.0 GiB (107,374,182,400 bytes)",
        "    usage_before: 1.5 KiB (1,536 bytes)",
        "  error_samples: []",
    ]


def test_a_human_field_without_its_number_and_a_non_size_stay_as_they_are():
    assert readable({"size_human": "1 KiB", "rows": 3, "batch_size": 1000}) == {
        "size_human": "1 KiB",
        "rows": 3,
        "batch_size": 1000,
    }
