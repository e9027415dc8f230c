/* data.tfrecord: the TFRecord library (tfrecord.c), tf.Example (example.c) and the family's kernels.
 * CRC32C check value (library and table); framing of known records byte for byte (bytes from an independent
 * bit-by-bit Python CRC); write/read round trips, uncompressed, GZIP and ZLIB, n = 1 and odd sizes, a record larger
 * than the read buffer; every bad input named by record index and byte offset, --skip-corrupt counting; Example
 * round trips, byte-stable sorted output, merged duplicates (last wins), unpacked scalars, garbage refused; parse
 * specs; every kernel against the family's oracle at odd shapes, and a tampered output caught. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mechbench.h"
#include "data/example.h"
#include "data/family_tfrecord.h"
#include "data/tfrecord.h"
#include "run/runner.h"

/* ------------------------------------------------------------------------------------------------ CRC */
Test(data_tfrecord_crc, check_value) {
    cr_assert_eq(mb_crc32c("123456789", 9), 0xE3069283u);
    cr_assert_eq(mb_crc32c_table("123456789", 9), 0xE3069283u);
    cr_assert_eq(mb_crc32c("", 0), 0u);
    cr_assert_neq(mb_crc32c("123456780", 9), 0xE3069283u, "a changed byte must change the CRC");
}

Test(data_tfrecord_crc, library_equals_table_at_odd_lengths_and_offsets) {
    uint8_t buf[4200];
    uint64_t s = 3;
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)mb_splitmix64(&s);
    const size_t lens[] = {1, 2, 3, 7, 8, 15, 16, 17, 63, 64, 65, 255, 256, 257, 1023, 4099};
    for (size_t o = 0; o < 5; o++)
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
            cr_assert_eq(mb_crc32c(buf + o, lens[i]), mb_crc32c_table(buf + o, lens[i]), "offset %zu length %zu", o,
                         lens[i]);
}

Test(data_tfrecord_crc, mask_round_trips) {
    const uint32_t v[] = {0, 1, 0xE3069283u, 0xFFFFFFFFu, 0x80000000u};
    for (size_t i = 0; i < 5; i++) cr_assert_eq(mb_tfr_unmask_crc(mb_tfr_mask_crc(v[i])), v[i]);
    cr_assert_eq(mb_tfr_mask_crc(0), 0xa282ead8u);
}

/* ------------------------------------------------------------------------------------------------ framing */
Test(data_tfrecord_frame, known_records_byte_for_byte) {
    static const uint8_t empty[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                    0x29, 0x03, 0x98, 0x07, 0xd8, 0xea, 0x82, 0xa2};
    static const uint8_t hello[] = {0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xea, 0xb2, 0x04,
                                    0x3e, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0xbb, 0x1f, 0x1c, 0x19};
    uint8_t out[64];
    cr_assert_eq(mb_tfr_frame(out, "", 0), sizeof empty);
    cr_assert_eq(memcmp(out, empty, sizeof empty), 0);
    cr_assert_eq(mb_tfr_frame(out, "hello", 5), sizeof hello);
    cr_assert_eq(memcmp(out, hello, sizeof hello), 0);
    size_t at = 0;
    const uint8_t *data;
    uint64_t len;
    cr_assert_eq(mb_tfr_next_in_memory(hello, sizeof hello, &at, &data, &len, 1), MB_TFR_RECORD);
    cr_assert(len == 5 && !memcmp(data, "hello", 5) && at == sizeof hello);
    cr_assert_eq(mb_tfr_next_in_memory(hello, sizeof hello, &at, &data, &len, 1), MB_TFR_END);
    uint8_t bad[sizeof hello];
    memcpy(bad, hello, sizeof hello);
    bad[13] ^= 1;
    at = 0;
    cr_assert_eq(mb_tfr_next_in_memory(bad, sizeof bad, &at, &data, &len, 1), MB_TFR_BAD_DATA_CRC);
    at = 0;
    cr_assert_eq(mb_tfr_next_in_memory(bad, 20, &at, &data, &len, 1), MB_TFR_TRUNCATED);
}

/* ------------------------------------------------------------------------------------------------ files */
static void temp_path(char *path, size_t len, const char *suffix) {
    static int counter;
    snprintf(path, len, "/tmp/mb_test_tfr_%d_%d%s", (int)getpid(), counter++, suffix);
}

