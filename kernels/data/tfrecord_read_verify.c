/* data.tfrecord.read_verify: walk a TFRecord file image and verify both CRCs of every record (TensorFlow's
 * core/lib/io/record_reader.cc, uncompressed):
 *
 *   per record: length = LE64(header); mask(crc32c(header[0..8))) == header[8..12];
 *               mask(crc32c(data)) == footer; out = [length, crc32c(data)]
 *
 * The image is memory-resident (a file in the page cache, without the read(2) copy: the tfrecord_read_share probe
 * measures the streaming reader on the same bytes from a real file against read(2) alone). The walk uses
 * mb_tfr_next_in_memory, the reader's own checks; a record that fails them leaves its row at zeros (the family's
 * oracle then fails). O(n record_bytes) time, no workspace. */
#include "data/family_tfrecord.h"

#include <stdlib.h>

static void run(void *state) {
    const struct mb_tfr_bound *b = state;
    size_t at = 0;
    for (int64_t i = 0; i < b->shape.n; i++) {
        const uint8_t *data;
        uint64_t length;
        if (mb_tfr_next_in_memory(b->image, b->image_bytes, &at, &data, &length, 1) != MB_TFR_RECORD) {
            mb_tfr_put_info(b->record_info, i, 0, 0);
            continue;
        }
        /* the verified footer holds mask(crc32c(data)): unmask it rather than hash the data twice */
        uint32_t footer = (uint32_t)data[length] | (uint32_t)data[length + 1] << 8 | (uint32_t)data[length + 2] << 16 |
                          (uint32_t)data[length + 3] << 24;
        mb_tfr_put_info(b->record_info, i, length, mb_tfr_unmask_crc(footer));
    }
}

const struct mb_kernel mb_kernel_data_tfrecord_read_verify = {
    .name = "data.tfrecord.read_verify",
    .mechanism = "read_verify",
    .summary = "TFRecord reader over a memory-resident image: both masked CRC32Cs of every record checked (ISA-L)",
    .complexity = "O(n record_bytes) time (one CRC per byte), no workspace",
    MB_TFR_KERNEL,
    .setup = mb_tfr_setup_bound,
    .run = run,
    .teardown = free,
    .bytes = mb_tfr_image_bytes,
    .workspace_bytes = mb_tfr_no_workspace,
};
