"""Dataset metrics over videos, with the standard errors the paper reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DatasetMetrics:
    mae: float
    mae_se: float
    rmse: float
    rmse_se: float
    mape: float
    mape_se: float
    pearson: float
    pearson_se: float
    snr: float
    snr_se: float
    macc: float
    macc_se: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def dataset_metrics(hr_pred: np.ndarray, hr_true: np.ndarray, snr: np.ndarray, macc: np.ndarray) -> DatasetMetrics:
    """MAE, RMSE, MAPE (%), Pearson r of HR, mean SNR and MACC, each with its standard error.

    Standard errors use the population std (ddof 0) as the reference does, including its RMSE form
    sqrt(std(e²))/sqrt(n), which is not a textbook standard error but is what the paper's tables show.
    """
    pred = np.asarray(hr_pred, dtype=np.float64)
    true = np.asarray(hr_true, dtype=np.float64)
    snr = np.asarray(snr, dtype=np.float64)
    macc = np.asarray(macc, dtype=np.float64)
    n = len(pred)
    if n == 0:
        raise ValueError("no videos to evaluate")
    err = pred - true
    sq = np.sqrt(n)
    r = float(np.corrcoef(pred, true)[0, 1]) if n > 1 and pred.std() > 0 and true.std() > 0 else float("nan")
    r_se = float(np.sqrt((1 - r**2) / (n - 2))) if n > 2 and np.isfinite(r) else float("nan")
    return DatasetMetrics(
        mae=float(np.mean(np.abs(err))),
        mae_se=float(np.std(np.abs(err)) / sq),
        rmse=float(np.sqrt(np.mean(err**2))),
        rmse_se=float(np.sqrt(np.std(err**2)) / sq),
        mape=float(np.mean(np.abs(err / true)) * 100),
        mape_se=float(np.std(np.abs(err / true)) / sq * 100),
        pearson=r,
        pearson_se=r_se,
        snr=float(np.mean(snr)),
        snr_se=float(np.std(snr) / sq),
        macc=float(np.mean(macc)),
        macc_se=float(np.std(macc) / sq),
        n=n,
    )
