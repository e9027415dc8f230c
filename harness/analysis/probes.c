/* The probe driver (probes.h): finds a family's probe by name, parses the variant's params against the probe's
 * declarations, checks the x values and runs it. The probes themselves live with their families
 * (kernels/attention/probes.c, kernels/gau/probes.c, kernels/ssm/hippo_probes.c). */
#include "analysis/probes.h"

#include <stdio.h>
#include <string.h>

const char *mb_probe_x_axis(const char *name) {
    const struct mb_probe *p = mb_probe_find(name);
    return p ? p->x_axis : NULL;
}

void mb_probe_names(char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int f = 0; f < mb_n_families; f++)
        for (int i = 0; i < mb_families[f]->n_probes && used < len; i++) {
            int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", mb_families[f]->probes[i].name);
            if (w > 0) used += (size_t)w;
        }
}

int mb_probe_run(const char *name, const struct mb_point *base, const double *xs, int nx, uint64_t seed,
                 struct mb_probe_series *out, char *err, size_t errlen) {
    memset(out, 0, sizeof *out);
    const struct mb_probe *probe = mb_probe_find(name);
    if (!probe) {
        char names[256];
        mb_probe_names(names, sizeof names);
        return mb_errorf(err, errlen, "unknown probe '%s' (allowed: %s)", name, names);
    }
    if (nx > MB_PROBE_MAX_POINTS) return mb_errorf(err, errlen, "probe %s: at most %d points", name, MB_PROBE_MAX_POINTS);
    for (int i = 0; i < nx; i++)
        if (!(xs[i] >= 1)) return mb_errorf(err, errlen, "probe %s: x = %g (need >= 1)", name, xs[i]);
    struct mb_point p = *base;
    char owner[80];
    snprintf(owner, sizeof owner, "probe %s", name);
    const struct mb_param_decl *lists[1] = {probe->params};
    const int counts[1] = {probe->n_params};
    if (mb_params_parse_decls(lists, counts, 1, owner, base->params, 0, &p, err, errlen)) return -1;
    const int rc = probe->run(probe, &p, xs, nx, seed, out, err, errlen);
    if (rc) mb_probe_series_free(out);
    return rc;
}
