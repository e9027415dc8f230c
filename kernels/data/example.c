/* tf.Example / tf.SequenceExample through protobuf-c (the messages in example.h, TensorFlow's
 * core/example/example.proto and feature.proto), and TensorFlow's parse specs (tf.io.FixedLenFeature,
 * VarLenFeature, FixedLenSequenceFeature; core/util/example_proto_helper.cc):
 *
 *   fixed:  the feature's count must equal length; absent -> the default (absent and no default: an error)
 *   var:    any count; absent -> no values
 *   sequence (fixed / var): the same per step of a FeatureList
 *   a kind different from the spec's: an error
 *
 * Parsing unpacks with protobuf-c (packed and unpacked repeated scalars both decode), then builds a C view sorted
 * by name; a map key seen twice keeps its last value (protobuf's map semantics). Serializing builds the messages from
 * the view with the keys sorted, so equal examples give equal bytes. */
#include "data/example.h"

#include "core/mechbench.h"
#include "data/proto/example.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mb_feature_kind_name(enum mb_feature_kind k) {
    static const char *names[] = {"none", "bytes", "float", "int64"};
    return (unsigned)k < 4 ? names[k] : "unknown";
}

/* ------------------------------------------------------------------------------------------------- arena */
void mb_example_arena_init(struct mb_example_arena *a, void *base, size_t size) {
    a->base = base, a->size = size, a->used = 0, a->exhausted = 0;
}
void mb_example_arena_reset(struct mb_example_arena *a) { a->used = 0, a->exhausted = 0; }

static void *arena_alloc(void *data, size_t size) {
    struct mb_example_arena *a = data;
    size_t at = (a->used + 15) & ~(size_t)15;
    if (at > a->size || size > a->size - at) {
        a->exhausted = 1;
        return NULL;
    }
    a->used = at + size;
    return a->base + at;
}
static void arena_free(void *data, void *p) { (void)data, (void)p; }

/* -------------------------------------------------------------------------------------------------- heap */
/* Every heap allocation of this file (protobuf-c's messages, the views, the serializer's and the parse specs'
   buffers) goes through one allocator, so a test can make the k-th one fail (mb_example_set_heap_allocator). */
static void *std_alloc(void *data, size_t size) { return (void)data, malloc(size); }
static void std_free(void *data, void *p) { (void)data, free(p); }
static ProtobufCAllocator heap = {std_alloc, std_free, NULL};

void mb_example_set_heap_allocator(void *(*alloc)(void *data, size_t size), void (*free_fn)(void *data, void *p),
                                   void *data) {
    heap = alloc ? (ProtobufCAllocator){alloc, free_fn, data} : (ProtobufCAllocator){std_alloc, std_free, NULL};
}
static void *xmalloc(size_t size) { return heap.alloc(heap.allocator_data, size ? size : 1); }
static void *xcalloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    const size_t bytes = n * size;
    void *p = xmalloc(bytes);
    if (p) memset(p, 0, bytes ? bytes : 1);
    return p;
}
static void xfree(void *p) {
    if (p) heap.free(heap.allocator_data, p);
}

/* Memory for the view: from the arena, or the heap. */
static void *view_alloc(struct mb_example_arena *arena, size_t bytes) {
    if (!bytes) bytes = 1;
    return arena ? arena_alloc(arena, bytes) : xmalloc(bytes);
}

/* -------------------------------------------------------------------------------------------------- view */
static int fill_feature(struct mb_feature *f, const char *name, const Tensorflow__Feature *m,
                        struct mb_example_arena *arena) {
    memset(f, 0, sizeof *f);
    f->name = name;
    if (!m) return 0;
    switch (m->kind_case) {
    case TENSORFLOW__FEATURE__KIND_BYTES_LIST: {
        f->kind = MB_FEATURE_BYTES;
        f->count = m->bytes_list->n_value;
        struct mb_bytes *b = view_alloc(arena, f->count * sizeof *b);
        if (!b) return -1;
        for (size_t i = 0; i < f->count; i++) b[i].data = m->bytes_list->value[i].data, b[i].len = m->bytes_list->value[i].len;
        f->bytes = b;
        break;
    }
    case TENSORFLOW__FEATURE__KIND_FLOAT_LIST:
        f->kind = MB_FEATURE_FLOAT, f->count = m->float_list->n_value, f->floats = m->float_list->value;
        break;
    case TENSORFLOW__FEATURE__KIND_INT64_LIST:
        f->kind = MB_FEATURE_INT64, f->count = m->int64_list->n_value, f->int64s = m->int64_list->value;
        break;
    default: break;
    }
    return 0;
}

