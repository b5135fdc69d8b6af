/*
 * stress.c - many threads allocating, reallocating and freeing, blocks
 * handed between threads, and a fork in the middle; run under
 * libmemtally_preload.so. It does not link memtally: it keeps its own count
 * of what its stress_* functions allocated and freed and prints it as an
 * "expect" line, which check_report.py compares with the sites of those
 * functions in the JSON report. Built with -rdynamic so the report can name
 * them.
 *
 * usage: stress [threads [iterations [seed]]]   (defaults 4 20000 1)
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define SLOTS 256
#define MAILBOX 64
#define KEEP 32 /* blocks per thread left live at exit */

typedef struct block {
    void *p;
    size_t size;
} block;

typedef struct counts {
    uint64_t allocs, frees, allocated, freed;
} counts;

/* Blocks handed from one thread to another; the receiver frees them. */
static struct {
    pthread_mutex_t lock;
    block box[MAILBOX];
    int n;
} mail = {.lock = PTHREAD_MUTEX_INITIALIZER};

static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;
static counts total;
static block *kept; /* live at exit on purpose */
static int nkept;

static pthread_barrier_t halfway;
static int nthreads = 4;
static long iterations = 20000;
static unsigned long seed = 1;
static volatile int failures;

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t pick_size(uint64_t *s) {
    uint64_t r = rng_next(s);
    switch (r & 7) {
    case 0: return 0;
    case 1: return (size_t)(r >> 8) % 16 + 1;
    case 2: case 3: case 4: return (size_t)(r >> 8) % 256 + 1;
    case 5: case 6: return (size_t)(r >> 8) % 4096 + 1;
    default: return (size_t)(r >> 8) % 200000 + 1; /* some mmap-sized blocks */
    }
}

static void fail(const char *what) {
    fprintf(stderr, "stress: %s\n", what);
    failures = 1;
}

/* Fills the block with a byte derived from its address, checked on free:
 * catches a shim that hands out overlapping or misaligned memory. */
static void stamp(block *b) {
    if (b->size) memset(b->p, (int)((uintptr_t)b->p >> 4) & 0xff, b->size < 64 ? b->size : 64);
}

static void check_stamp(const block *b, size_t n) {
    const unsigned char *c = b->p;
    unsigned char want = (unsigned char)(((uintptr_t)b->p >> 4) & 0xff);
    for (size_t i = 0; i < n && i < 64; i++)
        if (c[i] != want) {
            fail("block contents changed behind the program's back");
            return;
        }
}

__attribute__((noinline)) void stress_alloc(block *b, uint64_t *s, counts *c) {
    size_t size = pick_size(s);
    uint64_t r = rng_next(s) % 8;
    void *p = NULL;
    if (r < 5) {
        p = malloc(size);
    } else if (r == 5) {
        p = calloc(1, size);
        for (size_t i = 0; p && i < size; i += 97)
            if (((unsigned char *)p)[i]) fail("calloc returned dirty memory");
    } else if (r == 6) {
        size_t align = (size_t)16 << (rng_next(s) % 6); /* 16..512 */
        if (posix_memalign(&p, align, size) != 0) p = NULL;
        if (p && ((uintptr_t)p & (align - 1))) fail("posix_memalign misaligned");
    } else {
        size_t align = (size_t)32 << (rng_next(s) % 4); /* 32..256 */
        p = aligned_alloc(align, size);
        if (p && ((uintptr_t)p & (align - 1))) fail("aligned_alloc misaligned");
    }
    if (!p) {
        fail("allocation failed");
        return;
    }
    if (((uintptr_t)p & 15) != 0) fail("block not 16-byte aligned");
    if (malloc_usable_size(p) < size) fail("malloc_usable_size below the requested size");
    b->p = p;
    b->size = size;
    stamp(b);
    c->allocs++;
    c->allocated += size;
}

__attribute__((noinline)) void stress_realloc(block *b, uint64_t *s, counts *c) {
    size_t size = pick_size(s);
    if (size == 0) size = 1; /* realloc(p, 0) frees; the free path covers that */
    check_stamp(b, b->size);
    void *p = realloc(b->p, size);
    if (!p) {
        fail("realloc failed");
        return;
    }
    c->frees++;
    c->freed += b->size;
    c->allocs++;
    c->allocated += size;
    b->p = p;
    b->size = size;
    stamp(b);
}

__attribute__((noinline)) void stress_free(block *b, counts *c) {
    check_stamp(b, b->size);
    if (b->size && (rng_next(&(uint64_t){(uintptr_t)b->p}) & 1)) {
        free(b->p);
    } else {
        /* realloc(p, 0) frees p and returns NULL in glibc */
        errno = 0;
        if (realloc(b->p, 0) != NULL) fail("realloc(p, 0) did not free");
    }
    c->frees++;
    c->freed += b->size;
    b->p = NULL;
    b->size = 0;
}

