/* data.tfrecord family (family_tfrecord.c): a TFRecord file of n serialized tf.Examples held in memory, and the
 * kernels that write, read + verify, parse and checksum it (tfrecord.h, example.h; MECHANISMS.md G).
 *
 *   input   image (n (record_bytes + 16) bytes): the framed file, n records of exactly record_bytes bytes each
 *   outputs record_info (n, 3): per record [length, crc32c & 0xFFFF, crc32c >> 16] (crc of the data, unmasked)
 *           framed (as image): the file image written again from the records' data
 *           parsed (n, features, 2): per record and feature (sorted by name) [value count, value fingerprint]
 * Tensors hold bytes in float storage (byte counts rounded up to whole floats); every float output is an integer
 * below 2^24, so the comparisons with the oracle are exact.
 *
 * Each Example has `features` features: features - 1 named f000, f001, ... cycling int64 (2 values, 3-byte
 * varints), float (2 values), bytes (1 value of 8 bytes), and "pad", bytes with two values whose lengths make the
 * serialized Example exactly record_bytes bytes. Axes: n records, record_bytes, features. The memory-resident
 * image stands for a file in the page cache: the timed runs do no I/O (the tfrecord_read_share probe measures the
 * same reader on a real file against read(2) of it). */
#ifndef MB_DATA_FAMILY_TFRECORD_H
#define MB_DATA_FAMILY_TFRECORD_H

#include "core/mechbench.h"
#include "data/example.h"
#include "data/tfrecord.h"

extern const struct mb_family mb_family_data_tfrecord;
extern const struct mb_tool mb_tfrecord_tools[1];
extern const struct mb_probe mb_tfrecord_probes[1];

enum { MB_TFR_IN_IMAGE };
enum { MB_TFR_OUT_RECORD_INFO, MB_TFR_OUT_FRAMED, MB_TFR_OUT_PARSED };

/* The layout of one synthetic Example: pad value lengths that make it exactly record_bytes bytes. */
struct mb_tfr_shape {
    int64_t n, record_bytes, features;
    size_t pad_a, pad_b;
};
/* 0, or -1 naming the smallest record_bytes that fits `features` features. */
int mb_tfr_shape(struct mb_tfr_shape *s, int64_t n, int64_t record_bytes, int64_t features, char *err, size_t errlen);

/* Record i's Example for seed (a view over storage: see family_tfrecord.c); its serialization is record_bytes long. */
struct mb_tfr_synthetic {
    struct mb_example ex;
    struct mb_feature features[1024];
    char names[1024][8];
    int64_t int64s[1024][2];
    float floats[1024][2];
    uint8_t small_bytes[1024][8];
    struct mb_bytes bytes[1024];
    struct mb_bytes pad[2];
    uint8_t *pad_data; /* pad_a + pad_b bytes, caller-provided */
};
#define MB_TFR_MAX_FEATURES 1024
void mb_tfr_synthetic_example(struct mb_tfr_synthetic *s, const struct mb_tfr_shape *shape, uint64_t seed, int64_t i);

/* What the kernels share: the bound tensors and the records' offsets in the image. */
struct mb_tfr_bound {
    struct mb_tfr_shape shape;
    const uint8_t *image;
    size_t image_bytes;
    float *record_info, *framed, *parsed;
};
void mb_tfr_bind(struct mb_tfr_bound *b, const struct mb_workload *w);
/* A kernel's setup whose state is just the bound tensors (teardown: free). */
int mb_tfr_setup_bound(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen);
/* Record i's data in the image (the layout is fixed: record i starts at i (record_bytes + 16)). */
static inline const uint8_t *mb_tfr_record_data(const struct mb_tfr_bound *b, int64_t i) {
    return b->image + (size_t)i * (size_t)(b->shape.record_bytes + MB_TFR_FRAMING_BYTES) + MB_TFR_HEADER_BYTES;
}
/* record_info row i: [length, crc & 0xFFFF, crc >> 16]. */
static inline void mb_tfr_put_info(float *info, int64_t i, uint64_t length, uint32_t crc) {
    info[3 * i] = (float)length, info[3 * i + 1] = (float)(crc & 0xFFFFu), info[3 * i + 2] = (float)(crc >> 16);
}
/* The 16-bit fingerprint of a feature's values (parsed output): sum of (byte * (position % 251 + 1)) mod 65521
   over the values' little-endian bytes (int64: 8, float: 4, bytes: their data). */
uint32_t mb_tfr_fingerprint(const struct mb_feature *f);
/* The same value in blocks of 251 positions (weights 1..251 per block: a loop the compiler vectorises, no division
   per byte): what data.tfrecord.parse computes; mb_tfr_fingerprint above is its oracle. */
uint32_t mb_tfr_fingerprint_blocked(const struct mb_feature *f);

/* The bump arena that parses one synthetic Example of record_bytes bytes and `features` features (tfrecord_parse.c,
   the tfrecord_read_share probe). */
double mb_tfr_parse_arena_bytes(int64_t record_bytes, int64_t features);

/* Models the kernels share. */
double mb_tfr_no_flops(const struct mb_kernel *k, const struct mb_point *p);
double mb_tfr_data_bytes(const struct mb_kernel *k, const struct mb_point *p);  /* n record_bytes */
double mb_tfr_image_bytes(const struct mb_kernel *k, const struct mb_point *p); /* n (record_bytes + 16) */
double mb_tfr_no_workspace(const struct mb_kernel *k, const struct mb_point *p);
double mb_tfr_records(const struct mb_kernel *k, const struct mb_point *p);     /* items model: n records */

#define MB_TFR_KERNEL                                                                                                 \
    .family = &mb_family_data_tfrecord, .axes = MB_AXIS_BIT(n) | MB_AXIS_BIT(record_bytes) | MB_AXIS_BIT(features),  \
    MB_KERNEL_SOURCE, .flops = mb_tfr_no_flops, .items = mb_tfr_records, .items_unit = "records"

#endif
