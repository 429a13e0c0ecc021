"""The README's benchmark tables are what bench/table.py makes of the committed results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.table import README, RESULTS, readme_block, render


def test_readme_tables_match_the_committed_results() -> None:
    assert readme_block(README.read_text()) == render(), (
        "README.md's benchmark tables are stale: run .venv/bin/python bench/table.py --write"
    )


def test_a_missing_results_file_leaves_its_table_out(tmp_path: Path) -> None:
    shutil.copy(RESULTS / "churn.json", tmp_path / "churn.json")
    tables = render(tmp_path)
    assert "### Churn" in tables
    assert "### Warm" not in tables and "### Density" not in tables


def test_every_target_is_listed_with_its_verdict(tmp_path: Path) -> None:
    doc = json.loads((RESULTS / "churn.json").read_text())
    doc["targets"] = [
        {"target": "a", "met": True, "measured": 1, "wanted": ">= 1"},
        {"target": "b", "met": False, "measured": 0, "wanted": ">= 1"},
    ]
    (tmp_path / "churn.json").write_text(json.dumps(doc))
    tables = render(tmp_path)
    assert "| churn | a | 1 | >= 1 | met |" in tables
    assert "| churn | b | 0 | >= 1 | **missed** |" in tables
