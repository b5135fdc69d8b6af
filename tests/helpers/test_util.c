/*
 * test_util.c - the shared helpers declared in tests/test_util.h.
 * Everything here uses plain malloc, which memtally does not track when
 * linked as a library, so the helpers never disturb the numbers a test
 * checks.
 */
#include "../test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- log capture ------------------------------------------------------ */

static struct {
    pthread_mutex_t mu;
    size_t n;
    mt_log_level level[TU_LOG_MAX];
    char msg[TU_LOG_MAX][TU_LOG_MSG];
} tu_log = {.mu = PTHREAD_MUTEX_INITIALIZER};

void tu_log_fn(mt_log_level level, const char *message, void *user) {
    (void)user;
    pthread_mutex_lock(&tu_log.mu);
    if (tu_log.n < TU_LOG_MAX) {
        tu_log.level[tu_log.n] = level;
        snprintf(tu_log.msg[tu_log.n], TU_LOG_MSG, "%s", message ? message : "(null)");
    }
    tu_log.n++;
    pthread_mutex_unlock(&tu_log.mu);
}

void tu_log_clear(void) {
    pthread_mutex_lock(&tu_log.mu);
    tu_log.n = 0;
    pthread_mutex_unlock(&tu_log.mu);
}

void tu_log_begin(void) {
    tu_log_clear();
    mt_set_log(tu_log_fn, NULL);
}

void tu_log_end(void) { mt_set_log(NULL, NULL); }

size_t tu_log_count(int level) {
    size_t k = 0;
    pthread_mutex_lock(&tu_log.mu);
    size_t n = tu_log.n < TU_LOG_MAX ? tu_log.n : TU_LOG_MAX;
    for (size_t i = 0; i < n; i++)
        if (level < 0 || (int)tu_log.level[i] == level) k++;
    if (level < 0) k = tu_log.n;
    pthread_mutex_unlock(&tu_log.mu);
    return k;
}

const char *tu_log_find(int level, const char *needle) {
    const char *hit = NULL;
    pthread_mutex_lock(&tu_log.mu);
    size_t n = tu_log.n < TU_LOG_MAX ? tu_log.n : TU_LOG_MAX;
    for (size_t i = 0; i < n && !hit; i++)
        if ((level < 0 || (int)tu_log.level[i] == level) && strstr(tu_log.msg[i], needle))
            hit = tu_log.msg[i];
    pthread_mutex_unlock(&tu_log.mu);
    return hit;
}

const char *tu_log_message(size_t i, int *level) {
    const char *m = NULL;
    pthread_mutex_lock(&tu_log.mu);
    if (i < tu_log.n && i < TU_LOG_MAX) {
        m = tu_log.msg[i];
        if (level) *level = (int)tu_log.level[i];
    }
    pthread_mutex_unlock(&tu_log.mu);
    return m;
}

/* ---- sites and categories -------------------------------------------- */

bool tu_same_file(const char *site_file, const char *file) {
    if (!site_file || !file) return site_file == file;
    if (strcmp(site_file, file) == 0) return true;
    size_t a = strlen(site_file), b = strlen(file);
    return a < b && file[b - a - 1] == '/' && strcmp(file + b - a, site_file) == 0;
}

static void add_stats(mt_stats *to, const mt_stats *s) {
    to->total_allocated += s->total_allocated;
    to->total_freed += s->total_freed;
    to->current += s->current;
    to->peak += s->peak;
    to->alloc_count += s->alloc_count;
    to->free_count += s->free_count;
}

struct site_query {
    const char *file;
    int line;
    const char *category; /* NULL: any */
    int hits;
    mt_stats sum;
};

static int site_match(const mt_site_info *info, void *user) {
    struct site_query *q = user;
    if (info->line != q->line || !tu_same_file(info->file, q->file)) return 0;
    if (q->category && (!info->category || strcmp(info->category, q->category) != 0)) return 0;
    q->hits++;
    add_stats(&q->sum, &info->stats);
    return 0;
}

