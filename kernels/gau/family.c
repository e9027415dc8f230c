/* GAU family: workload (x + weights -> out), per-token double-precision oracles, shared vectorised helpers.
 *
 * Weight init (documented choice): variance-scaled normal N(0, 1/fan_in) for every projection (fan_in = rows of
 * the (in, out) matrix); gamma ~ N(0, 1) (the paper's init is N(0, 0.02^2): same signs, scaled up so the scores
 * are O(1) and relu clips about half of them), beta ~ N(0, 0.1^2) (paper: 0; non-zero here so the offsets are
 * exercised). x ~ N(0, 1).
 *
 * Oracles (family_oracle.c) evaluate each sampled token from the formulas in double precision: projections with
 * cblas_dgemm on double copies (keys in blocks of 256 tokens), the token's scores against every allowed key, the
 * exclusive chunk prefix of FLASH's causal global term accumulated chunk by chunk, and an online softmax per
 * (token, head) for the MHA baseline. Cost O(n d (s + e)) per batch element plus O(m n (s + e)) for m tokens.
 */
#include "family.h"

#include <immintrin.h>
#include <math.h>
#include <sleef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_axis_rule gau_axes[] = {
    {MB_AXIS_n, 1024, 1, 1 << 22},  {MB_AXIS_d, 512, 1, 8192},   {MB_AXIS_batch, 1, 1, 1 << 12},
    {MB_AXIS_rank, 128, 0, 4096},   {MB_AXIS_causal, 0, 0, 1},   {MB_AXIS_block, 256, 0, 1 << 16},
};

static const struct mb_mechanism gau_mechanisms[] = {
#define MB_GAU_MECHANISM(name, formula, tolerance, oracle) {name, formula, tolerance, (void (*)(void))oracle},
#include "mechanisms.def"
#undef MB_GAU_MECHANISM
};

/* ------------------------------------------------------------------------------------------ point */
int64_t mb_gau_s(const struct mb_point *p) { return p->rank > 0 ? p->rank : MB_GAU_S_DEFAULT; }
int64_t mb_gau_c(const struct mb_point *p) { return p->block > 0 ? p->block : MB_GAU_C_DEFAULT; }

int64_t mb_gau_e(const struct mb_point *p) {
    const int64_t e = mb_param_int(p, "e");
    return e > 0 ? e : 2 * p->d;
}

enum mb_gau_norm mb_gau_norm_of(const struct mb_point *p) { return (enum mb_gau_norm)mb_param_enum(p, "norm"); }

static const struct mb_param_decl gau_params[] = {
    {"e", MB_PARAM_INT, 0, 0, 65536, NULL, "expansion width of U, V (0 = 2d)"},
    {"norm", MB_PARAM_ENUM, 0, 0, 0, "su|paper",
     "attention normalisation: su = relu^2(QK^T/sqrt(s)) scaled by 1/n (kexue.fm), paper = relu^2(QK^T/n)"},
};

double mb_gau_param_count(const char *mechanism, const struct mb_point *p) {
    const double d = (double)p->d, s = (double)mb_gau_s(p), e = (double)mb_gau_e(p);
    if (!strcmp(mechanism, "glu_ffn")) return 3 * d * e;
    if (!strcmp(mechanism, "gau")) return 3 * d * e + d * s + 4 * s;
    if (!strcmp(mechanism, "flash")) return 3 * d * e + d * s + 8 * s;
    if (!strcmp(mechanism, "mha_ffn")) return 12 * d * d;
    return 0;
}

/* ------------------------------------------------------------------------------------------ workload */
static void set2(struct mb_tensor *t, const char *name, int64_t a, int64_t b, const char *dims) {
    mb_tensor_set(t, name, dims, 2, a, b, 0, 0);
}

static void set_x(struct mb_tensor *t, const char *name, const struct mb_point *p) {
    mb_tensor_set(t, name, "batch,n,d", 3, p->batch, p->n, p->d, 0);
}

