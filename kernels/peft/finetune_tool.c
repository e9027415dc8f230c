/* The `params` tool (mechbench.h "tools"): `mechbench params MODEL [options]` -> the fine-tuning budget of
 * finetune.c as report rows, with the memory model and the sources as notes. Arguments are parsed here (the tool
 * owns them); harness/cli prints the report. */
#include "peft/finetune.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USAGE                                                                                                          \
    "params MODEL [--method full|lora|adapter|prefix|prompt] [--r 8 --targets q,v] [--m 64] [--lp 10]\n"              \
    "       [--seq N --batch B] [--precision mixed|fp32] [--models DIR]\n"                                           \
    "  Fine-tuning budget of MODEL (a name of " MB_MODELS_DIR "/NAME.ini, or a path to a model file): total\n"          \
    "  parameters (from the configuration), the method's trainable parameters and their share, the checkpoint\n"       \
    "  (full: every weight; PEFT: the trainable parameters only), the training memory (16 bytes per trainable\n"       \
    "  parameter for Adam, frozen weights at their precision, activations when --seq and --batch are given) and\n"     \
    "  the 80 GB GPUs it needs. The assumptions are printed with the numbers.\n"                                       \
    "  --method     full (default), lora (r on the --targets, default q,v; allowed " MB_FT_TARGETS "),\n"            \
    "               adapter (Houlsby, bottleneck --m, default 64), prefix / prompt (length --lp, default 10)\n"       \
    "  --precision  mixed (default: fp16 weights and gradients, fp32 master weights and Adam state) or fp32\n"         \
    "  --seq --batch  sequence length and batch size for the activation memory (both, or neither)\n"

struct tool_args {
    const char *model, *method, *targets, *precision, *models;
    int64_t r, m, lp, seq, batch;
};

/* A whole decimal integer (negative allowed: the range checks name the bad value). */
static int parse_int(const char *opt, const char *text, int64_t *out, char *err, size_t errlen) {
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno) return mb_errorf(err, errlen, "--%s %s: expected an integer", opt, text);
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct tool_args *a, char *err, size_t errlen) {
    static const char *const string_opts[] = {"method", "targets", "precision", "models"};
    static const char *const int_opts[] = {"r", "m", "lp", "seq", "batch"};
    const char **strings[] = {&a->method, &a->targets, &a->precision, &a->models};
    int64_t *ints[] = {&a->r, &a->m, &a->lp, &a->seq, &a->batch};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2)) {
            if (a->model) return mb_errorf(err, errlen, "unexpected argument '%s' (one MODEL)", arg);
            a->model = arg;
            continue;
        }
        char name[32];
        const char *eq = strchr(arg, '='), *value;
        size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), arg + 2);
        int string_k = -1, int_k = -1; /* the option first: an unknown one is named as such, value or not */
        for (int k = 0; k < 4; k++)
            if (!strcmp(name, string_opts[k])) string_k = k;
        for (int k = 0; k < 5; k++)
            if (!strcmp(name, int_opts[k])) int_k = k;
        if (string_k < 0 && int_k < 0)
            return mb_errorf(err, errlen, "unknown option --%s (allowed: --method, --r, --targets, --m, --lp, --seq, "
                             "--batch, --precision, --models)", name);
        if (eq) value = eq + 1;
        else if (i + 1 < argc) value = argv[++i];
        else return mb_errorf(err, errlen, "%s needs a value", arg);
        if (string_k >= 0) *strings[string_k] = value;
        else if (parse_int(name, value, ints[int_k], err, errlen)) return -1;
    }
    if (!a->model) return mb_errorf(err, errlen, "no MODEL given (usage: mechbench params MODEL [options])");
    if ((a->seq > 0) != (a->batch > 0) || a->seq < 0 || a->batch < 0)
        return mb_errorf(err, errlen, "--seq %lld --batch %lld: give both as positive integers, or neither",
                         (long long)a->seq, (long long)a->batch);
    return 0;
}

static int to_finetune(const struct tool_args *a, struct mb_finetune *f, char *err, size_t errlen) {
    int method = -1;
    for (int i = 0; i < MB_FT_METHOD_COUNT; i++)
        if (!strcmp(a->method, mb_ft_method_names[i])) method = i;
    if (method < 0)
        return mb_errorf(err, errlen, "unknown method '%s' (allowed: full, lora, adapter, prefix, prompt)", a->method);
    int precision = !strcmp(a->precision, "mixed") ? MB_FT_MIXED : !strcmp(a->precision, "fp32") ? MB_FT_FP32 : -1;
    if (precision < 0) return mb_errorf(err, errlen, "unknown precision '%s' (allowed: mixed, fp32)", a->precision);
    *f = (struct mb_finetune){.method = (enum mb_ft_method)method, .r = a->r, .m = a->m, .lp = a->lp,
                              .precision = (enum mb_ft_precision)precision, .seq = a->seq, .batch = a->batch};
    return f->method == MB_FT_LORA ? mb_ft_targets_parse(a->targets, &f->targets, err, errlen) : 0;
}

