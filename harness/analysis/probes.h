/* Probes: small measurements that are not kernel timings, feeding the claims' assertions (claims.h).
 * Each probe computes one quantity per x value, with per-trial samples, for one variant (params):
 *
 *   performer_mse  x = rank (m random features), reads d.  params features=iid|orthogonal, trials=T (64),
 *                  pairs=P (64), scale=s (0.5). Relative MSE of the FAVOR+ positive-feature estimate of the
 *                  softmax kernel exp(q.k/sqrt(d)) over P fixed pairs q, k ~ N(0, s^2 I_d); one sample per trial
 *                  (fresh W); value = mean over the trials. s = 0.5 keeps the estimator's relative variance
 *                  moderate (e^|q'+k'|^2 - 1 ~ 6); at s = 1 its lognormal tail makes 64 trials unreliable.
 *                  phi(x) = exp(W x' - |x'|^2/2)/sqrt(m), x' = x/d^(1/4); orthogonal: blocks of d rows from the
 *                  Q of a Gaussian matrix (LAPACKE dgeqrf/dorgqr), each row rescaled to a chi_d norm.
 *   recall         x = n (N stored key/value pairs), reads d.  params kernel=softmax|linear, features=identity|elu (linear),
 *                  trials=T (5),
 *                  scale=S (default 4 sqrt(d)). Keys, values: random unit vectors in d dims. Query with each
 *                  stored key; a retrieval is exact when the output's nearest stored value (max dot product) is
 *                  the stored one. softmax: out = sum_j softmax_j(S k_i.k_j) v_j (S = 4 sqrt(d) = 32 at d = 64:
 *                  sharp enough that the self match dominates any N tested); linear: the d x d state
 *                  S = sum_j k_j v_j^T, out = k_i^T S (identity feature map; features=elu: phi = elu + 1 on keys and
 *                  queries, the normaliser phi(q).z is a positive scalar and does not change the argmax).
 *                  Value: fraction retrieved (median over trials).
 *   spectrum       x = d, reads n (256).  params matrix=linear|softmax. Q, K ~ N(0, 1), n x d; linear:
 *                  A = phi(Q) phi(K)^T with phi = elu + 1; softmax: A = softmax_row(Q K^T / sqrt(d)). Singular
 *                  values by LAPACKE dgesdd; value = numerical rank (s_i > 1e-10 s_0) / d.
 *   gau_params     x = d.  params mechanism=gau|flash (gau), e=E (2d); reads rank = s (0 = 128). Parameter parity
 *                  of the GAU family (kernels/gau/family.h, mb_gau_param_count): value = 2 x params(one GAU or
 *                  FLASH block) / params(MHA + FFN) = 2 (3de + ds + 4s [flash: 8s]) / 12 d^2; exact, no trials
 *                  (d = 512, e = 2d, s = 128: 1.0420).
 *   legs_timescale x = scale (the stretch factor s, integer >= 1), reads n (L, default 1024) and rank (N, 32).
 *                  params measure=legs|legt (legs), disc=bilinear|euler|backward (bilinear), trials=T (8).
 *                  Timescale robustness of HiPPO-LegS (Gu et al. 2020, Sec. 3 / Prop. 3): the final coefficients
 *                  c_1 after L samples of f(t) (t in [0, 1], the ssm.hippo family's signal: 8 sinusoids, seeded
 *                  per trial) against c_s after s L samples of the stretched g(t) = f(t / s), t in [0, s] (the same
 *                  function sampled s times as densely). legs: the step-free recurrence (mb_legs_step_d, float64;
 *                  no dt, so only the sampling density differs and the difference is discretisation error).
 *                  legt: the LTI recurrence with a fixed step dt = 1/L and window theta = 1 (mb_hippo_matrix,
 *                  mb_hippo_discretize, float64): on the stretched input the window sees only the last 1/s of f,
 *                  so the coefficients differ by O(1). value = median over the trials of |c_s - c_1| / |c_1|.
 */
#ifndef MB_PROBES_H
#define MB_PROBES_H

#include <stddef.h>
#include <stdint.h>

#include "core/mechbench.h"

/* The axis a probe runs along ("rank", "n", "d"), or NULL for an unknown probe. */
const char *mb_probe_x_axis(const char *name);
/* "performer_mse, recall, ...": every probe's name, for messages. */
void mb_probe_names(char *buf, size_t len);
/* Run probe `name` with variant params at base (its other axes) for every x in xs. Returns 0 or -1. */
int mb_probe_run(const char *name, const struct mb_point *base, const double *xs, int nx, uint64_t seed,
                 struct mb_probe_series *out, char *err, size_t errlen);
void mb_probe_series_free(struct mb_probe_series *s);

#endif
