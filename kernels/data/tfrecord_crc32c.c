/* data.tfrecord.crc32c, data.tfrecord.crc32c_table: CRC32C of every record's data (the checksum TFRecord masks).
 *
 *   crc32c(data) = ~CRC(data, register 0xFFFFFFFF), reflected Castagnoli polynomial 0x82F63B78
 *   (Castagnoli, Braeutigam & Herrmann 1993; RFC 3720 sec. 12.1; check value crc32c("123456789") = 0xE3069283)
 *
 * crc32c: ISA-L's crc32_iscsi (SSE4.2 CRC32 instructions folded with PCLMULQDQ; tfrecord.c mb_crc32c).
 * crc32c_table: the byte-at-a-time lookup table (256 entries; one table load, shift and xor per byte): the
 * reference implementation the claims compare against. Both write record_info rows [length, crc lo16, crc hi16].
 * O(n record_bytes) time, no workspace. */
#include "data/family_tfrecord.h"

#include <stdlib.h>

struct crc_variant {
    uint32_t (*crc)(const void *data, size_t n);
};

struct crc_state {
    struct mb_tfr_bound b;
    const struct crc_variant *v;
};

static int setup(const struct mb_kernel *k, void **state, struct mb_workload *w, char *err, size_t errlen) {
    struct crc_state *s = malloc(sizeof *s);
    if (!s) return mb_errorf(err, errlen, "out of memory");
    mb_tfr_bind(&s->b, w);
    s->v = k->variant;
    *state = s;
    return 0;
}

static void run(void *state) {
    const struct crc_state *s = state;
    const struct mb_tfr_bound *b = &s->b;
    const struct crc_variant *v = s->v;
    const int64_t n = b->shape.n;
    const size_t rb = (size_t)b->shape.record_bytes;
    for (int64_t i = 0; i < n; i++) mb_tfr_put_info(b->record_info, i, rb, v->crc(mb_tfr_record_data(b, i), rb));
}

#define CRC_KERNEL                                                                                                    \
    MB_TFR_KERNEL, .mechanism = "crc32c", .complexity = "O(n record_bytes) time, no workspace", .setup = setup,     \
    .run = run, .teardown = free, .bytes = mb_tfr_data_bytes, .workspace_bytes = mb_tfr_no_workspace

const struct mb_kernel mb_kernel_data_tfrecord_crc32c = {
    .name = "data.tfrecord.crc32c",
    .summary = "CRC32C of every record's data with ISA-L's crc32_iscsi (hardware CRC32 + PCLMULQDQ folding)",
    .variant = &(const struct crc_variant){mb_crc32c},
    CRC_KERNEL,
};

const struct mb_kernel mb_kernel_data_tfrecord_crc32c_table = {
    .name = "data.tfrecord.crc32c_table",
    .summary = "CRC32C of every record's data, byte-at-a-time 256-entry table: the reference implementation",
    .variant = &(const struct crc_variant){mb_crc32c_table},
    CRC_KERNEL,
};
