/* mechbench machine: measure and store this machine's roofs (harness/machine.h). */
#include "cli/args.h"
#include "cli/commands.h"
#include "core/isa.h"
#include "core/mechbench.h"
#include "run/machine.h"
#include "store/outfile.h"

#include <stdio.h>

int mb_cmd_machine(int argc, char **argv) {
    const char *out = MB_MACHINE_FILE;
    int64_t reps = 5;
    const struct mb_opt opts[] = {MB_OPT("out", MB_OPT_STRING, &out), MB_OPT("reps", MB_OPT_INT, &reps)};
    struct mb_cli_parse cli = {.command = "machine", .opts = opts, .n_opts = 2};
    int rc = mb_cli_parse(&cli, argc, argv);
    if (rc == 3) {
        printf("usage: mechbench machine [--out results/machine.h5] [--reps 5]\n"
               "  Measure the FP32 FMA peak (register FMA chains in the widest vector ISA: AVX-512, AVX2 or scalar;\n"
               "  the compute roof of `plot --roofline` and of every %% of peak), sgemm GFLOP/s (OpenBLAS 2048^3),\n"
               "  one core and all cores, memory bandwidth\n"
               "  (STREAM triad, 3 x 256 MiB arrays, one core and all cores) and SLEEF expf throughput (G exp/s, one\n"
               "  core and all cores), best of --reps; print them and store\n"
               "  them as attributes of --out, used by `mechbench plot --roofline`. OPENBLAS_CORETYPE is recorded.\n");
        return 0;
    }
    if (rc) return rc;
    if (cli.n_positional) return mb_cli_fail("machine", 2, "unexpected argument '%s'", cli.positional[0]);
    if (reps < 1 || reps > 100) return mb_cli_fail("machine", 2, "--reps %lld (allowed: 1..100)", (long long)reps);
    if ((rc = mb_cli_check_out("machine", out))) return rc;
    struct mb_machine m;
    char err[512];
    /* the output must be writable before seconds of measuring: try a temporary next to it (removed again) */
    struct mb_outfile probe;
    if (mb_make_parent_dirs(out, err, sizeof err) || mb_outfile_open(&probe, out, err, sizeof err))
        return mb_cli_fail("machine", 1, "%s", err);
    mb_outfile_abort(&probe);
    fprintf(stderr, "measuring the FMA peak, sgemm, STREAM triad and exp throughput (a few seconds)...\n");
    if (mb_machine_measure(&m, (int)reps, err, sizeof err)) return mb_cli_fail("machine", 1, "%s", err);
    if (mb_machine_save(&m, out, err, sizeof err)) return mb_cli_fail("machine", 1, "%s", err);
    printf("cpu               %s (%d cores)\n", m.cpu_model, m.cores);
    char isas[64];
    mb_isa_supported_list(",", isas, sizeof isas);
    printf("isa               %s (kernel copy in use; this CPU supports %s; MB_ISA caps it)\n", mb_isa_name(), isas);
    printf("OPENBLAS_CORETYPE %s\n", m.openblas_coretype[0] ? m.openblas_coretype : "(unset: OpenBLAS picks the kernel)");
    printf("FMA peak          %.1f GFLOP/s on 1 core, %.1f GFLOP/s on %d cores (FP32, %s; the compute roof)\n",
           m.fma_gflops_1, m.fma_gflops_all, m.cores, m.fma_isa);
    printf("sgemm             %.1f GFLOP/s on 1 core, %.1f GFLOP/s on %d cores (%.0f%% / %.0f%% of the FMA peak)\n",
           m.gflops_1, m.gflops_all, m.cores, 100 * m.gflops_1 / m.fma_gflops_1, 100 * m.gflops_all / m.fma_gflops_all);
    printf("STREAM triad      %.1f GB/s on 1 core, %.1f GB/s on %d cores\n", m.triad_gbs_1, m.triad_gbs, m.cores);
    printf("exp throughput    %.2f G exp/s on 1 core, %.2f G exp/s on %d cores (SLEEF expf16_u10, in L1)\n",
           m.exp_gps_1, m.exp_gps_all, m.cores);
    printf("ridge point       %.1f FLOP/byte (FMA peak / triad, all cores)\n", m.fma_gflops_all / m.triad_gbs);
    printf("stored in         %s\n", out);
    return 0;
}
