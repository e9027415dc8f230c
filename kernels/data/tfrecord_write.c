/* data.tfrecord.write: frame every record's data into a TFRecord file image in memory (TensorFlow's
 * core/lib/io/record_writer.cc, uncompressed):
 *
 *   out = len (uint64 LE) | mask(crc32c(len bytes)) | data | mask(crc32c(data))
 *   mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8
 *
 * The data come from the input image (the records' payloads); the output is the framed image, which must equal
 * the input byte for byte. Memory stands for the page cache: no I/O in the timed run (the `tfrecord` tool writes
 * real files through the same framing, tfrecord.c). O(n record_bytes) time: one copy and one CRC per byte. */
#include "data/family_tfrecord.h"

#include <stdlib.h>

static void run(void *state) {
    const struct mb_tfr_bound *b = state;
    uint8_t *out = (uint8_t *)b->framed;
    const size_t rb = (size_t)b->shape.record_bytes;
    for (int64_t i = 0; i < b->shape.n; i++) out += mb_tfr_frame(out, mb_tfr_record_data(b, i), rb);
}

/* read the data, write the framed image */
static double bytes(const struct mb_kernel *k, const struct mb_point *p) {
    return mb_tfr_data_bytes(k, p) + mb_tfr_image_bytes(k, p);
}

const struct mb_kernel mb_kernel_data_tfrecord_write = {
    .name = "data.tfrecord.write",
    .mechanism = "frame",
    .summary = "TFRecord writer into memory: length, masked CRC32C of the length, data, masked CRC32C of the data",
    .complexity = "O(n record_bytes) time (one copy, one CRC per byte), no workspace",
    MB_TFR_KERNEL,
    .setup = mb_tfr_setup_bound,
    .run = run,
    .teardown = free,
    .bytes = bytes,
    .workspace_bytes = mb_tfr_no_workspace,
};
