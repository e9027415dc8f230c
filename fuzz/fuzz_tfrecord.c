/* libFuzzer target: the TFRecord reader (kernels/data/tfrecord.c) and the tf.Example / SequenceExample parser
 * (kernels/data/example.c) on arbitrary bytes. `make fuzz` builds it with clang -fsanitize=fuzzer,address and runs
 * it for FUZZ_SECONDS (60) from the seed corpus fuzz/corpus/tfrecord/ (not part of `make test`).
 *
 * Input: byte 0 chooses the compression (bits 0-1: none, gzip, zlib) and --skip-corrupt (bit 2); the rest is the
 * file. Every record is parsed as an Example (heap and a 64 KiB arena) and as a SequenceExample; a parsed Example
 * is serialized and parsed again, and must keep its features (a mismatch traps, so the fuzzer reports it).
 * Regression tests: the unit test data_tfrecord_fuzz/corpus_replays runs every file of fuzz/corpus/ through this
 * function; a crash the fuzzer finds becomes one by adding its input (build/fuzz/crash-*) to fuzz/corpus/. */
#include "data/example.h"
#include "data/tfrecord.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef MB_FUZZ_REPLAY /* tests/unit/test_data_tfrecord.c includes this file to replay fuzz/corpus/ */
/* The one harness function the two library files use. */
int mb_errorf(char *err, size_t len, const char *fmt, ...) {
    if (err && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, len, fmt, ap);
        va_end(ap);
    }
    return -1;
}
#endif

static void check_example(const uint8_t *data, size_t len) {
    static uint8_t arena_memory[1 << 16];
    char err[256];
    struct mb_example ex;
    if (mb_example_parse(data, len, NULL, &ex, err, sizeof err) == 0) {
        uint8_t *again;
        size_t again_len;
        if (mb_example_serialize(&ex, &again, &again_len, err, sizeof err) == 0) {
            struct mb_example back;
            if (mb_example_parse(again, again_len, NULL, &back, err, sizeof err) || back.n_features != ex.n_features)
                __builtin_trap();
            for (size_t i = 0; i < ex.n_features; i++)
                if (strcmp(back.features[i].name, ex.features[i].name) || back.features[i].count != ex.features[i].count ||
                    mb_example_find(&back, ex.features[i].name) != &back.features[i])
                    __builtin_trap();
            mb_example_free(&back);
            free(again);
        }
        const struct mb_feature_spec spec = {"a", MB_FEATURE_INT64, MB_SPEC_VAR, 0, NULL};
        struct mb_parsed_feature pf;
        if (mb_example_apply_specs(&ex, NULL, &spec, 1, &pf, err, sizeof err) == 0) mb_parsed_feature_free(&pf, 1);
        mb_example_free(&ex);
    }
    struct mb_example_arena arena;
    mb_example_arena_init(&arena, arena_memory, sizeof arena_memory);
    (void)mb_example_parse(data, len, &arena, &ex, err, sizeof err);
    struct mb_sequence_example sx;
    if (mb_sequence_example_parse(data, len, NULL, &sx, err, sizeof err) == 0) {
        const struct mb_feature_spec seq = {"s", MB_FEATURE_FLOAT, MB_SPEC_SEQUENCE_VAR, 0, NULL};
        struct mb_parsed_feature pf;
        if (mb_example_apply_specs(&sx.context, &sx, &seq, 1, &pf, err, sizeof err) == 0) mb_parsed_feature_free(&pf, 1);
        mb_sequence_example_free(&sx);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    struct mb_tfr_reader_options opt = {.compression = (enum mb_tfr_compression)(data[0] % 3),
                                        .skip_corrupt = (data[0] >> 2) & 1, .max_record_bytes = 1 << 20};
    char err[512];
    struct mb_tfr_reader *r = mb_tfr_reader_open_memory(data + 1, size - 1, &opt, err, sizeof err);
    if (!r) return 0;
    const uint8_t *rec;
    size_t len;
    int records = 0;
    while (mb_tfr_reader_next(r, &rec, &len, err, sizeof err) == MB_TFR_RECORD && records++ < 64) check_example(rec, len);
    mb_tfr_reader_close(r);
    /* the in-memory walk of the kernels on the same bytes, unverified and verified */
    for (int verify = 0; verify < 2; verify++) {
        size_t at = 0;
        uint64_t n;
        while (mb_tfr_next_in_memory(data + 1, size - 1, &at, &rec, &n, verify) == MB_TFR_RECORD) {}
    }
    return 0;
}
