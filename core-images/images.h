/* The image service: references, loading, saving, importing, unpacking and
 * garbage collection over the content store and the snapshots. Every
 * operation either completes or leaves nothing it added behind. */
#ifndef CONTAINER_IMAGES_H
#define CONTAINER_IMAGES_H

#include "util/error.h"
#include "util/paths.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct images;

/* done/total in bytes of the archive read so far; total 0 when unknown. */
typedef void (*images_progress_fn)(void *data, uint64_t done, uint64_t total);

int images_open(const struct paths *paths, struct images **out, struct error *err);
void images_close(struct images *im);

/* Loads an OCI layout tar or a `docker save` tar (optionally compressed)
 * from fd; *out = {"loaded": [references...]}. */
int images_load(struct images *im, int fd, images_progress_fn progress, void *data, json_t **out,
		struct error *err);
/* Writes an OCI layout tar of the given references to fd. */
int images_save(struct images *im, json_t *references, int fd, struct error *err);
/* A root file system tar (optionally compressed) as a one-layer image. */
int images_import(struct images *im, int fd, const char *reference, json_t **out,
		  struct error *err);
int images_tag(struct images *im, const char *source, const char *target, json_t **out,
	       struct error *err);
int images_list(struct images *im, json_t **out, struct error *err);
int images_inspect(struct images *im, const char *reference, json_t **out, struct error *err);
int images_delete(struct images *im, json_t *references, bool all, json_t **out, struct error *err);
int images_prune(struct images *im, bool all, json_t **out, struct error *err);
/* Makes sure every layer of the image is unpacked; *out = {"digest",
 * "config", "snapshots": [{"chainId", "path"}...] bottom layer first}. */
int images_unpack(struct images *im, const char *reference, json_t **out, struct error *err);
int images_snapshot_get(struct images *im, const char *chain_id, json_t **out, struct error *err);
/* Removes blobs and snapshots no reference reaches; *reclaimed in bytes. */
int images_collect_garbage(struct images *im, uint64_t *reclaimed, struct error *err);
/* Path of a blob for contentGet. */
int images_open_blob(struct images *im, const char *digest, int *fd, struct error *err);

#endif
