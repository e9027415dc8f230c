/* Joining results files of one experiment (`mechbench merge`): shards of a job array, or sweeps run apart. */
#ifndef MB_MERGE_H
#define MB_MERGE_H

#include <stdint.h>
#include <stddef.h>

struct mb_merge_report {
    int64_t rows;    /* rows written */
    int64_t samples; /* samples written (relinked to the new point ids) */
    int inputs;
};

/* Write inputs[0..n) into out: same experiment name, .ini text and seed required; a (kernel, point) measured in
   two inputs is refused (rows marked lost are not measurements and never clash); /kernels united; every input's
   root provenance kept as /shards/I (I = its position, from 0) and its /hosts copied; samples follow their rows.
   The output appears only when complete (temporary file + rename); an existing out needs overwrite.
   Returns 0, or -1 with a one-line message. */
int mb_merge(const char *const *inputs, int n, const char *out, int overwrite, struct mb_merge_report *report,
             char *err, size_t errlen);

#endif