/* Record i of a test set: length lens[i], bytes from i. */
static void record_bytes_of(uint8_t *buf, size_t len, int i) {
    for (size_t b = 0; b < len; b++) buf[b] = (uint8_t)(i * 31 + b * 7);
}

static void write_records(const char *path, enum mb_tfr_compression c, const size_t *lens, int n) {
    char err[512];
    struct mb_tfr_writer *w = mb_tfr_writer_open(path, c, err, sizeof err);
    cr_assert(w, "%s", err);
    for (int i = 0; i < n; i++) {
        uint8_t *buf = malloc(lens[i] + 1);
        record_bytes_of(buf, lens[i], i);
        cr_assert_eq(mb_tfr_writer_write(w, buf, lens[i], err, sizeof err), 0, "%s", err);
        free(buf);
    }
    cr_assert_eq(access(path, F_OK), -1, "nothing at the path before the commit");
    cr_assert_eq(mb_tfr_writer_commit(w, err, sizeof err), 0, "%s", err);
}

static void read_back(const char *path, enum mb_tfr_compression c, const size_t *lens, int n) {
    char err[512];
    struct mb_tfr_reader_options opt = {.compression = c};
    struct mb_tfr_reader *r = mb_tfr_reader_open(path, &opt, err, sizeof err);
    cr_assert(r, "%s", err);
    for (int i = 0; i < n; i++) {
        const uint8_t *data;
        size_t len;
        cr_assert_eq(mb_tfr_reader_next(r, &data, &len, err, sizeof err), MB_TFR_RECORD, "record %d: %s", i, err);
        cr_assert_eq(len, lens[i], "record %d", i);
        uint8_t *want = malloc(lens[i] + 1);
        record_bytes_of(want, lens[i], i);
        cr_assert_eq(memcmp(data, want, len), 0, "record %d", i);
        free(want);
    }
    const uint8_t *data;
    size_t len;
    cr_assert_eq(mb_tfr_reader_next(r, &data, &len, err, sizeof err), MB_TFR_END);
    mb_tfr_reader_close(r);
}

Test(data_tfrecord_file, round_trips_none_gzip_zlib) {
    const size_t lens[] = {0, 1, 7, 1000, 300000, 13, 262144, 5};
    const int counts[] = {1, 8};
    for (int c = MB_TFR_NONE; c <= MB_TFR_ZLIB; c++)
        for (int k = 0; k < 2; k++) {
            char path[256];
            temp_path(path, sizeof path, ".tfrecord");
            write_records(path, (enum mb_tfr_compression)c, lens + (k ? 0 : 2), counts[k]);
            read_back(path, (enum mb_tfr_compression)c, lens + (k ? 0 : 2), counts[k]);
            unlink(path);
        }
}

Test(data_tfrecord_file, memory_reader_matches_file_reader) {
    const size_t lens[] = {3, 0, 70000};
    char path[256], err[256];
    temp_path(path, sizeof path, ".gz");
    write_records(path, MB_TFR_GZIP, lens, 3);
    FILE *f = fopen(path, "rb");
    uint8_t image[1 << 18];
    size_t size = fread(image, 1, sizeof image, f);
    fclose(f);
    unlink(path);
    struct mb_tfr_reader_options opt = {.compression = MB_TFR_GZIP};
    struct mb_tfr_reader *r = mb_tfr_reader_open_memory(image, size, &opt, err, sizeof err);
    for (int i = 0; i < 3; i++) {
        const uint8_t *data;
        size_t len;
        cr_assert_eq(mb_tfr_reader_next(r, &data, &len, err, sizeof err), MB_TFR_RECORD, "%s", err);
        cr_assert_eq(len, lens[i]);
    }
    mb_tfr_reader_close(r);
}

