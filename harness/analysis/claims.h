/* Paper claims: a sentence of a paper turned into a measured verdict (`mechbench claims`).
 *
 * Claim files: experiments/claims/NAME.ini (every .ini there), any number of sections, one claim each:
 *
 *   [claim softmax_slope]                    ; id: [A-Za-z0-9_.-]+, unique over all files
 *   source    = Katharopoulos et al. 2020, Transformers are RNNs, Sec. 3.2   ; paper or article, where in it
 *   statement = softmax attention costs O(n^2): time grows as n^2            ; the sentence being checked
 *   paper     = 2                          ; the paper's number, as text ("" / absent: no number quoted)
 *   kind      = reproduction               ; reproduction (default) | description (our own measurement, see below)
 *   derivation = paper says 2; tolerance 0.2 because ...; so 1.8..2.2   ; reproductions: expect from the paper
 *   assert    = slope                      ; slope | flat | power | monotone | crossover | ratio | equal | value
 *   kernels   = attention.softmax.naive    ; timing/accuracy claims: kernels swept (crossover, ratio: A, B)
 *   probe     = recall                     ; or a probe (harness/probes.h) instead of kernels
 *   variants  = kernel=linear | kernel=softmax   ; probes: one series per variant ('|'-separated params)
 *   metric    = time                       ; time | memory | error | own_error | nmse | gflops | value (probes)
 *   x         = n                          ; the axis along which the curve runs (default n; probes: see probes.h)
 *   fit_range = upper_half                 ; slope/flat/power: all | upper_half | upper_third | last:K
 *   at        = 4096                       ; ratio/value: the x at which to read (value: absent = every point)
 *   expect    = 1.8..2.2                   ; a..b | <b | >a | exists (crossover) | decreasing|increasing (monotone)
 *   tolerance = 1e-4                       ; equal: rel_l2 allowed
 *   n = 256:4096:x2                        ; axes, as in experiment files (any axis of harness/axes.def)
 *   d = 64
 *   params = features=iid                  ; free-form point parameters
 *   repetitions = 7                        ; sweep settings: repetitions, rounds, min_time, seed, check_rows, budget,
 *                                          ; max_mem (defaults 7, 1 round, 0.02 s, seed 42, 64; timing claims 3 x 3 rounds)
 *   min_time = 0.02
 *
 * Assertions (each gives an estimate with an interval, checked against `expect`, per series: a series is one
 * kernel (or probe variant) at one combination of the axes other than x):
 *   slope     exponent p of metric ~ c x^p, OLS on log-log over fit_range; interval: bootstrap over the raw
 *             repetition samples (medians per point re-drawn), else the t-interval of the OLS slope
 *   flat      a slope whose expected range is around 0 (default -0.15..0.15): cost constant in x
 *   power     a slope of an accuracy metric vs a rank-like x (e.g. MSE ~ m^-1: expect -1.2..-0.8)
 *   monotone  every step along x goes the expected way (decreasing/increasing, 2% slack); interval: the slope
 *   crossover the x* where kernel A's and B's curves cross (crossover.h), bootstrap interval from the samples
 *   ratio     metric(A) / metric(B) at x = at, bootstrap interval
 *   equal     1 kernel: its outputs vs its own double oracle over every row (own_rel_l2 <= tolerance);
 *             2 kernels: both run on the same inputs, rel_l2 of the outputs <= tolerance
 *   value     the metric itself (at x = at, or its range over every x) within expect
 * Verdict (strict): reproduced when the whole 95% interval lies in the expected range; not reproduced when it
 * lies wholly outside; inconclusive otherwise, or when the kernels are not registered / no point could be measured.
 * Timing claims sweep in 3 interleaved rounds by default (`rounds`, repetitions 3 per round): a point's samples
 * come from three separate minutes, and its interval is the percentile bootstrap of the median of the pooled
 * samples (stats.h), so the machine's drift between minutes enters it (not all of a run-to-run change: a
 * noisier run widens the intervals). Special cases follow the same rule: value over every x (every point's
 * interval inside: reproduced; one wholly outside: not reproduced); monotone (every step the expected way and the
 * slope's interval on that side of 0: reproduced; the slope's interval on the other side: not reproduced); a
 * crossover outside the measured range (n* < x_first or > x_last: judged as that open interval) or found in
 * fewer than 95% of the replicates (inconclusive).
 *
 * Kinds: `kind = reproduction` (default) checks a paper's number: `derivation` says how the expected range
 * follows from it ("paper says X; tolerance T because ...; so [a, b]"). `kind = description` describes our own
 * measurement (a crossover's n*, a speed ratio on this CPU the paper did not measure): judged the same way, but
 * counted apart from the reproductions. `expect = exists` is for descriptions only (it cannot fail).
 * Slopes (slope, flat, power) and monotone claims need at least MB_CLAIM_MIN_FIT_POINTS values of x in their fit
 * range: the parser refuses fewer (FILE:LINE of the x axis).
 *
 * Results are swept into results/claims/<id>.h5 with --resume semantics (points with the same kernel source
 * hash are reused); only the missing points are measured.
 */
#ifndef MB_CLAIMS_H
#define MB_CLAIMS_H

#include <stddef.h>
#include <stdio.h>

#include "analysis/stats.h"

