/* The metadata store (DESIGN §3): one SQLite database in WAL mode under the
 * app root, a schema version table with forward migrations, and typed
 * accessors. Blobs are files, not rows: `config` columns hold JSON text of
 * what the owning service needs. Every multi-step change runs inside
 * store_begin()/store_commit(). Not thread-safe: one loop owns it. */
#ifndef CONTAINER_STORE_H
#define CONTAINER_STORE_H

#include "../util/error.h"
#include <stddef.h>
#include <stdint.h>

struct store;

/* Opens (creating if needed) and migrates to the newest schema. A database
 * whose schema is newer than this build knows is refused, not touched. */
int store_open(const char *path, struct store **out, struct error *err);
void store_close(struct store *st);
/* Schema version of the open database; store_schema_latest() of this build. */
int store_schema_version(struct store *st);
int store_schema_latest(void);
/* PRAGMA integrity_check == "ok". */
int store_check_integrity(struct store *st, struct error *err);

int store_begin(struct store *st, struct error *err);
int store_commit(struct store *st, struct error *err);
void store_rollback(struct store *st);

struct store_container {
	char *id;	 /* 64 hex or user-facing unique id */
	char *name;	 /* unique */
	char *image;	 /* normalized reference */
	char *state;	 /* created, running, stopping, stopped, unknown */
	int64_t created; /* unix ms */
	char *config;	 /* JSON text */
};
struct store_network {
	char *name;
	char *config;
	int64_t created;
};
struct store_volume {
	char *name;
	char *config;
	int64_t created;
};
struct store_image_ref {
	char *reference; /* normalized, e.g. docker.io/library/busybox:latest */
	char *digest;	 /* sha256:... of the manifest or index */
	char *media_type;
	int64_t created;
};
struct store_ip_allocation {
	char *network;
	char *address;
	char *container_id;
};

/* An unpacked layer stack: snapshots/<id>/fs holds the layer whose chain
 * id is chain_id, on top of the snapshot `parent` (a chain id, or NULL). */
struct store_snapshot {
	char *chain_id;
	int64_t id;
	char *parent;
	char *diff_id;
	int64_t size; /* bytes of regular files unpacked */
	int64_t created;
};

/* put = insert or replace by primary key; get/delete: ENOENT when absent;
 * list: *out is an array of *n items, free with the matching _list_free. */
int store_container_put(struct store *st, const struct store_container *c, struct error *err);
int store_container_get(struct store *st, const char *id_or_name, struct store_container *out,
			struct error *err);
int store_container_list(struct store *st, struct store_container **out, size_t *n,
			 struct error *err);
int store_container_delete(struct store *st, const char *id, struct error *err);
void store_container_release(struct store_container *c);
void store_container_list_free(struct store_container *list, size_t n);

int store_network_put(struct store *st, const struct store_network *n, struct error *err);
int store_network_get(struct store *st, const char *name, struct store_network *out,
		      struct error *err);
int store_network_list(struct store *st, struct store_network **out, size_t *n, struct error *err);
int store_network_delete(struct store *st, const char *name, struct error *err);
void store_network_release(struct store_network *n);
void store_network_list_free(struct store_network *list, size_t n);

int store_volume_put(struct store *st, const struct store_volume *v, struct error *err);
int store_volume_get(struct store *st, const char *name, struct store_volume *out,
		     struct error *err);
int store_volume_list(struct store *st, struct store_volume **out, size_t *n, struct error *err);
int store_volume_delete(struct store *st, const char *name, struct error *err);
void store_volume_release(struct store_volume *v);
void store_volume_list_free(struct store_volume *list, size_t n);

int store_image_ref_put(struct store *st, const struct store_image_ref *r, struct error *err);
int store_image_ref_get(struct store *st, const char *reference, struct store_image_ref *out,
			struct error *err);
int store_image_ref_list(struct store *st, struct store_image_ref **out, size_t *n,
			 struct error *err);
int store_image_ref_delete(struct store *st, const char *reference, struct error *err);
void store_image_ref_release(struct store_image_ref *r);
void store_image_ref_list_free(struct store_image_ref *list, size_t n);

/* EEXIST when the address is taken on that network. */
int store_ip_allocate(struct store *st, const char *network, const char *address,
		      const char *container_id, struct error *err);
int store_ip_release(struct store *st, const char *network, const char *address, struct error *err);
/* Releases every address of a container (on delete); not an error if none. */
int store_ip_release_container(struct store *st, const char *container_id, struct error *err);
/* network NULL lists all. */
int store_ip_list(struct store *st, const char *network, struct store_ip_allocation **out,
		  size_t *n, struct error *err);
void store_ip_list_free(struct store_ip_allocation *list, size_t n);

int store_snapshot_put(struct store *st, const struct store_snapshot *s, struct error *err);
int store_snapshot_get(struct store *st, const char *chain_id, struct store_snapshot *out,
		       struct error *err);
int store_snapshot_list(struct store *st, struct store_snapshot **out, size_t *n,
			struct error *err);
int store_snapshot_delete(struct store *st, const char *chain_id, struct error *err);
/* One more than the largest id in use. */
int store_snapshot_next_id(struct store *st, int64_t *id, struct error *err);
void store_snapshot_release(struct store_snapshot *s);
void store_snapshot_list_free(struct store_snapshot *list, size_t n);

#endif