/* 354823168 -> "354,823,168" */
static void with_commas(double v, char *buf, size_t len) {
    char digits[40];
    snprintf(digits, sizeof digits, "%.0f", v);
    size_t n = strlen(digits), used = 0;
    for (size_t i = 0; i < n && used + 2 < len; i++) {
        if (i && (n - i) % 3 == 0) buf[used++] = ',';
        buf[used++] = digits[i];
    }
    buf[used] = '\0';
}

/* 37748736 -> "37.7 MB", 1156606722048 -> "1156.6 GB" (decimal units; GB up to 10 TB, to compare with GPUs) */
static void human_bytes(double v, char *buf, size_t len) {
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while ((v >= 1000 && u < 3) || (v >= 10000 && u < 5)) v /= 1000, u++;
    snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* 175e9 -> "175B", 355e6 -> "355M" */
static void human_count(double v, char *buf, size_t len) {
    if (v >= 1e9) snprintf(buf, len, "%.4gB", v / 1e9);
    else if (v >= 1e6) snprintf(buf, len, "%.4gM", v / 1e6);
    else snprintf(buf, len, "%.0f", v);
}

static void bytes_row(struct mb_report *r, const char *label, double bytes, const char *detail) {
    char human[32], exact[40], unit[160];
    human_bytes(bytes, human, sizeof human);
    with_commas(bytes, exact, sizeof exact);
    snprintf(unit, sizeof unit, "%.90s (%s bytes)", detail, exact);
    mb_report_row(r, label, unit, "%s", human);
}

/* The method's formula with its numbers. */
static void trainable_formula(const struct mb_model *m, const struct mb_finetune *f, char *buf, size_t len) {
    const long long L = (long long)m->layers, d = (long long)m->d_model;
    char targets[32];
    switch (f->method) {
    case MB_FT_FULL: snprintf(buf, len, "every parameter"); break;
    case MB_FT_LORA:
        mb_ft_targets_format(f->targets, targets, sizeof targets);
        snprintf(buf, len, "L r (d_in + d_out) summed over %s: L = %lld, r = %lld", targets, L, (long long)f->r);
        break;
    case MB_FT_ADAPTER: snprintf(buf, len, "L x 2 (2 m d + m + d): L = %lld, m = %lld, d = %lld", L, (long long)f->m, d); break;
    case MB_FT_PREFIX: snprintf(buf, len, "L_p x 2 x L x d: L_p = %lld, L = %lld, d = %lld", (long long)f->lp, L, d); break;
    default: snprintf(buf, len, "L_p x d: L_p = %lld, d = %lld", (long long)f->lp, d); break;
    }
}

static void fill_report(const struct mb_model *m, const struct mb_finetune *f, const struct mb_ft_budget *b,
                        struct mb_report *r) {
    struct mb_ft_bytes per;
    mb_ft_bytes_of(f->precision, &per);
    const char *prec = f->precision == MB_FT_MIXED ? "mixed precision" : "fp32";
    char what[96], text[128], num[40];
    if (f->method == MB_FT_LORA) {
        mb_ft_targets_format(f->targets, text, sizeof text);
        snprintf(what, sizeof what, "LoRA r = %lld on %.40s", (long long)f->r, text);
    } else if (f->method == MB_FT_ADAPTER) snprintf(what, sizeof what, "adapters m = %lld", (long long)f->m);
    else if (f->method == MB_FT_FULL) snprintf(what, sizeof what, "full fine-tuning");
    else snprintf(what, sizeof what, "%s tuning L_p = %lld", mb_ft_method_names[f->method], (long long)f->lp);
    snprintf(r->title, sizeof r->title, "%.40s: %.90s, %s", m->name, what, prec);

    snprintf(text, sizeof text, "%lld layers, d_model %lld, %lld heads, d_ff %lld, vocab %lld", (long long)m->layers,
             (long long)m->d_model, (long long)m->heads, (long long)m->d_ff, (long long)m->vocab);
    mb_report_row(r, "model", text, "%s", m->name);
    with_commas(b->model.total, num, sizeof num);
    char published[32];
    human_count(m->published, published, sizeof published);
    snprintf(text, sizeof text, "params (published %s; count / published = %.4f)", published,
             b->model.total / m->published);
    mb_report_row(r, "total parameters", text, "%s", num);
    with_commas(b->trainable, num, sizeof num);
    char formula[128];
    trainable_formula(m, f, formula, sizeof formula);
    mb_report_row(r, "trainable parameters", formula, "%s", num);
    mb_report_row(r, "share of the model", "trainable / total", "%.3g%%", 100 * b->share);
    mb_report_row(r, "fewer than the model", "total / trainable", "%.4gx", b->reduction);
    snprintf(text, sizeof text, "%s x %g B", f->method == MB_FT_FULL ? "every weight" : "trainable only", per.stored);
    bytes_row(r, "checkpoint", b->checkpoint_bytes, text);
    snprintf(text, sizeof text, "trainable x %g B (weight %g + grad %g + master %g + Adam %g)",
             per.weight + per.grad + per.master + per.adam, per.weight, per.grad, per.master, per.adam);
    bytes_row(r, "trainable weights+grads+Adam", b->trainable_bytes, text);
    snprintf(text, sizeof text, "frozen x %g B", per.frozen);
    bytes_row(r, "frozen weights", b->frozen_bytes, f->method == MB_FT_FULL ? "none frozen" : text);
    if (f->seq > 0) {
        snprintf(text, sizeof text, "L s b h (34 + 5 a s / h)%s, s = %lld, b = %lld", f->precision == MB_FT_FP32 ? " x 2" : "",
                 (long long)f->seq, (long long)f->batch);
        bytes_row(r, "activations", b->activation_bytes, text);
    } else mb_report_row(r, "activations", "not counted: give --seq and --batch", "-");
    bytes_row(r, "training memory", b->train_bytes, "sum of the three above");
    snprintf(text, sizeof text, "ceil(training memory / 80 GB)");
    mb_report_row(r, "80 GB GPUs", text, "%lld", (long long)b->gpus_80g);

    mb_report_note(r, "model: %s", m->source);
    mb_report_note(r, "parameter count: every stored weight, a tied embedding once; published: %s", m->published_as);
    if (f->precision == MB_FT_MIXED)
        mb_report_note(r, "Adam in mixed precision: fp16 weight 2 + fp16 gradient 2 + fp32 master weight 4 + fp32 "
                          "momentum and variance 8 = 16 bytes per trainable parameter (Rajbhandari et al. 2020, ZeRO, "
                          "Sec. 3.1); frozen weights 2 bytes (fp16); checkpoint in fp16");
    else
        mb_report_note(r, "Adam in fp32: weight 4 + gradient 4 + momentum and variance 8 = 16 bytes per trainable "
                          "parameter; frozen weights 4 bytes; checkpoint in fp32");
    if (f->seq > 0)
        mb_report_note(r, "activations: Korthikanti et al. 2022 (Reducing Activation Recomputation in Large Transformer "
                          "Models), Sec. 4.1: s b h (34 + 5 a s / h) bytes per layer with 16-bit activations, no "
                          "recomputation, no parallelism, a = heads, h = d_model; their model of a 4h GELU layer, not "
                          "re-derived for SwiGLU; embeddings and logits left out");
    mb_report_note(r, "GPUs: the memory alone divided by 80e9 bytes; no fragmentation, communication buffers or "
                      "framework overhead; ZeRO-style sharding assumed to split it evenly");
    if (f->method != MB_FT_FULL)
        mb_report_note(r, "PEFT: the share is of the base model; the added parameters are trained, the base is frozen");
    if (f->method == MB_FT_ADAPTER)
        mb_report_note(r, "adapters: Houlsby et al. 2019, Sec. 2.1: two per layer; the layer norms they also train "
                          "are not counted");
}

static int run_params(int argc, char **argv, struct mb_report *out, char *err, size_t errlen) {
    struct tool_args a = {.method = "full", .targets = "q,v", .precision = "mixed", .models = MB_MODELS_DIR,
                          .r = 8, .m = 64, .lp = 10};
    if (parse_args(argc, argv, &a, err, errlen)) return -1;
    struct mb_finetune f;
    if (to_finetune(&a, &f, err, errlen)) return -1;
    struct mb_model m;
    if (mb_model_find(a.models, a.model, &m, err, errlen)) return -1;
    struct mb_ft_budget b;
    if (mb_ft_budget(&m, &f, &b, err, errlen)) return -1;
    memset(out, 0, sizeof *out);
    fill_report(&m, &f, &b, out);
    return 0;
}

const struct mb_tool mb_peft_tools[1] = {
    {.name = "params", .usage = USAGE, .run = run_params,
     .summary = "fine-tuning calculator: parameters, checkpoint, training memory, 80 GB GPUs"},
};
