/* TFRecord framing, writer and streaming reader (the format in tfrecord.h; TensorFlow's
 * tensorflow/core/lib/io/record_writer.cc and record_reader.cc; MECHANISMS.md G):
 *
 *   record = uint64 length LE | uint32 mask(crc32c(length bytes)) | data | uint32 mask(crc32c(data))
 *   mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8
 *
 * CRC32C comes from ISA-L (crc32_iscsi: it takes the running register and neither inverts it on entry nor on exit,
 * so the standard CRC32C is ~crc32_iscsi(data, n, ~0)), checked against the table-driven reference below. The reader
 * reads through one 256 KiB input buffer (records that fit are checked and returned in place) (and zlib's inflate for GZIP/ZLIB streams) into one record buffer grown to
 * the largest record, so memory stays constant for any file size; a length is checked against the limit and the
 * rest of an uncompressed file before the buffer grows. */
#include "data/tfrecord.h"

#include "core/mechbench.h"

#include <errno.h>
#include <fcntl.h>
#include <isa-l/crc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CHUNK_BYTES (256u << 10)

const char *mb_tfr_status_name(enum mb_tfr_status s) {
    switch (s) {
    case MB_TFR_RECORD: return "record";
    case MB_TFR_END: return "end of stream";
    case MB_TFR_TRUNCATED: return "truncated record";
    case MB_TFR_BAD_LENGTH_CRC: return "bad length CRC";
    case MB_TFR_BAD_DATA_CRC: return "bad data CRC";
    case MB_TFR_ABSURD_LENGTH: return "absurd length";
    case MB_TFR_CORRUPT_STREAM: return "corrupt compressed stream";
    case MB_TFR_IO_ERROR: return "I/O error";
    case MB_TFR_NO_MEMORY: return "out of memory";
    }
    return "unknown status";
}

/* ------------------------------------------------------------------------------------------------- CRC32C */
uint32_t mb_crc32c(const void *data, size_t n) {
    const unsigned char *p = data;
    uint32_t crc = 0xFFFFFFFFu;
    while (n > 0) { /* crc32_iscsi takes an int length */
        int part = n > (1u << 30) ? 1 << 30 : (int)n;
        crc = crc32_iscsi((unsigned char *)p, part, crc);
        p += part, n -= (size_t)part;
    }
    return ~crc;
}

/* The reference: one table lookup per byte, reflected polynomial 0x82F63B78. */
static uint32_t crc32c_table_entry(uint32_t byte) {
    uint32_t c = byte;
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    return c;
}