static int gau_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    const int64_t d = p->d, s = mb_gau_s(p), e = mb_gau_e(p);
    if ((double)p->batch * (double)p->n * (double)d > (double)(INT64_C(1) << 32))
        return mb_errorf(err, errlen, "batch*n*d = %.3g elements is too large (max 2^32)",
                         (double)p->batch * (double)p->n * (double)d);
    struct mb_tensor *in = w->inputs;
    w->n_inputs = MB_GAU_N_INPUTS;
    set_x(&in[MB_GAU_X], "x", p);
    set2(&in[MB_GAU_W_U], "w_u", d, e, "d,e");
    set2(&in[MB_GAU_W_V], "w_v", d, e, "d,e");
    set2(&in[MB_GAU_W_Z], "w_z", d, s, "d,s");
    set2(&in[MB_GAU_W_O], "w_o", e, d, "e,d");
    set2(&in[MB_GAU_GAMMA], "gamma", 4, s, "4,s");
    set2(&in[MB_GAU_BETA], "beta", 4, s, "4,s");
    set2(&in[MB_GAU_W_Q], "w_q", d, d, "d,d");
    set2(&in[MB_GAU_W_K], "w_k", d, d, "d,d");
    set2(&in[MB_GAU_W_V_ATTN], "w_v_attn", d, d, "d,d");
    set2(&in[MB_GAU_W_O_ATTN], "w_o_attn", d, d, "d,d");
    set2(&in[MB_GAU_W_1], "w_1", d, 4 * d, "d,4d");
    set2(&in[MB_GAU_W_2], "w_2", 4 * d, d, "4d,d");
    w->n_outputs = 1;
    set_x(&w->outputs[0], "out", p);
    return 0;
}

static void gau_fill(struct mb_workload *w) {
    for (int t = 0; t < w->n_inputs; t++) {
        double sd = 1;
        if (t == MB_GAU_BETA) sd = 0.1;
        else if (t != MB_GAU_X && t != MB_GAU_GAMMA) sd = 1.0 / sqrt((double)w->inputs[t].shape[0]);
        mb_fill_normal(&w->inputs[t], w->seed, (uint64_t)t + 1, 0.0, sd);
    }
}

static int expect2(const struct mb_tensor *t, int64_t a, int64_t b, char *err, size_t errlen) {
    if (t->ndim != 2 || t->shape[0] != a || t->shape[1] != b)
        return mb_errorf(err, errlen, "'%s' has shape (%lld%s%lld%s); expected (%lld, %lld) (%s)", t->name,
                         (long long)t->shape[0], t->ndim > 1 ? ", " : "", t->ndim > 1 ? (long long)t->shape[1] : 0LL,
                         t->ndim > 2 ? ", ..." : "", (long long)a, (long long)b, t->dims);
    return 0;
}

static int gau_point_from_inputs(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_tensor *x = &w->inputs[MB_GAU_X];
    if (x->ndim != 3) return mb_errorf(err, errlen, "'x' has %d dimensions; gau expects 3: (batch, n, d)", x->ndim);
    const struct mb_tensor *wu = &w->inputs[MB_GAU_W_U], *wz = &w->inputs[MB_GAU_W_Z];
    if (wu->ndim != 2 || wz->ndim != 2) return mb_errorf(err, errlen, "'w_u' and 'w_z' must be 2-D: (d, e), (d, s)");
    const int64_t d = x->shape[2], e = wu->shape[1], s = wz->shape[1];
    if (expect2(wu, d, e, err, errlen) || expect2(&w->inputs[MB_GAU_W_V], d, e, err, errlen) ||
        expect2(wz, d, s, err, errlen) || expect2(&w->inputs[MB_GAU_W_O], e, d, err, errlen) ||
        expect2(&w->inputs[MB_GAU_GAMMA], 4, s, err, errlen) || expect2(&w->inputs[MB_GAU_BETA], 4, s, err, errlen))
        return -1;
    for (int t = MB_GAU_W_Q; t <= MB_GAU_W_O_ATTN; t++)
        if (expect2(&w->inputs[t], d, d, err, errlen)) return -1;
    if (expect2(&w->inputs[MB_GAU_W_1], d, 4 * d, err, errlen) || expect2(&w->inputs[MB_GAU_W_2], 4 * d, d, err, errlen))
        return -1;
    struct mb_point *p = &w->point;
    p->batch = x->shape[0];
    p->n = x->shape[1];
    p->d = d;
    if (p->rank != 0 || s != MB_GAU_S_DEFAULT) p->rank = s; /* a kernel that does not read rank keeps 0 */
    char value[32];
    snprintf(value, sizeof value, "%lld", (long long)e);
    if (mb_param_set(p, "e", value)) /* the caller parses the new text */
        return mb_errorf(err, errlen, "gau: the point's params have no e (were they parsed?)");
    w->n_outputs = 1;
    set_x(&w->outputs[0], "out", p);
    return 0;
}

