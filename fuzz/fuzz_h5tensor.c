/* libFuzzer target: the HDF5 tensor reader's shape and size validation (harness/store/store.c: mb_h5_tensor_shape,
 * mb_h5_read_tensor), which `mechbench eval` runs on a user's file. `make fuzz` builds it with clang
 * -fsanitize=fuzzer,address,undefined: store.c is compiled into the target (instrumented); the rest of the library
 * is the normal build's objects. Seed corpus: fuzz/corpus/h5tensor/.
 *
 * Input: byte 0 chooses the mode.
 * - even: the rest of the bytes are the file, written to a temporary file (small real files seed this mode);
 * - odd: the rest describe one dataset that the target writes with HDF5 itself (a file a user could make with
 *   h5py): its name ("q" or not), type (float32/64 in either byte order, integers of 1-8 bytes, a string, a
 *   compound), rank 0..7, dimensions (small, or as large as 2^63: a chunked dataset that was never written
 *   declares any shape in a tiny file), layout (contiguous, chunked, compact) and, when small, its values.
 * Raw bytes are read as eval reads a user's file, in a child process (store.h: libhdf5 1.10.8 crashes on some
 * crafted files, and that must end as one line of error); files the target built are read in this process.
 * Then, as eval does: the shape first (mb_h5_tensor_shape), and the data (mb_h5_read_tensor) only when the shape
 * holds at most MAX_READ_BYTES as float32. Checked (a violation traps, so the fuzzer reports it):
 * - a failure leaves one line (not empty, no newline) and, from the reader, t->data == NULL;
 * - a shape has rank 0..MB_MAX_DIMS, dimensions >= 0 and at most MB_TENSOR_MAX_ELEMENTS elements, and the reader
 *   gives the same shape with every element readable (ASan checks the buffer);
 * - no HDF5 object (file, dataset, type, space, property list) is left open by either call. */
#include "store/store.h"

#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_READ_BYTES (16 << 20) /* eval's --max-mem stands in: 16 MiB */

static char path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/mb_fuzz_h5tensor_%ld.h5", dir && dir[0] ? dir : "/tmp", (long)getpid());
    mb_store_library_init();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return 0;
}

/* The description's bytes, read in order; zeros once they run out. */
struct bytes {
    const uint8_t *p;
    size_t left;
};

static unsigned next_byte(struct bytes *b) {
    if (!b->left) return 0;
    b->left--;
    return *b->p++;
}

static hsize_t next_dim(struct bytes *b) {
    static const hsize_t big[] = {1u << 16, 1u << 24, (hsize_t)1 << 31, (hsize_t)1 << 32, (hsize_t)1 << 36,
                                  ((hsize_t)1 << 36) + 1, (hsize_t)1 << 62, ((hsize_t)1 << 63) - 1};
    unsigned c = next_byte(b);
    if (c < 0xC0) return c & 15;                /* mostly small */
    if (c < 0xF0) return c - 0xC0 + 16;         /* 16..63 */
    return big[c & 7];
}

static hid_t pick_type(unsigned c) {
    static const hid_t *const types[] = {&H5T_IEEE_F32LE_g, &H5T_IEEE_F64LE_g, &H5T_IEEE_F32BE_g,
                                         &H5T_IEEE_F64BE_g, &H5T_STD_I8LE_g,   &H5T_STD_U8LE_g,
                                         &H5T_STD_I16BE_g,  &H5T_STD_I32LE_g,  &H5T_STD_I64LE_g,
                                         &H5T_STD_U64LE_g,  &H5T_STD_I64BE_g};
    const unsigned n = sizeof types / sizeof types[0];
    c %= n + 2;
    if (c < n) return H5Tcopy(*types[c]);
    if (c == n) {
        hid_t s = H5Tcopy(H5T_C_S1);
        H5Tset_size(s, 8);
        return s;
    }
    hid_t compound = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(compound, "re", 0, H5T_IEEE_F32LE);
    H5Tinsert(compound, "im", 4, H5T_IEEE_F32LE);
    return compound;
}