/* Gives a block to the mailbox, or frees one that another thread left. */
__attribute__((noinline)) void stress_exchange(block *b, counts *c) {
    block got = {0};
    pthread_mutex_lock(&mail.lock);
    if (mail.n > 0 && (b->p == NULL || mail.n == MAILBOX)) {
        got = mail.box[--mail.n];
    } else if (b->p && mail.n < MAILBOX) {
        mail.box[mail.n++] = *b;
        b->p = NULL;
        b->size = 0;
    }
    pthread_mutex_unlock(&mail.lock);
    if (got.p) stress_free(&got, c);
}

/* Runs in the forked child: the allocator must work (no lock left held by
 * a thread that does not exist in the child). */
__attribute__((noinline)) void child_work(void) {
    void *v[100];
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 100; i++) v[i] = malloc((size_t)(i * 37 + round));
        for (int i = 0; i < 100; i++) v[i] = realloc(v[i], (size_t)(i * 11 + 1));
        for (int i = 0; i < 100; i++) free(v[i]);
    }
    char *s = strdup("child");
    free(s);
}

static void *stress_worker(void *arg) {
    long id = (long)(intptr_t)arg;
    uint64_t s = seed * 1000003u + (uint64_t)id;
    block slots[SLOTS] = {{0}};
    counts c = {0};
    for (long it = 0; it < iterations; it++) {
        if (it == iterations / 2) pthread_barrier_wait(&halfway);
        block *b = &slots[rng_next(&s) % SLOTS];
        uint64_t op = rng_next(&s) % 10;
        if (!b->p) stress_alloc(b, &s, &c);
        else if (op < 3) stress_realloc(b, &s, &c);
        else if (op < 6) stress_free(b, &c);
        else stress_exchange(b, &c);
    }
    /* keep KEEP blocks live until exit, free the rest */
    int kept_here = 0;
    for (int i = 0; i < SLOTS; i++) {
        if (!slots[i].p) continue;
        if (kept_here < KEEP) {
            pthread_mutex_lock(&total_lock);
            kept[nkept++] = slots[i];
            pthread_mutex_unlock(&total_lock);
            kept_here++;
        } else {
            stress_free(&slots[i], &c);
        }
    }
    pthread_mutex_lock(&total_lock);
    total.allocs += c.allocs;
    total.frees += c.frees;
    total.allocated += c.allocated;
    total.freed += c.freed;
    pthread_mutex_unlock(&total_lock);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) nthreads = atoi(argv[1]);
    if (argc > 2) iterations = atol(argv[2]);
    if (argc > 3) seed = strtoul(argv[3], NULL, 10);
    if (nthreads < 1 || nthreads > 64 || iterations < 2) {
        fprintf(stderr, "usage: stress [threads 1-64 [iterations >= 2 [seed]]]\n");
        return 2;
    }
    const char *report = getenv("MEMTALLY_REPORT");
    kept = calloc((size_t)nthreads * KEEP, sizeof *kept); /* main: not a stress_ site */
    pthread_barrier_init(&halfway, NULL, (unsigned)nthreads + 1);
    pthread_t *tid = calloc((size_t)nthreads, sizeof *tid);
    for (int i = 0; i < nthreads; i++) pthread_create(&tid[i], NULL, stress_worker, (void *)(intptr_t)i);

    /* fork while the workers are busy allocating */
    pthread_barrier_wait(&halfway);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        child_work();
        exit(0); /* runs the at-exit handlers: the child must not report */
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail("forked child failed");
    if (report && access(report, F_OK) == 0) fail("the forked child wrote the report");

    for (int i = 0; i < nthreads; i++) pthread_join(tid[i], NULL);
    free(tid);
    /* whatever is left in the mailbox is freed here, still by a stress_ function */
    counts c = {0};
    while (mail.n > 0) stress_free(&mail.box[--mail.n], &c);
    total.frees += c.frees;
    total.freed += c.freed;

    uint64_t live = 0;
    for (int i = 0; i < nkept; i++) live += kept[i].size;
    if (total.allocated - total.freed != live) fail("own bookkeeping is off");
    printf("expect prefix=stress_ allocs=%llu frees=%llu allocated=%llu freed=%llu current=%llu\n",
           (unsigned long long)total.allocs, (unsigned long long)total.frees, (unsigned long long)total.allocated,
           (unsigned long long)total.freed, (unsigned long long)live);
    return failures ? 1 : 0;
}
