/* Model files and the parameter count of a Transformer from its configuration.
 *
 * A layer (d = d_model, d_kv = kv_heads * d / heads, f = d_ff):
 *   attention   q: d x d, k: d x d_kv, v: d x d_kv, o: d x d      (+ biases: all: 2 d + 2 d_kv; qkv: d + 2 d_kv)
 *   FFN         GELU: up d x f, down f x d                          (+ biases f + d when bias = yes)
 *               SwiGLU: gate d x f, up d x f, down f x d            (Shazeer 2020; LLaMA, Qwen)
 *   norms       two per layer: LayerNorm 2 d each, RMSNorm d each
 * Embeddings: vocab x d, + max_positions x d (learned positions), + token_types x d, + a norm (BERT).
 * Head: vocab x d when untied, + a final norm, + BERT's pooler d x d + d.
 * total = embeddings + layers x layer + head: every stored weight, a tied embedding once (the counting of
 * Hugging Face's num_parameters()). GPT-2 medium: 354,823,168; GPT-3: 174.6e9; LLaMA-7B: 6,738,415,616.
 *
 * Model file: one [model] section, `key = value` (libinih, ';' comments); the keys are the fields of struct
 * mb_model (finetune.h). Required: name, source, layers, d_model, heads, d_ff, vocab, ffn_kind, tied_embeddings,
 * norm, bias, published, tolerance, published_as.
 */
#include "peft/finetune.h"

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------------------------------ the count */
static double norm_params(const struct mb_model *m) { return m->norm == MB_NORM_LAYER ? 2.0 * m->d_model : m->d_model; }

static double kv_width(const struct mb_model *m) { return (double)m->kv_heads * (double)(m->d_model / m->heads); }

void mb_model_count(const struct mb_model *m, struct mb_model_params *out) {
    const double d = (double)m->d_model, f = (double)m->d_ff, dkv = kv_width(m), v = (double)m->vocab;
    double attention = 2 * d * d + 2 * d * dkv;
    if (m->bias == MB_BIAS_ALL) attention += 2 * d + 2 * dkv;
    if (m->bias == MB_BIAS_QKV) attention += d + 2 * dkv;
    double ffn = (m->ffn == MB_FFN_SWIGLU ? 3 : 2) * d * f;
    if (m->bias == MB_BIAS_ALL) ffn += (m->ffn == MB_FFN_SWIGLU ? 2 * f : f) + d;
    out->per_layer = attention + ffn + 2 * norm_params(m);
    out->embeddings = v * d + (m->learned_positions ? (double)m->max_positions * d : 0) + (double)m->token_types * d +
                      (m->embedding_norm ? norm_params(m) : 0);
    out->head = (m->tied_embeddings ? 0 : v * d) + (m->final_norm ? norm_params(m) : 0) +
                (m->pooler ? d * d + d : 0);
    out->total = out->embeddings + (double)m->layers * out->per_layer + out->head;
}

int mb_model_matrix(const struct mb_model *m, const char *target, int64_t *d_in, int64_t *d_out) {
    const int64_t d = m->d_model, dkv = (int64_t)kv_width(m);
    *d_in = d;
    if (!strcmp(target, "q") || !strcmp(target, "o")) *d_out = d;
    else if (!strcmp(target, "k") || !strcmp(target, "v")) *d_out = dkv;
    else if (!strcmp(target, "up") || (!strcmp(target, "gate") && m->ffn == MB_FFN_SWIGLU)) *d_out = m->d_ff;
    else if (!strcmp(target, "down")) *d_in = m->d_ff, *d_out = d;
    else return -1;
    return 0;
}

/* ------------------------------------------------------------------------------------------ model files */

struct load_state {
    struct mb_model *m;
    const char *path;
    unsigned seen;        /* bit per key of `keys` */
    int failed;
    char msg[400];
};

