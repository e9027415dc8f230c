/* The net spec language of rf.h: tokenizer, recursive-descent parser (repeat blocks are parsed once per
 * repetition), loader of experiments/nets/NAME.net. Errors name the file and line: "alexnet.net:7: ...". */
#include "vision/rf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKENS 8192
#define MAX_NESTING 16

struct token {
    char text[64]; /* "\n" ends a statement */
    int line;
};

struct parser {
    const char *file;
    struct token *tokens;
    int n_tokens, pos;
    struct mb_rf_net *net;
    int repeat_index[MAX_NESTING], depth; /* '@' in a name: the innermost repetition's index */
    char *err;
    size_t errlen;
};

static int fail(struct parser *p, int line, const char *what) {
    return mb_errorf(p->err, p->errlen, "%s:%d: %s", p->file, line, what);
}

static int tokenize(struct parser *p, const char *text) {
    int line = 1;
    for (const char *s = text; *s;) {
        if (*s == '#') {
            s += strcspn(s, "\n");
            continue;
        }
        if (*s == '\n' || *s == '{' || *s == '}' || !isspace((unsigned char)*s)) {
            if (p->n_tokens == MAX_TOKENS) return fail(p, line, "too many tokens (at most 8192)");
            struct token *t = &p->tokens[p->n_tokens++];
            t->line = line;
            size_t len = (*s == '\n' || *s == '{' || *s == '}') ? 1 : strcspn(s, " \t\r\n{}#");
            if (len >= sizeof t->text) return fail(p, line, "a word longer than 63 characters");
            memcpy(t->text, s, len);
            t->text[len] = '\0';
            if (*s == '\n') line++;
            s += len;
            continue;
        }
        s++;
    }
    return 0;
}

static const struct token *peek(const struct parser *p) {
    static const struct token end = {"", 0};
    return p->pos < p->n_tokens ? &p->tokens[p->pos] : &end;
}
static int at_line_end(const struct parser *p) {
    const char *t = peek(p)->text;
    return !*t || !strcmp(t, "\n") || !strcmp(t, "{") || !strcmp(t, "}");
}
static void skip_newlines(struct parser *p) {
    while (p->pos < p->n_tokens && !strcmp(p->tokens[p->pos].text, "\n")) p->pos++;
}
static int last_line(const struct parser *p) { return p->n_tokens ? p->tokens[p->n_tokens - 1].line : 1; }

/* A whole positive integer in [lo, hi]. */
static int parse_count(struct parser *p, const char *what, int lo, int hi, int *out) {
    const struct token *t = peek(p);
    char *end;
    errno = 0;
    long v = strtol(t->text, &end, 10);
    if (at_line_end(p) || end == t->text || *end || errno || v < lo || v > hi) {
        char msg[160];
        snprintf(msg, sizeof msg, "%s '%s': expected an integer in %d..%d", what,
                 at_line_end(p) ? "(missing)" : t->text, lo, hi);
        return fail(p, t->line ? t->line : last_line(p), msg);
    }
    *out = (int)v;
    p->pos++;
    return 0;
}

/* "3" or "1x7" into v[0] (height), v[1] (width). */
static int parse_pair(struct parser *p, const char *what, int lo, int hi, int v[2]) {
    const struct token *t = peek(p);
    char a[64], b[64];
    const char *x = strchr(t->text, 'x');
    if (!x || at_line_end(p)) return parse_count(p, what, lo, hi, &v[0]) ? -1 : (v[1] = v[0], 0);
    snprintf(a, sizeof a, "%.*s", (int)(x - t->text), t->text);
    snprintf(b, sizeof b, "%s", x + 1);
    char *e1, *e2;
    long h = strtol(a, &e1, 10), w = strtol(b, &e2, 10);
    if (!*a || !*b || *e1 || *e2 || h < lo || h > hi || w < lo || w > hi) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s '%s': expected N or HxW, integers in %d..%d", what, t->text, lo, hi);
        return fail(p, t->line, msg);
    }
    v[0] = (int)h, v[1] = (int)w;
    p->pos++;
    return 0;
}

static int add_layer(struct parser *p, int line, struct mb_rf_layer **out) {
    if (p->net->n == MB_RF_MAX_LAYERS) return fail(p, line, "too many layers (at most 1024)");
    struct mb_rf_layer *l = &p->net->layers[p->net->n++];
    memset(l, 0, sizeof *l);
    l->line = line;
    l->prev = l->parent = -1;
    *out = l;
    return 0;
}

