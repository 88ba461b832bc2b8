"""One table of methods: the model and every classic method are rows that open a runtime with one interface, and no
code decides a path by comparing a method's name with the string "model"."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from edge_rppg.contract import CONTRACT
from edge_rppg.methods import METHOD_TABLE
from edge_rppg.runtimes import RuntimeOptions
from edge_rppg.signals.classic import METHODS as CLASSIC
from tests.test_layers import _modules


def test_the_table_holds_the_model_and_every_classic_method() -> None:
    assert [name for name, row in METHOD_TABLE.items() if row.needs_model] == ["model"]
    assert {name for name, row in METHOD_TABLE.items() if not row.needs_model} == set(CLASSIC)


@pytest.mark.parametrize("name", list(METHOD_TABLE))
def test_every_row_runs_windows_of_crops_into_bvp(name: str, onnx_fp32: Path) -> None:
    row = METHOD_TABLE[name]
    window = np.random.default_rng(0).uniform(0, 1, CONTRACT.input_shape(1)).astype(np.float32)
    with row.open(onnx_fp32 if row.needs_model else None, None, RuntimeOptions(threads=1)) as runtime:
        bvp = np.asarray(runtime.run(window))
    assert bvp.shape == CONTRACT.output_shape(1) and np.isfinite(bvp).all()
    assert row.identity(onnx_fp32).startswith("method:") != row.needs_model


def test_no_code_compares_a_method_with_the_string_model() -> None:
    """Comparisons (==, !=, in) with the constant "model" anywhere in the package: a method is asked, not named."""
    found = [
        f"{name}:{node.lineno}"
        for name, f in _modules().items()
        for node in ast.walk(ast.parse(f.read_text()))
        if isinstance(node, ast.Compare)
        and any(isinstance(c, ast.Constant) and c.value == "model" for c in [node.left, *node.comparators])
    ]
    assert found == []


def test_a_model_row_without_a_file_is_one_line() -> None:
    from edge_rppg.errors import EdgeRppgError

    with pytest.raises(EdgeRppgError, match="needs a model file"):
        METHOD_TABLE["model"].open(None, None, RuntimeOptions())
