/* The volume service: named directories under <app-root>/volumes/<name>/_data
 * that outlive containers, each with a store row (store_volume_*) whose
 * config JSON is {"labels": {..}, "options": {..}, "anonymous": bool}.
 * Several containers may use one volume at once; a volume is in use while
 * any container in the store names it in its "mounts" (type "volume"). */
#ifndef CONTAINER_VOLUMES_H
#define CONTAINER_VOLUMES_H

#include "apiserver.h"

#include <stdbool.h>
#include <stdint.h>

/* The _data directory of the volume NAME in *path (a new string), creating
 * the volume when it does not exist (*created = true; `anonymous` is then
 * recorded). How `-v NAME:/path` makes a missing volume. */
int volumes_ensure(struct apiserver *api, const char *name, bool anonymous, char **path,
		   bool *created, struct error *err);
/* Removes the volume NAME (its directory and its row) unless a container
 * uses it (EBUSY); *reclaimed (may be NULL) gets the bytes freed. For a
 * container create that fails after volumes_ensure() made a volume, and for
 * the anonymous volumes of a container removed with it. */
int volume_remove(struct apiserver *api, const char *name, int64_t *reclaimed, struct error *err);

/* Routes. */
int volumes_create(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int volumes_list(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int volumes_inspect(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int volumes_delete(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int volumes_prune(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);

#endif
