/* The GAU family's probe.
 *
 *   gau_params     x = d. params mechanism=gau|flash (gau), e=E (0 = 2d); reads rank = s (0 = 128). Parameter
 *                  parity of the GAU family (mb_gau_param_count): value = 2 x params(one GAU or FLASH block) /
 *                  params(MHA + FFN) = 2 (3de + ds + 4s [flash: 8s]) / 12 d^2; exact, no trials
 *                  (d = 512, e = 2d, s = 128: 1.0420).
 */
#include "gau/family.h"

static const struct mb_param_decl gau_params_params[] = {
    {"mechanism", MB_PARAM_ENUM, 0, 0, 0, "gau|flash", "the block counted against MHA + FFN"},
    {"e", MB_PARAM_INT, 0, 0, 65536, NULL, "expansion width of U, V (0 = 2d)"},
};

static int probe_gau_params(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                            int nx, uint64_t seed MB_UNUSED, struct mb_probe_series *out, char *err MB_UNUSED,
                            size_t errlen MB_UNUSED) {
    const char *mech = mb_param_enum(base, "mechanism") == 0 ? "gau" : "flash";
    for (int xi = 0; xi < nx; xi++) {
        struct mb_point p = *base; /* rank = s (0 = 128), params e=E (default 2d) */
        p.d = (int64_t)xs[xi];
        double mha = mb_gau_param_count("mha_ffn", &p);
        out->x[out->count] = xs[xi];
        out->y[out->count] = 2 * mb_gau_param_count(mech, &p) / mha;
        out->ns[out->count] = 0;
        out->samples[out->count] = NULL;
        out->count++;
    }
    return 0;
}

const struct mb_probe mb_gau_probes[1] = {
    {.name = "gau_params", .x_axis = "d", .run = probe_gau_params, .params = gau_params_params,
     .n_params = (int)(sizeof gau_params_params / sizeof gau_params_params[0]),
     .summary = "2 x parameters of one GAU (or FLASH) block / parameters of MHA + FFN (exact count)"},
};
