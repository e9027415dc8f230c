/* mechbench claims [ID...]: reproduce paper claims (harness/analysis/claims.h), print the verdict table and the
 * claims' progress, write the report. */
#include "analysis/claims.h"
#include "cli/args.h"
#include "cli/commands.h"
#include "core/mechbench.h"
#include "run/runner.h"

#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char usage[] =
    "usage: mechbench claims [ID|GLOB ...] [--dir experiments/claims] [--report results/claims.md]\n"
    "                        [--results results/claims] [--plots plots/claims] [--force] [--list] [--quiet]\n"
    "                        [--replicates 1000] [--budget SECONDS]\n"
    "  Run the paper claims declared in DIR/*.ini (all, or those whose id matches), reusing the stored results\n"
    "  of each claim (results/claims/ID.h5, same kernel source hash) and measuring only what is missing.\n"
    "  Prints: claim | paper says | measured | expected | verdict: reproduced when the whole 95% interval lies in\n"
    "  the expected range, not reproduced when it lies wholly outside, inconclusive otherwise. Claims marked\n"
    "  kind = description (our own measurements) read holds / does not hold / inconclusive and are tallied apart.\n"
    "  Writes a Markdown report with the numbers, intervals, derivations, reasons and plots.\n"
    "  Exit status 0 whatever the verdicts; 1 on errors (bad claim file, I/O), 2 on usage errors.\n"
    "  --force       re-measure (replace the claims' results files)\n"
    "  --list        list the claims and exit\n"
    "  --budget      seconds allowed per claim sweep (points predicted to overrun are skipped)\n";

static int selected(const struct mb_claim *c, const struct mb_cli_parse *cli) {
    if (cli->n_positional == 0) return 1;
    for (int i = 0; i < cli->n_positional; i++)
        if (!fnmatch(cli->positional[i], c->id, 0)) return 1;
    return 0;
}

/* Progress on stderr (not with --quiet); warnings always. */
struct claims_report {
    int quiet;
    struct mb_cli_sweep_report sweep; /* progress lines and the final line, no summary table */
};

static void on_note(void *ctx, enum mb_claim_note kind, const char *text) {
    const struct claims_report *r = ctx;
    if (kind == MB_CLAIM_NOTE_WARNING) fprintf(stderr, "mechbench claims: %s\n", text);
    else if (!r->quiet) fprintf(stderr, "%s\n", text);
}

static void on_sweep(void *ctx, const struct mb_sweep_event *ev) {
    struct claims_report *r = ctx;
    mb_cli_sweep_report(&r->sweep, ev);
}

static void md_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputs("\\|", f);
        else fputc(*s, f);
    }
}