/* Writes the described dataset to path; 0, or -1 when HDF5 refuses the description (not a finding). */
static int build_file(struct bytes *b) {
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) return -1;
    const unsigned flags = next_byte(b);
    const char *name = (flags & 7) == 7 ? "k" : "q";
    hid_t type = pick_type(next_byte(b));
    int rank = (int)(next_byte(b) % (MB_MAX_DIMS + 2));
    hsize_t dims[MB_MAX_DIMS + 1], maxdims[MB_MAX_DIMS + 1], chunk[MB_MAX_DIMS + 1];
    double numel = 1;
    for (int i = 0; i < rank; i++) {
        dims[i] = next_dim(b);
        maxdims[i] = (flags & 8) ? H5S_UNLIMITED : dims[i];
        chunk[i] = 1 + next_byte(b) % 4;
        numel *= (double)dims[i];
    }
    hid_t space = rank ? H5Screate_simple(rank, dims, maxdims) : H5Screate(H5S_SCALAR);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    const unsigned layout = (flags >> 4) & 3; /* 0 contiguous, 1 chunked, 2 compact, 3 chunked + deflate */
    if (rank && (layout & 1 || flags & 8)) {
        H5Pset_chunk(dcpl, rank, chunk);
        if (layout == 3) H5Pset_deflate(dcpl, 1);
    } else if (layout == 2) {
        H5Pset_layout(dcpl, H5D_COMPACT);
    }
    int rc = -1;
    if ((flags & 0xC0) == 0xC0) { /* a group where the dataset should be */
        hid_t g = H5Gcreate2(file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        rc = g < 0 ? -1 : 0;
        if (g >= 0) H5Gclose(g);
    } else if (space >= 0 && type >= 0 && dcpl >= 0) {
        hid_t d = H5Dcreate2(file, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (d >= 0) {
            rc = 0;
            const size_t bytes = numel <= 4096 ? (size_t)numel * H5Tget_size(type) : SIZE_MAX;
            if ((flags & 0x40) && bytes <= b->left) { /* the values, from the input */
                if (H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, b->p) < 0) rc = -1;
                b->p += bytes;
                b->left -= bytes;
            }
            H5Dclose(d);
        }
    }
    if (space >= 0) H5Sclose(space);
    if (type >= 0) H5Tclose(type);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (H5Fclose(file) < 0) rc = -1;
    return rc;
}

static int write_raw(const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t put = size ? fwrite(data, 1, size, f) : 0;
    return fclose(f) == 0 && put == size ? 0 : -1;
}

static void check_error(const char *err) {
    if (!err[0] || strchr(err, '\n')) __builtin_trap();
}

static void check_closed(void) {
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) __builtin_trap();
}

/* LeakSanitizer: libhdf5 1.10.8 itself leaks a few hundred bytes on some corrupt files' error paths (found by this
   target in CI: a direct leak whose every frame lies in libhdf5_serial.so). Those are the library's, not ours, and
   our own leaks of HDF5 objects are caught above without LSan: after every input no HDF5 object may be open
   (H5Fget_obj_count traps otherwise). Leaks from our own allocations are still reported. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) { return "leak:libhdf5_serial.so\n"; }

/* AddressSanitizer: a corrupt file's metadata can declare a block of 2^55 bytes, which libhdf5 asks malloc for and,
   given NULL, turns into an error (as glibc's malloc does for a size it cannot map). ASan aborts on such a request
   unless it may return NULL, which makes the fuzzer report the library's correct handling as a crash. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    struct bytes b = {data + 1, size - 1};
    /* a file HDF5 wrote is read in this process, where the fuzzer sees the reader's coverage; raw bytes are read as
       eval reads a user's file, in a child process, since libhdf5 itself crashes on some of them */
    mb_h5_isolate_reads(!(data[0] & 1));
    if (data[0] & 1 ? build_file(&b) : write_raw(data + 1, size - 1)) {
        unlink(path);
        H5garbage_collect();
        return 0;
    }
    check_closed();
    char err[1024];
    struct mb_tensor shape = {.name = "q"};
    if (mb_h5_tensor_shape(path, &shape, err, sizeof err)) {
        check_error(err);
    } else {
        if (shape.ndim < 0 || shape.ndim > MB_MAX_DIMS) __builtin_trap();
        uint64_t numel = 1;
        for (int i = 0; i < shape.ndim; i++) {
            if (shape.shape[i] < 0 || __builtin_mul_overflow(numel, (uint64_t)shape.shape[i], &numel)) __builtin_trap();
        }
        if (numel > MB_TENSOR_MAX_ELEMENTS || (int64_t)numel != mb_tensor_numel(&shape)) __builtin_trap();
        if (numel * 4 <= MAX_READ_BYTES) {
            check_closed();
            struct mb_tensor t = {.name = "q"};
            t.data = (float *)&t; /* the reader must set it: NULL on failure */
            if (mb_h5_read_tensor(path, &t, err, sizeof err)) {
                check_error(err);
                if (t.data) __builtin_trap();
            } else {
                if (t.ndim != shape.ndim || memcmp(t.shape, shape.shape, sizeof(int64_t) * (size_t)t.ndim) || !t.data)
                    __builtin_trap();
                volatile float sink = 0;
                for (uint64_t i = 0; i < numel; i++) sink += t.data[i];
                (void)sink;
                mb_free(t.data);
            }
        }
    }
    check_closed();
    unlink(path);
    return 0;
}