int tu_site_stats(const char *file, int line, const char *category, mt_stats *out) {
    struct site_query q = {file, line, category, 0, {0}};
    mt_foreach_site(site_match, &q);
    if (out) *out = q.sum;
    return q.hits;
}

int tu_site_count(const char *file, int line) {
    struct site_query q = {file, line, NULL, 0, {0}};
    mt_foreach_site(site_match, &q);
    return q.hits;
}

static mt_stats cat_stats(const char *category, int include_children) {
    mt_stats s;
    memset(&s, 0xA5, sizeof s);
    int rc = mt_category_stats(category, include_children, &s);
    if (rc != 0) fail_msg("category \"%s\" does not exist", category);
    return s;
}

mt_stats tu_cat_self(const char *category) { return cat_stats(category, 0); }

mt_stats tu_cat_total(const char *category) { return cat_stats(category, 1); }

static int cat_collect(const mt_category_info *info, void *user) {
    tu_cat_list *l = user;
    tu_cat_entry *e = realloc(l->e, (l->n + 1) * sizeof *e);
    if (!e) abort();
    l->e = e;
    e = &l->e[l->n++];
    e->name_len = strlen(info->name);
    e->name = strdup(info->name);
    e->parent = info->parent ? strdup(info->parent) : NULL;
    e->depth = info->depth;
    e->self = info->self;
    e->total = info->total;
    return 0;
}

void tu_cat_list_take(tu_cat_list *l) {
    l->n = 0;
    l->e = NULL;
    mt_foreach_category(cat_collect, l);
}

void tu_cat_list_free(tu_cat_list *l) {
    for (size_t i = 0; i < l->n; i++) {
        free(l->e[i].name);
        free(l->e[i].parent);
    }
    free(l->e);
    l->e = NULL;
    l->n = 0;
}

long tu_cat_list_find(const tu_cat_list *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->e[i].name, name) == 0) return (long)i;
    return -1;
}

/* ---- child processes -------------------------------------------------- */

char *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, cap * 2 + 1);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

char *tu_capture_stderr(void (*fn)(void *), void *arg) {
    char path[] = "/tmp/mt_test_stderrXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    fn(arg);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(fd);
    char *text = tu_read_file(path, NULL);
    unlink(path);
    assert_non_null(text);
    return text;
}

static char *read_fd_all(int fd) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return tu_read_file(path, NULL);
}

int tu_run(const char *const argv[], const char *const env[], tu_child *c) {
    char out_path[] = "/tmp/mt_test_outXXXXXX", err_path[] = "/tmp/mt_test_errXXXXXX";
    int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    c->out = c->err = NULL;
    c->status = -1;
    if (out_fd < 0 || err_fd < 0) return -1;
    unlink(out_path);
    unlink(err_path);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        for (char **e = environ; *e;) {
            if (strncmp(*e, "MEMTALLY_", 9) == 0) {
                char name[256];
                size_t k = strcspn(*e, "=");
                snprintf(name, sizeof name, "%.*s", (int)k, *e);
                unsetenv(name);
                e = environ;
            } else {
                e++;
            }
        }
        for (size_t i = 0; env && env[i]; i++) putenv((char *)env[i]);
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    c->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    lseek(out_fd, 0, SEEK_SET);
    lseek(err_fd, 0, SEEK_SET);
    c->out = read_fd_all(out_fd);
    c->err = read_fd_all(err_fd);
    close(out_fd);
    close(err_fd);
    if (!c->out) c->out = strdup("");
    if (!c->err) c->err = strdup("");
    return c->status == 127 ? -1 : 0;
}

void tu_child_free(tu_child *c) {
    free(c->out);
    free(c->err);
    c->out = c->err = NULL;
}

size_t tu_count_substr(const char *hay, const char *needle) {
    size_t k = 0, n = strlen(needle);
    if (!hay || n == 0) return 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + n, needle)) k++;
    return k;
}

const char *tu_ptr_text(const void *ptr, char buf[32]) {
    snprintf(buf, 32, "%p", ptr);
    return buf;
}

double tu_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
