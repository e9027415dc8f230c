/* Fine-tuning budgets: trainable parameters of a method, checkpoint bytes, training memory, 80 GB GPUs.
 *
 * Trainable parameters (L layers, width d; finetune_model.c gives each target's d_in x d_out):
 *   full     every parameter
 *   lora     L sum_targets r (d_in + d_out)        A: r x d_in, B: d_out x r (Hu et al. 2021, Sec. 4.2;
 *            GPT-3 175B, r = 4 on W_q, W_v: 96 x 2 x 4 x (12288 + 12288) = 18,874,368)
 *   adapter  L x 2 (2 m d + m + d)                 two bottleneck adapters per layer, W_down d x m + b_down m,
 *            W_up m x d + b_up d (Houlsby et al. 2019, Sec. 2.1; their trained layer norms are not counted)
 *   prefix   L_p x 2 x L x d                       a key and a value row per layer and slot: the stored
 *            parameters, once the training-time MLP reparameterisation is dropped (Li & Liang 2021, "0.1% of the
 *            parameters"; GPT-2 medium, L_p = 10: 491,520 = 0.14%)
 *   prompt   L_p x d                               input embeddings only (Lester et al. 2021)
 * Checkpoint: full stores every weight, a PEFT method only its trainable parameters, at the stored precision
 *   (mixed: 2 bytes (fp16), fp32: 4 bytes). GPT-3: 175e9 x 2 = 350 GB -> LoRA 18.9e6 x 2 = 37.7 MB.
 * Training memory (Rajbhandari et al. 2020, ZeRO, Sec. 3.1: mixed-precision Adam keeps 16 bytes per parameter):
 *   per trainable parameter  mixed: fp16 weight 2 + fp16 gradient 2 + fp32 master weight 4 + fp32 Adam m, v 8 = 16
 *                            fp32:  weight 4 + gradient 4 + Adam m, v 8 = 16
 *   per frozen parameter     its storage precision: 2 (mixed) or 4 (fp32), no gradient, no optimizer state
 *   activations              L s b h (34 + 5 a s / h) bytes (Korthikanti et al. 2022, Reducing Activation
 *                            Recomputation in Large Transformer Models, Sec. 4.1, eq. 1: one GPT layer, 16-bit
 *                            activations, no recomputation, no parallelism; a = heads, h = d); x2 for fp32. The
 *                            paper's model of a 4h GELU MLP, applied unchanged to SwiGLU and to PEFT (whose
 *                            backward pass still goes through every frozen layer); embeddings and logits left out.
 *   GPUs                     ceil(total / 80e9): the memory alone, no fragmentation, buffers or parallelism overhead.
 */
#include "peft/finetune.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *const mb_ft_method_names[MB_FT_METHOD_COUNT] = {"full", "lora", "adapter", "prefix", "prompt"};

static const char *const target_names[] = {"q", "k", "v", "o", "gate", "up", "down"};
#define N_TARGETS ((int)(sizeof target_names / sizeof target_names[0]))

int mb_ft_targets_parse(const char *text, unsigned *mask, char *err, size_t errlen) {
    *mask = 0;
    for (const char *s = text; *s;) {
        size_t len = strcspn(s, ",");
        int found = -1;
        for (int i = 0; i < N_TARGETS; i++)
            if (strlen(target_names[i]) == len && !strncmp(s, target_names[i], len)) found = i;
        if (found < 0)
            return mb_errorf(err, errlen, "unknown target matrix '%.*s' (allowed: %s: attention q, k, v, o; FFN gate, "
                             "up, down)", (int)len, s, MB_FT_TARGETS);
        *mask |= 1u << found;
        s += len + (s[len] == ',');
    }
    if (!*mask) return mb_errorf(err, errlen, "no target matrix given (allowed: %s)", MB_FT_TARGETS);
    return 0;
}

void mb_ft_targets_format(unsigned mask, char *buf, size_t len) {
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < N_TARGETS && used < len; i++)
        if (mask & (1u << i)) used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? "," : "", target_names[i]);
}