/* A NAME with '@' replaced by the repetition index (or "" when absent). */
static int parse_name(struct parser *p, char *name, size_t len) {
    name[0] = '\0';
    if (at_line_end(p)) return 0;
    const struct token *t = peek(p);
    size_t used = 0;
    for (const char *s = t->text; *s && used + 1 < len; s++) {
        if (*s == '@') {
            if (!p->depth) return fail(p, t->line, "'@' in a name outside a repeat block");
            used += (size_t)snprintf(name + used, len - used, "%d", p->repeat_index[p->depth - 1]);
            if (used >= len) used = len - 1;
        } else name[used++] = *s;
    }
    name[used] = '\0';
    p->pos++;
    return 0;
}

static int expect_line_end(struct parser *p, const char *after) {
    if (at_line_end(p)) return 0;
    char msg[200];
    snprintf(msg, sizeof msg, "unexpected '%s' after %s (one layer per line)", peek(p)->text, after);
    return fail(p, peek(p)->line, msg);
}

/* conv|pool K S P [dilation D] [ceil] [NAME] */
static int parse_layer(struct parser *p, enum mb_rf_op op, int line, int prev, int parent, int *index) {
    const char *kw = op == MB_RF_CONV ? "conv" : "pool";
    struct mb_rf_layer *l = NULL;
    if (add_layer(p, line, &l)) return -1;
    l->op = op, l->prev = prev, l->parent = parent, l->dil = 1;
    char what[32];
    snprintf(what, sizeof what, "%s kernel", kw);
    if (parse_pair(p, what, 1, 4096, l->k)) return -1;
    snprintf(what, sizeof what, "%s stride", kw);
    if (parse_count(p, what, 1, 4096, &l->stride)) return -1;
    const struct token *t = peek(p);
    if (!strcmp(t->text, "SAME") || !strcmp(t->text, "VALID")) {
        l->pad_mode = t->text[0] == 'S' ? MB_RF_PAD_SAME : MB_RF_PAD_VALID;
        p->pos++;
    } else {
        snprintf(what, sizeof what, "%s padding", kw);
        if (!at_line_end(p) && !isdigit((unsigned char)t->text[0])) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s padding '%s': expected an integer, HxW, SAME or VALID", kw, t->text);
            return fail(p, t->line, msg);
        }
        if (parse_pair(p, what, 0, 4096, l->pad)) return -1;
    }
    while (!at_line_end(p)) {
        t = peek(p);
        if (!strcmp(t->text, "dilation")) {
            p->pos++;
            if (parse_count(p, "dilation", 1, 4096, &l->dil)) return -1;
        } else if (!strcmp(t->text, "ceil")) {
            l->ceil_mode = 1;
            p->pos++;
        } else {
            if (parse_name(p, l->name, sizeof l->name)) return -1;
            if (expect_line_end(p, "the layer's name")) return -1;
        }
    }
    for (int a = 0; op == MB_RF_POOL && l->pad_mode == MB_RF_PAD_EXPLICIT && a < 2; a++)
        if (2 * l->pad[a] > l->dil * (l->k[a] - 1) + 1) {
            char msg[160];
            snprintf(msg, sizeof msg, "pool padding %d is more than half the window %d (PyTorch refuses it)",
                     l->pad[a], l->dil * (l->k[a] - 1) + 1);
            return fail(p, line, msg);
        }
    if (!l->name[0]) snprintf(l->name, sizeof l->name, "%s%d", kw, p->net->n);
    *index = (int)(l - p->net->layers);
    return 0;
}

static int parse_seq(struct parser *p, int prev, int parent, int in_block, int *last);

/* '{' seq '}' -> the block's last layer (-1: empty). */
static int parse_block(struct parser *p, int parent, int *last) {
    skip_newlines(p);
    const struct token *t = peek(p);
    if (strcmp(t->text, "{")) {
        char msg[160];
        snprintf(msg, sizeof msg, "expected '{' to open a block, found '%s'", *t->text ? t->text : "end of file");
        return fail(p, t->line ? t->line : last_line(p), msg);
    }
    int open_line = t->line;
    p->pos++;
    if (parse_seq(p, -1, parent, 1, last)) return -1;
    if (strcmp(peek(p)->text, "}")) return fail(p, open_line, "'{' never closed");
    p->pos++;
    return 0;
}

