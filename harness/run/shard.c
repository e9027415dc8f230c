/* Shards of a sweep for job arrays (`mechbench sweep X.ini --shard i/N`): a deterministic partition of the plan's
 * (kernel, point) items into N parts of near-equal modelled cost.
 *
 * Longest-processing-time list scheduling (Graham 1969): items in decreasing modelled cost (ties in plan order)
 * go one by one to the bin with the least load so far (ties: the lowest bin). Every shard computes the same
 * partition from the same .ini, so shards 1..N together hold every item exactly once; max load <= 4/3 of the
 * optimum. The same deal over R bins models MPI's dynamic largest-first hand-out to R workers (mb_shard_loads).
 * Cost: O(M log M) to sort M items plus O(M log N) for the deal (a binary heap of the N bin loads).
 */
#include "run/runner.h"

#include <stdlib.h>
#include <string.h>

struct bin {
    double load;
    int index;
};

static int lighter(const struct bin *a, const struct bin *b) {
    return a->load < b->load || (a->load == b->load && a->index < b->index);
}

static void sift_down(struct bin *h, int n, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && lighter(&h[l], &h[m])) m = l;
        if (r < n && lighter(&h[r], &h[m])) m = r;
        if (m == i) return;
        struct bin t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* order[0..count) = item indices by decreasing cost, plan order among equals (a merge sort: the same order on every
   machine, whatever its libc's qsort does with ties). Returns a malloc'd array or NULL. */
static int64_t *largest_first(const struct mb_sweep_item *items, int64_t count) {
    int64_t *order = malloc((size_t)(count + 1) * sizeof *order), *tmp = malloc((size_t)(count + 1) * sizeof *tmp);
    if (!order || !tmp) return free(order), free(tmp), NULL;
    for (int64_t i = 0; i < count; i++) order[i] = i;
    for (int64_t width = 1; width < count; width *= 2) {
        for (int64_t lo = 0; lo < count; lo += 2 * width) {
            int64_t mid = lo + width < count ? lo + width : count, hi = lo + 2 * width < count ? lo + 2 * width : count;
            int64_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi) tmp[k++] = items[order[b]].cost > items[order[a]].cost ? order[b++] : order[a++];
            while (a < mid) tmp[k++] = order[a++];
            while (b < hi) tmp[k++] = order[b++];
        }
        memcpy(order, tmp, (size_t)count * sizeof *order);
    }
    free(tmp);
    return order;
}

int mb_sweep_sort_largest_first(struct mb_sweep_item *items, int64_t count) {
    int64_t *order = largest_first(items, count);
    struct mb_sweep_item *copy = malloc((size_t)(count + 1) * sizeof *copy);
    if (!order || !copy) return free(order), free(copy), -1;
    for (int64_t i = 0; i < count; i++) copy[i] = items[order[i]];
    memcpy(items, copy, (size_t)count * sizeof *items);
    free(order);
    free(copy);
    return 0;
}

/* assign[i] = the bin of items[i]; loads[b] (may be NULL) = the modelled load of bin b. */
static int deal(const struct mb_sweep_item *items, int64_t count, int n_bins, int *assign, double *loads) {
    int64_t *order = largest_first(items, count);
    struct bin *heap = malloc((size_t)n_bins * sizeof *heap);
    if (!order || !heap) return free(order), free(heap), -1;
    for (int b = 0; b < n_bins; b++) heap[b] = (struct bin){0, b};
    for (int64_t i = 0; i < count; i++) {
        const int64_t it = order[i];
        assign[it] = heap[0].index;
        heap[0].load += items[it].cost;
        sift_down(heap, n_bins, 0);
    }
    if (loads)
        for (int b = 0; b < n_bins; b++) loads[heap[b].index] = heap[b].load;
    free(order);
    free(heap);
    return 0;
}

int mb_shard_loads(const struct mb_sweep_item *items, int64_t count, int n_bins, double *loads) {
    if (n_bins < 1) return -1;
    int *assign = malloc((size_t)(count + 1) * sizeof *assign);
    if (!assign) return -1;
    int rc = deal(items, count, n_bins, assign, loads);
    free(assign);
    return rc;
}

int mb_shard_select(struct mb_sweep_item *items, int64_t *count, int shard, int n_shards, char *err, size_t errlen) {
    if (n_shards < 1 || shard < 1 || shard > n_shards)
        return mb_errorf(err, errlen, "shard %d/%d: expected i/N with 1 <= i <= N", shard, n_shards);
    int *assign = malloc((size_t)(*count + 1) * sizeof *assign);
    if (!assign || deal(items, *count, n_shards, assign, NULL)) return free(assign), mb_errorf(err, errlen, "out of memory");
    int64_t kept = 0;
    for (int64_t i = 0; i < *count; i++)
        if (assign[i] == shard - 1) items[kept++] = items[i];
    free(assign);
    *count = kept;
    return 0;
}
