r"""SymPy symbols shared by the stages and families: the temperature and the spectral data of the training set.

In the eigenbasis :math:`K_0 = \sum_k\lambda_kv_kv_k^\top` of the input kernel, :math:`y_k = v_k^\top y` are the
label projections and :math:`\kappa_k(x) = v_k^\top k_0(x)` the test projections; :math:`P` is the number of
training points (and of modes).
"""
from __future__ import annotations

import sympy as sp

__all__ = ["temperature", "eigenvalue", "label", "test_projection", "test_variance", "mode", "n_modes"]

temperature = sp.Symbol("T", nonnegative=True)          # T of the Gibbs posterior
eigenvalue = sp.IndexedBase("lambda", positive=True)   # lambda_k: eigenvalues of K_0
label = sp.IndexedBase("y", real=True)                  # y_k = v_k^T y
test_projection = sp.IndexedBase("kappa", real=True)    # kappa_k(x) = v_k^T k_0(x)
test_variance = sp.Symbol("K_0", positive=True)         # K_0(x, x)
mode = sp.Symbol("k", integer=True, positive=True)      # mode index k = 1..P
n_modes = sp.Symbol("P", integer=True, positive=True)   # P training points