/* branch { ... } { ... } merge [NAME]: the merge is added after its branches. */
static int parse_branch(struct parser *p, int line, int prev, int parent, int *index) {
    int last[MB_RF_MAX_BRANCHES], n = 0;
    for (;;) {
        skip_newlines(p);
        if (strcmp(peek(p)->text, "{")) break;
        if (n == MB_RF_MAX_BRANCHES) return fail(p, peek(p)->line, "more than 6 branches");
        if (parse_block(p, -2, &last[n])) return -1; /* parent fixed below */
        n++;
    }
    const struct token *t = peek(p);
    if (strcmp(t->text, "merge")) {
        char msg[160];
        snprintf(msg, sizeof msg, "expected another '{' block or 'merge' after the branches, found '%s'",
                 !*t->text ? "end of file" : t->text);
        return fail(p, t->line ? t->line : last_line(p), msg);
    }
    if (n < 2) return fail(p, line, "a branch needs at least two blocks { ... } { ... }");
    int merge_line = t->line;
    p->pos++;
    struct mb_rf_layer *m = NULL;
    if (add_layer(p, merge_line, &m)) return -1;
    m->op = MB_RF_MERGE, m->prev = prev, m->parent = parent, m->n_branches = n;
    if (parse_name(p, m->name, sizeof m->name) || expect_line_end(p, "the merge's name")) return -1;
    const int self = (int)(m - p->net->layers);
    if (!m->name[0]) snprintf(m->name, sizeof m->name, "merge%d", self + 1);
    for (int b = 0; b < n; b++) {
        m->branch_last[b] = last[b];
        for (int i = last[b]; i >= 0; i = p->net->layers[i].prev) p->net->layers[i].parent = self;
    }
    *index = self;
    return 0;
}

/* Statements until '}' (in a block) or the end; *last = the last layer of this path (-1: none). */
static int parse_seq(struct parser *p, int prev, int parent, int in_block, int *last) {
    for (;;) {
        skip_newlines(p);
        const struct token *t = peek(p);
        if (!*t->text) {
            if (in_block) return fail(p, last_line(p), "end of file inside a block (a '}' is missing)");
            break;
        }
        if (!strcmp(t->text, "}")) {
            if (!in_block) return fail(p, t->line, "'}' without a block to close");
            break;
        }
        const int line = t->line;
        char kw[64];
        snprintf(kw, sizeof kw, "%s", t->text);
        p->pos++;
        int index = -1;
        if (!strcmp(kw, "conv") || !strcmp(kw, "pool")) {
            if (parse_layer(p, kw[0] == 'c' ? MB_RF_CONV : MB_RF_POOL, line, prev, parent, &index)) return -1;
            prev = index;
        } else if (!strcmp(kw, "branch")) {
            if (expect_line_end(p, "'branch'") || parse_branch(p, line, prev, parent, &index)) return -1;
            prev = index;
        } else if (!strcmp(kw, "repeat")) {
            int times, from = 0;
            if (parse_count(p, "repeat count", 1, 1024, &times)) return -1;
            if (!strcmp(peek(p)->text, "from")) {
                p->pos++;
                if (parse_count(p, "repeat 'from'", 0, 1 << 20, &from)) return -1;
            }
            if (p->depth == MAX_NESTING) return fail(p, line, "repeat blocks nested more than 16 deep");
            const int start = p->pos;
            p->depth++;
            for (int i = 0; i < times; i++) {
                p->pos = start;
                p->repeat_index[p->depth - 1] = from + i;
                int block_last = prev;
                skip_newlines(p);
                if (strcmp(peek(p)->text, "{")) {
                    p->depth--;
                    return fail(p, line, "expected '{' after repeat N [from S]");
                }
                /* a repeated block continues the path: parse its statements with this path's prev */
                const int open_line = peek(p)->line;
                p->pos++;
                if (parse_seq(p, prev, parent, 1, &block_last)) return p->depth--, -1;
                if (strcmp(peek(p)->text, "}")) return p->depth--, fail(p, open_line, "'{' never closed");
                p->pos++;
                prev = block_last;
            }
            p->depth--;
        } else if (!strcmp(kw, "input")) {
            if (in_block || p->net->n) return fail(p, line, "'input N' must come before the first layer");
            if (parse_count(p, "input", 1, 1 << 20, &p->net->input) || expect_line_end(p, "input N")) return -1;
        } else {
            char msg[200];
            snprintf(msg, sizeof msg, "unknown statement '%s' (allowed: input, conv, pool, branch, repeat)", kw);
            return fail(p, line, msg);
        }
    }
    *last = prev;
    return 0;
}