enum value_kind { V_TEXT, V_INT, V_BOOL, V_REAL, V_CHOICE };
struct key {
    const char *name;
    enum value_kind kind;
    size_t offset;        /* into struct mb_model */
    size_t size;          /* V_TEXT: buffer size */
    const char *choices;  /* V_CHOICE: "gelu|swiglu" (the index is stored as an int) */
    int required;
    double min, max;      /* V_INT, V_REAL: allowed range */
};
#define FIELD(f) offsetof(struct mb_model, f)
static const struct key keys[] = {
    {"name", V_TEXT, FIELD(name), sizeof ((struct mb_model *)0)->name, NULL, 1, 0, 0},
    {"source", V_TEXT, FIELD(source), sizeof ((struct mb_model *)0)->source, NULL, 1, 0, 0},
    {"layers", V_INT, FIELD(layers), 0, NULL, 1, 1, 1099511627776.0},
    {"d_model", V_INT, FIELD(d_model), 0, NULL, 1, 1, 1099511627776.0},
    {"heads", V_INT, FIELD(heads), 0, NULL, 1, 1, 1099511627776.0},
    {"kv_heads", V_INT, FIELD(kv_heads), 0, NULL, 0, 1, 1099511627776.0},
    {"d_ff", V_INT, FIELD(d_ff), 0, NULL, 1, 1, 1099511627776.0},
    {"vocab", V_INT, FIELD(vocab), 0, NULL, 1, 1, 1099511627776.0},
    {"max_positions", V_INT, FIELD(max_positions), 0, NULL, 0, 1, 1099511627776.0},
    {"positions", V_CHOICE, FIELD(learned_positions), 0, "rotary|learned", 0, 0, 0},
    {"token_types", V_INT, FIELD(token_types), 0, NULL, 0, 0, 1099511627776.0},
    {"ffn_kind", V_CHOICE, FIELD(ffn), 0, "gelu|swiglu", 1, 0, 0},
    {"tied_embeddings", V_BOOL, FIELD(tied_embeddings), 0, NULL, 1, 0, 0},
    {"norm", V_CHOICE, FIELD(norm), 0, "layernorm|rmsnorm", 1, 0, 0},
    {"bias", V_CHOICE, FIELD(bias), 0, "no|yes|qkv", 1, 0, 0},
    {"embedding_norm", V_BOOL, FIELD(embedding_norm), 0, NULL, 0, 0, 1099511627776.0},
    {"final_norm", V_BOOL, FIELD(final_norm), 0, NULL, 0, 0, 1099511627776.0},
    {"pooler", V_BOOL, FIELD(pooler), 0, NULL, 0, 0, 1099511627776.0},
    {"published", V_REAL, FIELD(published), 0, NULL, 1, 1, 1e15},
    {"tolerance", V_REAL, FIELD(tolerance), 0, NULL, 1, 0, 0.5},
    {"published_as", V_TEXT, FIELD(published_as), sizeof ((struct mb_model *)0)->published_as, NULL, 1, 0, 0},
};
#define N_KEYS ((int)(sizeof keys / sizeof keys[0]))

static int key_index(const char *name) {
    for (int i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].name, name)) return i;
    return -1;
}
#define SEEN(seen, name) ((seen) & (1u << key_index(name)))

static int fail(struct load_state *st, const char *fmt, const char *a, const char *b) {
    snprintf(st->msg, sizeof st->msg, fmt, a, b);
    st->failed = 1;
    return 0; /* inih: stop here, at this line */
}

