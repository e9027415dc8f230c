/* data.tfrecord family: the synthetic file image, its layout, and the oracles (family_tfrecord.h).
 *
 * The oracles are independent of the code they judge: CRC32C bit by bit (no table, no ISA-L), the framing rebuilt
 * byte by byte from TensorFlow's record_writer.cc formula, and the parsed values compared with the generator's own
 * values (not a parse of the bytes). */
#include "data/family_tfrecord.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct mb_axis_rule tfrecord_axes[] = {
    {MB_AXIS_n, 1024, 1, 1 << 22},
    {MB_AXIS_record_bytes, 1024, 16, 1 << 24},
    {MB_AXIS_features, 8, 2, MB_TFR_MAX_FEATURES},
};

/* ------------------------------------------------------------------------------------------ examples */
static uint64_t mix(uint64_t seed, int64_t i, uint64_t stream) {
    uint64_t s = seed * 0x9E3779B97F4A7C15ull ^ (uint64_t)i * 0xD1B54A32D192ED03ull ^ stream;
    return mb_splitmix64(&s);
}

void mb_tfr_synthetic_example(struct mb_tfr_synthetic *s, const struct mb_tfr_shape *shape, uint64_t seed, int64_t i) {
    const int64_t nf = shape->features - 1;
    uint64_t state = mix(seed, i, 1);
    for (int64_t f = 0; f < nf; f++) {
        struct mb_feature *ft = &s->features[f];
        snprintf(s->names[f], sizeof s->names[f], "f%03d", (int)f);
        memset(ft, 0, sizeof *ft);
        ft->name = s->names[f];
        uint64_t r = mb_splitmix64(&state);
        switch (f % 3) {
        case 0: /* two int64 in [2^14, 2^21): 3-byte varints, so every record has the same size */
            s->int64s[f][0] = (int64_t)(16384 + r % 2080768), s->int64s[f][1] = (int64_t)(16384 + (r >> 32) % 2080768);
            ft->kind = MB_FEATURE_INT64, ft->count = 2, ft->int64s = s->int64s[f];
            break;
        case 1:
            s->floats[f][0] = (float)(r % 20001) / 1000.0f - 10.0f, s->floats[f][1] = (float)((r >> 32) % 1024) / 8.0f;
            ft->kind = MB_FEATURE_FLOAT, ft->count = 2, ft->floats = s->floats[f];
            break;
        default:
            for (int b = 0; b < 8; b++) s->small_bytes[f][b] = (uint8_t)(r >> (8 * b));
            s->bytes[f].data = s->small_bytes[f], s->bytes[f].len = 8;
            ft->kind = MB_FEATURE_BYTES, ft->count = 1, ft->bytes = &s->bytes[f];
        }
    }
    if (s->pad_data) {
        uint64_t ps = mix(seed, i, 2);
        for (size_t b = 0; b < shape->pad_a + shape->pad_b; b++) s->pad_data[b] = (uint8_t)(mb_splitmix64(&ps) >> 24);
    }
    s->pad[0].data = s->pad_data, s->pad[0].len = shape->pad_a;
    s->pad[1].data = s->pad_data ? s->pad_data + shape->pad_a : NULL, s->pad[1].len = shape->pad_b;
    struct mb_feature *pad = &s->features[nf];
    memset(pad, 0, sizeof *pad);
    pad->name = "pad", pad->kind = MB_FEATURE_BYTES, pad->count = 2, pad->bytes = s->pad;
    s->ex.n_features = (size_t)shape->features, s->ex.features = s->features, s->ex.owner = NULL;
}

int mb_tfr_shape(struct mb_tfr_shape *s, int64_t n, int64_t record_bytes, int64_t features, char *err, size_t errlen) {
    s->n = n, s->record_bytes = record_bytes, s->features = features, s->pad_a = s->pad_b = 0;
    if (features < 2 || features > MB_TFR_MAX_FEATURES)
        return mb_errorf(err, errlen, "features = %lld (allowed: 2..%d)", (long long)features, MB_TFR_MAX_FEATURES);
    struct mb_tfr_synthetic *syn = malloc(sizeof *syn);
    if (!syn) return mb_errorf(err, errlen, "out of memory");
    syn->pad_data = NULL;
    mb_tfr_synthetic_example(syn, s, 0, 0);
    long long base = mb_example_serialized_size(&syn->ex);
    int found = 0;
    if (base >= 0 && base <= record_bytes) {
        /* the size grows by one per pad byte, with jumps where a length prefix gets longer: search near the top */
        long long a0 = record_bytes - base;
        for (long long a = a0; a >= 0 && a >= a0 - 64 && !found; a--)
            for (size_t b = 0; b <= 4 && !found; b++) {
                s->pad_a = (size_t)a, s->pad_b = b;
                mb_tfr_synthetic_example(syn, s, 0, 0);
                found = mb_example_serialized_size(&syn->ex) == record_bytes;
            }
    }
    free(syn);
    if (!found)
        return mb_errorf(err, errlen, "record_bytes = %lld cannot hold an Example of %lld features (at least %lld bytes)",
                         (long long)record_bytes, (long long)features, base);
    return 0;
}