int mb_rf_net_parse(const char *text, const char *name, struct mb_rf_net *net, char *err, size_t errlen) {
    memset(net, 0, sizeof *net);
    snprintf(net->name, sizeof net->name, "%s", name);
    struct parser p = {.file = name, .net = net, .err = err, .errlen = errlen};
    p.tokens = malloc(sizeof *p.tokens * MAX_TOKENS);
    if (!p.tokens) return mb_errorf(err, errlen, "out of memory");
    int rc = tokenize(&p, text);
    if (!rc) rc = parse_seq(&p, -1, -1, 0, &net->last);
    if (!rc && net->last < 0) rc = mb_errorf(err, errlen, "%s:%d: no layer (a net needs at least one conv or pool)",
                                             name, last_line(&p));
    free(p.tokens); /* after last_line, which reads the tokens */
    return rc;
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int compare_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

void mb_rf_net_names(const char *dir, char *buf, size_t len) {
    buf[0] = '\0';
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(buf, len, "none: cannot read %s", dir);
        return;
    }
    char *names[256];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 256;)
        if (has_suffix(e->d_name, ".net") && e->d_name[0] != '.') names[n++] = strndup(e->d_name, strlen(e->d_name) - 4);
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], compare_names);
    size_t used = 0;
    for (int i = 0; i < n; i++) {
        if (names[i] && used < len)
            used += (size_t)snprintf(buf + used, len - used, "%s%s", used ? ", " : "", names[i]);
        free(names[i]);
    }
}

int mb_rf_net_load(const char *dir, const char *name, struct mb_rf_net *net, char *err, size_t errlen) {
    char path[512];
    const int is_path = strchr(name, '/') || has_suffix(name, ".net");
    if (is_path) snprintf(path, sizeof path, "%s", name);
    else snprintf(path, sizeof path, "%s/%s.net", dir, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        if (is_path) return mb_errorf(err, errlen, "cannot read net file %s: %s", path, strerror(errno));
        char names[1024];
        mb_rf_net_names(dir, names, sizeof names);
        return mb_errorf(err, errlen, "unknown net '%s' (available in %s: %s)", name, dir, names);
    }
    char *text = NULL;
    size_t cap = 0, used = 0;
    for (;;) {
        if (used + 4096 + 1 > cap) {
            char *grown = realloc(text, cap = cap * 2 + 8192);
            if (!grown) return free(text), fclose(f), mb_errorf(err, errlen, "out of memory");
            text = grown;
        }
        size_t got = fread(text + used, 1, 4096, f);
        used += got;
        if (got < 4096) break;
    }
    fclose(f);
    text[used] = '\0';
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    int rc = mb_rf_net_parse(text, path, net, err, errlen);
    free(text);
    if (rc) return -1;
    snprintf(net->path, sizeof net->path, "%s", path);
    snprintf(net->name, sizeof net->name, "%.*s", (int)(strlen(base) - (has_suffix(base, ".net") ? 4 : 0)), base);
    return 0;
}

int mb_rf_layer_find(const struct mb_rf_net *net, const char *name) {
    if (!strcmp(name, "last")) return net->last;
    for (int i = 0; i < net->n; i++)
        if (!strcmp(net->layers[i].name, name)) return i;
    return -1;
}

/* "3" or "1x7" */
static void pair_text(const int v[2], char *buf, size_t len) {
    if (v[0] == v[1]) snprintf(buf, len, "%d", v[0]);
    else snprintf(buf, len, "%dx%d", v[0], v[1]);
}

void mb_rf_layer_describe(const struct mb_rf_layer *l, char *buf, size_t len) {
    if (l->op == MB_RF_MERGE) {
        snprintf(buf, len, "merge of %d", l->n_branches);
        return;
    }
    char k[24], pad[24], dil[24] = "";
    pair_text(l->k, k, sizeof k);
    if (l->pad_mode == MB_RF_PAD_EXPLICIT) {
        char v[20];
        pair_text(l->pad, v, sizeof v);
        snprintf(pad, sizeof pad, "p%s", v);
    } else snprintf(pad, sizeof pad, "%s", l->pad_mode == MB_RF_PAD_SAME ? "SAME" : "VALID");
    if (l->dil > 1) snprintf(dil, sizeof dil, " d%d", l->dil);
    snprintf(buf, len, "%s %s/%d %s%s%s", l->op == MB_RF_CONV ? "conv" : "pool", k, l->stride, pad, dil,
             l->ceil_mode ? " ceil" : "");
}
