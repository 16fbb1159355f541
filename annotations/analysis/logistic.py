"""Weighted logistic regression by maximum likelihood: the one fitter behind the
paired-comparison models (:mod:`.preferences`' Bradley-Terry, :mod:`.style_control`'s).

A row is a binomial cell: ``n`` trials of design row ``x`` with ``w`` successes, ``w``
fractional where a tie counts as half a win. The negative log-likelihood, its gradient
and its Hessian are analytic, and scipy's ``trust-exact`` minimises it (a trust-region
Newton method: quadratic convergence, a start anywhere, and it copes with a singular
Hessian). A constraint such as a reference arm is a column left out of the design.

Where one side of some comparisons always wins (separation), the likelihood keeps
rising towards infinite coefficients: an optimiser stops wherever its tolerance lets
it, at estimates that mean nothing. So separation is decided first, exactly, by a
linear programme (Konis, 2007): is there a direction ``d`` that never lowers the fit of
a cell (``x d = 0`` on mixed cells, ``>= 0`` where all are won, ``<= 0`` where all are
lost) and raises some? Such a fit is reported as not converged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog, minimize
from scipy.special import expit, log_expit

# Largest objective of the separation programme still read as none (coefficients are
# bounded to [-1, 1] there, so a real separating direction scores far above it).
_SEPARATION_TOL = 1e-7


@dataclass
class LogisticFit:
    theta: np.ndarray
    converged: bool
    separated: bool


class _Likelihood:
    """The negative log-likelihood of the cells with its gradient, and its Hessian at the
    same point (scipy asks for both at each iterate: the fitted probabilities are kept)."""

    def __init__(self, X: np.ndarray, n: np.ndarray, w: np.ndarray) -> None:
        self.X, self.n, self.w = X, n, w
        self.at: np.ndarray | None = None
        self.p = np.zeros(0)

    def value_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = self.X @ theta
        log_p = log_expit(eta)
        # log(1 - p) = log p - eta: one logarithm for both sides.
        value = -(self.w * log_p + (self.n - self.w) * (log_p - eta)).sum()
        self.at, self.p = theta.copy(), np.exp(log_p)
        return value, -self.X.T @ (self.w - self.n * self.p)

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        p = self.p if self.at is not None and np.array_equal(theta, self.at) else expit(self.X @ theta)
        return (self.X * (self.n * p * (1.0 - p))[:, None]).T @ self.X


def separated(X: np.ndarray, n: np.ndarray, w: np.ndarray) -> bool:
    """Whether the maximum likelihood of the cells lies at infinity (complete or
    quasi-complete separation)."""
    present = n > 0
    won = present & (w >= n)
    lost = present & (w <= 0)
    if not (won | lost).any():
        return False
    mixed = present & ~won & ~lost
    sign = won.astype(float) - lost.astype(float)
    one_sided = np.unique(sign[won | lost, None] * X[won | lost], axis=0)
    equal = np.unique(X[mixed], axis=0) if mixed.any() else None
    result = linprog(-one_sided.sum(axis=0), A_ub=-one_sided, b_ub=np.zeros(len(one_sided)),
                     A_eq=equal, b_eq=None if equal is None else np.zeros(len(equal)),
                     bounds=(-1.0, 1.0), method="highs")
    return bool(result.status == 0 and -result.fun > _SEPARATION_TOL)


def fit_logistic(X: np.ndarray, n: np.ndarray, w: np.ndarray, *, start: np.ndarray | None = None,
                 is_separated: bool | None = None) -> LogisticFit:
    """Maximum-likelihood ``theta`` of ``P(success | x) = expit(x theta)`` over the cells.

    ``start`` (default zeros) warm-starts the optimiser, e.g. a bootstrap resample from the
    point estimate. ``is_separated`` skips the separation programme when the caller
    already knows the answer. ``converged`` is False where the data are separated or the
    optimiser did not reach its tolerance; ``theta`` is then where it stopped."""
    X = np.asarray(X, dtype=float)
    n = np.asarray(n, dtype=float)
    w = np.asarray(w, dtype=float)
    keep = n > 0
    X, n, w = X[keep], n[keep], w[keep]
    if is_separated is None:
        is_separated = separated(X, n, w)
    theta0 = np.zeros(X.shape[1]) if start is None else np.asarray(start, dtype=float)
    # The gradient is a sum over trials: its tolerance grows with them, so that a big study
    # stops at the same precision of the coefficients as a small one.
    gtol = 1e-8 * max(1.0, float(n.sum()))
    likelihood = _Likelihood(X, n, w)
    result = minimize(likelihood.value_and_gradient, theta0, jac=True, hess=likelihood.hessian,
                      method="trust-exact", options={"gtol": gtol, "maxiter": 200})
    return LogisticFit(theta=np.asarray(result.x), converged=bool(result.success) and not is_separated,
                       separated=is_separated)
