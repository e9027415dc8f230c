/* extern "C" wrapper of FarmHash's Fingerprint64 (see farmhash_shim.h). Compiled once (portable), outside the
 * per-ISA kernel copies: the Makefile's KERNEL_CC rule. */
#include "data/farmhash_shim.h"

#include <farmhash.h>

extern "C" uint64_t mb_fingerprint64(const char *s, size_t len) { return util::Fingerprint64(s, len); }