uint32_t mb_tfr_fingerprint(const struct mb_feature *f) {
    uint64_t sum = 0, pos = 0;
    uint8_t le[8];
    for (size_t v = 0; v < f->count; v++) {
        const uint8_t *p = le;
        size_t len = 0;
        if (f->kind == MB_FEATURE_INT64) {
            for (int b = 0; b < 8; b++) le[b] = (uint8_t)((uint64_t)f->int64s[v] >> (8 * b));
            len = 8;
        } else if (f->kind == MB_FEATURE_FLOAT) {
            uint32_t bits;
            memcpy(&bits, &f->floats[v], 4);
            for (int b = 0; b < 4; b++) le[b] = (uint8_t)(bits >> (8 * b));
            len = 4;
        } else if (f->kind == MB_FEATURE_BYTES) {
            p = f->bytes[v].data, len = f->bytes[v].len;
        }
        for (size_t b = 0; b < len; b++, pos++) sum += (uint64_t)p[b] * (pos % 251 + 1);
        sum %= 65521;
    }
    return (uint32_t)sum;
}

/* sum of p[j] (phase + j + 1) over a run that starts at position phase (mod 251); advances phase. Each block of at
   most 251 bytes sums in 32 bits (<= 255 * 251 * 252 / 2 < 2^23). */
static uint64_t weighted_run(const uint8_t *p, size_t len, uint32_t *phase) {
    uint64_t sum = 0;
    uint32_t m = *phase;
    while (len) {
        const size_t run = len < 251u - m ? len : 251u - m;
        uint32_t s = 0;
        for (size_t j = 0; j < run; j++) s += (uint32_t)p[j] * (m + 1 + (uint32_t)j);
        sum += s, p += run, len -= run;
        m = (uint32_t)((m + run) % 251);
    }
    *phase = m;
    return sum;
}

uint32_t mb_tfr_fingerprint_blocked(const struct mb_feature *f) {
    uint64_t sum = 0;
    uint32_t phase = 0;
    uint8_t le[8];
    if (f->kind == MB_FEATURE_BYTES)
        for (size_t v = 0; v < f->count; v++) sum = (sum + weighted_run(f->bytes[v].data, f->bytes[v].len, &phase)) % 65521;
    else if (f->kind == MB_FEATURE_INT64)
        for (size_t v = 0; v < f->count; v++) {
            for (int b = 0; b < 8; b++) le[b] = (uint8_t)((uint64_t)f->int64s[v] >> (8 * b));
            sum = (sum + weighted_run(le, 8, &phase)) % 65521;
        }
    else if (f->kind == MB_FEATURE_FLOAT)
        for (size_t v = 0; v < f->count; v++) {
            uint32_t bits;
            memcpy(&bits, &f->floats[v], 4);
            for (int b = 0; b < 4; b++) le[b] = (uint8_t)(bits >> (8 * b));
            sum = (sum + weighted_run(le, 4, &phase)) % 65521;
        }
    return (uint32_t)sum;
}

/* ------------------------------------------------------------------------------------------ workload */
static size_t image_bytes_of(const struct mb_point *p) {
    return (size_t)p->n * (size_t)(p->record_bytes + MB_TFR_FRAMING_BYTES);
}

static int tfrecord_layout(struct mb_workload *w, char *err, size_t errlen) {
    const struct mb_point *p = &w->point;
    struct mb_tfr_shape s;
    if ((double)p->n * (double)(p->record_bytes + MB_TFR_FRAMING_BYTES) > (double)(INT64_C(1) << 34))
        return mb_errorf(err, errlen, "n (record_bytes + 16) = %.3g bytes is too large (max 2^34)",
                         (double)p->n * (double)(p->record_bytes + MB_TFR_FRAMING_BYTES));
    if (mb_tfr_shape(&s, p->n, p->record_bytes, p->features, err, errlen)) return -1;
    int64_t floats = (int64_t)((image_bytes_of(p) + 3) / 4);
    mb_tensor_set(&w->inputs[MB_TFR_IN_IMAGE], "image", "bytes/4", 1, floats, 0, 0, 0);
    w->n_inputs = 1;
    mb_tensor_set(&w->outputs[MB_TFR_OUT_RECORD_INFO], "record_info", "n,info", 2, p->n, 3, 0, 0);
    mb_tensor_set(&w->outputs[MB_TFR_OUT_FRAMED], "framed", "bytes/4", 1, floats, 0, 0, 0);
    mb_tensor_set(&w->outputs[MB_TFR_OUT_PARSED], "parsed", "n,features,2", 3, p->n, p->features, 2, 0);
    w->n_outputs = 3;
    return 0;
}

