/* The data.tfrecord probe: read + verify (+ parse) throughput against the raw read bandwidth of the same file, from
 * the page cache (issue 12, "Performance" and "Claims"; MECHANISMS.md G, "throughput of write/read/parse vs raw file
 * bandwidth").
 *
 *   tfrecord_read_share  x = record_bytes. params file_mib (64), trials (5),
 *     measure = share|raw_gbps|verify_gbps|parse_share|parse_gbps.
 *     Writes one uncompressed TFRecord file of file_mib MiB of the family's synthetic tf.Examples of x bytes
 *     (`features` features: the point's features axis, else 8) under $TMPDIR (else /tmp), reads it once to bring
 *     it into the page cache, then per trial times, alternately (so all see the same machine state):
 *       raw:    read(2) of the whole file in 256 KiB chunks into one buffer (the bytes reach user memory: the least
 *               any reader must do),
 *       verify: the library's streaming reader (tfrecord.c: the same 256 KiB read(2) calls, both CRC32Cs of every
 *               record with ISA-L, records returned in place),
 *       parse:  verify, and each record parsed as a tf.Example (example.c, protobuf-c into a bump arena reset per
 *               record, as data.tfrecord.parse) and its feature count checked (parse_* measures only).
 *     share = raw time / verify time = verify bandwidth / raw bandwidth (1 = verifying is free); parse_share the
 *     same for read + verify + parse; *_gbps the file's bytes over each time. The samples are per trial. The kernels
 *     (data.tfrecord.read_verify, .parse) time the same work on a memory-resident image without read(2): this
 *     probe is where the real file is measured. The file is removed at the end. */
#include "data/family_tfrecord.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MEASURE_SHARE, MEASURE_RAW_GBPS, MEASURE_VERIFY_GBPS, MEASURE_PARSE_SHARE, MEASURE_PARSE_GBPS };

static const struct mb_param_decl read_share_params[] = {
    {"file_mib", MB_PARAM_INT, 64, 1, 4096, NULL, "size of the file read (MiB)"},
    {"trials", MB_PARAM_INT, 5, 1, 100, NULL, "timed reads of each kind"},
    {"measure", MB_PARAM_ENUM, MEASURE_SHARE, 0, 0, "share|raw_gbps|verify_gbps|parse_share|parse_gbps",
     "value: verify (or verify + parse) bandwidth / raw read(2) bandwidth, or a bandwidth in GB/s"},
};

/* The file: records of the family's synthetic Examples (shape: exactly record_bytes each). */
static int write_file(const char *path, const struct mb_tfr_shape *shape, uint64_t seed, char *err, size_t errlen) {
    struct mb_tfr_synthetic *syn = malloc(sizeof *syn);
    if (!syn || !(syn->pad_data = malloc(shape->pad_a + shape->pad_b + 1))) {
        free(syn);
        return mb_errorf(err, errlen, "out of memory");
    }
    struct mb_tfr_writer *w = mb_tfr_writer_open(path, MB_TFR_NONE, err, errlen);
    int rc = w ? 0 : -1;
    for (int64_t i = 0; i < shape->n && !rc; i++) {
        uint8_t *data;
        size_t len;
        mb_tfr_synthetic_example(syn, shape, seed, i);
        rc = mb_example_serialize(&syn->ex, &data, &len, err, errlen);
        if (!rc) rc = mb_tfr_writer_write(w, data, len, err, errlen);
        if (!rc) free(data);
    }
    if (rc && w) mb_tfr_writer_abort(w);
    else if (!rc) rc = mb_tfr_writer_commit(w, err, errlen);
    free(syn->pad_data);
    free(syn);
    return rc;
}

/* Seconds to read(2) the whole file into buf (chunk bytes); -1 on error. */
static double time_raw(const char *path, uint8_t *buf, size_t chunk) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    double t0 = mb_now();
    ssize_t got;
    while ((got = read(fd, buf, chunk)) > 0) buf[0] ^= 0; /* touch: the copy must happen */
    double t = mb_now() - t0;
    close(fd);
    return got < 0 ? -1 : t;
}

/* Seconds to read and verify every record with the library, and parse each as an Example when arena is set (its
   feature count must be `features`); -1 (and err) on a bad file. */