/* The first error reading `image` (uncompressed, in memory) and its message. */
static enum mb_tfr_status first_error(const uint8_t *image, size_t size, int skip, uint64_t limit, char *err,
                                      size_t errlen, uint64_t *records, uint64_t *skipped) {
    struct mb_tfr_reader_options opt = {.compression = MB_TFR_NONE, .skip_corrupt = skip, .max_record_bytes = limit};
    struct mb_tfr_reader *r = mb_tfr_reader_open_memory(image, size, &opt, err, errlen);
    enum mb_tfr_status s;
    const uint8_t *data;
    size_t len;
    *records = 0;
    while ((s = mb_tfr_reader_next(r, &data, &len, err, errlen)) == MB_TFR_RECORD) (*records)++;
    *skipped = mb_tfr_reader_skipped(r);
    mb_tfr_reader_close(r);
    return s;
}

Test(data_tfrecord_file, bad_inputs_name_record_and_offset) {
    uint8_t image[3 * 26];
    for (int i = 0; i < 3; i++) mb_tfr_frame(image + 26 * i, "0123456789", 10);
    char err[512];
    uint64_t records, skipped;
    uint8_t bad[sizeof image];
    /* truncated in the second record's data */
    cr_assert_eq(first_error(image, 26 + 20, 0, 0, err, sizeof err, &records, &skipped), MB_TFR_TRUNCATED);
    cr_assert(strstr(err, "record 1 at byte 26: truncated record"), "%s", err);
    cr_assert_eq(records, 1);
    /* truncated in a header */
    cr_assert_eq(first_error(image, 26 + 5, 0, 0, err, sizeof err, &records, &skipped), MB_TFR_TRUNCATED);
    /* bad data CRC in record 2; skipping it */
    memcpy(bad, image, sizeof image);
    bad[52 + 15] ^= 0x40;
    cr_assert_eq(first_error(bad, sizeof bad, 0, 0, err, sizeof err, &records, &skipped), MB_TFR_BAD_DATA_CRC);
    cr_assert(strstr(err, "record 2 at byte 52: bad data CRC"), "%s", err);
    memcpy(bad, image, sizeof image);
    bad[26 + 15] ^= 0x40;
    cr_assert_eq(first_error(bad, sizeof bad, 1, 0, err, sizeof err, &records, &skipped), MB_TFR_END);
    cr_assert(records == 2 && skipped == 1, "records %llu skipped %llu", (unsigned long long)records,
              (unsigned long long)skipped);
    /* bad length CRC: stop even with skip */
    memcpy(bad, image, sizeof image);
    bad[26 + 9] ^= 1;
    cr_assert_eq(first_error(bad, sizeof bad, 1, 0, err, sizeof err, &records, &skipped), MB_TFR_BAD_LENGTH_CRC);
    cr_assert(strstr(err, "record 1 at byte 26: bad length CRC"), "%s", err);
    /* a length with a good CRC beyond the rest of the file but within the limit: truncated; beyond the limit:
       absurd (both before any allocation) */
    cr_assert_eq(first_error(image, 26 + 25, 0, 0, err, sizeof err, &records, &skipped), MB_TFR_TRUNCATED);
    cr_assert(strstr(err, "record 1 at byte 26: truncated record (length 10"), "%s", err);
    memcpy(bad, image, sizeof image);
    mb_tfr_frame_header(bad + 26, (uint64_t)1 << 40);
    cr_assert_eq(first_error(bad, sizeof bad, 0, 0, err, sizeof err, &records, &skipped), MB_TFR_ABSURD_LENGTH);
    cr_assert(strstr(err, "record 1 at byte 26: absurd length") && strstr(err, "1099511627776"), "%s", err);
    cr_assert_eq(first_error(image, sizeof image, 0, 9, err, sizeof err, &records, &skipped), MB_TFR_ABSURD_LENGTH);
    cr_assert(strstr(err, "record 0 at byte 0") && strstr(err, "limit of 9"), "%s", err);
}

