/*
 * renderer.c - the seed's VulkanRenderer example in C, and memtally's demo.
 *
 * A pretend engine sets up a renderer, a music track, a physics world and a
 * level, asks memtally where its memory went, prints the full text report,
 * then shuts down (forgetting one block on purpose) and runs the leak check.
 *
 * What it shows:
 *   - categories built at run time in a temporary buffer ("Renderer::%s"):
 *     memtally copies the text, so the buffer may be reused at once;
 *   - MT_ALLOC recording file:line for every block;
 *   - MT_SCOPE giving a category to code that knows nothing about memtally
 *     (load_asset() below passes category NULL);
 *   - mt_foreach_category, mt_leak_check and mt_report.
 *
 * Build and run: cmake --build build --target demo
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <memtally.h>

#define TEXTURE_CATEGORY "Renderer::Textures::Diffuse"
#define FRAMES_IN_FLIGHT 3

typedef struct rigid_body {
    float position[3];
    float half_extents[3];
    float mass;
    uint32_t flags;
} rigid_body;
_Static_assert(sizeof(rigid_body) == 32, "rigid_body is 32 bytes");

typedef struct renderer {
    size_t vertex_buffer_size, index_buffer_size, uniform_buffer_size;
    int texture_width, texture_height;
    void *vertex_buffer;
    void *index_buffer;
    void *uniform_buffers[FRAMES_IN_FLIGHT];
    unsigned char *texture_data;   /* diffuse map, RGBA8 */
    unsigned char *normal_map;     /* RGBA8 */
    void *pipeline_cache;          /* never freed: the leak the check finds */
} renderer;

/* Seed: new(std::format("Renderer::{}", usage).c_str()) char[size]. The
 * category text lives in a stack buffer that is gone when this returns. */
static void *renderer_create_buffer(size_t size, const char *usage)
{
    char category[64];
    snprintf(category, sizeof category, "Renderer::%s", usage);
    return MT_ALLOC(size, category);
}

/* Seed: textureData = new uint8_t[textureSize], which captures file:line. */
static void renderer_create_texture(renderer *r)
{
    size_t texture_size = (size_t)r->texture_width * (size_t)r->texture_height * 4;
    r->texture_data = MT_ALLOC(texture_size, TEXTURE_CATEGORY); /* the site the report shows */
    memset(r->texture_data, 0x80, texture_size);
}

static void renderer_initialize(renderer *r)
{
    r->vertex_buffer = renderer_create_buffer(r->vertex_buffer_size, "VertexBuffers");
    r->index_buffer = renderer_create_buffer(r->index_buffer_size, "IndexBuffers");
    for (int i = 0; i < FRAMES_IN_FLIGHT; i++)
        r->uniform_buffers[i] = renderer_create_buffer(r->uniform_buffer_size, "UniformBuffers");
    renderer_create_texture(r);
    r->normal_map = MT_CALLOC(256 * 256, 4, "Renderer::Textures::Normal");
    r->pipeline_cache = MT_ALLOC(2048, "Renderer::Shaders");
}

static int print_renderer_category(const mt_category_info *info, void *user)
{
    (void)user;
    if (strncmp(info->name, "Renderer::", strlen("Renderer::")) != 0)
        return 0;
    printf("  Renderer category: %-28s - usage: %8" PRIu64 " bytes", info->name, info->self.current);
    if (info->total.current != info->self.current)
        printf(" (%" PRIu64 " with subcategories)", info->total.current);
    printf("\n");
    return 0;
}

/* Seed: ReportMemoryUsage() walks every category and keeps "Renderer::". */
static void renderer_report_memory_usage(void)
{
    mt_foreach_category(print_renderer_category, NULL);
}

static void renderer_shutdown(renderer *r)
{
    MT_FREE(r->vertex_buffer);
    MT_FREE(r->index_buffer);
    for (int i = 0; i < FRAMES_IN_FLIGHT; i++)
        MT_FREE(r->uniform_buffers[i]);
    MT_FREE(r->texture_data);
    MT_FREE(r->normal_map);
    /* r->pipeline_cache is forgotten here on purpose. */
}

/* Third-party style code: it knows nothing about categories and passes NULL,
 * so its blocks land in whatever MT_SCOPE the caller opened. */
static unsigned char *load_asset(const char *name, size_t size)
{
    unsigned char *staging = MT_ALLOC(size / 4, NULL);
    unsigned char *data = MT_ALLOC(size, NULL);
    size_t name_len = strlen(name);
    for (size_t i = 0; i < size; i++)
        data[i] = (unsigned char)name[i % name_len];
    memcpy(staging, data, size / 4);
    MT_FREE(staging);
    return data;
}

static void print_stats_line(const char *label, const char *category)
{
    mt_stats s;
    if (mt_category_stats(category, 1, &s) == 0)
        printf("  %-32s %9" PRIu64 " bytes live in %" PRIu64 " blocks\n", label, s.current,
               s.alloc_count - s.free_count);
}

int main(void)
{
    if (mt_init() != 0) {
        fprintf(stderr, "renderer: mt_init failed\n");
        return 1;
    }
    printf("memtally %s demo: a renderer, a music track, a physics world and a level\n\n", mt_version());

    renderer r = {
        .vertex_buffer_size = 64 * 1024,
        .index_buffer_size = 16 * 1024,
        .uniform_buffer_size = 256,
        .texture_width = 512,
        .texture_height = 512,
    };
    renderer_initialize(&r);

    rigid_body *static_bodies = MT_NEW_ARRAY(rigid_body, 128, "Physics::Bodies::Static");
    rigid_body *dynamic_bodies = MT_NEW_ARRAY(rigid_body, 32, "Physics::Bodies::Dynamic");

    unsigned char *music = NULL, *level = NULL;
    MT_SCOPE("Audio::Buffers::Music") {
        music = load_asset("theme.ogg", 48000 * 2 * sizeof(float)); /* 1 s of stereo float */
    }
    MT_SCOPE("Scene::Loader") {
        level = load_asset("level1.bin", 24 * 1024);
    }

    printf("== Renderer memory (seed: VulkanRenderer::ReportMemoryUsage) ==\n");
    renderer_report_memory_usage();

    printf("\n== Per subsystem, with subcategories (mt_category_stats) ==\n");
    print_stats_line("Renderer", "Renderer");
    print_stats_line("Audio", "Audio");
    print_stats_line("Physics", "Physics");
    print_stats_line("Scene", "Scene");
    mt_stats g = mt_global_stats();
    printf("  %-32s %9" PRIu64 " bytes live, peak %" PRIu64 " bytes\n", "whole program", g.current, g.peak);

    printf("\n== Full report while running (mt_report, MT_FORMAT_TEXT) ==\n");
    fflush(stdout);
    mt_report(stdout, MT_FORMAT_TEXT);

    renderer_shutdown(&r);
    MT_FREE(static_bodies);
    MT_FREE(dynamic_bodies);
    MT_FREE(music);
    MT_FREE(level);

    printf("\n== Leak check after shutdown (mt_leak_check) ==\n");
    fflush(stdout);
    uint64_t leaked = mt_leak_check(stdout);
    printf("  -> %" PRIu64 " bytes still live: the pipeline cache renderer_shutdown() forgot\n", leaked);
    return 0;
}
