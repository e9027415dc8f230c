/* Receptive fields (seed: 如何计算RF; MECHANISMS.md section E): a network spec language, the two recursions of the
 * seed, a measurement by impulses through a real conv / pool stack, and the effective receptive field of Luo et al.
 * 2016. The `rf` tool (rf_tool.c) and the probes (rf_probes.c) of the vision.rf family (family_rf.c) use them.
 *
 * Net spec (experiments/nets/NAME.net; rf_net.c): one layer per line, '#' starts a comment.
 *   input N                           default input size (`mechbench rf --input N` overrides it)
 *   conv K S P [dilation D] [ceil] [NAME]   K: "3" or "1x7" (height x width); S: stride; P: "1", "0x3", SAME, VALID
 *   pool K S P [dilation D] [ceil] [NAME]   max or average pooling: the same arithmetic as a convolution
 *   branch { ... } { ... } merge [NAME]     parallel paths on the same input, merged (added or concatenated);
 *                                     an empty block { } is the identity (a residual shortcut)
 *   repeat N [from S] { ... }         the block N times; '@' in a name is the repetition's index (S, S+1, ...)
 * Explicit padding, output n' = floor((n + 2p - k_eff) / s) + 1 (ceil: rounded up, and the last window must start
 * inside the input or its left padding, as PyTorch's ceil_mode); k_eff = dil (k - 1) + 1. TensorFlow's SAME:
 * n' = ceil(n / s), pad_total = max((n' - 1) s + k_eff - n, 0), pad_left = floor(pad_total / 2); VALID: p = 0.
 *
 * The field of a unit, per axis, in input pixel indices (pixel i has centre i; the seed's convention has +0.5):
 *   bottom-up (seed, "formula two"): r_0 = 1, j_0 = 1, c_0 = 0;  r_l = r_{l-1} + (k_eff - 1) j_{l-1},
 *                                    j_l = j_{l-1} s_l,  c_l = c_{l-1} + ((k_eff - 1) / 2 - p_l) j_{l-1}
 *   top-down  (seed, "formula one"): an interval [a, b] of layer-l units maps to [a s - p, b s - p + k_eff - 1] of
 *                                    layer l - 1, so r = 1; for l = L..1: r = (r - 1) s_l + k_eff_l; the first unit's
 *                                    interval [0, 0] also gives the first pixel of its field.
 *   Output unit o of layer l sees input pixels c_l + o j_l +- (r_l - 1) / 2 (the hull: with r < j there are gaps).
 *   Merge: the branches must agree in jump (else their units do not line up); the merged field is the hull of the
 *   branches' fields: lo = min lo_b, hi = max hi_b (r = hi - lo + 1, c = (lo + hi) / 2). When one branch's field
 *   contains the others' (every shipped net) that is the larger field with its start. Branch outputs must have the
 *   same size.
 */
#ifndef MB_VISION_RF_H
#define MB_VISION_RF_H

#include "core/mechbench.h"

#include <stdint.h>

#define MB_RF_NETS_DIR "experiments/nets"
#define MB_RF_MAX_LAYERS 1024
#define MB_RF_MAX_BRANCHES 6
/* The nets shipped in MB_RF_NETS_DIR, '|'-separated (the probes' `net` values; a test checks it against the files) */
#define MB_RF_SHIPPED_NETS                                                                                             \
    "alexnet|vgg16|resnet50|resnet50_v1|resnet101|resnet101_v1|resnet152|resnet152_v1|mobilenet_v1|inception_v3"

enum mb_rf_op { MB_RF_CONV, MB_RF_POOL, MB_RF_MERGE };
enum mb_rf_pad { MB_RF_PAD_EXPLICIT, MB_RF_PAD_SAME, MB_RF_PAD_VALID };

struct mb_rf_layer {
    enum mb_rf_op op;
    char name[48];
    int line;                   /* of the spec file (a merge: its `merge` line) */
    int k[2], stride, dil;      /* per axis [0] height, [1] width; MERGE: unused */
    enum mb_rf_pad pad_mode;
    int pad[2];                 /* explicit padding per axis */
    int ceil_mode;
    int prev;                   /* the layer before this one on its path, -1 = the start of the path */
    int parent;                 /* the merge whose branch holds this layer, -1 = the main path */
    int n_branches;             /* MERGE: its branches, each a path; last[b] = -1: an empty (identity) branch */
    int branch_last[MB_RF_MAX_BRANCHES];
};

struct mb_rf_net {
    char name[64];
    char path[512];
    int input;                  /* the `input` line, 0 when absent */
    int n;                      /* layers, in file order (a merge after its branches) */
    struct mb_rf_layer layers[MB_RF_MAX_LAYERS];
    int last;                   /* the last layer of the main path */
};

