/* data.tfrecord.parse: parse every record of a TFRecord image as a tf.Example (protobuf-c, example.c) and
 * summarise each feature, in name order, as [value count, fingerprint of the values] (family_tfrecord.h).
 *
 *   Example{Features features = 1}; Features{map<string, Feature> feature = 1}; Feature{oneof bytes_list = 1,
 *   float_list = 2, int64_list = 3} (TensorFlow, core/example/feature.proto)
 *
 * No allocation in the timed run: protobuf-c allocates from a bump arena (set up once, reset per record). The
 * records are located without checking CRCs (read_verify measures that); parse alone is timed here. The summary
 * uses the blocked fingerprint (a vectorised loop; the per-byte `pos % 251` of the reference cost more than the
 * parse itself at 100 KB records); the family's oracle computes the reference one on the generator's values.
 * O(n record_bytes) time; workspace: the arena. */
#include "data/family_tfrecord.h"

#include <stdlib.h>

struct parse_state {
    struct mb_tfr_bound b;
    struct mb_example_arena arena;
    void *arena_memory;
};

/* protobuf-c copies every bytes value and allocates a message per feature, entry and list; the view adds two
   feature descriptors per feature. */
double mb_tfr_parse_arena_bytes(int64_t record_bytes, int64_t features) {
    return 2.0 * (double)record_bytes + (double)features * 512.0 + 65536.0;
}
static double arena_bytes(const struct mb_point *p) { return mb_tfr_parse_arena_bytes(p->record_bytes, p->features); }

static int setup(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct parse_state *s = malloc(sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_tfr_bind(&s->b, w);
    size_t bytes = (size_t)arena_bytes(&w->point);
    if (!(s->arena_memory = mb_alloc(bytes))) {
        free(s);
        return mb_errorf(err, errlen, "out of memory for a %zu-byte parse arena", bytes);
    }
    mb_example_arena_init(&s->arena, s->arena_memory, bytes);
    *state = s;
    return 0;
}

static void run(void *state) {
    struct parse_state *s = state;
    const struct mb_tfr_bound *b = &s->b;
    const int64_t nf = b->shape.features;
    size_t at = 0;
    for (int64_t i = 0; i < b->shape.n; i++) {
        float *row = b->parsed + 2 * i * nf;
        const uint8_t *data;
        uint64_t length;
        struct mb_example ex;
        mb_example_arena_reset(&s->arena);
        if (mb_tfr_next_in_memory(b->image, b->image_bytes, &at, &data, &length, 0) != MB_TFR_RECORD ||
            mb_example_parse(data, length, &s->arena, &ex, NULL, 0)) {
            for (int64_t f = 0; f < 2 * nf; f++) row[f] = 0; /* the oracle fails this record */
            continue;
        }
        for (int64_t f = 0; f < nf; f++) {
            const int present = (size_t)f < ex.n_features;
            row[2 * f] = present ? (float)ex.features[f].count : 0;
            row[2 * f + 1] = present ? (float)mb_tfr_fingerprint_blocked(&ex.features[f]) : 0;
        }
    }
}

static void teardown(void *state) {
    struct parse_state *s = state;
    mb_free(s->arena_memory);
    free(s);
}

static double workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) { return arena_bytes(p); }

const struct mb_kernel mb_kernel_data_tfrecord_parse = {
    .name = "data.tfrecord.parse",
    .mechanism = "parse",
    .summary = "tf.Example parse of every record (protobuf-c into a bump arena), per feature [count, fingerprint]",
    .complexity = "O(n record_bytes) time; workspace: one arena of ~2 record_bytes + 512 bytes per feature",
    MB_TFR_KERNEL,
    .setup = setup,
    .run = run,
    .teardown = teardown,
    .bytes = mb_tfr_image_bytes,
    .workspace_bytes = workspace,
};
