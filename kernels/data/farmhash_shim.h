/* FarmHash's Fingerprint64 for C code: TensorFlow's string hash (tensorflow/core/platform/fingerprint.h calls
 * ::util::Fingerprint64 of the FarmHash library; tf.strings.to_hash_bucket_fast, categorical_column_with_hash_bucket
 * and the OOV buckets of vocabulary columns use it). FarmHash is a C++ library (Debian libfarmhash-dev, farmhash.h):
 * farmhash_shim.cc wraps it in extern "C". Test vectors (MECHANISMS.md G): "a" -> 12917804110809363939,
 * "b" -> 11795596070477164822, "c" -> 11430444447143000872, "d" -> 4470636696479570465. */
#ifndef MB_FARMHASH_SHIM_H
#define MB_FARMHASH_SHIM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* util::Fingerprint64(s, len): stable across platforms and releases (FarmHash's fingerprint guarantee). */
uint64_t mb_fingerprint64(const char *s, size_t len);

#ifdef __cplusplus
}
#endif

#endif
