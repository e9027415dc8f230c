/* Sweeps on MPI (mpi_sweep.h): rank 0 plans and writes, worker ranks measure.
 *
 * Protocol (point-to-point on MPI_COMM_WORLD, all messages raw bytes of structs of this one binary):
 *   start   every worker sends HELLO {host, pid, its provenance}; rank 0 answers ROLE: measure or idle. By default
 *           only the lowest worker rank of each host measures (ranks on one host disturb each other's timings:
 *           caches, memory bandwidth, turbo); --mpi-share-node lets all measure, with a warning.
 *   sweep   rank 0 runs the ordinary sweep (run/sweep.c: plan, --resume, budget, progress, SIGINT) in decreasing
 *           modelled cost, with this file's executor: each admitted point goes as WORK {row} to an idle worker
 *           (waiting for one when all are busy); a worker measures it and sends ROW {row, samples} back; rank 0
 *           stores rows as they arrive. Rank 0 polls (MPI_Iprobe + 1 ms sleep) so that it sees signals.
 *   end     STOP to every worker, MPI_Finalize. On failure or interruption the job is aborted after the file
 *           is closed.
 * A dead worker: mpirun's default reaction to a rank dying is to tear the job down (SIGTERM to every rank):
 * rank 0 takes SIGTERM like SIGINT and records each point still out as an error row whose message starts with
 * MB_LOST_PREFIX, which --resume measures again. Under `mpirun --enable-recovery` the job goes on: rank 0 then
 * notices a dead worker on its own host (kill(pid, 0)) and records its point as lost, and the other workers
 * carry on; a dead worker on another host is not detected (rank 0 would wait for it).
 */
#include "run/mpi_sweep.h"
#include "store/provenance.h"
#include "store/store.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int mb_mpi_launched_size(void) {
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (int i = 0; i < 3; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return 1;
}

#ifndef MB_WITH_MPI

int mb_mpi_built(void) { return 0; }

int mb_mpi_sweep_run(const struct mb_experiment *e, const struct mb_sweep_opts *so, int share_node, int *is_root,
                     char *err, size_t errlen) {
    (void)e, (void)so, (void)share_node;
    *is_root = 1;
    return mb_errorf(err, errlen, "this mechbench was built without MPI: run mechbench-mpi under mpirun"), 1;
}

void mb_mpi_end(int rc) { (void)rc; }

#else
#include <mpi.h>

enum { TAG_HELLO = 1, TAG_ROLE, TAG_WORK, TAG_ROW, TAG_STOP };

struct hello {
    char host[64];
    int pid;
    struct mb_provenance prov; /* values only: keys are pointers into the sender's image */
};

struct worker {
    int rank, pid, local, dead;
    char host[64];
    int64_t item; /* the point it measures, -1 when idle */
    struct mb_row row;
};

struct mpi_exec {
    struct worker *w;
    int n;
    int busy;
    char *buf;
    size_t cap;
};

static struct hello *hellos; /* rank 0: per rank; for the /hosts provenance */
static int launched;

int mb_mpi_built(void) { return 1; }

void mb_mpi_end(int rc) {
    if (!launched) return;
    if (rc) MPI_Abort(MPI_COMM_WORLD, rc);
    MPI_Finalize();
}

static void pause_ms(void) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
}

static int lose(struct mpi_exec *x, struct mb_sweep_sink *sink, struct worker *w, const char *why, char *err,
                size_t errlen) {
    struct mb_row row = w->row;
    row.verdict = MB_ERROR;
    row.mpi_rank = w->rank;
    snprintf(row.host, sizeof row.host, "%s", w->host);
    snprintf(row.message, sizeof row.message, MB_LOST_PREFIX "rank %d (pid %d on %s) %s; --resume measures it again",
             w->rank, w->pid, w->host, why);
    const int64_t item = w->item;
    w->item = -1;
    x->busy--;
    return mb_sweep_sink_row(sink, item, &row, err, errlen);
}

