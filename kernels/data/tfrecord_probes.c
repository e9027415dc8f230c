/* The data.tfrecord probe: read + verify throughput against the raw read bandwidth of the same file, from the page
 * cache (issue 12, "Performance"; MECHANISMS.md G, "throughput of write/read/parse vs raw file bandwidth").
 *
 *   tfrecord_read_share  x = record_bytes. params file_mib (64), trials (5), measure = share|raw_gbps|verify_gbps.
 *     Writes one uncompressed TFRecord file of file_mib MiB of records of x bytes (random data) under $TMPDIR (else
 *     /tmp), reads it once to bring it into the page cache, then per trial times
 *       raw:    read(2) of the whole file in 256 KiB chunks into one buffer (the bytes reach user memory: the least
 *               any reader must do), and
 *       verify: the library's streaming reader (tfrecord.c: the same 256 KiB read(2) calls, both CRC32Cs of every
 *               record with ISA-L, records returned in place),
 *     alternately, so both see the same machine state. share = raw time / verify time = verify bandwidth / raw
 *     bandwidth (1 = verifying is free); the samples are per trial. The kernels (data.tfrecord.read_verify) time the
 *     same checks on a memory-resident image without read(2): this probe is where the real file is measured.
 *     The file is removed at the end. */
#include "data/family_tfrecord.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MEASURE_SHARE, MEASURE_RAW_GBPS, MEASURE_VERIFY_GBPS };

static const struct mb_param_decl read_share_params[] = {
    {"file_mib", MB_PARAM_INT, 64, 1, 4096, NULL, "size of the file read (MiB)"},
    {"trials", MB_PARAM_INT, 5, 1, 100, NULL, "timed reads of each kind"},
    {"measure", MB_PARAM_ENUM, MEASURE_SHARE, 0, 0, "share|raw_gbps|verify_gbps",
     "value: verify bandwidth / raw read(2) bandwidth, or either bandwidth in GB/s"},
};

static int write_file(const char *path, size_t record_bytes, size_t records, uint64_t seed, char *err, size_t errlen) {
    uint8_t *data = malloc(record_bytes ? record_bytes : 1);
    if (!data) return mb_errorf(err, errlen, "out of memory");
    struct mb_tfr_writer *w = mb_tfr_writer_open(path, MB_TFR_NONE, err, errlen);
    int rc = w ? 0 : -1;
    uint64_t s = seed;
    for (size_t i = 0; i < records && !rc; i++) {
        for (size_t b = 0; b < record_bytes; b += 8) {
            uint64_t r = mb_splitmix64(&s);
            memcpy(data + b, &r, record_bytes - b < 8 ? record_bytes - b : 8);
        }
        rc = mb_tfr_writer_write(w, data, record_bytes, err, errlen);
    }
    if (rc) mb_tfr_writer_abort(w);
    else rc = mb_tfr_writer_commit(w, err, errlen);
    free(data);
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

/* Seconds to read and verify every record with the library; -1 (and err) on a bad file. */
static double time_verify(const char *path, uint64_t *records, char *err, size_t errlen) {
    double t0 = mb_now();
    struct mb_tfr_reader *r = mb_tfr_reader_open(path, NULL, err, errlen);
    if (!r) return -1;
    const uint8_t *data;
    size_t len;
    enum mb_tfr_status s;
    *records = 0;
    while ((s = mb_tfr_reader_next(r, &data, &len, err, errlen)) == MB_TFR_RECORD) (*records)++;
    mb_tfr_reader_close(r);
    double t = mb_now() - t0;
    return s == MB_TFR_END ? t : -1;
}

static int probe_read_share(const struct mb_probe *probe MB_UNUSED, const struct mb_point *base, const double *xs,
                            int nx, uint64_t seed, struct mb_probe_series *out, char *err, size_t errlen) {
    const int trials = (int)mb_param_int(base, "trials"), measure = mb_param_enum(base, "measure");
    const size_t file_bytes = (size_t)mb_param_int(base, "file_mib") << 20, chunk = 256u << 10;
    const char *dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    char path[512];
    snprintf(path, sizeof path, "%s/mechbench_tfrecord_probe_%d.tfrecord", dir, (int)getpid());
    uint8_t *buf = malloc(chunk);
    if (!buf) return mb_errorf(err, errlen, "out of memory");
    int status = 0;
    for (int xi = 0; xi < nx && !status; xi++) {
        const size_t rb = (size_t)xs[xi], records = file_bytes / (rb + MB_TFR_FRAMING_BYTES) + 1;
        double *samples = malloc((size_t)trials * sizeof *samples);
        uint64_t seen = 0;
        if (!samples) status = mb_errorf(err, errlen, "out of memory");
        if (!status && write_file(path, rb, records, seed + (uint64_t)rb, err, errlen)) status = -1;
        if (!status && time_raw(path, buf, chunk) < 0) status = mb_errorf(err, errlen, "cannot read %s", path);
        if (!status && time_verify(path, &seen, err, errlen) < 0) status = -1; /* warm-up, and a check */
        const double bytes = (double)records * (double)(rb + MB_TFR_FRAMING_BYTES);
        for (int t = 0; t < trials && !status; t++) {
            double raw = time_raw(path, buf, chunk), verify = time_verify(path, &seen, err, errlen);
            if (raw <= 0 || verify <= 0 || seen != records) {
                status = raw <= 0 ? mb_errorf(err, errlen, "cannot read %s", path) : verify <= 0 ? -1 :
                         mb_errorf(err, errlen, "read %llu records of %zu", (unsigned long long)seen, records);
                break;
            }
            samples[t] = measure == MEASURE_SHARE ? raw / verify
                         : measure == MEASURE_RAW_GBPS ? bytes / raw / 1e9 : bytes / verify / 1e9;
        }
        unlink(path);
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
     .summary = "read + verify (both CRC32Cs, the library's streaming reader) of an uncompressed TFRecord file in "
                "the page cache, as a share of read(2)'s bandwidth on the same file"},
};
