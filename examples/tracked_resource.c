/*
 * tracked_resource.c - the seed's TrackedResource<T> pattern in C.
 *
 * The C++ template becomes a struct that remembers its category and element
 * size, plus resource_allocate() / resource_deallocate(). The destructor's
 * job is an explicit resource_deallocate() call. Messages go through one
 * application log; memtally's own messages (mt_set_log) go there too.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include <memtally.h>

typedef struct tracked_resource {
    void *data;
    size_t count;
    size_t elem_size;
    const char *category;
    const char *type_name;
} tracked_resource;

#define RESOURCE_INIT(type, cat) \
    ((tracked_resource){ .elem_size = sizeof(type), .category = (cat), .type_name = #type })

typedef struct vertex {
    float position[3];
    float normal[3];
    float uv[2];
} vertex;
_Static_assert(sizeof(vertex) == 32, "vertex is 32 bytes");

/* ---- one log for the application and for memtally ---------------------- */

static const char *level_name(mt_log_level level)
{
    return level == MT_LOG_ERROR ? "error" : level == MT_LOG_WARN ? "warning" : "info";
}

static void app_log(mt_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[app] %s: ", level_name(level));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void memtally_to_app_log(mt_log_level level, const char *message, void *user)
{
    (void)user;
    app_log(level, "memtally: %s", message);
}

/* ---- the resource -------------------------------------------------------- */

/* Allocates count zeroed elements in the resource's category. A second call
 * without resource_deallocate() in between is a warning, not a leak. */
static int resource_allocate(tracked_resource *r, size_t count)
{
    if (r->data) {
        app_log(MT_LOG_WARN, "resource already allocated (%zu %s objects in %s)", r->count, r->type_name,
                r->category);
        return -1;
    }
    r->data = MT_CALLOC(count, r->elem_size, r->category);
    if (!r->data)
        return -1;
    r->count = count;
    app_log(MT_LOG_INFO, "allocated %zu %s objects in category %s", count, r->type_name, r->category);
    return 0;
}

static void resource_deallocate(tracked_resource *r)
{
    if (!r->data)
        return;
    MT_FREE(r->data);
    r->data = NULL;
    r->count = 0;
    app_log(MT_LOG_INFO, "deallocated resource in category %s", r->category);
}

static void print_usage(const char *category, int include_children)
{
    mt_stats s;
    if (mt_category_stats(category, include_children, &s) != 0) {
        printf("%s: no such category\n", category);
        return;
    }
    printf("%s%s: %" PRIu64 " bytes in %" PRIu64 " blocks\n", category, include_children ? " (all)" : "",
           s.current, s.alloc_count - s.free_count);
}

/* Seed: ExampleUsage(). */
int main(void)
{
    mt_set_log(memtally_to_app_log, NULL);

    tracked_resource vertices = RESOURCE_INIT(vertex, "Geometry::Vertices");
    tracked_resource indices = RESOURCE_INIT(uint32_t, "Geometry::Indices");

    resource_allocate(&vertices, 1000);
    resource_allocate(&indices, 3000);
    resource_allocate(&vertices, 500); /* a mistake the resource catches */

    printf("after allocate:\n");
    print_usage("Geometry::Vertices", 0);
    print_usage("Geometry::Indices", 0);
    print_usage("Geometry", 1);

    /* The C++ destructors ran here. */
    resource_deallocate(&indices);
    resource_deallocate(&vertices);
    resource_deallocate(&vertices); /* harmless: already released */

    printf("after deallocate:\n");
    print_usage("Geometry", 1);
    mt_stats g = mt_global_stats();
    printf("global: allocated %" PRIu64 " bytes, freed %" PRIu64 " bytes\n", g.total_allocated, g.total_freed);
    return g.current == 0 ? 0 : 1;
}