/* Stable merge sort by name (scratch: n entries), then drop all but the last of equal names; returns the count. */
static size_t sort_unique_by_name(struct mb_feature *f, struct mb_feature *scratch, size_t n) {
    size_t ordered = 1;
    while (ordered < n && strcmp(f[ordered - 1].name, f[ordered].name) < 0) ordered++;
    if (ordered >= n) return n; /* strictly increasing already (as every writer that sorts its keys emits them) */
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) scratch[k++] = strcmp(f[j].name, f[i].name) < 0 ? f[j++] : f[i++];
            while (i < mid) scratch[k++] = f[i++];
            while (j < hi) scratch[k++] = f[j++];
        }
        memcpy(f, scratch, n * sizeof *f);
    }
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && !strcmp(f[i].name, f[i + 1].name)) continue; /* a later value of the same key wins */
        f[out++] = f[i];
    }
    return out;
}

static int features_view(const Tensorflow__Features *m, struct mb_example_arena *arena, struct mb_example *ex) {
    size_t n = m ? m->n_feature : 0;
    ex->n_features = 0;
    if (!(ex->features = view_alloc(arena, 2 * n * sizeof *ex->features))) return -1;
    for (size_t i = 0; i < n; i++)
        if (fill_feature(&ex->features[i], m->feature[i]->key, m->feature[i]->value, arena)) {
            if (!arena) {
                for (size_t j = 0; j < i; j++) xfree((void *)ex->features[j].bytes);
                xfree(ex->features);
            }
            ex->features = NULL;
            return -1;
        }
    ex->n_features = sort_unique_by_name(ex->features, ex->features + n, n);
    return 0;
}

static void features_view_free(struct mb_example *ex) {
    for (size_t i = 0; i < ex->n_features; i++) xfree((void *)ex->features[i].bytes);
    xfree(ex->features);
}

static ProtobufCAllocator allocator_of(struct mb_example_arena *arena) {
    ProtobufCAllocator a = {arena_alloc, arena_free, arena};
    return a;
}

int mb_example_parse(const uint8_t *buf, size_t len, struct mb_example_arena *arena, struct mb_example *ex, char *err,
                     size_t errlen) {
    memset(ex, 0, sizeof *ex);
    ProtobufCAllocator a = allocator_of(arena);
    Tensorflow__Example *m = tensorflow__example__unpack(arena ? &a : &heap, len, buf);
    if (!m)
        return mb_errorf(err, errlen, arena && arena->exhausted ? "example needs more than the %zu-byte arena"
                                                                : "garbage protobuf: not a tf.Example (%zu bytes)",
                         arena ? arena->size : len);
    if (features_view(m->features, arena, ex)) {
        if (!arena) tensorflow__example__free_unpacked(m, &heap);
        return mb_errorf(err, errlen, "out of memory for the example's view");
    }
    ex->owner = arena ? NULL : m;
    return 0;
}

void mb_example_free(struct mb_example *ex) {
    if (!ex->owner) return; /* arena or never parsed */
    features_view_free(ex);
    tensorflow__example__free_unpacked(ex->owner, &heap);
    memset(ex, 0, sizeof *ex);
}

