/* The content store (DESIGN §3): content/blobs/sha256/<hex>, each blob's
 * digest checked while it is written; data being written lives in
 * content/ingest/ and becomes visible as a blob only by rename. */
#ifndef CONTAINER_CONTENT_H
#define CONTAINER_CONTENT_H

#include "util/digest.h"
#include "util/error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct content_store;
struct content_writer;

int content_open(const char *app_root, struct content_store **out, struct error *err);
void content_close(struct content_store *cs);
/* content/blobs/sha256/<hex> (new string); digest must be valid. */
char *content_blob_path(const struct content_store *cs, const char *digest);
bool content_exists(const struct content_store *cs, const char *digest);
/* Size of a blob, or -1 when absent. */
int64_t content_size(const struct content_store *cs, const char *digest);
int content_open_blob(const struct content_store *cs, const char *digest, int *fd,
		      struct error *err);
int content_read_blob(const struct content_store *cs, const char *digest, size_t max, char **data,
		      size_t *len, struct error *err);

int content_writer_new(struct content_store *cs, struct content_writer **out, struct error *err);
int content_writer_write(struct content_writer *w, const void *data, size_t len, struct error *err);
uint64_t content_writer_size(const struct content_writer *w);
/* Verifies the digest (when expected is not NULL), then makes the blob
 * visible. *created tells whether the blob is new (false: it was already
 * there, and the written copy is dropped). Frees w in every case. */
int content_writer_commit(struct content_writer *w, const char *expected,
			  char digest[DIGEST_STRING_SIZE], bool *created, struct error *err);
/* Drops what was written; frees w. */
void content_writer_abort(struct content_writer *w);
int content_put(struct content_store *cs, const void *data, size_t len, const char *expected,
		char digest[DIGEST_STRING_SIZE], bool *created, struct error *err);
int content_delete(struct content_store *cs, const char *digest, struct error *err);
/* Every blob digest in the store (for garbage collection). */
int content_list(const struct content_store *cs, char ***digests, size_t *n, struct error *err);
/* Removes leftovers of interrupted writes. */
void content_clean_ingest(struct content_store *cs);

#endif