static void tfrecord_fill(struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    struct mb_tfr_shape s;
    char err[256];
    if (mb_tfr_shape(&s, p->n, p->record_bytes, p->features, err, sizeof err))
        mb_contract_violation("data.tfrecord: %s", err);
    struct mb_tfr_synthetic *syn = malloc(sizeof *syn);
    uint8_t *image = (uint8_t *)w->inputs[MB_TFR_IN_IMAGE].data;
    if (!syn || !(syn->pad_data = malloc(s.pad_a + s.pad_b + 1)))
        mb_contract_violation("data.tfrecord: out of memory filling the image");
    size_t at = 0;
    for (int64_t i = 0; i < p->n; i++) {
        uint8_t *bytes;
        size_t len;
        mb_tfr_synthetic_example(syn, &s, w->seed, i);
        if (mb_example_serialize(&syn->ex, &bytes, &len, err, sizeof err) || len != (size_t)p->record_bytes)
            mb_contract_violation("data.tfrecord: record %lld serialized to %zu bytes, not %lld", (long long)i, len,
                                  (long long)p->record_bytes);
        at += mb_tfr_frame(image + at, bytes, len);
        free(bytes);
    }
    free(syn->pad_data);
    free(syn);
}

void mb_tfr_bind(struct mb_tfr_bound *b, const struct mb_workload *w) {
    const struct mb_point *p = &w->point;
    char err[256];
    if (mb_tfr_shape(&b->shape, p->n, p->record_bytes, p->features, err, sizeof err))
        mb_contract_violation("data.tfrecord: %s", err);
    b->image = (const uint8_t *)w->inputs[MB_TFR_IN_IMAGE].data;
    b->image_bytes = image_bytes_of(p);
    b->record_info = w->outputs[MB_TFR_OUT_RECORD_INFO].data;
    b->framed = w->outputs[MB_TFR_OUT_FRAMED].data;
    b->parsed = w->outputs[MB_TFR_OUT_PARSED].data;
}

int mb_tfr_setup_bound(const struct mb_kernel *k MB_UNUSED, void **state, struct mb_workload *w, char *err,
                       size_t errlen) {
    struct mb_tfr_bound *b = malloc(sizeof *b);
    if (!b) return mb_errorf(err, errlen, "out of memory");
    mb_tfr_bind(b, w);
    *state = b;
    return 0;
}

/* ------------------------------------------------------------------------------------------ oracles */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t n) {
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++) crc = crc & 1u ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

/* Compare bytes exactly: each byte a value 0..255 in the error accumulator. */
static void add_bytes(struct mb_errors *e, const uint8_t *got, const uint8_t *want, size_t n) {
    float g[256];
    double d[256];
    for (size_t at = 0; at < n; at += 256) {
        size_t m = n - at < 256 ? n - at : 256;
        for (size_t i = 0; i < m; i++) g[i] = got[at + i], d[i] = want[at + i];
        mb_errors_add(e, g, d, (int64_t)m);
    }
}