Test(data_tfrecord_file, corrupt_gzip_is_refused) {
    const size_t lens[] = {500, 500, 500};
    char path[256], err[512];
    temp_path(path, sizeof path, ".gz");
    write_records(path, MB_TFR_GZIP, lens, 3);
    FILE *f = fopen(path, "rb");
    uint8_t image[4096];
    size_t size = fread(image, 1, sizeof image, f);
    fclose(f);
    unlink(path);
    image[size / 2] ^= 0xFF;
    struct mb_tfr_reader_options opt = {.compression = MB_TFR_GZIP};
    struct mb_tfr_reader *r = mb_tfr_reader_open_memory(image, size, &opt, err, sizeof err);
    enum mb_tfr_status s;
    const uint8_t *data;
    size_t len;
    while ((s = mb_tfr_reader_next(r, &data, &len, err, sizeof err)) == MB_TFR_RECORD) {}
    mb_tfr_reader_close(r);
    cr_assert(s == MB_TFR_CORRUPT_STREAM || s == MB_TFR_BAD_DATA_CRC || s == MB_TFR_BAD_LENGTH_CRC, "status %d", s);
    cr_assert(strstr(err, "record ") && strstr(err, " at byte "), "%s", err);
    /* a stream cut short */
    r = mb_tfr_reader_open_memory(image, 20, &opt, err, sizeof err);
    cr_assert_eq(mb_tfr_reader_next(r, &data, &len, err, sizeof err), MB_TFR_CORRUPT_STREAM, "%s", err);
    mb_tfr_reader_close(r);
}

/* ------------------------------------------------------------------------------------------------ Example */
static struct mb_example three_features(struct mb_feature *f, int reversed) {
    static const int64_t ids[] = {-1, 300, INT64_MIN};
    static const float xs[] = {0.5f, -2.25f};
    static const struct mb_bytes names[] = {{(const uint8_t *)"ab", 2}, {(const uint8_t *)"", 0}};
    struct mb_feature a = {.name = "id", .kind = MB_FEATURE_INT64, .count = 3, .int64s = ids};
    struct mb_feature b = {.name = "x", .kind = MB_FEATURE_FLOAT, .count = 2, .floats = xs};
    struct mb_feature c = {.name = "name", .kind = MB_FEATURE_BYTES, .count = 2, .bytes = names};
    f[0] = reversed ? b : a, f[1] = c, f[2] = reversed ? a : b;
    return (struct mb_example){.n_features = 3, .features = f};
}

Test(data_tfrecord_example, round_trip_sorted_and_byte_stable) {
    struct mb_feature f1[3], f2[3];
    struct mb_example e1 = three_features(f1, 0), e2 = three_features(f2, 1);
    uint8_t *b1, *b2;
    size_t l1, l2;
    char err[256];
    cr_assert_eq(mb_example_serialize(&e1, &b1, &l1, err, sizeof err), 0);
    cr_assert_eq(mb_example_serialize(&e2, &b2, &l2, err, sizeof err), 0);
    cr_assert(l1 == l2 && !memcmp(b1, b2, l1), "serialization depends on the view's order");
    cr_assert_eq(mb_example_serialized_size(&e1), (long long)l1);
    struct mb_example ex;
    cr_assert_eq(mb_example_parse(b1, l1, NULL, &ex, err, sizeof err), 0, "%s", err);
    cr_assert_eq(ex.n_features, 3);
    cr_assert_str_eq(ex.features[0].name, "id");
    cr_assert_str_eq(ex.features[1].name, "name");
    cr_assert_str_eq(ex.features[2].name, "x");
    const struct mb_feature *id = mb_example_find(&ex, "id");
    cr_assert(id && id->kind == MB_FEATURE_INT64 && id->count == 3 && id->int64s[0] == -1 && id->int64s[1] == 300 &&
              id->int64s[2] == INT64_MIN);
    const struct mb_feature *x = mb_example_find(&ex, "x");
    cr_assert(x && x->count == 2 && x->floats[0] == 0.5f && x->floats[1] == -2.25f);
    const struct mb_feature *nm = mb_example_find(&ex, "name");
    cr_assert(nm && nm->count == 2 && nm->bytes[0].len == 2 && !memcmp(nm->bytes[0].data, "ab", 2) && nm->bytes[1].len == 0);
    cr_assert_null(mb_example_find(&ex, "missing"));
    /* the same with an arena, and an arena too small */
    static uint8_t arena_memory[4096];
    struct mb_example_arena arena;
    mb_example_arena_init(&arena, arena_memory, sizeof arena_memory);
    struct mb_example ea;
    cr_assert_eq(mb_example_parse(b1, l1, &arena, &ea, err, sizeof err), 0, "%s", err);
    cr_assert(ea.n_features == 3 && mb_example_find(&ea, "id")->int64s[1] == 300);
    mb_example_arena_init(&arena, arena_memory, 64);
    cr_assert_eq(mb_example_parse(b1, l1, &arena, &ea, err, sizeof err), -1);
    cr_assert(strstr(err, "arena"), "%s", err);
    /* concatenated messages merge: the map key seen last wins */
    uint8_t *both = malloc(2 * l1);
    struct mb_feature f3[1];
    static const int64_t seven = 7;
    f3[0] = (struct mb_feature){.name = "id", .kind = MB_FEATURE_INT64, .count = 1, .int64s = &seven};
    struct mb_example e3 = {.n_features = 1, .features = f3};
    uint8_t *b3;
    size_t l3;
    cr_assert_eq(mb_example_serialize(&e3, &b3, &l3, err, sizeof err), 0);
    memcpy(both, b1, l1);
    memcpy(both + l1, b3, l3);
    struct mb_example merged;
    cr_assert_eq(mb_example_parse(both, l1 + l3, NULL, &merged, err, sizeof err), 0, "%s", err);
    cr_assert_eq(merged.n_features, 3);
    cr_assert(mb_example_find(&merged, "id")->count == 1 && mb_example_find(&merged, "id")->int64s[0] == 7);
    mb_example_free(&merged);
    mb_example_free(&ex);
    free(b1), free(b2), free(b3), free(both);
}

