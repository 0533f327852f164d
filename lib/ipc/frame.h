/* The wire format (DESIGN §2). A frame is a fixed 24-byte header, serialized
 * field by field in little-endian order, followed by a JSON body. File
 * descriptors travel as SCM_RIGHTS ancillary data sent with the frame's
 * first byte.
 *
 *   offset size field
 *   0      4    magic     "CTR1" (0x31525443)
 *   4      2    version   IPC_VERSION
 *   6      2    flags     IPC_FLAG_* bits; unknown bits are refused
 *   8      8    id        request id; a reply repeats it; 0 = connection-level
 *   16     4    body_len  length of the JSON body, <= IPC_MAX_BODY
 *   20     4    nfds      descriptors sent with the frame, <= IPC_MAX_FDS
 */
#ifndef CONTAINER_IPC_FRAME_H
#define CONTAINER_IPC_FRAME_H

#include "../util/error.h"
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define IPC_MAGIC	0x31525443u
#define IPC_VERSION	1
#define IPC_HEADER_SIZE 24
#define IPC_MAX_BODY	(16u * 1024 * 1024)
#define IPC_MAX_FDS	16

enum ipc_flags {
	IPC_FLAG_REPLY = 1 << 0, /* answer to the request with the same id */
	IPC_FLAG_EVENT = 1 << 1, /* server-pushed event tied to request id */
};
#define IPC_FLAGS_KNOWN (IPC_FLAG_REPLY | IPC_FLAG_EVENT)

struct ipc_header {
	uint32_t magic;
	uint16_t version;
	uint16_t flags;
	uint64_t id;
	uint32_t body_len;
	uint32_t nfds;
};

/* A received frame. body is owned; fds not taken (set to -1) are closed by
 * ipc_frame_release(). */
struct ipc_frame {
	struct ipc_header header;
	json_t *body;
	int fds[IPC_MAX_FDS];
	unsigned nfds;
};

void ipc_header_encode(const struct ipc_header *h, uint8_t out[IPC_HEADER_SIZE]);
/* Checks magic, version, flags and limits. */
int ipc_header_decode(const uint8_t in[IPC_HEADER_SIZE], struct ipc_header *h, struct error *err);
/* Parses a body: a JSON object without duplicate keys. */
int ipc_body_decode(const char *body, size_t len, json_t **out, struct error *err);
/* The "route" key of a request body. */
int ipc_body_route(json_t *body, const char **route, struct error *err);
/* Reads the "error" object of a reply into err; returns 0 when there is none. */
int ipc_body_error(json_t *body, struct error *err);
/* Builds {"error": {"code": ..., "message": ...}}. */
json_t *ipc_error_body(const struct error *err);

void ipc_frame_init(struct ipc_frame *f);
void ipc_frame_release(struct ipc_frame *f);
/* Takes descriptor i out of the frame (the caller owns it). */
int ipc_frame_take_fd(struct ipc_frame *f, unsigned i);

#endif
