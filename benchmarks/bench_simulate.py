"""tracerdiff.simulate against FiPy on the same discretised 2D exchange problem.

N x N grids (1 um cells) of 16 um Laguerre grains, D*bulk = 2.6e-8 cm^2/s,
D*gb/delta = 1.5e-6 cm/s, C = 1 on one edge, 59 h in 50 backward-Euler steps.
FiPy gets face diffusivities Gamma_f = K_f h (K_f our face conductance per unit
area, read off our assembled operator) and Gamma = D*bulk on the Dirichlet edge,
so both codes discretise to the same linear systems. FiPy's default LU solver
stops iterating at a residual relative to the initial one (tolerance 1e-5 in
legacy mode), which silently freezes stiff problems; we set tolerance 1e-12.

Prints one JSON line per N: tracerdiff_s, fipy_s, speedup, max_abs_diff.
Usage: python benchmarks/bench_simulate.py [N ...] [--no-fipy]   (default 256 512 1024;
--no-fipy times tracerdiff alone, for its N^2 log N scaling)
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np

from tracerdiff.simulate import ExchangeStep, simulate_history, voronoi_grains
from tracerdiff.simulate.transport import assemble, axis_diffusivities, edge_cells

D_BULK = 2.6e-12  # m^2/s
G_GB = 1.5e-8  # m/s
DURATION = 59 * 3600.0
N_STEPS = 50
H = 1e-6  # m


def tracerdiff_solve(grains):
    step = ExchangeStep(DURATION, d_bulk=D_BULK, dgb_over_delta=G_GB, source_edge="top")
    start = time.perf_counter()
    result = simulate_history(grains, [step], n_steps=N_STEPS, scheme="backward-euler")
    return result.c, time.perf_counter() - start


def fipy_face_coefficients(grains):
    """Gamma_f per FiPy face (Grid2D order: horizontal faces row by row, then vertical)."""
    n_rows, n_cols = grains.shape
    d_axes = axis_diffusivities(grains, D_BULK)
    matrix, _, _ = assemble(grains, d_axes, grains.boundary_pairs(),
                            np.full(len(grains.boundary_pairs()), G_GB), source=None,
                            edge_cells=[edge_cells(grains.shape, "top")])
    index = np.arange(n_rows * n_cols).reshape(n_rows, n_cols)
    trans_y = -np.asarray(matrix[index[:-1].ravel(), index[1:].ravel()]).ravel()  # 1/s
    trans_x = -np.asarray(matrix[index[:, :-1].ravel(), index[:, 1:].ravel()]).ravel()
    horizontal = np.zeros((n_rows + 1, n_cols))
    horizontal[1:-1] = (trans_y * H * H).reshape(n_rows - 1, n_cols)  # Gamma = K h = T h^2
    horizontal[0] = D_BULK  # Dirichlet face: FiPy uses Gamma / (h/2), as our 2 D / h
    vertical = np.zeros((n_rows, n_cols + 1))
    vertical[:, 1:-1] = (trans_x * H * H).reshape(n_rows, n_cols - 1)
    return np.concatenate([horizontal.ravel(), vertical.ravel()])


def fipy_solve(grains, *, tolerance=1e-12):
    from fipy import CellVariable, DiffusionTerm, FaceVariable, Grid2D, TransientTerm
    from fipy.solvers.scipy import LinearLUSolver

    n_rows, n_cols = grains.shape
    gamma = fipy_face_coefficients(grains)
    start = time.perf_counter()
    mesh = Grid2D(dx=H, dy=H, nx=n_cols, ny=n_rows)
    c = CellVariable(mesh=mesh, value=0.0)
    c.constrain(1.0, mesh.facesBottom)  # FiPy row 0 (y = 0) == our row 0 ("top")
    coeff = FaceVariable(mesh=mesh, value=gamma)
    equation = TransientTerm() == DiffusionTerm(coeff=coeff)
    solver = LinearLUSolver(tolerance=tolerance) if tolerance is not None else LinearLUSolver()
    dt = DURATION / N_STEPS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FiPy's convergence warnings
        for _ in range(N_STEPS):
            equation.solve(var=c, dt=dt, solver=solver)
    return np.asarray(c.value).reshape(n_rows, n_cols), time.perf_counter() - start


def main(sizes, *, with_fipy=True):
    for n in sizes:
        grains = voronoi_grains((n, n), pixel_size_um=1.0, mean_grain_um=16.0, seed=0)
        ours, t_ours = tracerdiff_solve(grains)
        if not with_fipy:  # scaling of tracerdiff alone (e.g. up to N = 2048)
            print(json.dumps({"N": n, "tracerdiff_s": round(t_ours, 3), "fipy_s": None}), flush=True)
            continue
        theirs, t_fipy = fipy_solve(grains)
        row = {"N": n, "tracerdiff_s": round(t_ours, 3), "fipy_s": round(t_fipy, 3),
               "speedup": round(t_fipy / t_ours, 1), "max_abs_diff": float(np.abs(ours - theirs).max()),
               "mean_c": float(ours.mean()), "n_grains": grains.n_grains}
        if n <= 256:  # the trap: FiPy's default tolerance on the same problem
            default, _ = fipy_solve(grains, tolerance=None)
            row["fipy_default_tolerance_max_abs_diff"] = float(np.abs(ours - default).max())
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    args = sys.argv[1:]
    sizes = [a for a in args if a != "--no-fipy"]
    if not all(a.isdigit() and int(a) >= 32 for a in sizes):  # 16 um grains need room
        sys.exit(f"usage: {sys.argv[0]} [N ...] [--no-fipy]  (N: integers >= 32), got {' '.join(args)}")
    main([int(a) for a in sizes] or [256, 512, 1024], with_fipy="--no-fipy" not in args)