Test(data_tfrecord_example, unpacked_scalars_and_garbage) {
    /* Example{features{feature{key:"v" value{int64_list{value:1 value:-1 (unpacked, tag 0x08)}}}}} by hand */
    static const uint8_t unpacked[] = {
        0x0a, 0x1b,                   /* Example.features, 27 bytes */
        0x0a, 0x19,                   /* Features.feature entry, 25 bytes */
        0x0a, 0x01, 'v',              /* key */
        0x12, 0x14,                   /* value: Feature, 20 bytes */
        0x1a, 0x12,                   /* int64_list, 18 bytes */
        0x08, 0x01,                   /* value 1, unpacked */
        0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, /* value -1: a 10-byte varint */
        0x08, 0x80, 0x01, 0x08, 0x00, /* 128, 0 */
    };
    struct mb_example ex;
    char err[256];
    cr_assert_eq(mb_example_parse(unpacked, sizeof unpacked, NULL, &ex, err, sizeof err), 0, "%s", err);
    const struct mb_feature *v = mb_example_find(&ex, "v");
    cr_assert(v && v->kind == MB_FEATURE_INT64 && v->count == 4);
    cr_assert(v->int64s[0] == 1 && v->int64s[1] == -1 && v->int64s[2] == 128 && v->int64s[3] == 0);
    mb_example_free(&ex);
    static const uint8_t garbage[] = {0x0a, 0x40, 0x01, 0x02};
    cr_assert_eq(mb_example_parse(garbage, sizeof garbage, NULL, &ex, err, sizeof err), -1);
    cr_assert(strstr(err, "garbage protobuf"), "%s", err);
}

Test(data_tfrecord_example, parse_specs) {
    struct mb_feature f[3];
    struct mb_example e = three_features(f, 0);
    uint8_t *b;
    size_t l;
    char err[256];
    cr_assert_eq(mb_example_serialize(&e, &b, &l, err, sizeof err), 0);
    struct mb_example ex;
    cr_assert_eq(mb_example_parse(b, l, NULL, &ex, err, sizeof err), 0);
    static const float defaults[2] = {9, 8};
    const struct mb_feature_spec ok[] = {
        {"id", MB_FEATURE_INT64, MB_SPEC_FIXED, 3, NULL},
        {"x", MB_FEATURE_FLOAT, MB_SPEC_VAR, 0, NULL},
        {"absent", MB_FEATURE_FLOAT, MB_SPEC_FIXED, 2, defaults},
        {"absent_var", MB_FEATURE_BYTES, MB_SPEC_VAR, 0, NULL},
    };
    struct mb_parsed_feature out[4];
    cr_assert_eq(mb_example_apply_specs(&ex, NULL, ok, 4, out, err, sizeof err), 0, "%s", err);
    cr_assert(out[0].count == 3 && out[0].int64s[1] == 300);
    cr_assert(out[1].count == 2 && out[1].floats[1] == -2.25f);
    cr_assert(out[2].count == 2 && out[2].floats[0] == 9 && out[2].floats[1] == 8);
    cr_assert_eq(out[3].count, 0);
    mb_parsed_feature_free(out, 4);
    const struct mb_feature_spec wrong_type = {"x", MB_FEATURE_INT64, MB_SPEC_VAR, 0, NULL};
    cr_assert_eq(mb_example_apply_specs(&ex, NULL, &wrong_type, 1, out, err, sizeof err), -1);
    cr_assert_str_eq(err, "feature 'x': expected int64, found float");
    const struct mb_feature_spec missing = {"age", MB_FEATURE_INT64, MB_SPEC_FIXED, 1, NULL};
    cr_assert_eq(mb_example_apply_specs(&ex, NULL, &missing, 1, out, err, sizeof err), -1);
    cr_assert_str_eq(err, "feature 'age': missing and no default");
    const struct mb_feature_spec short_fixed = {"id", MB_FEATURE_INT64, MB_SPEC_FIXED, 2, NULL};
    cr_assert_eq(mb_example_apply_specs(&ex, NULL, &short_fixed, 1, out, err, sizeof err), -1);
    cr_assert_str_eq(err, "feature 'id': expected 2 values, found 3");
    mb_example_free(&ex);
    free(b);
}