uint32_t mb_crc32c_table(const void *data, size_t n) {
    static uint32_t table[256];
    static int ready;
    if (!ready) { /* idempotent: racing threads write the same values */
        for (uint32_t b = 0; b < 256; b++) table[b] = crc32c_table_entry(b);
        ready = 1;
    }
    const uint8_t *p = data;
    uint32_t crc = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

uint32_t mb_tfr_mask_crc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

uint32_t mb_tfr_unmask_crc(uint32_t masked) {
    uint32_t rot = masked - 0xa282ead8u;
    return (rot >> 17) | (rot << 15);
}

/* ---------------------------------------------------------------------------------- framing in memory */
static void put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_le64(const uint8_t *p) { return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32; }

void mb_tfr_frame_header(uint8_t header[MB_TFR_HEADER_BYTES], uint64_t length) {
    put_le32(header, (uint32_t)length);
    put_le32(header + 4, (uint32_t)(length >> 32));
    put_le32(header + 8, mb_tfr_mask_crc(mb_crc32c(header, 8)));
}

void mb_tfr_frame_footer(uint8_t footer[MB_TFR_FOOTER_BYTES], const void *data, size_t length) {
    put_le32(footer, mb_tfr_mask_crc(mb_crc32c(data, length)));
}

size_t mb_tfr_frame(uint8_t *out, const void *data, size_t length) {
    mb_tfr_frame_header(out, length);
    if (length) memcpy(out + MB_TFR_HEADER_BYTES, data, length);
    mb_tfr_frame_footer(out + MB_TFR_HEADER_BYTES + length, data, length);
    return length + MB_TFR_FRAMING_BYTES;
}

/* The checks a header and a footer pass, shared by the memory and the streaming reader. */
static enum mb_tfr_status check_header(const uint8_t *header, uint64_t *length) {
    *length = get_le64(header);
    return mb_tfr_mask_crc(mb_crc32c(header, 8)) == get_le32(header + 8) ? MB_TFR_RECORD : MB_TFR_BAD_LENGTH_CRC;
}
static enum mb_tfr_status check_footer(const uint8_t *data, uint64_t length, const uint8_t *footer) {
    return mb_tfr_mask_crc(mb_crc32c(data, length)) == get_le32(footer) ? MB_TFR_RECORD : MB_TFR_BAD_DATA_CRC;
}

enum mb_tfr_status mb_tfr_next_in_memory(const uint8_t *image, size_t size, size_t *offset, const uint8_t **data,
                                         uint64_t *length, int verify) {
    size_t at = *offset;
    if (at == size) return MB_TFR_END;
    if (size - at < MB_TFR_HEADER_BYTES) return MB_TFR_TRUNCATED;
    uint64_t len = get_le64(image + at);
    if (verify && check_header(image + at, &len) != MB_TFR_RECORD) return MB_TFR_BAD_LENGTH_CRC;
    if (len > size - at - MB_TFR_HEADER_BYTES || size - at - MB_TFR_HEADER_BYTES - len < MB_TFR_FOOTER_BYTES)
        return MB_TFR_TRUNCATED;
    const uint8_t *d = image + at + MB_TFR_HEADER_BYTES;
    if (verify && check_footer(d, len, d + len) != MB_TFR_RECORD) return MB_TFR_BAD_DATA_CRC;
    *data = d, *length = len;
    *offset = at + MB_TFR_HEADER_BYTES + len + MB_TFR_FOOTER_BYTES;
    return MB_TFR_RECORD;
}

/* ---------------------------------------------------------------------------------------- compression */
int mb_tfr_compression_parse(const char *name, enum mb_tfr_compression *c, char *err, size_t errlen) {
    if (!strcmp(name, "none")) *c = MB_TFR_NONE;
    else if (!strcmp(name, "gzip")) *c = MB_TFR_GZIP;
    else if (!strcmp(name, "zlib")) *c = MB_TFR_ZLIB;
    else return mb_errorf(err, errlen, "--compression '%s' is not one of none, gzip, zlib", name);
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

enum mb_tfr_compression mb_tfr_compression_from_path(const char *path) {
    if (ends_with(path, ".gz")) return MB_TFR_GZIP;
    if (ends_with(path, ".zz") || ends_with(path, ".zlib")) return MB_TFR_ZLIB;
    return MB_TFR_NONE;
}

static int window_bits(enum mb_tfr_compression c) { return c == MB_TFR_GZIP ? 15 + 16 : 15; }

/* ----------------------------------------------------------------------------------------------- writer */
struct mb_tfr_writer {
    int fd;
    enum mb_tfr_compression compression;
    z_stream z;
    char *path, *temp_path;
    uint8_t out[CHUNK_BYTES];
};

static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w, n -= (size_t)w;
    }
    return 0;
}

/* Write or deflate bytes to the temporary file; flush = Z_FINISH at commit. */
static int writer_emit(struct mb_tfr_writer *w, const void *p, size_t n, int flush, char *err, size_t errlen) {
    if (w->compression == MB_TFR_NONE) {
        if (n && write_all(w->fd, p, n))
            return mb_errorf(err, errlen, "cannot write %s: %s", w->temp_path, strerror(errno));
        return 0;
    }
    w->z.next_in = (Bytef *)p;
    w->z.avail_in = (uInt)n;
    do {
        w->z.next_out = w->out;
        w->z.avail_out = sizeof w->out;
        int rc = deflate(&w->z, flush);
        if (rc == Z_STREAM_ERROR) return mb_errorf(err, errlen, "deflate failed writing %s", w->temp_path);
        size_t have = sizeof w->out - w->z.avail_out;
        if (have && write_all(w->fd, w->out, have))
            return mb_errorf(err, errlen, "cannot write %s: %s", w->temp_path, strerror(errno));
    } while (w->z.avail_out == 0 || (flush == Z_FINISH && w->z.avail_in) );
    return 0;
}

