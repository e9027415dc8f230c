/* The peft family's fine-tuning calculator (`mechbench params`, probe finetune_budget): a Transformer's parameter
 * count from its configuration, the trainable parameters of a fine-tuning method, the checkpoint it stores and the
 * training memory under a stated model.
 *
 *   finetune_model.c   model files experiments/models/NAME.ini ([model] section, libinih) and the parameter count
 *   finetune.c         the methods' trainable parameters, checkpoint bytes, training memory, 80 GB GPUs
 *   finetune_tool.c    the `params` tool: arguments -> a report (rows and the stated assumptions)
 */
#ifndef MB_PEFT_FINETUNE_H
#define MB_PEFT_FINETUNE_H

#include "core/mechbench.h"

#define MB_MODELS_DIR "experiments/models"

enum mb_ffn_kind { MB_FFN_GELU, MB_FFN_SWIGLU };  /* GELU: up, down (d_ff = 4d); SwiGLU: gate, up, down */
enum mb_norm_kind { MB_NORM_LAYER, MB_NORM_RMS }; /* LayerNorm: weight and bias (2d); RMSNorm: weight (d) */
enum mb_bias_kind { MB_BIAS_NONE, MB_BIAS_ALL, MB_BIAS_QKV }; /* which linear layers carry a bias */

/* A decoder- or encoder-only Transformer as the model files describe it. */
struct mb_model {
    char name[64];
    char file[256];
    char source[512];        /* paper, table; config.json */
    int64_t layers, d_model, heads, kv_heads, d_ff, vocab, max_positions, token_types;
    int learned_positions;   /* positions = learned (max_positions x d parameters) | rotary (none) */
    enum mb_ffn_kind ffn;
    enum mb_norm_kind norm;
    enum mb_bias_kind bias;
    int tied_embeddings;     /* the output projection is the input embedding (no vocab x d head of its own) */
    int embedding_norm;      /* a norm after the embeddings (BERT) */
    int final_norm;          /* a norm after the last layer (GPT-2, LLaMA) */
    int pooler;              /* BERT's pooler: d x d + d */
    double published;        /* the published parameter count */
    double tolerance;        /* |count / published - 1| allowed (the unit test checks it) */
    char published_as[320];  /* how the source states it, and which counting ours is */
};

/* Read a model file. Returns 0, or -1 with "FILE:LINE: what is wrong (what is allowed)" (or "FILE: ..."). */
int mb_model_load(const char *path, struct mb_model *m, char *err, size_t errlen);
/* NAME: dir/NAME.ini; a path (with '/' or ending in .ini) is read as is. An unknown name's message lists the models
   of dir. */
int mb_model_find(const char *dir, const char *name, struct mb_model *m, char *err, size_t errlen);
/* "bert-base, bert-large, ...": the models of dir (NAME of every NAME.ini), sorted. Returns the count. */
int mb_model_names(const char *dir, char *buf, size_t len);

/* The parameter count, by part. */
struct mb_model_params {
    double embeddings;   /* token (+ position, token-type) embeddings, embedding norm */
    double per_layer;    /* one Transformer layer: attention, FFN, norms */
    double head;         /* untied output projection, final norm, pooler */
    double total;        /* embeddings + layers * per_layer + head */
};
void mb_model_count(const struct mb_model *m, struct mb_model_params *out);
/* A layer's linear map by target name (q, k, v, o, gate, up, down): its input and output widths. Returns 0, or -1
   when the model has no such matrix (gate without SwiGLU, an unknown name). */
int mb_model_matrix(const struct mb_model *m, const char *target, int64_t *d_in, int64_t *d_out);

/* ---------------------------------------------------------------------------------------------- methods */
enum mb_ft_method { MB_FT_FULL, MB_FT_LORA, MB_FT_ADAPTER, MB_FT_PREFIX, MB_FT_PROMPT, MB_FT_METHOD_COUNT };
extern const char *const mb_ft_method_names[MB_FT_METHOD_COUNT]; /* "full" "lora" "adapter" "prefix" "prompt" */
enum mb_ft_precision { MB_FT_MIXED, MB_FT_FP32 };

#define MB_FT_TARGETS "q,k,v,o,gate,up,down" /* LoRA's target matrices, in this order (bit i = the i-th) */

struct mb_finetune {
    enum mb_ft_method method;
    int64_t r;          /* LoRA rank */
    unsigned targets;   /* LoRA: bit mask over MB_FT_TARGETS */
    int64_t m;          /* adapter bottleneck width */
    int64_t lp;         /* prefix / prompt length L_p */
    enum mb_ft_precision precision;
    int64_t seq, batch; /* activations when both > 0 */
};
/* "q,v" -> mask; -1 with a message naming the unknown target and the allowed ones. */
int mb_ft_targets_parse(const char *text, unsigned *mask, char *err, size_t errlen);
void mb_ft_targets_format(unsigned mask, char *buf, size_t len);

/* Bytes per parameter of the memory model (see finetune.c). */
struct mb_ft_bytes {
    double weight, grad, master, adam; /* per trainable parameter */
    double frozen;                     /* per frozen parameter (its storage precision) */
    double stored;                     /* per parameter of a checkpoint */
};
void mb_ft_bytes_of(enum mb_ft_precision precision, struct mb_ft_bytes *out);

#define MB_FT_GPU_BYTES 80e9 /* one 80 GB GPU (A100/A800-80G), decimal GB */

struct mb_ft_budget {
    struct mb_model_params model;
    double trainable;          /* parameters trained */
    double share;              /* trainable / model total (PEFT: of the base model, the added modules not included) */
    double reduction;          /* model total / trainable */
    double checkpoint_bytes;   /* full: every weight; PEFT: only the trainable parameters; at the stored precision */
    double trainable_bytes;    /* trainable x (weight + grad + master + adam) */
    double frozen_bytes;       /* (model total - trainable, for full 0) x frozen */
    double activation_bytes;   /* layers x s b h (34 + 5 a s / h) (16-bit; x2 for fp32), 0 without seq and batch */
    double train_bytes;        /* trainable_bytes + frozen_bytes + activation_bytes */
    int64_t gpus_80g;          /* ceil(train_bytes / 80 GB) */
};
/* Validate f against m (r in 1..min(d_in, d_out) of every target, targets the model has, m in 1..d, L_p >= 1) and
   compute. Returns 0, or -1 with one line naming the bad value and what is allowed. */
int mb_ft_budget(const struct mb_model *m, const struct mb_finetune *f, struct mb_ft_budget *out, char *err,
                 size_t errlen);

extern const struct mb_tool mb_peft_tools[1];    /* finetune_tool.c: params */
extern const struct mb_probe mb_peft_probes[1];  /* probes.c: finetune_budget */

#endif
