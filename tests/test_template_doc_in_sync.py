"""docs/template.md is written whole by benchmarks/bench_template.py (``write_doc``: its prose
from the script's strings, its tables from the recorded runs): text edited in the page alone is
lost at the next ``make bench-template`` (it was: four paragraphs, found when JapaneseVowels was
measured again). The page must be what the script writes from the records in the repository."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_template_page_is_what_its_benchmark_writes(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_template", ROOT / "benchmarks" / "bench_template.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    written = tmp_path / "template.md"
    bench.write_doc(written)
    page = (ROOT / "docs" / "template.md").read_text(encoding="utf-8").splitlines()
    generated = written.read_text(encoding="utf-8").splitlines()
    differ = [(i + 1, a, b) for i, (a, b) in enumerate(zip(page, generated, strict=False)) if a != b]
    assert not differ and len(page) == len(generated), (
        "docs/template.md differs from what benchmarks/bench_template.py writes (edit the script's text, "
        f"then write the page with it): first difference at line {differ[0][0] if differ else min(len(page), len(generated)) + 1}: "
        f"{differ[0][1:] if differ else (len(page), len(generated))}")