/* Store the next row that arrives. Returns 0 (a row stored, or nothing out), 1 (interrupted), -1 (failure). */
static int wait_one(struct mpi_exec *x, struct mb_sweep_sink *sink, char *err, size_t errlen) {
    while (x->busy > 0) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, TAG_ROW, MPI_COMM_WORLD, &flag, &st) != MPI_SUCCESS)
            return mb_errorf(err, errlen, "MPI_Iprobe failed");
        if (flag) {
            int bytes = 0;
            MPI_Get_count(&st, MPI_BYTE, &bytes);
            if ((size_t)bytes > x->cap) {
                char *grown = realloc(x->buf, (size_t)bytes);
                if (!grown) return mb_errorf(err, errlen, "out of memory");
                x->buf = grown;
                x->cap = (size_t)bytes;
            }
            MPI_Recv(x->buf, bytes, MPI_BYTE, st.MPI_SOURCE, TAG_ROW, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            struct worker *w = NULL;
            for (int i = 0; i < x->n; i++)
                if (x->w[i].rank == st.MPI_SOURCE) w = &x->w[i];
            if (!w || w->item < 0 || (size_t)bytes < sizeof(struct mb_row))
                return mb_errorf(err, errlen, "unexpected message from rank %d", st.MPI_SOURCE);
            struct mb_row row;
            memcpy(&row, x->buf, sizeof row);
            row.n_samples = (int)(((size_t)bytes - sizeof row) / sizeof(double));
            row.samples = row.n_samples ? (double *)(x->buf + sizeof row) : NULL;
            const int64_t item = w->item;
            w->item = -1;
            x->busy--;
            return mb_sweep_sink_row(sink, item, &row, err, errlen);
        }
        if (mb_sweep_interrupted()) return 1;
        for (int i = 0; i < x->n; i++) {
            struct worker *w = &x->w[i];
            if (w->item >= 0 && w->local && kill(w->pid, 0) < 0 && errno == ESRCH) {
                w->dead = 1;
                if (lose(x, sink, w, "died while measuring this point", err, errlen)) return -1;
                return 0;
            }
        }
        pause_ms();
    }
    return 0;
}

static int mpi_submit(void *ctx, struct mb_sweep_sink *sink, int64_t item, const struct mb_row *row, char *err,
                      size_t errlen) {
    struct mpi_exec *x = ctx;
    for (;;) {
        for (int i = 0; i < x->n; i++) {
            struct worker *w = &x->w[i];
            if (w->dead || w->item >= 0) continue;
            w->item = item;
            w->row = *row;
            w->row.samples = NULL;
            x->busy++;
            if (MPI_Send(&w->row, (int)sizeof w->row, MPI_BYTE, w->rank, TAG_WORK, MPI_COMM_WORLD) != MPI_SUCCESS) {
                w->dead = 1;
                return lose(x, sink, w, "could not be reached", err, errlen);
            }
            return 0;
        }
        int alive = 0;
        for (int i = 0; i < x->n; i++) alive += !x->w[i].dead;
        if (!alive) return mb_errorf(err, errlen, "every worker rank died: rerun with --resume");
        int rc = wait_one(x, sink, err, errlen);
        if (rc) return rc < 0 ? -1 : 0; /* interrupted: the point stays unmeasured; the sweep stops */
    }
}

static int mpi_drain(void *ctx, struct mb_sweep_sink *sink, int interrupted, char *err, size_t errlen) {
    struct mpi_exec *x = ctx;
    while (x->busy > 0 && !interrupted) {
        int rc = wait_one(x, sink, err, errlen);
        if (rc < 0) return -1;
        interrupted = rc == 1;
    }
    for (int i = 0; i < x->n; i++)
        if (x->w[i].item >= 0 && lose(x, sink, &x->w[i], "was stopped before finishing (sweep interrupted)", err, errlen))
            return -1;
    return 0;
}

/* /hosts/HOST for every measuring host (rank 0's own is written when the file is created). */
static void add_hosts(void *ctx, struct mb_store *store) {
    const struct mpi_exec *x = ctx;
    static struct mb_provenance p;
    mb_provenance_collect(&p); /* the keys, in the same order as every rank's */
    for (int i = 0; i < x->n; i++) {
        const struct hello *h = &hellos[x->w[i].rank];
        for (int k = 0; k < p.count && k < h->prov.count; k++) memcpy(p.items[k].value, h->prov.items[k].value, MB_PROV_VALUE_LEN);
        char ignored[256];
        mb_store_add_host(store, &p, ignored, sizeof ignored); /* provenance only: a failure here loses no row */
    }
}

static void note(const struct mb_sweep_opts *so, const char *text) {
    if (!so->on_event) return;
    struct mb_sweep_event ev = {.kind = MB_SWEEP_NOTE, .out = so->out, .message = text};
    so->on_event(so->ctx, &ev);
}

