/* tf.Example and tf.SequenceExample (TensorFlow, core/example/example.proto, feature.proto; MECHANISMS.md G),
 * through protobuf-c from kernels/data/proto/{feature,example}.proto with TensorFlow's field numbers:
 *
 *   Example{Features features = 1}   Features{map<string, Feature> feature = 1}
 *   Feature{oneof kind: BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3}
 *   BytesList{repeated bytes value = 1}  FloatList{repeated float value = 1 [packed]}
 *   Int64List{repeated int64 value = 1 [packed]}
 *   SequenceExample{Features context = 1; FeatureLists feature_lists = 2}
 *   FeatureLists{map<string, FeatureList> feature_list = 1}   FeatureList{repeated Feature feature = 1}
 *
 * Parsing accepts packed and unpacked repeated scalars. Serializing sorts map keys, so equal examples give equal
 * bytes. The C view below points into the parsed message: it lives until mb_example_free (or the arena's reset). */
#ifndef MB_DATA_EXAMPLE_H
#define MB_DATA_EXAMPLE_H

#include <stddef.h>
#include <stdint.h>

enum mb_feature_kind { MB_FEATURE_NONE, MB_FEATURE_BYTES, MB_FEATURE_FLOAT, MB_FEATURE_INT64 };
const char *mb_feature_kind_name(enum mb_feature_kind k); /* "none" | "bytes" | "float" | "int64" */

struct mb_bytes {
    const uint8_t *data;
    size_t len;
};

/* One feature: a name and a list of values of one kind (MB_FEATURE_NONE: a Feature with no kind set, count 0). */
struct mb_feature {
    const char *name; /* NUL-terminated; NULL inside a feature list's steps */
    enum mb_feature_kind kind;
    size_t count;
    const struct mb_bytes *bytes; /* kind BYTES */
    const float *floats;          /* kind FLOAT */
    const int64_t *int64s;        /* kind INT64 */
};

/* An Example: its features sorted by name (byte order, strcmp). */
struct mb_example {
    size_t n_features;
    struct mb_feature *features;
    void *owner; /* the protobuf-c message and the view; private */
};

/* A SequenceExample: context features, and feature lists (each a name and n_steps features), both sorted by name. */
struct mb_feature_list {
    const char *name;
    size_t n_steps;
    struct mb_feature *steps;
};
struct mb_sequence_example {
    struct mb_example context;
    size_t n_lists;
    struct mb_feature_list *lists;
    void *owner;
};

/* A bump allocator for parsing without malloc (the kernels' timed run): parse with an arena, then reset it. */
struct mb_example_arena {
    uint8_t *base;
    size_t size, used;
    int exhausted; /* set when an allocation did not fit */
};
void mb_example_arena_init(struct mb_example_arena *a, void *base, size_t size);
void mb_example_arena_reset(struct mb_example_arena *a);

/* For tests: every heap allocation of example.c (protobuf-c's messages, the views, the serializer's and the parse
   specs' buffers; never the arena's) goes through alloc / free_fn with data; alloc NULL restores malloc / free.
   Process-wide and not thread-safe: set it while nothing else parses. */
void mb_example_set_heap_allocator(void *(*alloc)(void *data, size_t size), void (*free_fn)(void *data, void *p),
                                   void *data);

/* Parse one serialized Example (arena NULL = heap; free with mb_example_free, which does nothing for an arena).
   0, or -1 with one line in err ("garbage protobuf: ..."). */
int mb_example_parse(const uint8_t *buf, size_t len, struct mb_example_arena *arena, struct mb_example *ex, char *err,
                     size_t errlen);
void mb_example_free(struct mb_example *ex);
int mb_sequence_example_parse(const uint8_t *buf, size_t len, struct mb_example_arena *arena,
                              struct mb_sequence_example *sx, char *err, size_t errlen);
void mb_sequence_example_free(struct mb_sequence_example *sx);

/* Lookup by name (binary search); NULL if absent. */
const struct mb_feature *mb_example_find(const struct mb_example *ex, const char *name);
const struct mb_feature_list *mb_sequence_example_find(const struct mb_sequence_example *sx, const char *name);

/* Serialize the view (features need not be sorted; the output is, by name). *out is malloc'ed; 0 or -1. */
int mb_example_serialize(const struct mb_example *ex, uint8_t **out, size_t *len, char *err, size_t errlen);
/* The serialized size of the view, without serializing it (-1: out of memory). */
long long mb_example_serialized_size(const struct mb_example *ex);
int mb_sequence_example_serialize(const struct mb_sequence_example *sx, uint8_t **out, size_t *len, char *err,
                                  size_t errlen);

/* ------------------------------------------------------------------------------------------- parse specs */
/* tf.io.FixedLenFeature (length values, default_values used when the feature is absent; NULL = required),
   tf.io.VarLenFeature (any count; absent = 0 values), and the sequence forms for a SequenceExample's feature lists
   (FixedLenSequenceFeature: every step has `length` values; VarLen: any count per step). */
enum mb_spec_shape { MB_SPEC_FIXED, MB_SPEC_VAR, MB_SPEC_SEQUENCE_FIXED, MB_SPEC_SEQUENCE_VAR };
struct mb_feature_spec {
    const char *name;
    enum mb_feature_kind kind;
    enum mb_spec_shape shape;
    size_t length;                    /* FIXED and SEQUENCE_FIXED: values per example / per step */
    const void *default_values;       /* FIXED: `length` values of kind (float, int64_t or struct mb_bytes), or NULL */
};
/* A parsed feature: count values (FIXED: length; VAR: the example's count; SEQUENCE: the sum over steps), and for
   the sequence shapes n_steps and step_counts[n_steps]. Arrays are malloc'ed; free with mb_parsed_feature_free. */
struct mb_parsed_feature {
    enum mb_feature_kind kind;
    size_t count;
    struct mb_bytes *bytes;
    float *floats;
    int64_t *int64s;
    size_t n_steps;
    size_t *step_counts;
};
/* Apply specs to an Example (sx NULL) or a SequenceExample (ex = &sx->context for the context features): out[i] for
   specs[i]. 0, or -1 with one line in err: "feature 'age': expected int64, found float", "feature 'age': missing and
   no default", "feature 'x': expected 3 values, found 2". On -1 nothing is left allocated. */
int mb_example_apply_specs(const struct mb_example *ex, const struct mb_sequence_example *sx,
                           const struct mb_feature_spec *specs, size_t n_specs, struct mb_parsed_feature *out,
                           char *err, size_t errlen);
void mb_parsed_feature_free(struct mb_parsed_feature *pf, size_t n);

#endif
