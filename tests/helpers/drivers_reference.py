"""Plain NumPy reference for key driver analysis, fitted from the rows.

Shapley/LMG: weighted least squares with an intercept on every subset of the drivers, R² of
each, and the Shapley average of the R² increments (Lindeman, Merenda & Gold 1980; Grömping
2006). Johnson's relative weights: the eigen-decomposition of the drivers' weighted correlation
matrix, Λ* = VΛ^½Vᵀ, β = Λ*⁻¹ r_xy, weight_j = Σ_k Λ*_jk² β_k² (Johnson 2000). Deliberately
slow and obvious: no shared code with the Rust kernels.
"""

from __future__ import annotations

import itertools
import math

import numpy as np


def wls_r2(y: np.ndarray, x: np.ndarray, w: np.ndarray) -> float:
    """R² of the weighted least-squares fit of y on [1, x] (x may have no columns)."""
    if x.shape[1] == 0:
        return 0.0
    design = np.column_stack([np.ones(len(y)), x])
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    resid = y - design @ coef
    ybar = np.sum(w * y) / np.sum(w)
    return float(1.0 - np.sum(w * resid**2) / np.sum(w * (y - ybar) ** 2))


def shapley(y: np.ndarray, x: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Shapley/LMG importances from R² refits of all 2^p subsets."""
    w = np.ones(len(y)) if w is None else w
    p = x.shape[1]
    r2 = {}
    for size in range(p + 1):
        for subset in itertools.combinations(range(p), size):
            r2[subset] = wls_r2(y, x[:, list(subset)], w)
    out = np.zeros(p)
    for j in range(p):
        others = [i for i in range(p) if i != j]
        for size in range(p):
            for s in itertools.combinations(others, size):
                with_j = tuple(sorted((*s, j)))
                weight = math.factorial(size) * math.factorial(p - size - 1) / math.factorial(p)
                out[j] += weight * (r2[with_j] - r2[s])
    return out


def weighted_correlation(data: np.ndarray, w: np.ndarray) -> np.ndarray:
    mean = (w[:, None] * data).sum(axis=0) / w.sum()
    centred = data - mean
    cov = (w[:, None] * centred).T @ centred / w.sum()
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def relative_weights(y: np.ndarray, x: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Johnson's (2000) relative weights."""
    w = np.ones(len(y)) if w is None else w
    corr = weighted_correlation(np.column_stack([y, x]), w)
    rxx, rxy = corr[1:, 1:], corr[1:, 0]
    values, vectors = np.linalg.eigh(rxx)
    lam_star = vectors @ np.diag(np.sqrt(values)) @ vectors.T
    beta = np.linalg.solve(lam_star, rxy)
    return (lam_star**2) @ (beta**2)


def full_r2(y: np.ndarray, x: np.ndarray, w: np.ndarray | None = None) -> float:
    return wls_r2(y, x, np.ones(len(y)) if w is None else w)


def coefficients(y: np.ndarray, x: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Raw WLS slopes of the full model (their signs are the drivers' signs)."""
    w = np.ones(len(y)) if w is None else w
    design = np.column_stack([np.ones(len(y)), x])
    sw = np.sqrt(w)
    coef, *_ = np.linalg.lstsq(design * sw[:, None], y * sw, rcond=None)
    return np.asarray(coef[1:])


def population_importances(corr: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """True (relative weights, Shapley, R²) of a population correlation matrix of [y, x...],
    by the same definitions: R² of a subset is r_Sᵀ R_SS⁻¹ r_S."""
    rxx, rxy = corr[1:, 1:], corr[1:, 0]
    p = len(rxy)

    def r2(subset: tuple[int, ...]) -> float:
        if not subset:
            return 0.0
        idx = list(subset)
        return float(rxy[idx] @ np.linalg.solve(rxx[np.ix_(idx, idx)], rxy[idx]))

    shap = np.zeros(p)
    for j in range(p):
        others = [i for i in range(p) if i != j]
        for size in range(p):
            for s in itertools.combinations(others, size):
                weight = math.factorial(size) * math.factorial(p - size - 1) / math.factorial(p)
                shap[j] += weight * (r2(tuple(sorted((*s, j)))) - r2(s))
    values, vectors = np.linalg.eigh(rxx)
    lam_star = vectors @ np.diag(np.sqrt(values)) @ vectors.T
    beta = np.linalg.solve(lam_star, rxy)
    return (lam_star**2) @ (beta**2), shap, r2(tuple(range(p)))