static void put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t masked(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

static int tfrecord_check(const struct mb_kernel *k MB_UNUSED, const struct mb_workload *w, const char *mechanism,
                          const struct mb_check_opts *opts MB_UNUSED, struct mb_errors *out, char *err, size_t errlen) {
    struct mb_tfr_bound b;
    mb_tfr_bind(&b, w);
    const int64_t n = b.shape.n, rb = b.shape.record_bytes, nf = b.shape.features;
    mb_errors_reset(out);
    if (!strcmp(mechanism, "crc32c") || !strcmp(mechanism, "read_verify")) {
        for (int64_t i = 0; i < n; i++) {
            uint32_t c = crc32c_bitwise(mb_tfr_record_data(&b, i), (size_t)rb);
            double want[3] = {(double)rb, (double)(c & 0xFFFFu), (double)(c >> 16)};
            mb_errors_add(out, b.record_info + 3 * i, want, 3);
        }
    } else if (!strcmp(mechanism, "frame")) {
        uint8_t *rec = malloc((size_t)rb + MB_TFR_FRAMING_BYTES);
        if (!rec) return mb_errorf(err, errlen, "out of memory");
        const uint8_t *framed = (const uint8_t *)b.framed;
        for (int64_t i = 0; i < n; i++) {
            const uint8_t *data = mb_tfr_record_data(&b, i);
            uint8_t len8[8];
            for (int j = 0; j < 8; j++) len8[j] = (uint8_t)((uint64_t)rb >> (8 * j));
            memcpy(rec, len8, 8);
            put_le32(rec + 8, masked(crc32c_bitwise(len8, 8)));
            memcpy(rec + 12, data, (size_t)rb);
            put_le32(rec + 12 + rb, masked(crc32c_bitwise(data, (size_t)rb)));
            add_bytes(out, framed + (size_t)i * (size_t)(rb + MB_TFR_FRAMING_BYTES), rec, (size_t)rb + MB_TFR_FRAMING_BYTES);
        }
        free(rec);
    } else if (!strcmp(mechanism, "parse")) {
        struct mb_tfr_synthetic *syn = malloc(sizeof *syn);
        if (!syn || !(syn->pad_data = malloc(b.shape.pad_a + b.shape.pad_b + 1))) {
            free(syn);
            return mb_errorf(err, errlen, "out of memory");
        }
        for (int64_t i = 0; i < n; i++) {
            mb_tfr_synthetic_example(syn, &b.shape, w->seed, i);
            /* the parsed features come sorted by name: "f000".."f999" sort before "pad" */
            for (int64_t f = 0; f < nf; f++) {
                double want[2] = {(double)syn->features[f].count, (double)mb_tfr_fingerprint(&syn->features[f])};
                mb_errors_add(out, b.parsed + 2 * (i * nf + f), want, 2);
            }
        }
        free(syn->pad_data);
        free(syn);
    } else {
        return mb_errorf(err, errlen, "data.tfrecord: unknown mechanism '%s' (crc32c, frame, read_verify, parse)",
                         mechanism);
    }
    mb_errors_finish(out);
    return 0;
}

static const struct mb_mechanism tfrecord_mechanisms[] = {
    {"crc32c", "crc32c(data): Castagnoli 0x82F63B78 reflected, init/xorout 0xFFFFFFFF, per record", 1e-12, NULL},
    {"frame", "len LE64 | mask(crc32c(len)) | data | mask(crc32c(data)); mask(c) = ((c>>15)|(c<<17)) + 0xa282ead8", 1e-12,
     NULL},
    {"read_verify", "walk the framed image, check both masked CRCs of every record, return [length, crc32c(data)]", 1e-12,
     NULL},
    {"parse", "tf.Example protobuf -> per feature (sorted by name) [count, fingerprint of the values]", 1e-12, NULL},
};

/* ------------------------------------------------------------------------------------------ models */
double mb_tfr_no_flops(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p MB_UNUSED) { return 0; }
double mb_tfr_data_bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return (double)p->n * (double)p->record_bytes;
}
double mb_tfr_image_bytes(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) {
    return (double)p->n * (double)(p->record_bytes + MB_TFR_FRAMING_BYTES);
}
double mb_tfr_no_workspace(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p MB_UNUSED) { return 0; }
double mb_tfr_records(const struct mb_kernel *k MB_UNUSED, const struct mb_point *p) { return (double)p->n; }

const struct mb_family mb_family_data_tfrecord = {
    .name = "data.tfrecord",
    .summary = "a TFRecord file image of n tf.Examples (record_bytes each, `features` features) in memory -> "
               "record_info (n, 3), framed (the image), parsed (n, features, 2): write, read + verify, parse, CRC32C",
    .axes = tfrecord_axes,
    .n_meaning = "records in the file image",
    .n_axes = (int)(sizeof tfrecord_axes / sizeof tfrecord_axes[0]),
    .probes = mb_tfrecord_probes,
    .n_probes = (int)(sizeof mb_tfrecord_probes / sizeof mb_tfrecord_probes[0]),
    .mechanisms = tfrecord_mechanisms,
    .n_mechanisms = (int)(sizeof tfrecord_mechanisms / sizeof tfrecord_mechanisms[0]),
    .layout = tfrecord_layout,
    .fill = tfrecord_fill,
    .check = tfrecord_check,
    .tools = mb_tfrecord_tools,
    .n_tools = (int)(sizeof mb_tfrecord_tools / sizeof mb_tfrecord_tools[0]),
};
