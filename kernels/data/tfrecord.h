/* TFRecord: a stream of framed records (TensorFlow, tensorflow/core/lib/io/record_writer.cc; MECHANISMS.md G).
 *
 *   record = uint64 length (little endian) | uint32 masked_crc32c(the 8 length bytes) | data[length]
 *            | uint32 masked_crc32c(data)
 *   mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 (mod 2^32)
 *   CRC32C: Castagnoli, reflected polynomial 0x82F63B78, init and xorout 0xFFFFFFFF; crc32c("123456789") = 0xE3069283
 *
 * GZIP and ZLIB compression apply to the whole stream (zlib, windowBits 15 + 16 and 15). The reader streams in
 * constant memory (one record buffer, grown to the largest record) for any file size, and refuses a length field
 * that cannot be right (larger than max_record_bytes, or, for an uncompressed file, than the rest of the file)
 * before allocating anything for it. Byte offsets are offsets of the record's first byte in the uncompressed
 * stream. The library returns a status and an error line; it never prints. */
#ifndef MB_DATA_TFRECORD_H
#define MB_DATA_TFRECORD_H

#include <stddef.h>
#include <stdint.h>

#define MB_TFR_HEADER_BYTES 12 /* length + its masked CRC */
#define MB_TFR_FOOTER_BYTES 4  /* masked CRC of the data */
#define MB_TFR_FRAMING_BYTES (MB_TFR_HEADER_BYTES + MB_TFR_FOOTER_BYTES)
#define MB_TFR_DEFAULT_MAX_RECORD_BYTES ((uint64_t)256 << 20) /* 256 MiB */

enum mb_tfr_compression { MB_TFR_NONE, MB_TFR_GZIP, MB_TFR_ZLIB };

/* Status of a read: a record, the end of the stream, or what is wrong with the record at (index, offset). */
enum mb_tfr_status {
    MB_TFR_RECORD = 1,
    MB_TFR_END = 0,
    MB_TFR_TRUNCATED = -1,     /* the stream ends inside a record */
    MB_TFR_BAD_LENGTH_CRC = -2,
    MB_TFR_BAD_DATA_CRC = -3,
    MB_TFR_ABSURD_LENGTH = -4, /* length > max_record_bytes or > the rest of the file */
    MB_TFR_CORRUPT_STREAM = -5, /* zlib refused the GZIP/ZLIB stream */
    MB_TFR_IO_ERROR = -6,
    MB_TFR_NO_MEMORY = -7,
};
const char *mb_tfr_status_name(enum mb_tfr_status s); /* "truncated record", "bad length CRC", ... */

/* ------------------------------------------------------------------------------------------------- CRC32C */
uint32_t mb_crc32c(const void *data, size_t n);       /* ISA-L crc32_iscsi (hardware CRC32 / PCLMUL) */
uint32_t mb_crc32c_table(const void *data, size_t n); /* plain byte-at-a-time table: the reference oracle */
uint32_t mb_tfr_mask_crc(uint32_t crc);
uint32_t mb_tfr_unmask_crc(uint32_t masked);

/* ---------------------------------------------------------------------------------- framing in memory */
/* The 12 header bytes of a record of `length` bytes, and the 4 footer bytes of `data`. */
void mb_tfr_frame_header(uint8_t header[MB_TFR_HEADER_BYTES], uint64_t length);
void mb_tfr_frame_footer(uint8_t footer[MB_TFR_FOOTER_BYTES], const void *data, size_t length);
/* Frames `length` bytes into out (length + MB_TFR_FRAMING_BYTES bytes); returns the bytes written. */
size_t mb_tfr_frame(uint8_t *out, const void *data, size_t length);
/* Next record of a memory-resident file image at *offset (no allocation, no copy): on MB_TFR_RECORD, *data points
   into image and *offset moves past the record; verify = 0 skips both CRC checks. */
enum mb_tfr_status mb_tfr_next_in_memory(const uint8_t *image, size_t size, size_t *offset, const uint8_t **data,
                                         uint64_t *length, int verify);

/* ----------------------------------------------------------------------------------------------- writer */
struct mb_tfr_writer;
/* Writes to a temporary file next to path; mb_tfr_writer_commit renames it to path (atomic), mb_tfr_writer_abort
   removes it. Nothing appears at path unless the commit succeeds. */
struct mb_tfr_writer *mb_tfr_writer_open(const char *path, enum mb_tfr_compression compression, char *err,
                                         size_t errlen);
int mb_tfr_writer_write(struct mb_tfr_writer *w, const void *data, size_t length, char *err, size_t errlen);
int mb_tfr_writer_commit(struct mb_tfr_writer *w, char *err, size_t errlen); /* frees w; 0 or -1 */
void mb_tfr_writer_abort(struct mb_tfr_writer *w);                           /* frees w; NULL is fine */

/* ----------------------------------------------------------------------------------------------- reader */
struct mb_tfr_reader_options {
    enum mb_tfr_compression compression;
    uint64_t max_record_bytes; /* 0 = MB_TFR_DEFAULT_MAX_RECORD_BYTES */
    int skip_corrupt;          /* skip records with a bad data CRC and count them (a bad length cannot be resynced:
                                  the reader stops there with its error) */
};
struct mb_tfr_reader;
struct mb_tfr_reader *mb_tfr_reader_open(const char *path, const struct mb_tfr_reader_options *opt, char *err,
                                         size_t errlen);
/* A reader over a (possibly compressed) stream in memory; image must outlive the reader. */
struct mb_tfr_reader *mb_tfr_reader_open_memory(const void *image, size_t size, const struct mb_tfr_reader_options *opt,
                                                char *err, size_t errlen);
/* MB_TFR_RECORD: *data (valid until the next call) and *length hold the record; MB_TFR_END; or an error whose line
   in err names the record index and byte offset, e.g. "record 3 at byte 2081: bad data CRC (stored 0x.., computed
   0x..)". After an error the reader stays at that error. */
enum mb_tfr_status mb_tfr_reader_next(struct mb_tfr_reader *r, const uint8_t **data, size_t *length, char *err,
                                      size_t errlen);
uint64_t mb_tfr_reader_index(const struct mb_tfr_reader *r);   /* records returned so far + skipped */
uint64_t mb_tfr_reader_offset(const struct mb_tfr_reader *r);  /* uncompressed byte offset of the next record */
uint64_t mb_tfr_reader_skipped(const struct mb_tfr_reader *r); /* records skipped by skip_corrupt */
void mb_tfr_reader_close(struct mb_tfr_reader *r);             /* NULL is fine */

/* "none" | "gzip" | "zlib" -> 0 and *c; else -1 and one line in err. */
int mb_tfr_compression_parse(const char *name, enum mb_tfr_compression *c, char *err, size_t errlen);
/* MB_TFR_GZIP for a path ending in ".gz", MB_TFR_ZLIB for ".zz"/".zlib", else MB_TFR_NONE. */
enum mb_tfr_compression mb_tfr_compression_from_path(const char *path);

#endif