Test(data_tfrecord_example, sequence_example_round_trip_and_specs) {
    static const int64_t t0[] = {1, 2}, t1[] = {3, 4}, t2[] = {5};
    struct mb_feature steps[3] = {{.kind = MB_FEATURE_INT64, .count = 2, .int64s = t0},
                                  {.kind = MB_FEATURE_INT64, .count = 2, .int64s = t1},
                                  {.kind = MB_FEATURE_INT64, .count = 1, .int64s = t2}};
    static const float w = 0.25f;
    struct mb_feature ctx[1] = {{.name = "weight", .kind = MB_FEATURE_FLOAT, .count = 1, .floats = &w}};
    struct mb_feature_list lists[2] = {{"tokens", 3, steps}, {"empty", 0, NULL}};
    struct mb_sequence_example sx = {.context = {1, ctx, NULL}, .n_lists = 2, .lists = lists};
    uint8_t *b;
    size_t l;
    char err[256];
    cr_assert_eq(mb_sequence_example_serialize(&sx, &b, &l, err, sizeof err), 0, "%s", err);
    struct mb_sequence_example got;
    cr_assert_eq(mb_sequence_example_parse(b, l, NULL, &got, err, sizeof err), 0, "%s", err);
    cr_assert_eq(got.n_lists, 2);
    cr_assert_str_eq(got.lists[0].name, "empty");
    const struct mb_feature_list *tok = mb_sequence_example_find(&got, "tokens");
    cr_assert(tok && tok->n_steps == 3 && tok->steps[2].int64s[0] == 5);
    const struct mb_feature_spec specs[] = {
        {"tokens", MB_FEATURE_INT64, MB_SPEC_SEQUENCE_VAR, 0, NULL},
        {"weight", MB_FEATURE_FLOAT, MB_SPEC_FIXED, 1, NULL},
    };
    struct mb_parsed_feature out[2];
    cr_assert_eq(mb_example_apply_specs(&got.context, &got, specs, 2, out, err, sizeof err), 0, "%s", err);
    cr_assert(out[0].n_steps == 3 && out[0].count == 5 && out[0].step_counts[2] == 1 && out[0].int64s[4] == 5);
    cr_assert(out[1].count == 1 && out[1].floats[0] == 0.25f);
    mb_parsed_feature_free(out, 2);
    const struct mb_feature_spec fixed2 = {"tokens", MB_FEATURE_INT64, MB_SPEC_SEQUENCE_FIXED, 2, NULL};
    cr_assert_eq(mb_example_apply_specs(&got.context, &got, &fixed2, 1, out, err, sizeof err), -1);
    cr_assert_str_eq(err, "feature 'tokens' step 2: expected 2 values, found 1");
    mb_sequence_example_free(&got);
    free(b);
}