int mb_sequence_example_parse(const uint8_t *buf, size_t len, struct mb_example_arena *arena,
                              struct mb_sequence_example *sx, char *err, size_t errlen) {
    memset(sx, 0, sizeof *sx);
    ProtobufCAllocator a = allocator_of(arena);
    Tensorflow__SequenceExample *m = tensorflow__sequence_example__unpack(arena ? &a : &heap, len, buf);
    if (!m)
        return mb_errorf(err, errlen, arena && arena->exhausted ? "example needs more than the %zu-byte arena"
                                                                : "garbage protobuf: not a tf.SequenceExample (%zu bytes)",
                         arena ? arena->size : len);
    sx->owner = arena ? NULL : m;
    if (features_view(m->context, arena, &sx->context)) goto fail;
    size_t n = m->feature_lists ? m->feature_lists->n_feature_list : 0;
    struct mb_feature_list *lists = view_alloc(arena, 2 * n * sizeof *lists);
    if (!lists) goto fail;
    sx->lists = lists;
    for (size_t i = 0; i < n; i++) {
        const Tensorflow__FeatureLists__FeatureListEntry *e = m->feature_lists->feature_list[i];
        size_t steps = e->value ? e->value->n_feature : 0;
        lists[i].name = e->key, lists[i].n_steps = 0;
        if (!(lists[i].steps = view_alloc(arena, steps * sizeof *lists[i].steps))) goto fail;
        sx->n_lists = i + 1;
        for (size_t s = 0; s < steps; s++) {
            if (fill_feature(&lists[i].steps[s], NULL, e->value->feature[s], arena)) goto fail;
            lists[i].n_steps = s + 1;
        }
    }
    /* sort the lists by name (stable: the last of equal names wins), reusing the merge through a feature view */
    struct mb_feature *keys = view_alloc(arena, 2 * n * sizeof *keys);
    if (!keys) goto fail;
    for (size_t i = 0; i < n; i++) keys[i].name = lists[i].name, keys[i].count = i;
    size_t kept = sort_unique_by_name(keys, keys + n, n);
    struct mb_feature_list *sorted = lists + n;
    for (size_t i = 0; i < kept; i++) sorted[i] = lists[keys[i].count];
    for (size_t i = 0; i < n; i++) { /* free the steps of dropped duplicates (heap) */
        int dropped = 1;
        for (size_t j = 0; j < kept && dropped; j++) dropped = keys[j].count != i;
        if (dropped && !arena) {
            for (size_t s = 0; s < lists[i].n_steps; s++) xfree((void *)lists[i].steps[s].bytes);
            xfree(lists[i].steps);
        }
    }
    memmove(lists, sorted, kept * sizeof *lists);
    sx->n_lists = kept;
    if (!arena) xfree(keys);
    return 0;
fail:
    if (!arena) mb_sequence_example_free(sx); /* owner is set: frees the message too */
    memset(sx, 0, sizeof *sx);
    return mb_errorf(err, errlen, "out of memory for the sequence example's view");
}

void mb_sequence_example_free(struct mb_sequence_example *sx) {
    if (!sx->owner) return;
    features_view_free(&sx->context);
    for (size_t i = 0; i < sx->n_lists; i++) {
        for (size_t s = 0; s < sx->lists[i].n_steps; s++) xfree((void *)sx->lists[i].steps[s].bytes);
        xfree(sx->lists[i].steps);
    }
    xfree(sx->lists);
    tensorflow__sequence_example__free_unpacked(sx->owner, &heap);
    memset(sx, 0, sizeof *sx);
}

