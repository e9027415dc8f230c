/* The peft family's probe.
 *
 *   finetune_budget  x = rank: the method's size (LoRA r, adapter m, prefix / prompt L_p; full ignores it).
 *                    params model (a file of experiments/models), method, targets (LoRA), precision, seq, batch,
 *                    quantity: one number of finetune.c's budget, exact (no trials):
 *                      trainable  parameters trained          share      trainable / total (a fraction)
 *                      reduction  total / trainable           checkpoint_bytes, train_bytes (bytes), gpus_80g
 *                      total      the model's parameter count
 *                    (GPT-3 175B, lora, targets q,v, x = 4: trainable 18,874,368; checkpoint 37.7e6 bytes.)
 */
#include "peft/finetune.h"

#include <stdio.h>
#include <string.h>

static const struct mb_param_decl finetune_budget_params[] = {
    {"model", MB_PARAM_ENUM, 0, 0, 0, "gpt3-175b|gpt2-medium|bert-base|bert-large|llama-7b|qwen1.5-7b|qwen1.5-72b",
     "a model of " MB_MODELS_DIR},
    {"method", MB_PARAM_ENUM, 0, 0, 0, "full|lora|adapter|prefix|prompt", "the fine-tuning method"},
    {"targets", MB_PARAM_ENUM, 0, 0, 0, "q,v|q|q,k,v,o|q,k,v,o,gate,up,down|q,k,v,o,up,down", "LoRA's target matrices"},
    {"precision", MB_PARAM_ENUM, 0, 0, 0, "mixed|fp32", "mixed: 16 B per trainable parameter, 2 per frozen one"},
    {"quantity", MB_PARAM_ENUM, 0, 0, 0, "trainable|share|reduction|checkpoint_bytes|train_bytes|gpus_80g|total",
     "the number reported"},
    {"seq", MB_PARAM_INT, 0, 0, 1 << 20, NULL, "sequence length for the activations (0: none)"},
    {"batch", MB_PARAM_INT, 0, 0, 1 << 16, NULL, "batch size for the activations (0: none)"},
};

/* The declared ENUM value of p's parameter name, as text. */
static void enum_text(const struct mb_point *p, const char *name, char *buf, size_t len) {
    const struct mb_param_decl *d = NULL;
    for (size_t i = 0; i < sizeof finetune_budget_params / sizeof finetune_budget_params[0]; i++)
        if (!strcmp(finetune_budget_params[i].name, name)) d = &finetune_budget_params[i];
    const char *s = d->values;
    for (int i = mb_param_enum(p, name); i > 0 && *s; i--) s += strcspn(s, "|") + 1;
    snprintf(buf, len, "%.*s", (int)strcspn(s, "|"), s);
}

static int probe_finetune_budget(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                                 int nx, uint64_t seed MB_UNUSED, struct mb_probe_series *out, char *err,
                                 size_t errlen) {
    char name[64], targets[64];
    enum_text(base, "model", name, sizeof name);
    enum_text(base, "targets", targets, sizeof targets);
    struct mb_model m;
    if (mb_model_find(MB_MODELS_DIR, name, &m, err, errlen)) return -1;
    struct mb_finetune f = {.method = (enum mb_ft_method)mb_param_enum(base, "method"),
                            .precision = mb_param_enum(base, "precision") ? MB_FT_FP32 : MB_FT_MIXED,
                            .seq = mb_param_int(base, "seq"), .batch = mb_param_int(base, "batch")};
    if (mb_ft_targets_parse(targets, &f.targets, err, errlen)) return -1;
    const int quantity = mb_param_enum(base, "quantity");
    for (int i = 0; i < nx; i++) {
        f.r = f.m = f.lp = (int64_t)xs[i];
        struct mb_ft_budget b;
        if (mb_ft_budget(&m, &f, &b, err, errlen)) return -1;
        const double values[] = {b.trainable, b.share, b.reduction, b.checkpoint_bytes, b.train_bytes,
                                 (double)b.gpus_80g, b.model.total};
        out->x[out->count] = xs[i];
        out->y[out->count] = values[quantity];
        out->ns[out->count] = 0;
        out->samples[out->count] = NULL;
        out->count++;
    }
    return 0;
}

const struct mb_probe mb_peft_probes[1] = {
    {.name = "finetune_budget", .x_axis = "rank", .run = probe_finetune_budget, .params = finetune_budget_params,
     .n_params = (int)(sizeof finetune_budget_params / sizeof finetune_budget_params[0]),
     .summary = "a fine-tuning budget of finetune.c (trainable parameters, share, reduction, checkpoint bytes, "
                "training bytes, 80 GB GPUs) of a model of " MB_MODELS_DIR " for a method of size x (LoRA r, "
                "adapter m, prefix L_p), exact"},
};