/* Parse spec text (name: for messages "NAME:LINE: ..."). Returns 0, or -1 with one line. */
int mb_rf_net_parse(const char *text, const char *name, struct mb_rf_net *net, char *err, size_t errlen);
/* NAME (a file of dir, NAME.net) or a path (contains '/' or ends in .net). Unknown name: -1 and the message lists
   the nets of dir. */
int mb_rf_net_load(const char *dir, const char *name, struct mb_rf_net *net, char *err, size_t errlen);
/* The net names of dir ("alexnet, resnet50, ..."), sorted. */
void mb_rf_net_names(const char *dir, char *buf, size_t len);
/* The layer named name, "last" = net->last; -1 when absent. */
int mb_rf_layer_find(const struct mb_rf_net *net, const char *name);
/* "conv 3x3/2 p1", "pool 3/2 SAME", "merge of 2" */
void mb_rf_layer_describe(const struct mb_rf_layer *l, char *buf, size_t len);

/* The field of one layer's units, per axis: after the layer (a merge: after merging). */
struct mb_rf_field {
    int64_t size[2];            /* output size */
    int64_t r[2], j[2];         /* receptive field and jump (effective stride) */
    double centre[2];           /* centre of unit 0's field, input pixel index */
    int64_t pad_left[2];        /* the layer's own resolved left padding (SAME depends on the input size) */
};
/* Bottom-up over every layer at input size n (square input). out: net->n entries. Returns 0, or -1 with
   "NAME:LINE: ..." (a size that drops to 0, merged branches whose jumps or sizes differ). */
int mb_rf_bottom_up(const struct mb_rf_net *net, int64_t n, struct mb_rf_field *out, char *err, size_t errlen);
/* Top-down from layer `layer` (pads resolved by mb_rf_bottom_up in fields): r and the first pixel lo of unit 0's
   field, per axis. */
void mb_rf_top_down(const struct mb_rf_net *net, const struct mb_rf_field *fields, int layer, int64_t r[2],
                    int64_t lo[2]);

/* The measured field (rf_measure.c): a 1-D stack per axis built from the spec with `channels` channels, random
 * positive weights (uniform in [0.5, 1.5)), zero padding, average pooling (max pooling is not linear: a perturbation
 * moves a max-pool output only where the pixel is the window's maximum, but it CAN move it, and average pooling with
 * positive weights is the exact witness of that dependence), addition at merges, run once per input pixel with
 * that pixel = 1 and the rest 0. Positive weights cannot cancel, so output o depends on pixel i exactly when o != 0:
 * the measured field of o is [first, last] such pixel. Compared with the formula on every output of every layer
 * whose formula field lies inside the input (fields cut by the border are not comparable: the border may drop
 * pixels a stride never reaches). */
struct mb_rf_measure {
    int64_t n;                  /* the input size used */
    int layers_checked;         /* layers with at least one interior output */
    int64_t outputs_checked;
    int mismatches;             /* layers where some interior output's measured field differs from the formula */
    int first_mismatch;         /* its layer, -1 */
    int64_t measured_r;         /* of layer `layer` (the one asked for): the measured field of its interior units */
};
/* Measure every layer of net along axis `axis` (0 height, 1 width) at input size n (0: large enough for every
   layer's field, at least the net's input). layer: whose measured r to report (-1: the last). */
int mb_rf_measure(const struct mb_rf_net *net, int axis, int64_t n, int channels, int layer, uint64_t seed,
                  struct mb_rf_measure *out, char *err, size_t errlen);

/* The effective receptive field (Luo et al. 2016, rf_erf.c): depth L stacked 3x3 convolutions (C channels, weights
 * N(0, 2 / (9 C)), no bias; linear, or ReLU after every layer but the last), on a (2L + 1)^2 input so that the
 * centre output's theoretical field (2L + 1) is exactly the input. map = the mean over trials of the squared input
 * gradient of the centre output (channel 0), summed over input channels, each trial's map normalised to sum 1: for zero-mean random
 * weights Luo et al. (Sec. 2.3) show Var[dy/dx] is the L-fold convolution of the kernel's variance, a Gaussian of
 * standard deviation sqrt(2 L / 3) per axis for 3x3. width = sqrt(sum map (dx^2 + dy^2) / 2), per axis. */
struct mb_rf_erf {
    int depth, side;            /* side = 2 depth + 1 */
    double *map;                /* side x side, row-major, sums to 1 (caller frees) */
    double width;               /* of the mean map */
    double *trial_widths;       /* per trial (of that trial's map), caller frees */
    int trials;
};
int mb_rf_erf(int depth, int channels, int relu, int trials, uint64_t seed, struct mb_rf_erf *out, char *err,
              size_t errlen);
void mb_rf_erf_free(struct mb_rf_erf *e);
/* The width of a normalised side x side map centred at (side - 1) / 2. */
double mb_rf_map_width(const double *map, int side);

extern const struct mb_tool mb_vision_rf_tools[1];
extern const struct mb_probe mb_vision_rf_probes[2];

#endif