/* An allocator that fails the k-th allocation (0-based) and counts the blocks still live. */
struct failing_heap {
    long k, calls, live;
    int failed;
};
static void *failing_alloc(void *data, size_t size) {
    struct failing_heap *h = data;
    if (h->calls++ == h->k) {
        h->failed = 1;
        return NULL;
    }
    void *p = malloc(size);
    if (p) h->live++;
    return p;
}
static void failing_free(void *data, void *p) {
    struct failing_heap *h = data;
    if (p) h->live--, free(p);
}

/* Example and SequenceExample parse and parse specs on the heap; returns how many steps reported an error. */
static int example_work(const uint8_t *ex_bytes, size_t ex_len, const uint8_t *sx_bytes, size_t sx_len) {
    char err[256];
    int errors = 0;
    struct mb_example ex;
    static const float defaults[2] = {9, 8};
    const struct mb_feature_spec specs[] = {
        {"id", MB_FEATURE_INT64, MB_SPEC_FIXED, 3, NULL},
        {"name", MB_FEATURE_BYTES, MB_SPEC_VAR, 0, NULL},
        {"absent", MB_FEATURE_FLOAT, MB_SPEC_FIXED, 2, defaults},
    };
    struct mb_parsed_feature out[3];
    if (mb_example_parse(ex_bytes, ex_len, NULL, &ex, err, sizeof err)) errors++;
    else {
        if (mb_example_apply_specs(&ex, NULL, specs, 3, out, err, sizeof err)) errors++;
        else mb_parsed_feature_free(out, 3);
        uint8_t *again;
        size_t len;
        if (mb_example_serialize(&ex, &again, &len, err, sizeof err)) errors++;
        else free(again);
        mb_example_free(&ex);
    }
    struct mb_sequence_example sx;
    const struct mb_feature_spec seq = {"tokens", MB_FEATURE_INT64, MB_SPEC_SEQUENCE_VAR, 0, NULL};
    if (mb_sequence_example_parse(sx_bytes, sx_len, NULL, &sx, err, sizeof err)) errors++;
    else {
        if (mb_example_apply_specs(&sx.context, &sx, &seq, 1, out, err, sizeof err)) errors++;
        else mb_parsed_feature_free(out, 1);
        uint8_t *again;
        size_t len;
        if (mb_sequence_example_serialize(&sx, &again, &len, err, sizeof err)) errors++;
        else free(again);
        mb_sequence_example_free(&sx);
    }
    return errors;
}

/* Every error path frees what it allocated: fail each allocation in turn, nothing stays live, the failure surfaces. */
Test(data_tfrecord_example, out_of_memory_at_every_allocation_leaks_nothing) {
    struct mb_feature f[3];
    struct mb_example e = three_features(f, 0);
    static const int64_t t0[] = {1, 2}, t1[] = {3};
    struct mb_feature steps[2] = {{.kind = MB_FEATURE_INT64, .count = 2, .int64s = t0},
                                  {.kind = MB_FEATURE_INT64, .count = 1, .int64s = t1}};
    struct mb_feature_list lists[3] = {{"tokens", 2, steps}, {"empty", 0, NULL}, {"tokens", 1, steps + 1}};
    struct mb_sequence_example sx = {.context = e, .n_lists = 3, .lists = lists};
    uint8_t *eb, *sb;
    size_t el, sl;
    char err[256];
    cr_assert_eq(mb_example_serialize(&e, &eb, &el, err, sizeof err), 0, "%s", err);
    cr_assert_eq(mb_sequence_example_serialize(&sx, &sb, &sl, err, sizeof err), 0, "%s", err);

    struct failing_heap h = {.k = -1};
    mb_example_set_heap_allocator(failing_alloc, failing_free, &h);
    int errors = example_work(eb, el, sb, sl);
    const long total = h.calls;
    cr_assert_eq(errors, 0);
    cr_assert_eq(h.live, 0, "%ld blocks leaked without a failure", h.live);
    cr_assert_gt(total, 20, "only %ld allocations: the hook is not used", total);
    for (long k = 0; k < total; k++) {
        h = (struct failing_heap){.k = k};
        errors = example_work(eb, el, sb, sl);
        cr_assert(h.failed, "allocation %ld was not made", k);
        cr_assert_gt(errors, 0, "allocation %ld failed but every step reported success", k);
        cr_assert_eq(h.live, 0, "allocation %ld failed: %ld blocks leaked", k, h.live);
    }
    mb_example_set_heap_allocator(NULL, NULL, NULL);
    free(eb);
    free(sb);
}