void mb_ft_bytes_of(enum mb_ft_precision precision, struct mb_ft_bytes *out) {
    if (precision == MB_FT_MIXED) *out = (struct mb_ft_bytes){.weight = 2, .grad = 2, .master = 4, .adam = 8, .frozen = 2, .stored = 2};
    else *out = (struct mb_ft_bytes){.weight = 4, .grad = 4, .master = 0, .adam = 8, .frozen = 4, .stored = 4};
}

/* LoRA's trainable parameters, checking r and the targets against the model. */
static int lora_params(const struct mb_model *m, const struct mb_finetune *f, double *out, char *err, size_t errlen) {
    double per_layer = 0;
    for (int i = 0; i < N_TARGETS; i++) {
        if (!(f->targets & (1u << i))) continue;
        int64_t d_in, d_out;
        if (mb_model_matrix(m, target_names[i], &d_in, &d_out))
            return mb_errorf(err, errlen, "target '%s': %s has a GELU FFN without a gate (its matrices: q,k,v,o,up,down)",
                             target_names[i], m->name);
        const int64_t limit = d_in < d_out ? d_in : d_out;
        if (f->r < 1 || f->r > limit)
            return mb_errorf(err, errlen, "LoRA rank r = %lld on '%s' (%lld x %lld) of %s (allowed: 1..%lld)",
                             (long long)f->r, target_names[i], (long long)d_out, (long long)d_in, m->name,
                             (long long)limit);
        per_layer += (double)f->r * (double)(d_in + d_out);
    }
    if (!f->targets) return mb_errorf(err, errlen, "no target matrix given (allowed: %s)", MB_FT_TARGETS);
    *out = (double)m->layers * per_layer;
    return 0;
}

static int trainable_params(const struct mb_model *m, const struct mb_finetune *f, double total, double *out,
                            char *err, size_t errlen) {
    const double layers = (double)m->layers, d = (double)m->d_model;
    switch (f->method) {
    case MB_FT_FULL: *out = total; return 0;
    case MB_FT_LORA: return lora_params(m, f, out, err, errlen);
    case MB_FT_ADAPTER:
        if (f->m < 1 || f->m > m->d_model)
            return mb_errorf(err, errlen, "adapter width m = %lld for d = %lld (allowed: 1..%lld)", (long long)f->m,
                             (long long)m->d_model, (long long)m->d_model);
        *out = layers * 2 * (2 * (double)f->m * d + (double)f->m + d);
        return 0;
    case MB_FT_PREFIX:
    case MB_FT_PROMPT:
        if (f->lp < 1 || f->lp > (1 << 20))
            return mb_errorf(err, errlen, "prefix length L_p = %lld (allowed: 1..%d)", (long long)f->lp, 1 << 20);
        *out = f->method == MB_FT_PREFIX ? (double)f->lp * 2 * layers * d : (double)f->lp * d;
        return 0;
    default: return mb_errorf(err, errlen, "unknown method %d", (int)f->method);
    }
}

int mb_ft_budget(const struct mb_model *m, const struct mb_finetune *f, struct mb_ft_budget *out, char *err,
                 size_t errlen) {
    memset(out, 0, sizeof *out);
    mb_model_count(m, &out->model);
    const double total = out->model.total;
    if (trainable_params(m, f, total, &out->trainable, err, errlen)) return -1;
    struct mb_ft_bytes b;
    mb_ft_bytes_of(f->precision, &b);
    out->share = out->trainable / total;
    out->reduction = total / out->trainable;
    out->checkpoint_bytes = b.stored * (f->method == MB_FT_FULL ? total : out->trainable);
    out->trainable_bytes = out->trainable * (b.weight + b.grad + b.master + b.adam);
    out->frozen_bytes = f->method == MB_FT_FULL ? 0 : total * b.frozen;
    if (f->seq > 0 && f->batch > 0) {
        const double s = (double)f->seq, h = (double)m->d_model, a = (double)m->heads;
        const double per_layer = s * (double)f->batch * h * (34 + 5 * a * s / h);
        out->activation_bytes = (double)m->layers * per_layer * (f->precision == MB_FT_FP32 ? 2 : 1);
    }
    out->train_bytes = out->trainable_bytes + out->frozen_bytes + out->activation_bytes;
    out->gpus_80g = (int64_t)ceil(out->train_bytes / MB_FT_GPU_BYTES);
    return 0;
}