void mb_gau_bind(struct mb_gau *g, struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    g->batch = p->batch;
    g->n = p->n;
    g->d = p->d;
    g->s = mb_gau_s(p);
    g->e = mb_gau_e(p);
    g->c = mb_gau_c(p);
    g->causal = (int)p->causal;
    g->norm = mb_gau_norm_of(p);
    const struct mb_tensor *in = w->inputs;
    g->x = in[MB_GAU_X].data;
    g->w_u = in[MB_GAU_W_U].data;
    g->w_v = in[MB_GAU_W_V].data;
    g->w_z = in[MB_GAU_W_Z].data;
    g->w_o = in[MB_GAU_W_O].data;
    g->gamma = in[MB_GAU_GAMMA].data;
    g->beta = in[MB_GAU_BETA].data;
    g->w_q = in[MB_GAU_W_Q].data;
    g->w_k = in[MB_GAU_W_K].data;
    g->w_v_attn = in[MB_GAU_W_V_ATTN].data;
    g->w_o_attn = in[MB_GAU_W_O_ATTN].data;
    g->w_1 = in[MB_GAU_W_1].data;
    g->w_2 = in[MB_GAU_W_2].data;
    g->out = w->outputs[0].data;
}

double mb_gau_io_bytes(const struct mb_point *p, const char *mechanism) {
    return 4.0 * (2.0 * (double)p->batch * (double)p->n * (double)p->d + mb_gau_param_count(mechanism, p));
}

double mb_gau_proj_flops(const struct mb_point *p, int with_z) {
    const double n = (double)p->batch * (double)p->n, d = (double)p->d, e = (double)mb_gau_e(p), s = (double)mb_gau_s(p);
    return 2.0 * n * d * (2.0 * e + (with_z ? s : 0.0)) + 4.0 * n * (2.0 * e + (with_z ? s : 0.0)); /* + silu */
}

/* ------------------------------------------------------------------------------------------ helpers */
void mb_gau_silu(float *x, int64_t len) {
    int64_t i = 0;
#if defined(__AVX512F__)
    const __m512 one = _mm512_set1_ps(1.0f);
    for (; i + 16 <= len; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 e = Sleef_expf16_u10(_mm512_sub_ps(_mm512_setzero_ps(), v));
        _mm512_storeu_ps(x + i, _mm512_div_ps(v, _mm512_add_ps(one, e)));
    }
#endif
    for (; i < len; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

void mb_gau_gelu(float *x, int64_t len) {
    int64_t i = 0;
    const float r = 0.70710678118654752f;
#if defined(__AVX512F__)
    const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f), vr = _mm512_set1_ps(r);
    for (; i + 16 <= len; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __m512 e = Sleef_erff16_u10(_mm512_mul_ps(v, vr));
        _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, e)));
    }
#endif
    for (; i < len; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * r));
}

void mb_gau_relu2(float *x, int64_t len, float pre, float post) {
    for (int64_t i = 0; i < len; i++) {
        float v = x[i] * pre;
        v = v > 0.0f ? v : 0.0f;
        x[i] = v * v * post;
    }
}