static double time_read(const char *path, struct mb_example_arena *arena, int64_t features, uint64_t *records,
                        char *err, size_t errlen) {
    double t0 = mb_now();
    struct mb_tfr_reader *r = mb_tfr_reader_open(path, NULL, err, errlen);
    if (!r) return -1;
    const uint8_t *data;
    size_t len;
    enum mb_tfr_status s;
    *records = 0;
    while ((s = mb_tfr_reader_next(r, &data, &len, err, errlen)) == MB_TFR_RECORD) {
        if (arena) {
            struct mb_example ex;
            mb_example_arena_reset(arena);
            if (mb_example_parse(data, len, arena, &ex, err, errlen)) break;
            if (ex.n_features != (size_t)features) {
                mb_errorf(err, errlen, "record %llu: %zu features, not %lld", (unsigned long long)*records,
                          ex.n_features, (long long)features);
                break;
            }
        }
        (*records)++;
    }
    mb_tfr_reader_close(r);
    double t = mb_now() - t0;
    return s == MB_TFR_END ? t : -1;
}

static int probe_read_share(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                            int nx, uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    const int trials = (int)mb_param_int(base, "trials"), measure = mb_param_enum(base, "measure");
    const int parse = measure == MEASURE_PARSE_SHARE || measure == MEASURE_PARSE_GBPS;
    const int64_t features = base->features >= 2 ? base->features : 8;
    const size_t file_bytes = (size_t)mb_param_int(base, "file_mib") << 20, chunk = 256u << 10;
    const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/mechbench_tfrecord_probe_%d.tfrecord", dir, (int)getpid());
    uint8_t *buf = malloc(chunk);
    if (!buf) return mb_errorf(err, errlen, "out of memory");
    int status = 0;
    for (int xi = 0; xi < nx && !status; xi++) {
        const int64_t rb = (int64_t)xs[xi], records = (int64_t)(file_bytes / (size_t)(rb + MB_TFR_FRAMING_BYTES)) + 1;
        struct mb_tfr_shape shape;
        struct mb_example_arena arena, *use = parse ? &arena : NULL;
        const size_t arena_size = (size_t)mb_tfr_parse_arena_bytes(rb, features);
        void *arena_memory = parse ? malloc(arena_size) : NULL;
        double *samples = malloc((size_t)trials * sizeof *samples);
        uint64_t seen = 0;
        if (!samples || (parse && !arena_memory)) status = mb_errorf(err, errlen, "out of memory");
        if (parse && arena_memory) mb_example_arena_init(&arena, arena_memory, arena_size);
        if (!status && mb_tfr_shape(&shape, records, rb, features, err, errlen)) status = -1;
        if (!status && write_file(path, &shape, seed + (uint64_t)rb, err, errlen)) status = -1;
        if (!status && time_raw(path, buf, chunk) < 0) status = mb_errorf(err, errlen, "cannot read %s", path);
        if (!status && time_read(path, use, features, &seen, err, errlen) < 0) status = -1; /* warm-up, a check */
        const double bytes = (double)records * (double)(rb + MB_TFR_FRAMING_BYTES);
        for (int t = 0; t < trials && !status; t++) {
            double raw = 1, stage = 1; /* ABBA: neither goes first every time */
            if (t % 2 == 0) raw = time_raw(path, buf, chunk);
            if (raw > 0) stage = time_read(path, use, features, &seen, err, errlen); /* err set when it fails */
            if (t % 2 == 1 && stage > 0) raw = time_raw(path, buf, chunk);
            if (raw <= 0) status = mb_errorf(err, errlen, "cannot read %s", path);
            else if (stage <= 0) status = -1;
            else if (seen != (uint64_t)records)
                status = mb_errorf(err, errlen, "read %llu records of %lld", (unsigned long long)seen, (long long)records);
            if (status) break;
            samples[t] = measure == MEASURE_SHARE || measure == MEASURE_PARSE_SHARE ? raw / stage
                         : measure == MEASURE_RAW_GBPS ? bytes / raw / 1e9 : bytes / stage / 1e9;
        }
        unlink(path);
        free(arena_memory);
        if (status) {
            free(samples);
            break;
        }
        out->x[out->count] = (double)rb;
        out->samples[out->count] = samples;
        out->ns[out->count] = trials;
        if (mb_probe_median(out, out->count)) status = mb_errorf(err, errlen, "out of memory");
        out->count++;
    }
    free(buf);
    return status;
}

const struct mb_probe mb_tfrecord_probes[1] = {
    {.name = "tfrecord_read_share", .x_axis = "record_bytes", .run = probe_read_share, .params = read_share_params,
     .n_params = (int)(sizeof read_share_params / sizeof read_share_params[0]),
     .summary = "read + verify (both CRC32Cs, the library's streaming reader), or read + verify + tf.Example parse, "
                "of an uncompressed TFRecord file in the page cache, as a share of read(2)'s bandwidth on the same "
                "file"},
};
