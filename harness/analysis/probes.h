/* The probe driver: claims that need more than timing rows (claims.h) run a family's probe (struct mb_probe in
 * core/mechbench.h) by name: one value per x, with per-trial samples, for one variant (params, parsed against the
 * probe's declarations). `mechbench claims --list` and the claim files name them; each probe's file documents it. */
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

#endif