const struct mb_feature *mb_example_find(const struct mb_example *ex, const char *name) {
    size_t lo = 0, hi = ex->n_features;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ex->features[mid].name, name);
        if (!c) return &ex->features[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const struct mb_feature_list *mb_sequence_example_find(const struct mb_sequence_example *sx, const char *name) {
    for (size_t i = 0; i < sx->n_lists; i++) /* few lists: linear */
        if (!strcmp(sx->lists[i].name, name)) return &sx->lists[i];
    return NULL;
}

/* --------------------------------------------------------------------------------------------- serialize */
/* The messages of one Feature, built over the view's values (no copy but the bytes descriptors). */
struct feature_msg {
    Tensorflow__Feature feature;
    Tensorflow__BytesList bytes;
    Tensorflow__FloatList floats;
    Tensorflow__Int64List int64s;
    ProtobufCBinaryData *binary;
};

static int feature_msg_init(struct feature_msg *fm, const struct mb_feature *f) {
    Tensorflow__Feature feature = TENSORFLOW__FEATURE__INIT;
    Tensorflow__BytesList bytes = TENSORFLOW__BYTES_LIST__INIT;
    Tensorflow__FloatList floats = TENSORFLOW__FLOAT_LIST__INIT;
    Tensorflow__Int64List int64s = TENSORFLOW__INT64_LIST__INIT;
    fm->feature = feature, fm->bytes = bytes, fm->floats = floats, fm->int64s = int64s, fm->binary = NULL;
    switch (f->kind) {
    case MB_FEATURE_BYTES:
        if (!(fm->binary = xmalloc((f->count ? f->count : 1) * sizeof *fm->binary))) return -1;
        for (size_t i = 0; i < f->count; i++)
            fm->binary[i].data = (uint8_t *)f->bytes[i].data, fm->binary[i].len = f->bytes[i].len;
        fm->bytes.n_value = f->count, fm->bytes.value = fm->binary;
        fm->feature.kind_case = TENSORFLOW__FEATURE__KIND_BYTES_LIST, fm->feature.bytes_list = &fm->bytes;
        break;
    case MB_FEATURE_FLOAT:
        fm->floats.n_value = f->count, fm->floats.value = (float *)f->floats;
        fm->feature.kind_case = TENSORFLOW__FEATURE__KIND_FLOAT_LIST, fm->feature.float_list = &fm->floats;
        break;
    case MB_FEATURE_INT64:
        fm->int64s.n_value = f->count, fm->int64s.value = (int64_t *)f->int64s;
        fm->feature.kind_case = TENSORFLOW__FEATURE__KIND_INT64_LIST, fm->feature.int64_list = &fm->int64s;
        break;
    default: break;
    }
    return 0;
}

static int by_name(const void *a, const void *b) {
    return strcmp((*(const struct mb_feature *const *)a)->name, (*(const struct mb_feature *const *)b)->name);
}

/* A Features message over the example's features in name order; free with features_msg_free. */
struct features_msg {
    Tensorflow__Features features;
    Tensorflow__Features__FeatureEntry *entries, **entry_ptrs;
    struct feature_msg *values;
    size_t n;
};

static void features_msg_free(struct features_msg *fs) {
    for (size_t i = 0; fs->values && i < fs->n; i++) xfree(fs->values[i].binary);
    xfree(fs->entries), xfree(fs->entry_ptrs), xfree(fs->values);
}

static int features_msg_init(struct features_msg *fs, const struct mb_example *ex) {
    Tensorflow__Features init = TENSORFLOW__FEATURES__INIT;
    size_t n = ex->n_features;
    memset(fs, 0, sizeof *fs);
    fs->features = init;
    const struct mb_feature **order = xmalloc((n ? n : 1) * sizeof *order);
    fs->entries = xmalloc((n ? n : 1) * sizeof *fs->entries);
    fs->entry_ptrs = xmalloc((n ? n : 1) * sizeof *fs->entry_ptrs);
    fs->values = xcalloc(n ? n : 1, sizeof *fs->values);
    if (!order || !fs->entries || !fs->entry_ptrs || !fs->values) {
        xfree(order), features_msg_free(fs);
        return -1;
    }
    for (size_t i = 0; i < n; i++) order[i] = &ex->features[i];
    qsort(order, n, sizeof *order, by_name);
    for (size_t i = 0; i < n; i++) {
        Tensorflow__Features__FeatureEntry e = TENSORFLOW__FEATURES__FEATURE_ENTRY__INIT;
        fs->n = i + 1;
        if (feature_msg_init(&fs->values[i], order[i])) {
            xfree(order), features_msg_free(fs);
            return -1;
        }
        e.key = (char *)order[i]->name;
        e.value = &fs->values[i].feature;
        fs->entries[i] = e;
        fs->entry_ptrs[i] = &fs->entries[i];
    }
    xfree(order);
    fs->features.n_feature = n, fs->features.feature = fs->entry_ptrs;
    return 0;
}

static int pack_to(const ProtobufCMessage *m, uint8_t **out, size_t *len, char *err, size_t errlen) {
    *len = protobuf_c_message_get_packed_size(m);
    if (!(*out = malloc(*len ? *len : 1))) return /* the caller's to free(): plain malloc */ mb_errorf(err, errlen, "out of memory serializing an example");
    protobuf_c_message_pack(m, *out);
    return 0;
}

int mb_example_serialize(const struct mb_example *ex, uint8_t **out, size_t *len, char *err, size_t errlen) {
    struct features_msg fs;
    if (features_msg_init(&fs, ex)) return mb_errorf(err, errlen, "out of memory serializing an example");
    Tensorflow__Example m = TENSORFLOW__EXAMPLE__INIT;
    m.features = &fs.features;
    int rc = pack_to(&m.base, out, len, err, errlen);
    features_msg_free(&fs);
    return rc;
}

long long mb_example_serialized_size(const struct mb_example *ex) {
    struct features_msg fs;
    if (features_msg_init(&fs, ex)) return -1;
    Tensorflow__Example m = TENSORFLOW__EXAMPLE__INIT;
    m.features = &fs.features;
    long long size = (long long)protobuf_c_message_get_packed_size(&m.base);
    features_msg_free(&fs);
    return size;
}

int mb_sequence_example_serialize(const struct mb_sequence_example *sx, uint8_t **out, size_t *len, char *err,
                                  size_t errlen) {
    struct features_msg context;
    if (features_msg_init(&context, &sx->context)) return mb_errorf(err, errlen, "out of memory serializing");
    size_t n = sx->n_lists, total_steps = 0;
    for (size_t i = 0; i < n; i++) total_steps += sx->lists[i].n_steps;
    Tensorflow__FeatureLists__FeatureListEntry *entries = xmalloc((n ? n : 1) * sizeof *entries);
    Tensorflow__FeatureLists__FeatureListEntry **entry_ptrs = xmalloc((n ? n : 1) * sizeof *entry_ptrs);
    Tensorflow__FeatureList *lists = xmalloc((n ? n : 1) * sizeof *lists);
    struct feature_msg *steps = xcalloc(total_steps ? total_steps : 1, sizeof *steps);
    Tensorflow__Feature **step_ptrs = xmalloc((total_steps ? total_steps : 1) * sizeof *step_ptrs);
    size_t *order = xmalloc((n ? n : 1) * sizeof *order);
    int rc = -1, packed = 0;
    size_t built = 0;
    if (!entries || !entry_ptrs || !lists || !steps || !step_ptrs || !order) goto done;
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = 1; i < n; i++) /* insertion sort of the list names */
        for (size_t j = i; j > 0 && strcmp(sx->lists[order[j]].name, sx->lists[order[j - 1]].name) < 0; j--) {
            size_t t = order[j];
            order[j] = order[j - 1], order[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++) {
        const struct mb_feature_list *fl = &sx->lists[order[i]];
        Tensorflow__FeatureList list = TENSORFLOW__FEATURE_LIST__INIT;
        Tensorflow__FeatureLists__FeatureListEntry e = TENSORFLOW__FEATURE_LISTS__FEATURE_LIST_ENTRY__INIT;
        list.n_feature = fl->n_steps, list.feature = step_ptrs + built;
        for (size_t s = 0; s < fl->n_steps; s++, built++) {
            if (feature_msg_init(&steps[built], &fl->steps[s])) goto done;
            step_ptrs[built] = &steps[built].feature;
        }
        lists[i] = list;
        e.key = (char *)fl->name, e.value = &lists[i];
        entries[i] = e, entry_ptrs[i] = &entries[i];
    }
    Tensorflow__FeatureLists fls = TENSORFLOW__FEATURE_LISTS__INIT;
    fls.n_feature_list = n, fls.feature_list = entry_ptrs;
    Tensorflow__SequenceExample m = TENSORFLOW__SEQUENCE_EXAMPLE__INIT;
    m.context = &context.features, m.feature_lists = &fls;
    rc = pack_to(&m.base, out, len, err, errlen);
    packed = 1;
done:
    for (size_t s = 0; steps && s < built; s++) xfree(steps[s].binary);
    xfree(entries), xfree(entry_ptrs), xfree(lists), xfree(steps), xfree(step_ptrs), xfree(order);
    features_msg_free(&context);
    if (rc && !packed) mb_errorf(err, errlen, "out of memory serializing a sequence example");
    return rc;
}

/* ------------------------------------------------------------------------------------------- parse specs */
static size_t kind_size(enum mb_feature_kind k) {
    return k == MB_FEATURE_BYTES ? sizeof(struct mb_bytes) : k == MB_FEATURE_FLOAT ? sizeof(float) : sizeof(int64_t);
}
static const void *values_of(const struct mb_feature *f) {
    return f->kind == MB_FEATURE_BYTES ? (const void *)f->bytes
           : f->kind == MB_FEATURE_FLOAT ? (const void *)f->floats : (const void *)f->int64s;
}
static void **slot_of(struct mb_parsed_feature *pf) {
    return pf->kind == MB_FEATURE_BYTES ? (void **)&pf->bytes
           : pf->kind == MB_FEATURE_FLOAT ? (void **)&pf->floats : (void **)&pf->int64s;
}

/* A present feature against the spec: its kind, and (fixed) its count. */
static int check_feature(const struct mb_feature_spec *s, const struct mb_feature *f, int fixed, const char *where,
                         char *err, size_t errlen) {
    if (f->kind != s->kind && !(f->kind == MB_FEATURE_NONE && f->count == 0 && !fixed))
        return mb_errorf(err, errlen, "feature '%s'%s: expected %s, found %s", s->name, where,
                         mb_feature_kind_name(s->kind), mb_feature_kind_name(f->kind));
    if (fixed && f->count != s->length)
        return mb_errorf(err, errlen, "feature '%s'%s: expected %zu values, found %zu", s->name, where, s->length,
                         f->count);
    return 0;
}

static int apply_spec(const struct mb_example *ex, const struct mb_sequence_example *sx, const struct mb_feature_spec *s,
                      struct mb_parsed_feature *pf, char *err, size_t errlen) {
    memset(pf, 0, sizeof *pf);
    pf->kind = s->kind;
    if (s->kind != MB_FEATURE_BYTES && s->kind != MB_FEATURE_FLOAT && s->kind != MB_FEATURE_INT64)
        return mb_errorf(err, errlen, "feature '%s': spec kind must be bytes, float or int64", s->name);
    size_t el = kind_size(s->kind);
    void **slot = slot_of(pf);
    if (s->shape == MB_SPEC_FIXED || s->shape == MB_SPEC_VAR) {
        const struct mb_feature *f = ex ? mb_example_find(ex, s->name) : NULL;
        const void *src;
        if (!f) {
            if (s->shape == MB_SPEC_FIXED && !s->default_values)
                return mb_errorf(err, errlen, "feature '%s': missing and no default", s->name);
            pf->count = s->shape == MB_SPEC_FIXED ? s->length : 0;
            src = s->default_values;
        } else {
            if (check_feature(s, f, s->shape == MB_SPEC_FIXED, "", err, errlen)) return -1;
            pf->count = f->count;
            src = values_of(f);
        }
        if (!(*slot = xmalloc(pf->count ? pf->count * el : 1)))
            return mb_errorf(err, errlen, "feature '%s': out of memory", s->name);
        if (pf->count) memcpy(*slot, src, pf->count * el);
        return 0;
    }
    if (!sx) return mb_errorf(err, errlen, "feature '%s': a sequence spec needs a SequenceExample", s->name);
    const struct mb_feature_list *fl = mb_sequence_example_find(sx, s->name);
    size_t steps = fl ? fl->n_steps : 0, total = 0;
    int fixed = s->shape == MB_SPEC_SEQUENCE_FIXED;
    char where[48];
    for (size_t t = 0; t < steps; t++) {
        snprintf(where, sizeof where, " step %zu", t);
        if (check_feature(s, &fl->steps[t], fixed, where, err, errlen)) return -1;
        total += fl->steps[t].count;
    }
    pf->n_steps = steps, pf->count = total;
    *slot = xmalloc(total ? total * el : 1);
    pf->step_counts = xmalloc(steps ? steps * sizeof *pf->step_counts : 1);
    if (!*slot || !pf->step_counts) {
        mb_parsed_feature_free(pf, 1);
        return mb_errorf(err, errlen, "feature '%s': out of memory", s->name);
    }
    uint8_t *dst = *slot;
    for (size_t t = 0; t < steps; t++) {
        pf->step_counts[t] = fl->steps[t].count;
        if (fl->steps[t].count) memcpy(dst, values_of(&fl->steps[t]), fl->steps[t].count * el);
        dst += fl->steps[t].count * el;
    }
    return 0;
}

int mb_example_apply_specs(const struct mb_example *ex, const struct mb_sequence_example *sx,
                           const struct mb_feature_spec *specs, size_t n_specs, struct mb_parsed_feature *out,
                           char *err, size_t errlen) {
    for (size_t i = 0; i < n_specs; i++)
        if (apply_spec(ex, sx, &specs[i], &out[i], err, errlen)) {
            mb_parsed_feature_free(out, i);
            return -1;
        }
    return 0;
}

void mb_parsed_feature_free(struct mb_parsed_feature *pf, size_t n) {
    for (size_t i = 0; i < n; i++) {
        xfree(pf[i].bytes), xfree(pf[i].floats), xfree(pf[i].int64s), xfree(pf[i].step_counts);
        memset(&pf[i], 0, sizeof pf[i]);
    }
}
