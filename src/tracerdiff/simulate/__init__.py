r"""Forward simulation of tracer exchange in a polycrystal, and synthetic SIMS images.

Known truth for every estimator, and the answer to "what would my image look
like if D*gb/delta were X?".

* :func:`voronoi_grains` / :meth:`GrainMap.from_labels` -- microstructures;
* :class:`ExchangeStep`, :class:`ClosedStep`, :func:`simulate_history` --
  implicit finite-volume diffusion through grains and thin slow boundaries;
* :func:`synthetic_sims`, :func:`synthetic_exchange_image` -- 6Li/7Li count
  images (the labelled type of :mod:`tracerdiff.io.image`) with the truth in
  their metadata;
* :func:`synthetic_micrograph` -- the etched-surface micrograph of a grain map
  (dark grooves at the boundaries), larger than the SIMS field as real ones are.

Model and face conductance
--------------------------
Inside a grain ``dC/dt = div(D_bulk grad C)``. A grain boundary of thickness
delta and diffusivity D*gb, thin compared with a cell, is an interface that
carries the flux ``J = (D*gb/delta) [C]`` (``[C]`` the jump across it): the
thin-interface limit of flux continuity, eqn (3) of Hasegawa et al. (2024),
``D_bulk dC/dy|bulk = D*gb Delta C_gb / delta``. Write ``G = D*gb/delta`` (m/s).

Cells are cubes of edge h. The flux per unit area through the face between
cells 1 and 2 (centres h apart along the grid axis e) passes in series through
the half-cell of 1, the boundary (if the cells belong to different grains) and
the half-cell of 2. Each part carries the same flux q:

    C1 - C_a = q (h/2) / D1,   C_a - C_b = q / G_eff,   C_b - C2 = q (h/2) / D2,

so ``q = K (C1 - C2)`` with the face conductance per unit area

    1/K = (h/2)/D1 + 1/G_eff + (h/2)/D2,      G_eff = G |n . e|,

and the cell equation is ``dC1/dt = sum_faces K (C2 - C1) / h``. Inside a
grain the middle term is absent (the harmonic mean of the two cells). D1, D2
are ``e . D . e`` of each cell's grain tensor. For rotated (layered, LLTO-like)
grain tensors the off-diagonal terms ``D_pq`` enter as diagonal links between
cells sharing a grid vertex inside one grain
(:func:`tracerdiff.simulate.transport.cross_links`): symmetric and
conservative, exact second moments, not monotone for strong anisotropy.

Why ``G |n . e|``: the grid draws a boundary of true normal n as a staircase
of faces, whose total area is ``sum_k |n_k|`` (~4/pi in 2D on average) times
the true area. A uniform flux density Q along n crosses a face of axis e with
density ``Q |n . e|``, and the true boundary requires the jump ``Q / G``; so
the face must satisfy ``Q |n . e| / G_eff = Q / G``, i.e. ``G_eff = G |n . e|``.
Equivalently the staircase's total conductance
``sum_faces G |n_k| h^(d-1) = G A sum_k n_k^2 = G A`` equals that of the true
boundary (area A). Without the weight the staircase conducts ~4/pi too well
(sqrt 2 at 45 degrees) and the simulated D*eff comes out too high. n is the
Laguerre bisector normal for Voronoi grains and the smoothed-indicator
gradient for label images. The jump across each staircase face is then
``Q / G`` as on the true boundary, so eqn (3) holds locally too.

The wetted edge is held at ``C = c_source`` on its outer face (a half-cell
conductance ``2 D / h``); a wetted region (mask) holds its cells at c_source.
All other outer faces are closed, so closed steps conserve total tracer
exactly (the operator is symmetric with zero column sums).

Units: SI inside (m, s; D in m^2/s, G in m/s); lengths of grids and images in
micrometres, as everywhere in tracerdiff.
"""

from tracerdiff.grains import BoundaryTable, GrainMap
from tracerdiff.simulate.map_defects import merge_random_boundaries
from tracerdiff.simulate.history import ClosedStep, ExchangeStep, SimulationResult, simulate_history
from tracerdiff.simulate.micrograph import (MicrographImperfections, MicrographTransform, SyntheticMicrograph,
                                          synthetic_micrograph)
from tracerdiff.simulate.bicrystal import BicrystalMesh
from tracerdiff.simulate.sims import ExchangeConditions, SimsOptions, synthetic_exchange_image, synthetic_sims
from tracerdiff.simulate.transport import Arrhenius, layered_tensors
from tracerdiff.simulate.voronoi import voronoi_grains

__all__ = ["merge_random_boundaries", "GrainMap", "BoundaryTable", "voronoi_grains", "ExchangeStep", "ClosedStep", "SimulationResult",
           "simulate_history", "synthetic_sims", "synthetic_exchange_image", "SimsOptions", "ExchangeConditions",
           "BicrystalMesh", "Arrhenius", "layered_tensors",
           "synthetic_micrograph", "SyntheticMicrograph", "MicrographImperfections", "MicrographTransform"]