struct mb_tfr_writer *mb_tfr_writer_open(const char *path, enum mb_tfr_compression compression, char *err,
                                         size_t errlen) {
    struct mb_tfr_writer *w = calloc(1, sizeof *w);
    size_t n = strlen(path);
    if (!w || !(w->path = strdup(path)) || !(w->temp_path = malloc(n + 16))) {
        mb_tfr_writer_abort(w);
        mb_errorf(err, errlen, "out of memory opening %s", path);
        return NULL;
    }
    w->compression = compression;
    snprintf(w->temp_path, n + 16, "%s.tmp.XXXXXX", path);
    if ((w->fd = mkstemp(w->temp_path)) < 0) {
        mb_errorf(err, errlen, "cannot create %s: %s", w->temp_path, strerror(errno));
        free(w->temp_path), free(w->path), free(w);
        return NULL;
    }
    fchmod(w->fd, 0644);
    if (compression != MB_TFR_NONE &&
        deflateInit2(&w->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, window_bits(compression), 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        mb_tfr_writer_abort(w);
        mb_errorf(err, errlen, "deflateInit2 failed for %s", path);
        return NULL;
    }
    return w;
}

int mb_tfr_writer_write(struct mb_tfr_writer *w, const void *data, size_t length, char *err, size_t errlen) {
    uint8_t header[MB_TFR_HEADER_BYTES], footer[MB_TFR_FOOTER_BYTES];
    mb_tfr_frame_header(header, length);
    mb_tfr_frame_footer(footer, data, length);
    if (writer_emit(w, header, sizeof header, Z_NO_FLUSH, err, errlen)) return -1;
    if (writer_emit(w, data, length, Z_NO_FLUSH, err, errlen)) return -1;
    return writer_emit(w, footer, sizeof footer, Z_NO_FLUSH, err, errlen);
}

int mb_tfr_writer_commit(struct mb_tfr_writer *w, char *err, size_t errlen) {
    if (w->compression != MB_TFR_NONE && writer_emit(w, NULL, 0, Z_FINISH, err, errlen)) {
        mb_tfr_writer_abort(w);
        return -1;
    }
    int rc = close(w->fd);
    w->fd = -1;
    if (rc || rename(w->temp_path, w->path)) {
        mb_errorf(err, errlen, "cannot write %s: %s", w->path, strerror(errno));
        mb_tfr_writer_abort(w);
        return -1;
    }
    if (w->compression != MB_TFR_NONE) deflateEnd(&w->z);
    free(w->temp_path), free(w->path), free(w);
    return 0;
}

void mb_tfr_writer_abort(struct mb_tfr_writer *w) {
    if (!w) return;
    if (w->temp_path && w->fd >= 0) close(w->fd);
    if (w->temp_path) unlink(w->temp_path);
    if (w->compression != MB_TFR_NONE) deflateEnd(&w->z);
    free(w->temp_path), free(w->path), free(w);
}

/* ----------------------------------------------------------------------------------------------- reader */
struct mb_tfr_reader {
    struct mb_tfr_reader_options opt;
    int fd;                      /* -1 for a memory image */
    const uint8_t *image;        /* memory image (compressed or not) */
    size_t image_size, image_at;
    uint64_t source_size;        /* bytes of the file or image: the bound on an uncompressed length */
    z_stream z;
    int z_ready, z_end;          /* inflate initialised; the last member ended with no more input */
    uint8_t in[CHUNK_BYTES];     /* raw input chunk: compressed input, or the uncompressed file's read buffer */
    const uint8_t *buf;          /* uncompressed: the bytes read ahead (in, or the whole memory image) */
    size_t buf_pos, buf_len;
    uint8_t *record;             /* grown to the largest record + footer */
    size_t record_cap;
    uint64_t index, offset, skipped;
    enum mb_tfr_status sticky;   /* an error the reader stays at */
    char sticky_message[512];
    const char *name;            /* for messages */
};

/* Raw (compressed or not) bytes from the file or image into dst; returns bytes read, 0 at end, -1 on error. */
static ssize_t source_read(struct mb_tfr_reader *r, uint8_t *dst, size_t n) {
    if (r->fd < 0) {
        size_t left = r->image_size - r->image_at, m = n < left ? n : left;
        memcpy(dst, r->image + r->image_at, m);
        r->image_at += m;
        return (ssize_t)m;
    }
    for (;;) {
        ssize_t got = read(r->fd, dst, n);
        if (got < 0 && errno == EINTR) continue;
        return got;
    }
}

/* Exactly n uncompressed bytes into dst, or fewer at the end of the stream: returns the count, or a status < 0. */
static long long inflate_read(struct mb_tfr_reader *r, uint8_t *dst, size_t n) {
    r->z.next_out = dst;
    r->z.avail_out = (uInt)n;
    while (r->z.avail_out && !r->z_end) {
        if (r->z.avail_in == 0) {
            if (r->fd < 0) { /* the image is the input: hand zlib the rest at once */
                size_t left = r->image_size - r->image_at, m = left < (1u << 30) ? left : (1u << 30);
                r->z.next_in = (Bytef *)(r->image + r->image_at);
                r->z.avail_in = (uInt)m;
                r->image_at += m;
            } else {
                ssize_t m = source_read(r, r->in, sizeof r->in);
                if (m < 0) return MB_TFR_IO_ERROR;
                r->z.next_in = r->in;
                r->z.avail_in = (uInt)m;
            }
            if (r->z.avail_in == 0) { /* an empty file is an empty stream; else the input ended inside a member */
                if (r->z.total_in == 0 && r->z.total_out == 0) {
                    r->z_end = 1;
                    break;
                }
                return MB_TFR_CORRUPT_STREAM;
            }
        }
        int rc = inflate(&r->z, Z_NO_FLUSH);
        if (rc == Z_STREAM_END) {
            /* another gzip member may follow (concatenated streams); a zlib stream ends here */
            if (r->z.avail_in == 0 && r->fd >= 0) {
                ssize_t m = source_read(r, r->in, sizeof r->in);
                if (m < 0) return MB_TFR_IO_ERROR;
                r->z.next_in = r->in;
                r->z.avail_in = (uInt)m;
            } else if (r->z.avail_in == 0 && r->image_at < r->image_size) {
                size_t left = r->image_size - r->image_at, m = left < (1u << 30) ? left : (1u << 30);
                r->z.next_in = (Bytef *)(r->image + r->image_at);
                r->z.avail_in = (uInt)m;
                r->image_at += m;
            }
            if (r->z.avail_in == 0 || r->opt.compression == MB_TFR_ZLIB) r->z_end = 1;
            else if (inflateReset(&r->z) != Z_OK) return MB_TFR_CORRUPT_STREAM;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return MB_TFR_CORRUPT_STREAM;
        }
    }
    return (long long)(n - r->z.avail_out);
}

/* Uncompressed: at least min(want, what is left) bytes ahead in buf (want <= CHUNK_BYTES for a file); returns the
   bytes ahead, or a status < 0. */
static long long ensure_ahead(struct mb_tfr_reader *r, size_t want) {
    if (r->fd < 0 || r->buf_len - r->buf_pos >= want) return (long long)(r->buf_len - r->buf_pos);
    size_t ahead = r->buf_len - r->buf_pos;
    memmove(r->in, r->in + r->buf_pos, ahead);
    r->buf_pos = 0, r->buf_len = ahead;
    while (r->buf_len < want) {
        ssize_t m = source_read(r, r->in + r->buf_len, sizeof r->in - r->buf_len);
        if (m < 0) return MB_TFR_IO_ERROR;
        if (m == 0) break;
        r->buf_len += (size_t)m;
    }
    return (long long)r->buf_len;
}

/* The next n bytes of the uncompressed stream: *out points to them (into the read-ahead buffer when they fit, else
   into dst, which has room for n). Returns the count (< n at the end of the stream) or a status < 0. */
static long long take(struct mb_tfr_reader *r, size_t n, uint8_t *dst, const uint8_t **out) {
    if (r->opt.compression != MB_TFR_NONE) {
        *out = dst;
        return inflate_read(r, dst, n);
    }
    if (r->fd < 0 || n <= sizeof r->in) {
        long long ahead = ensure_ahead(r, n);
        if (ahead < 0) return ahead;
        size_t got = (size_t)ahead < n ? (size_t)ahead : n;
        *out = r->buf + r->buf_pos;
        r->buf_pos += got;
        return (long long)got;
    }
    size_t got = r->buf_len - r->buf_pos; /* a large record: what is buffered, then straight from the file */
    memcpy(dst, r->buf + r->buf_pos, got);
    r->buf_pos = r->buf_len = 0;
    while (got < n) {
        ssize_t m = source_read(r, dst + got, n - got);
        if (m < 0) return MB_TFR_IO_ERROR;
        if (m == 0) break;
        got += (size_t)m;
    }
    *out = dst;
    return (long long)got;
}

static struct mb_tfr_reader *reader_new(const struct mb_tfr_reader_options *opt, const char *name, char *err,
                                        size_t errlen) {
    struct mb_tfr_reader *r = calloc(1, sizeof *r);
    if (!r) {
        mb_errorf(err, errlen, "out of memory opening %s", name);
        return NULL;
    }
    if (opt) r->opt = *opt;
    if (!r->opt.max_record_bytes) r->opt.max_record_bytes = MB_TFR_DEFAULT_MAX_RECORD_BYTES;
    r->fd = -1;
    r->name = name;
    if (r->opt.compression != MB_TFR_NONE) {
        if (inflateInit2(&r->z, window_bits(r->opt.compression)) != Z_OK) {
            free(r);
            mb_errorf(err, errlen, "inflateInit2 failed for %s", name);
            return NULL;
        }
        r->z_ready = 1;
    }
    return r;
}

struct mb_tfr_reader *mb_tfr_reader_open(const char *path, const struct mb_tfr_reader_options *opt, char *err,
                                         size_t errlen) {
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        mb_errorf(err, errlen, "cannot read %s: %s", path, fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0) close(fd);
        return NULL;
    }
    struct mb_tfr_reader *r = reader_new(opt, path, err, errlen);
    if (!r) {
        close(fd);
        return NULL;
    }
    r->fd = fd;
    r->source_size = (uint64_t)st.st_size;
    r->buf = r->in;
    return r;
}