int mb_cmd_claims(int argc, char **argv) {
    const char *dir = "experiments/claims", *report = "results/claims.md", *results = "results/claims",
               *plots = "plots/claims";
    int force = 0, list = 0, quiet = 0;
    int64_t replicates = MB_BOOTSTRAP_DEFAULT;
    double budget = 0;
    const struct mb_opt opts[] = {
        MB_OPT("dir", MB_OPT_STRING, &dir),         MB_OPT("report", MB_OPT_STRING, &report),
        MB_OPT("results", MB_OPT_STRING, &results), MB_OPT("plots", MB_OPT_STRING, &plots),
        MB_OPT("force", MB_OPT_FLAG, &force),       MB_OPT("list", MB_OPT_FLAG, &list),
        MB_OPT("quiet", MB_OPT_FLAG, &quiet),       MB_OPT("replicates", MB_OPT_INT, &replicates),
        MB_OPT("budget", MB_OPT_REAL, &budget),
    };
    struct mb_cli_parse cli = {.command = "claims", .opts = opts, .n_opts = (int)(sizeof opts / sizeof opts[0])};
    int rc = mb_cli_parse(&cli, argc, argv);
    if (rc == 3) return fputs(usage, stdout), 0;
    if (rc) return rc;
    if (cli.n_positional > 4) return mb_cli_fail("claims", 2, "at most 4 claim ids or globs");
    if (replicates < 0 || replicates > 100000)
        return mb_cli_fail("claims", 2, "--replicates %lld (allowed: 0..100000; 0 = no bootstrap)", (long long)replicates);

    struct mb_claim_set set = {0};
    char err[1024];
    if (mb_claims_load_dir(dir, &set, err, sizeof err)) {
        mb_claims_free(&set); /* the files before the bad one were loaded */
        return mb_cli_fail("claims", 1, "%s", err);
    }
    int n_sel = 0;
    for (int i = 0; i < set.count; i++) n_sel += selected(&set.claims[i], &cli);
    if (!n_sel) {
        mb_claims_free(&set);
        if (!cli.n_positional) return mb_cli_fail("claims", 2, "%s holds no claims (*.ini files of [claim ID])", dir);
        char asked[256] = "";
        for (int i = 0, used = 0; i < cli.n_positional && used < (int)sizeof asked; i++)
            used += snprintf(asked + used, sizeof asked - used, "%s'%s'", i ? ", " : "", cli.positional[i]);
        return mb_cli_fail("claims", 2, "no claim in %s matches %s (see mechbench claims --list)", dir, asked);
    }
    if (list) {
        for (int i = 0; i < set.count; i++)
            if (selected(&set.claims[i], &cli))
                printf("%-34s %-9s %-12s %s\n", set.claims[i].id, mb_claim_assert_names[set.claims[i].assertion],
                       mb_claim_kind_names[set.claims[i].kind], set.claims[i].statement);
        mb_claims_free(&set);
        return 0;
    }

    struct claims_report progress = {.quiet = quiet, .sweep = {.quiet = quiet, .table = 0}};
    struct mb_claim_opts o = {.results_dir = results, .plots_dir = plots, .force = force, .replicates = (int)replicates,
                              .budget = budget, .on_note = on_note, .on_sweep = on_sweep, .ctx = &progress};
    mkdir("results", 0777);
    mkdir("plots", 0777);
    struct mb_claim_result *res = NULL;
    int n_res = 0, status = 0;
    int *first = calloc((size_t)set.count + 1, sizeof *first), *count = calloc((size_t)set.count + 1, sizeof *count);
    char (*plot)[1024] = calloc((size_t)set.count + 1, sizeof *plot);
    double *secs = calloc((size_t)set.count + 1, sizeof *secs);
    char **data = calloc((size_t)set.count + 1, sizeof *data);
    const double t0 = mb_now();
    for (int i = 0; i < set.count && !status; i++) {
        if (!selected(&set.claims[i], &cli)) continue;
        first[i] = n_res;
        double t = mb_now();
        size_t data_len = 0;
        o.data = open_memstream(&data[i], &data_len);
        if (mb_claim_run(&set.claims[i], &o, &res, &n_res, plot[i], sizeof plot[i], err, sizeof err)) {
            mb_cli_fail("claims", 1, "%s: %s", set.claims[i].id, err);
            status = 1;
        }
        if (o.data) fclose(o.data);
        o.data = NULL;
        secs[i] = mb_now() - t;
        count[i] = n_res - first[i];
    }

    /* the table: reproductions and descriptions tallied apart */
    int tally[2][3] = {{0}};
    char tallies[2][160];
    printf("%-46s %-10s %-44s %-14s %s\n", "claim", "paper", "measured", "expected", "verdict");
    for (int i = 0; i < n_res; i++) {
        tally[res[i].kind][res[i].verdict]++;
        printf("%-46s %-10s %-44s %-14s %s%s%s%s\n", res[i].id, res[i].paper, res[i].measured[0] ? res[i].measured : "-",
               res[i].expect, res[i].kind == MB_CLAIM_DESCRIPTION ? "description: " : "",
               mb_claim_verdict_text(res[i].kind, res[i].verdict),
               res[i].verdict == MB_CLAIM_INCONCLUSIVE && res[i].reason[0] ? ": " : "",
               res[i].verdict == MB_CLAIM_INCONCLUSIVE ? res[i].reason : "");
    }
    snprintf(tallies[0], sizeof tallies[0], "%d reproduced, %d not reproduced, %d inconclusive", tally[0][0], tally[0][1],
             tally[0][2]);
    snprintf(tallies[1], sizeof tallies[1], "descriptions of our own measurements: %d hold, %d do not hold, %d inconclusive",
             tally[1][0], tally[1][1], tally[1][2]);
    printf("%s; %s (%.0f s)\n", tallies[0], tallies[1], mb_now() - t0);

    /* the report */
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", report);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        mb_cli_fail("claims", 1, "cannot write %s", tmp);
        status = 1;
    } else {
        time_t now = time(NULL);
        char when[64];
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
        fprintf(f, "# Paper claims, measured\n\nGenerated by `mechbench claims` on %s from `%s/*.ini` in %.0f s.\n"
                   "Verdicts: **reproduced** when the whole 95%% interval lies in the expected range, **not "
                   "reproduced** when it lies wholly outside, **inconclusive** otherwise (or when a kernel is missing). "
                   "Timing claims measure every point in 3 interleaved rounds (samples from three separate minutes); "
                   "their intervals are percentile bootstraps of the medians of the pooled samples. Claims of kind *description* "
                   "describe our own measurements (no paper number to reproduce) and are tallied apart.\n"
                   "Results: `%s/ID.h5` (reused while the kernels' source hashes match).\n\n",
                when, dir, mb_now() - t0, results);
        fprintf(f, "Reproductions: %s.\n\nDescriptions: %s.\n\n", tallies[0], tallies[1] + strlen("descriptions of our own measurements: "));
        for (int kind = 0; kind < 2; kind++) {
            fprintf(f, "### %s\n\n| claim | paper says | measured | expected | verdict |\n|---|---|---|---|---|\n",
                    kind ? "Descriptions of our own measurements" : "Reproductions of papers' numbers");
            for (int i = 0; i < n_res; i++) {
                if ((int)res[i].kind != kind) continue;
                fprintf(f, "| %s | ", res[i].id);
                md_escape(f, res[i].paper);
                fprintf(f, " | ");
                md_escape(f, res[i].measured[0] ? res[i].measured : "-");
                fprintf(f, " | %s | %s |\n", res[i].expect, mb_claim_verdict_text(res[i].kind, res[i].verdict));
            }
            fputc('\n', f);
        }
        for (int i = 0; i < set.count; i++) {
            const struct mb_claim *c = &set.claims[i];
            if (!selected(c, &cli) || (!count[i] && !plot[i][0])) continue;
            fprintf(f, "\n## %s\n\n- **kind**: %s\n- **statement**: %s\n- **source**: %s\n- **paper says**: %s\n", c->id,
                    mb_claim_kind_names[c->kind], c->statement, c->source, c->paper[0] ? c->paper : "(no number quoted)");
            if (c->derivation[0]) fprintf(f, "- **expected range, derived**: %s\n", c->derivation);
            fprintf(f, "- **assertion**: `%s` of %s along %s, expected `%s`\n", mb_claim_assert_names[c->assertion],
                    c->metric, c->x, c->expect.text);
            fprintf(f, "- **measured by**: %s%s (%.1f s)\n\n", c->probe[0] ? "probe " : "", c->probe[0] ? c->probe : c->kernels,
                    secs[i]);
            for (int j = first[i]; j < first[i] + count[i]; j++) {
                fprintf(f, "- `%s`: ", res[j].id);
                md_escape(f, res[j].measured[0] ? res[j].measured : "-");
                fprintf(f, " -> **%s**", mb_claim_verdict_text(res[j].kind, res[j].verdict));
                if (res[j].reason[0]) fprintf(f, " (%s)", res[j].reason);
                fputc('\n', f);
            }
            if (data[i] && data[i][0]) fprintf(f, "\n%s", data[i]);
            if (plot[i][0]) {
                /* the report lives in results/: link the image relative to it */
                const char *rel = plot[i];
                fprintf(f, "\n![%s](%s%s)\n", c->id, rel[0] == '/' ? "" : "../", rel);
            }
        }
        if (fclose(f) || rename(tmp, report)) {
            mb_cli_fail("claims", 1, "cannot write %s", report);
            status = 1;
        } else fprintf(stderr, "report: %s\n", report);
    }
    free(res);
    free(first);
    free(count);
    free(plot);
    free(secs);
    for (int i = 0; i < set.count; i++) free(data[i]);
    free(data);
    mb_claims_free(&set);
    return status;
}