/* ------------------------------------------------------------------------------------------------ kernels */
static void run_kernel(const struct mb_kernel *k, int64_t n, int64_t rb, int64_t nf, int tamper) {
    struct mb_point p;
    memset(&p, 0, sizeof p);
    p.n = n, p.record_bytes = rb, p.features = nf, p.threads = 1;
    mb_point_complete(k, &p, 0);
    struct mb_workload w;
    char err[256];
    cr_assert_eq(mb_workload_create(&w, k->family, &p, 11, err, sizeof err), 0, "%s: %s", k->name, err);
    cr_assert_eq(mb_run_once(k, &w, err, sizeof err), 0, "%s: %s", k->name, err);
    const int out = !strcmp(k->mechanism, "frame") ? MB_TFR_OUT_FRAMED
                    : !strcmp(k->mechanism, "parse") ? MB_TFR_OUT_PARSED : MB_TFR_OUT_RECORD_INFO;
    if (tamper) {
        float *d = w.outputs[out].data;
        if (out == MB_TFR_OUT_FRAMED) ((uint8_t *)d)[(size_t)(n * (rb + 16)) - 1] ^= 1;
        else d[mb_tensor_numel(&w.outputs[out]) - 1] += 1;
    }
    struct mb_check_opts co = {.sample_rows = 0, .seed = 1};
    struct mb_errors e;
    cr_assert_eq(k->family->check(k, &w, k->mechanism, &co, &e, err, sizeof err), 0, "%s", err);
    if (tamper) cr_assert_gt(e.max_abs, 0, "%s: a wrong output was not caught", k->name);
    else cr_assert_eq(e.max_abs, 0, "%s at n=%lld rb=%lld f=%lld: max_abs %g", k->name, (long long)n, (long long)rb,
                      (long long)nf, e.max_abs);
    mb_workload_free(&w);
}

Test(data_tfrecord_kernels, every_kernel_exact_at_odd_shapes_and_tamper_caught) {
    const int64_t shapes[][3] = {{1, 37, 2}, {7, 129, 3}, {13, 1001, 17}, {2, 16390, 5}, {3, 200000, 2}};
    int seen = 0;
    for (int i = 0; i < mb_n_kernels; i++) {
        const struct mb_kernel *k = mb_kernels[i];
        if (strcmp(k->family->name, "data.tfrecord")) continue;
        seen++;
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            run_kernel(k, shapes[s][0], shapes[s][1], shapes[s][2], 0);
        run_kernel(k, 5, 301, 4, 1);
    }
    cr_assert_eq(seen, 5);
}

Test(data_tfrecord_kernels, shape_refuses_a_record_too_small) {
    struct mb_tfr_shape s;
    char err[256];
    cr_assert_eq(mb_tfr_shape(&s, 1, 36, 2, err, sizeof err), -1);
    cr_assert(strstr(err, "record_bytes = 36") && strstr(err, "at least 37"), "%s", err);
    cr_assert_eq(mb_tfr_shape(&s, 1, 37, 2, err, sizeof err), 0, "%s", err);
}

/* ------------------------------------------------------------------------------------------------ fuzz corpus */
/* The fuzz target's checks (fuzz/fuzz_tfrecord.c: reader, in-memory walk, Example and SequenceExample parse, round
   trip, specs) on every input of fuzz/corpus/tfrecord/: a crash the fuzzer finds becomes a regression test by adding its
   input there. */
#define MB_FUZZ_REPLAY
#include "../../fuzz/fuzz_tfrecord.c"

Test(data_tfrecord_fuzz, corpus_replays) {
    DIR *d = opendir("fuzz/corpus/tfrecord");
    cr_assert_not_null(d, "fuzz/corpus/tfrecord not found (run the tests from the repository root)");
    int replayed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "fuzz/corpus/tfrecord/%s", e->d_name);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "%s", path);
        static uint8_t buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        cr_assert_eq(LLVMFuzzerTestOneInput(buf, n), 0, "%s", path);
        replayed++;
    }
    closedir(d);
    cr_assert_geq(replayed, 6, "only %d corpus files", replayed);
}