struct mb_tfr_reader *mb_tfr_reader_open_memory(const void *image, size_t size, const struct mb_tfr_reader_options *opt,
                                                char *err, size_t errlen) {
    struct mb_tfr_reader *r = reader_new(opt, "memory image", err, errlen);
    if (!r) return NULL;
    r->image = image, r->image_size = size, r->source_size = size;
    r->buf = image, r->buf_len = size;
    return r;
}

static enum mb_tfr_status reader_fail(struct mb_tfr_reader *r, enum mb_tfr_status s, char *err, size_t errlen,
                                      const char *fmt, const char *detail) {
    snprintf(r->sticky_message, sizeof r->sticky_message, fmt, (unsigned long long)r->index,
             (unsigned long long)r->offset, mb_tfr_status_name(s), detail);
    r->sticky = s;
    mb_errorf(err, errlen, "%s", r->sticky_message);
    return s;
}

#define AT "record %llu at byte %llu: %s%s"

enum mb_tfr_status mb_tfr_reader_next(struct mb_tfr_reader *r, const uint8_t **data, size_t *length, char *err,
                                      size_t errlen) {
    if (r->sticky) {
        mb_errorf(err, errlen, "%s", r->sticky_message);
        return r->sticky;
    }
    char detail[200];
    for (;;) {
        uint8_t header_copy[MB_TFR_HEADER_BYTES];
        const uint8_t *header, *record;
        long long got = take(r, sizeof header_copy, header_copy, &header);
        if (got < 0) return reader_fail(r, (enum mb_tfr_status)got, err, errlen, AT, " (zlib cannot inflate it)");
        if (got == 0) return MB_TFR_END;
        if (got < (long long)sizeof header_copy) {
            snprintf(detail, sizeof detail, " (the header needs 12 bytes, %lld left)", got);
            return reader_fail(r, MB_TFR_TRUNCATED, err, errlen, AT, detail);
        }
        uint64_t len;
        if (check_header(header, &len) != MB_TFR_RECORD)
            return reader_fail(r, MB_TFR_BAD_LENGTH_CRC, err, errlen, AT,
                               " (the length cannot be trusted, so no later record can be found)");
        uint64_t rest = r->source_size > r->offset + MB_TFR_HEADER_BYTES
                            ? r->source_size - r->offset - MB_TFR_HEADER_BYTES : 0;
        if (len > r->opt.max_record_bytes) {
            snprintf(detail, sizeof detail, " (length %llu > the limit of %llu bytes)", (unsigned long long)len,
                     (unsigned long long)r->opt.max_record_bytes);
            return reader_fail(r, MB_TFR_ABSURD_LENGTH, err, errlen, AT, detail);
        }
        if (r->opt.compression == MB_TFR_NONE && len > rest) {
            snprintf(detail, sizeof detail, " (length %llu > the %llu bytes left in the file)",
                     (unsigned long long)len, (unsigned long long)rest);
            return reader_fail(r, MB_TFR_ABSURD_LENGTH, err, errlen, AT, detail);
        }
        size_t need = (size_t)len + MB_TFR_FOOTER_BYTES;
        int buffered = r->opt.compression == MB_TFR_NONE && (r->fd < 0 || need <= sizeof r->in);
        if (!buffered && need > r->record_cap) {
            uint8_t *grown = realloc(r->record, need);
            if (!grown) return reader_fail(r, MB_TFR_NO_MEMORY, err, errlen, AT, "");
            r->record = grown, r->record_cap = need;
        }
        got = take(r, need, r->record, &record);
        if (got < 0) return reader_fail(r, (enum mb_tfr_status)got, err, errlen, AT, " (zlib cannot inflate it)");
        if ((size_t)got < need) {
            snprintf(detail, sizeof detail, " (%llu data + 4 CRC bytes expected, %lld left)", (unsigned long long)len,
                     got);
            return reader_fail(r, MB_TFR_TRUNCATED, err, errlen, AT, detail);
        }
        if (check_footer(record, len, record + len) != MB_TFR_RECORD) {
            if (!r->opt.skip_corrupt)
                return reader_fail(r, MB_TFR_BAD_DATA_CRC, err, errlen, AT, "");
            r->skipped++;
            r->index++;
            r->offset += MB_TFR_FRAMING_BYTES + len;
            continue;
        }
        *data = record, *length = (size_t)len;
        r->index++;
        r->offset += MB_TFR_FRAMING_BYTES + len;
        return MB_TFR_RECORD;
    }
}

uint64_t mb_tfr_reader_index(const struct mb_tfr_reader *r) { return r->index; }
uint64_t mb_tfr_reader_offset(const struct mb_tfr_reader *r) { return r->offset; }
uint64_t mb_tfr_reader_skipped(const struct mb_tfr_reader *r) { return r->skipped; }

void mb_tfr_reader_close(struct mb_tfr_reader *r) {
    if (!r) return;
    if (r->fd >= 0) close(r->fd);
    if (r->z_ready) inflateEnd(&r->z);
    free(r->record);
    free(r);
}