/* Index of value in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *value) {
    int i = 0;
    for (const char *s = choices; *s; i++) {
        size_t len = strcspn(s, "|");
        if (strlen(value) == len && !strncmp(s, value, len)) return i;
        s += len + (s[len] == '|');
    }
    return -1;
}

static int set_value(struct load_state *st, const struct key *k, const char *value) {
    char *field = (char *)st->m + k->offset, *end;
    if (k->kind == V_TEXT) {
        if (!*value) return fail(st, "%s is empty%s", k->name, "");
        snprintf(field, k->size, "%s", value);
    } else if (k->kind == V_INT) {
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (end == value || *end || errno || v < k->min || v > k->max)
            return snprintf(st->msg, sizeof st->msg, "%s = %s: expected an integer in %.0f..%.0f", k->name, value,
                            k->min, k->max), st->failed = 1, 0;
        *(int64_t *)field = v;
    } else if (k->kind == V_REAL) {
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(v) || v < k->min || v > k->max)
            return snprintf(st->msg, sizeof st->msg, "%s = %s: expected a number in [%g, %g]", k->name, value, k->min,
                            k->max), st->failed = 1, 0;
        *(double *)field = v;
    } else if (k->kind == V_BOOL) {
        int v = choice_index("no|yes", value);
        if (v < 0) return fail(st, "%s = %s: expected yes or no", k->name, value);
        *(int *)field = v;
    } else {
        int v = choice_index(k->choices, value);
        if (v < 0) {
            char allowed[64];
            snprintf(allowed, sizeof allowed, "%s", k->choices);
            for (char *c = allowed; *c; c++) if (*c == '|') *c = ',';
            snprintf(st->msg, sizeof st->msg, "%s = %s (allowed: %s)", k->name, value, allowed);
            st->failed = 1;
            return 0;
        }
        *(int *)field = v;
    }
    return 1;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
    struct load_state *st = user;
    if (strcmp(section, "model")) return fail(st, "[%s]: unknown section (a model file has one [model] section)%s", section, "");
    const int i = key_index(name);
    if (i >= 0) {
        if (st->seen & (1u << i)) return fail(st, "%s is given twice%s", name, "");
        st->seen |= 1u << i;
        return set_value(st, &keys[i], value);
    }
    char allowed[512];
    size_t used = 0;
    for (int i = 0; i < N_KEYS && used < sizeof allowed; i++)
        used += (size_t)snprintf(allowed + used, sizeof allowed - used, "%s%s", i ? ", " : "", keys[i].name);
    snprintf(st->msg, sizeof st->msg, "unknown key '%s' (allowed: %.300s)", name, allowed);
    st->failed = 1;
    return 0;
}

/* The checks that need every key: required keys, heads dividing d_model, kv_heads dividing heads. */
static int check_model(const struct mb_model *m, unsigned seen, char *msg, size_t len) {
    for (int i = 0; i < N_KEYS; i++)
        if (keys[i].required && !(seen & (1u << i))) return snprintf(msg, len, "missing key '%s'", keys[i].name), -1;
    if (m->d_model % m->heads) {
        snprintf(msg, len, "heads = %lld does not divide d_model = %lld", (long long)m->heads, (long long)m->d_model);
        return -1;
    }
    if (m->kv_heads > m->heads || m->heads % m->kv_heads) {
        snprintf(msg, len, "kv_heads = %lld must divide heads = %lld", (long long)m->kv_heads, (long long)m->heads);
        return -1;
    }
    if (m->learned_positions && !SEEN(seen, "max_positions")) return snprintf(msg, len, "positions = learned needs max_positions"), -1;
    return 0;
}

int mb_model_load(const char *path, struct mb_model *m, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    m->learned_positions = 1; /* positions = learned unless said otherwise */
    struct load_state st = {.m = m, .path = path};
    FILE *f = fopen(path, "r");
    if (!f) return mb_errorf(err, errlen, "%s: cannot read the model file (%s)", path, strerror(errno));
    /* Debian's libinih is configured by globals: the settings of harness/run/experiment.c */
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = 1 << 16;
    ini_allow_multiline = false;
    ini_allow_inline_comments = true;
    ini_allow_no_value = false;
    ini_stop_on_first_error = true;
    int line = ini_parse_file(f, handler, &st);
    fclose(f);
    if (line != 0) return mb_errorf(err, errlen, "%s:%d: %s", path, line, st.failed ? st.msg : "malformed line (expected `key = value` in the [model] section)");
    if (!SEEN(st.seen, "kv_heads")) m->kv_heads = m->heads;
    char msg[256];
    if (check_model(m, st.seen, msg, sizeof msg)) return mb_errorf(err, errlen, "%s: %s", path, msg);
    snprintf(m->file, sizeof m->file, "%s", path);
    return 0;
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int mb_model_names(const char *dir, char *buf, size_t len) {
    char names[64][64];
    char *sorted[64];
    int count = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d)) && count < 64;) {
        size_t n = strlen(e->d_name);
        if (n > 4 && n < 64 && !strcmp(e->d_name + n - 4, ".ini")) {
            snprintf(names[count], sizeof names[count], "%.*s", (int)(n - 4), e->d_name);
            sorted[count] = names[count];
            count++;
        }
    }
    if (d) closedir(d);
    qsort(sorted, (size_t)count, sizeof sorted[0], compare_names);
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < count && used < len; i++)
        used += (size_t)snprintf(buf + used, len - used, "%s%s", i ? ", " : "", sorted[i]);
    return count;
}

int mb_model_find(const char *dir, const char *name, struct mb_model *m, char *err, size_t errlen) {
    size_t n = strlen(name);
    if (strchr(name, '/') || (n > 4 && !strcmp(name + n - 4, ".ini"))) return mb_model_load(name, m, err, errlen);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.ini", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        char names[512];
        if (!mb_model_names(dir, names, sizeof names)) snprintf(names, sizeof names, "none: %s has no *.ini", dir);
        return mb_errorf(err, errlen, "unknown model '%s' (available: %s; or a path to a model .ini)", name, names);
    }
    fclose(f);
    return mb_model_load(path, m, err, errlen);
}