static int worker_loop(const struct mb_experiment *e, const struct mb_sweep_opts *so, int rank, char *err,
                       size_t errlen) {
    struct mb_run_opts o;
    mb_sweep_run_opts(e, so->max_mem, &o);
    double *samples = calloc((size_t)o.repetitions + 1, sizeof *samples);
    char *msg = malloc(sizeof(struct mb_row) + ((size_t)o.repetitions + 1) * sizeof(double));
    if (!samples || !msg) return free(samples), free(msg), mb_errorf(err, errlen, "rank %d: out of memory", rank), 1;
    struct mb_measurer m = {.o = &o, .samples = samples};
    char host[64] = "unknown";
    gethostname(host, sizeof host - 1);
    int rc = 0;
    for (;;) {
        MPI_Status st;
        if (MPI_Probe(0, MPI_ANY_TAG, MPI_COMM_WORLD, &st) != MPI_SUCCESS) {
            rc = mb_errorf(err, errlen, "rank %d: lost contact with rank 0", rank);
            break;
        }
        struct mb_row row;
        MPI_Recv(&row, st.MPI_TAG == TAG_WORK ? (int)sizeof row : 0, MPI_BYTE, 0, st.MPI_TAG, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
        if (st.MPI_TAG != TAG_WORK) break;
        struct mb_sweep_item it = {.k = mb_kernel_find(row.kernel), .p = row.point};
        row.samples = NULL;
        row.n_samples = 0;
        if (!it.k) {
            row.verdict = MB_ERROR;
            snprintf(row.message, sizeof row.message, "rank %d does not know kernel %s (another build?)", rank, row.kernel);
        } else {
            row.started = mb_wall_clock();
            mb_measurer_item(&m, &it, &row, err, errlen);
        }
        snprintf(row.host, sizeof row.host, "%s", host);
        row.mpi_rank = rank;
        const int ns = row.samples && row.n_samples > 0 && row.n_samples <= o.repetitions ? row.n_samples : 0;
        memcpy(msg, &row, sizeof row);
        if (ns) memcpy(msg + sizeof row, row.samples, (size_t)ns * sizeof(double));
        MPI_Send(msg, (int)(sizeof row + (size_t)ns * sizeof(double)), MPI_BYTE, 0, TAG_ROW, MPI_COMM_WORLD);
    }
    mb_measurer_free(&m);
    free(samples);
    free(msg);
    return rc ? 1 : 0;
}

int mb_mpi_sweep_run(const struct mb_experiment *e, const struct mb_sweep_opts *so, int share_node, int *is_root,
                     char *err, size_t errlen) {
    int rank = 0, size = 1;
    MPI_Init(NULL, NULL);
    launched = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    *is_root = rank == 0;
    static struct hello mine;
    gethostname(mine.host, sizeof mine.host - 1);
    mine.pid = (int)getpid();
    if (rank != 0) {
        mb_provenance_collect(&mine.prov);
        MPI_Send(&mine, (int)sizeof mine, MPI_BYTE, 0, TAG_HELLO, MPI_COMM_WORLD);
        int measure = 0;
        MPI_Recv(&measure, 1, MPI_INT, 0, TAG_ROLE, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        return measure ? worker_loop(e, so, rank, err, errlen) : 0;
    }

    hellos = calloc((size_t)size, sizeof *hellos);
    struct mpi_exec x = {.w = calloc((size_t)size, sizeof *x.w)};
    if (!hellos || !x.w) return mb_errorf(err, errlen, "out of memory"), 1;
    hellos[0] = mine;
    for (int r = 1; r < size; r++)
        MPI_Recv(&hellos[r], (int)sizeof *hellos, MPI_BYTE, r, TAG_HELLO, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    char text[1024];
    int shared = 0;
    for (int r = 1; r < size; r++) {
        int first = 1;
        for (int i = 0; i < x.n && first; i++) first = strcmp(x.w[i].host, hellos[r].host) != 0;
        int measure = first || share_node;
        if (!first) shared++;
        if (!first && !share_node) {
            snprintf(text, sizeof text, "rank %d shares host %s with a measuring rank: it stays idle (one measuring "
                     "rank per host keeps timings fair; --mpi-share-node uses it anyway)", r, hellos[r].host);
            note(so, text);
        }
        if (measure)
            x.w[x.n++] = (struct worker){.rank = r, .pid = hellos[r].pid, .item = -1,
                                         .local = strcmp(hellos[r].host, mine.host) == 0};
        if (measure) snprintf(x.w[x.n - 1].host, sizeof x.w[x.n - 1].host, "%s", hellos[r].host);
        MPI_Send(&measure, 1, MPI_INT, r, TAG_ROLE, MPI_COMM_WORLD);
    }
    if (shared && share_node) {
        snprintf(text, sizeof text, "warning: %d measuring ranks share a host with another (--mpi-share-node): their "
                 "timings disturb each other; each row records its host and rank", shared);
        note(so, text);
    }
    int rc;
    if (x.n == 0) {
        mb_errorf(err, errlen, "no worker rank to measure (run with mpirun -np 2 or more)");
        rc = 1;
    } else {
        struct mb_sweep_opts mso = *so;
        const struct mb_sweep_exec exec = {.ctx = &x, .parallel = x.n, .submit = mpi_submit, .drain = mpi_drain};
        mso.exec = &exec;
        mso.largest_first = 1;
        mso.stop_on_sigterm = 1;
        mso.on_file = add_hosts;
        mso.file_ctx = &x;
        rc = mb_sweep_run(e, &mso, err, errlen);
    }
    if (rc == 0)
        for (int i = 0; i < x.n; i++)
            if (!x.w[i].dead) MPI_Send(NULL, 0, MPI_BYTE, x.w[i].rank, TAG_STOP, MPI_COMM_WORLD);
    free(x.w);
    free(x.buf);
    free(hellos);
    hellos = NULL;
    return rc;
}
#endif