enum mb_claim_assert { MB_CLAIM_SLOPE, MB_CLAIM_FLAT, MB_CLAIM_POWER, MB_CLAIM_MONOTONE, MB_CLAIM_CROSSOVER,
                       MB_CLAIM_RATIO, MB_CLAIM_EQUAL, MB_CLAIM_VALUE, MB_CLAIM_ASSERT_COUNT };
extern const char *const mb_claim_assert_names[MB_CLAIM_ASSERT_COUNT];

enum mb_claim_verdict { MB_CLAIM_REPRODUCED, MB_CLAIM_NOT_REPRODUCED, MB_CLAIM_INCONCLUSIVE };
extern const char *const mb_claim_verdict_names[3]; /* "reproduced" "not reproduced" "inconclusive" */

enum mb_claim_kind { MB_CLAIM_REPRODUCTION, MB_CLAIM_DESCRIPTION };
extern const char *const mb_claim_kind_names[2]; /* "reproduction" "description" */
/* The verdict as the table shows it: "reproduced" ... for reproductions, "holds" / "does not hold" /
   "inconclusive" for descriptions. */
const char *mb_claim_verdict_text(enum mb_claim_kind kind, enum mb_claim_verdict v);

#define MB_CLAIM_MIN_FIT_POINTS 5 /* x values a slope is fitted over, at least */

enum mb_expect_kind { MB_EXPECT_RANGE, MB_EXPECT_EXISTS, MB_EXPECT_DECREASING, MB_EXPECT_INCREASING };
struct mb_expect {
    enum mb_expect_kind kind;
    double lo, hi;  /* RANGE: [lo, hi] (-inf / inf for < and >) */
    char text[64];
};
/* "1.8..2.2", "<0.5", ">1", "exists", "decreasing", "increasing". Returns 0 or -1. */
int mb_expect_parse(const char *text, struct mb_expect *e);
/* The verdict of an estimate with interval against an expectation (RANGE only): reproduced when [lo, hi] lies in
   the range, not reproduced when it lies wholly outside, inconclusive otherwise (and for a NaN). */
enum mb_claim_verdict mb_expect_judge(const struct mb_expect *e, const struct mb_interval *v);

#define MB_CLAIM_MAX_VARIANTS 8

struct mb_claim {
    char id[64];
    char file[256];
    int line;
    char source[256];
    char statement[512];
    char paper[128];
    enum mb_claim_kind kind;
    char derivation[640]; /* how expect follows from the paper's number (reproductions) */
    enum mb_claim_assert assertion;
    char kernels[512];
    char probe[64];
    int n_variants;
    char variants[MB_CLAIM_MAX_VARIANTS][128];
    char metric[32];
    char x[32];
    char fit_range[32];
    int has_at;
    double at;
    struct mb_expect expect;
    double tolerance;
    char sweep_ini[4096]; /* the [experiment]/[axes] text of its sweep */
};

struct mb_claim_set {
    int count, cap;
    struct mb_claim *claims;
};

/* Parse one claims file into set (appends). Errors "FILE:LINE: what is wrong (what is allowed)". */
int mb_claims_load(const char *path, struct mb_claim_set *set, char *err, size_t errlen);
/* Every *.ini of dir, sorted by name. */
int mb_claims_load_dir(const char *dir, struct mb_claim_set *set, char *err, size_t errlen);
int mb_claims_parse(const char *text, const char *name, struct mb_claim_set *set, char *err, size_t errlen);
void mb_claims_free(struct mb_claim_set *set);

/* One verdict line: a claim gives one per series (e.g. per d for a crossover). */
struct mb_claim_result {
    char id[80];         /* claim id, plus "[d=64 causal=0]" for series of a multi-series claim */
    char paper[128];
    char measured[400];  /* "2.03 [1.97, 2.09]" */
    char expect[64];
    enum mb_claim_kind kind;
    enum mb_claim_verdict verdict;
    char reason[640];    /* why inconclusive / detail */
    struct mb_interval value;
};

/* What a claim reports while it runs (the library never prints). PROGRESS: "claim ID: sweep -> PATH", "claim ID:
   probe P V"; WARNING: "ID: what went wrong" while the claim goes on (a failed sweep is judged on what it stored,
   a results file that cannot be resumed is moved aside, a plot that could not be drawn). */
enum mb_claim_note { MB_CLAIM_NOTE_PROGRESS, MB_CLAIM_NOTE_WARNING };
struct mb_sweep_event;

struct mb_claim_opts {
    const char *results_dir;  /* results/claims */
    const char *plots_dir;    /* plots/claims ("" or NULL: no plots) */
    int force;                /* re-measure everything */
    int replicates;           /* bootstrap replicates (default 1000) */
    double budget;            /* per-claim sweep budget in seconds (<= 0: the claim's) */
    FILE *data;               /* when set: the measured series are written there as Markdown tables */
    void (*on_note)(void *ctx, enum mb_claim_note kind, const char *text);  /* NULL: no notes */
    void (*on_sweep)(void *ctx, const struct mb_sweep_event *ev);          /* the claims' sweeps (run/runner.h) */
    void *ctx;                /* passed to both */
};

/* Run one claim: sweep (or probe), evaluate. Appends results to *res (realloc'd, *n_res updated); plot: the
   image drawn ("" if none). Returns 0 (whatever the verdict), or -1 on an error (bad file, I/O). */
int mb_claim_run(const struct mb_claim *c, const struct mb_claim_opts *o, struct mb_claim_result **res, int *n_res,
                 char *plot, size_t plot_len, char *err, size_t errlen);

#endif
