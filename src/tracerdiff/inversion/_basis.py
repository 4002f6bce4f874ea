"""An orthonormal basis of the window model's nuisance fields by Cholesky QR (tall, thin matrices)."""

from __future__ import annotations

import numpy as np
from scipy.linalg import lapack

#: One Cholesky QR pass is kept when the column-scaled basis has a condition number below 1/this:
#: q is then orthonormal to ~eps / SINGLE_PASS_RCOND^2 = 2e-10 (the window model's bases: 20 to
#: 7e3, two thirds below 1e3), below the float32 rounding of the fields it is built from (~1e-7).
SINGLE_PASS_RCOND = 1e-3


def orthonormal_basis(v: np.ndarray, *, single_pass_rcond: float = SINGLE_PASS_RCOND
                      ) -> tuple[np.ndarray, np.ndarray] | None:
    """``(q, r)`` with ``v = q r``, q orthonormal and r upper triangular, by Cholesky QR (n >> m):
    ~2x faster than Householder QR. One pass while the column-scaled ``v`` is well conditioned
    (reciprocal condition above ``single_pass_rcond``; q orthonormal to ~eps / rcond^2), else two
    (CholeskyQR2, orthonormal to rounding up to a condition of ~1e6). None beyond that (use
    Householder QR)."""
    norms = np.linalg.norm(v, axis=0)
    if not np.all(norms > 0):
        return None
    q, r = v / norms, np.diag(norms)
    for i in range(2):
        chol, info = lapack.dpotrf(q.T @ q, lower=0, clean=1)
        if info != 0:
            return None
        # After the first pass q is orthonormal to ~cond^2 eps; the second pass repairs that
        # only while cond < ~1e6 (the Gram matrix then keeps ~4 digits).
        rcond = lapack.dtrcon(chol, norm="1", uplo="U")[0] if i == 0 else 1.0
        if rcond < 1e-6:
            return None
        q = lapack.dtrtrs(chol, q.T, lower=0, trans=1)[0].T
        r = chol @ r
        if rcond >= single_pass_rcond:
            break
    return q, r
