/* SHA-256 digests in the OCI form "sha256:<64 lowercase hex>". */
#ifndef CONTAINER_DIGEST_H
#define CONTAINER_DIGEST_H

#include "error.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_STRING_SIZE 72 /* "sha256:" + 64 hex + NUL, rounded */

struct digest_ctx;

struct digest_ctx *digest_new(void);
void digest_update(struct digest_ctx *ctx, const void *data, size_t len);
/* Writes "sha256:<hex>" into out and frees ctx. */
void digest_final(struct digest_ctx *ctx, char out[DIGEST_STRING_SIZE]);
void digest_free(struct digest_ctx *ctx);
void digest_buffer(const void *data, size_t len, char out[DIGEST_STRING_SIZE]);
/* "sha256:" followed by exactly 64 lowercase hex digits. */
bool digest_valid(const char *digest);
/* The hex part of a valid digest. */
const char *digest_hex(const char *digest);

#endif