void mb_gau_affine(const struct mb_gau *g, const float *z, int64_t rows, int row, float *out) {
    const int64_t s = g->s;
    const float *ga = g->gamma + row * s, *be = g->beta + row * s;
    for (int64_t r = 0; r < rows; r++)
#pragma omp simd
        for (int64_t c = 0; c < s; c++) out[r * s + c] = z[r * s + c] * ga[c] + be[c];
}

void mb_gau_mul(float *a, const float *b, int64_t len) {
#pragma omp simd
    for (int64_t i = 0; i < len; i++) a[i] *= b[i];
}


/* ------------------------------------------------------------------------------------------ check */
static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int gau_check(const struct mb_kernel *k, const struct mb_workload *w, const char *mechanism,
                     const struct mb_check_opts *opts, struct mb_errors *out, char *err, size_t errlen) {
    (void)k;
    const struct mb_mechanism *m = mb_family_mechanism(&mb_family_gau, mechanism);
    if (!m || !m->oracle) return mb_errorf(err, errlen, "gau family has no oracle for mechanism '%s'", mechanism);
    const mb_gau_oracle_fn oracle = (mb_gau_oracle_fn)m->oracle;
    struct mb_gau g;
    mb_gau_bind(&g, (struct mb_workload *)w);
    const int64_t total = g.batch * g.n;
    const int64_t count = (opts->sample_rows <= 0 || opts->sample_rows >= total) ? total : opts->sample_rows;
    int64_t *rows = malloc((size_t)count * sizeof *rows);
    double *want = malloc((size_t)(MB_GAU_ORACLE_ROWS * g.d) * sizeof *want);
    if (!rows || !want) {
        free(rows);
        free(want);
        return mb_errorf(err, errlen, "out of memory in the gau oracle");
    }
    if (count == total) {
        for (int64_t r = 0; r < total; r++) rows[r] = r;
    } else { /* seeded sample with the edges: first and last token of the first and last batch element */
        uint64_t state = opts->seed ^ UINT64_C(0x6a7f1a5b);
        const int64_t fixed[4] = {0, g.n - 1, total - g.n, total - 1};
        for (int64_t r = 0; r < count; r++) rows[r] = r < 4 ? fixed[r] : (int64_t)(mb_splitmix64(&state) % (uint64_t)total);
        qsort(rows, (size_t)count, sizeof *rows, cmp_i64);
    }
    int rc = 0;
    mb_errors_reset(out);
    for (int64_t r0 = 0; r0 < count && rc == 0;) {
        const int64_t b = rows[r0] / g.n;
        int64_t r1 = r0;
        while (r1 < count && r1 - r0 < MB_GAU_ORACLE_ROWS && rows[r1] / g.n == b) rows[r1] -= b * g.n, r1++;
        rc = oracle(&g, b, rows + r0, r1 - r0, want);
        for (int64_t r = r0; r < r1 && rc == 0; r++)
            mb_errors_add(out, g.out + (b * g.n + rows[r]) * g.d, want + (r - r0) * g.d, g.d);
        r0 = r1;
    }
    free(rows);
    free(want);
    if (rc) return mb_errorf(err, errlen, "out of memory in the gau oracle");
    mb_errors_finish(out);
    return 0;
}

const struct mb_family mb_family_gau = {
    .name = "gau",
    .summary = "x (batch, n, d) + GAU/FLASH and MHA+FFN weights -> out (batch, n, d); one block, no residual/norm",
    .axes = gau_axes,
    .n_axes = (int)(sizeof gau_axes / sizeof gau_axes[0]),
    .params = gau_params,
    .n_params = (int)(sizeof gau_params / sizeof gau_params[0]),
    .probes = mb_gau_probes,
    .n_probes = (int)(sizeof mb_gau_probes / sizeof mb_gau_probes[0]),
    .mechanisms = gau_mechanisms,
    .n_mechanisms = (int)(sizeof gau_mechanisms / sizeof gau_mechanisms[0]),
    .layout = gau_layout,
    .fill = gau_fill,
    .point_from_inputs = gau_point_from_inputs,
    .check = gau_check,
};
