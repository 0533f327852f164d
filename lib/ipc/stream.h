/* Frame I/O over a Unix stream socket, shared by client and server. */
#ifndef CONTAINER_IPC_STREAM_H
#define CONTAINER_IPC_STREAM_H

#include "frame.h"
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Buffered reader: one recvmsg may bring several frames, or part of one.
 * Descriptors: the kernel ends a read right after the segment that carried
 * them, and a sender attaches them to a frame's first byte, so a batch that
 * arrives with a read belongs to the last frame starting in that read. */
struct ipc_fd_batch {
	uint64_t frame_offset; /* stream offset of the frame the batch belongs to */
	unsigned nfds;
	int fds[IPC_MAX_FDS];
};

#define IPC_READER_BATCHES 4

struct ipc_reader {
	char *buf;
	size_t cap;
	size_t start, end; /* unconsumed bytes are buf[start..end) */
	uint64_t base;	   /* stream offset of buf[0] */
	bool drained;	   /* the last read did not fill the buffer: the socket is empty */
	struct ipc_fd_batch batches[IPC_READER_BATCHES];
	unsigned nbatches;
	struct ipc_header header; /* of the frame at start, once decoded */
};

enum {
	IPC_READ_AGAIN = 0,    /* no complete frame yet (EAGAIN, or nothing more to read) */
	IPC_READ_FRAME = 1,    /* *out holds a complete frame */
	IPC_READ_BAD_BODY = 2, /* out->header is valid, the body is not: reply with an error */
};

void ipc_reader_init(struct ipc_reader *r);
void ipc_reader_release(struct ipc_reader *r);
/* Returns the next frame, reading from fd when the buffer holds none.
 * < 0: the stream is unusable (closed by the peer, bad header, descriptor
 * overflow): the connection must be closed. recv_flags: MSG_DONTWAIT for a
 * non-blocking loop. With stop_when_drained, a read that left the socket
 * empty is not followed by another one (level-triggered epoll will say when
 * more data comes), which saves a syscall per request. */
int ipc_reader_read(struct ipc_reader *r, int fd, int recv_flags, struct ipc_frame *out,
		    struct error *err);
int ipc_reader_next(struct ipc_reader *r, int fd, int recv_flags, bool stop_when_drained,
		    struct ipc_frame *out, struct error *err);
/* True when the reader holds part of a frame. */
bool ipc_reader_mid_frame(const struct ipc_reader *r);

/* Serializes header + body into one buffer (header fields filled in). */
char *ipc_frame_encode(uint16_t flags, uint64_t id, const json_t *body, unsigned nfds,
		       size_t *len_out);
/* Sends data[off..len) with fds attached when off == 0. Returns bytes sent,
 * or -EAGAIN / -errno. */
ssize_t ipc_send_chunk(int fd, const char *data, size_t len, size_t off, const int *fds,
		       unsigned nfds);
/* Blocking write of a whole encoded frame, waiting at most timeout_ms
 * (< 0: forever) for the socket to drain. */
int ipc_write_all(int fd, const char *data, size_t len, const int *fds, unsigned nfds,
		  int timeout_ms, struct error *err);

/* A sockaddr for a path of any length: paths longer than sun_path go
 * through /proc/self/fd/N/name with N an O_PATH descriptor of the directory. */
struct ipc_sockaddr {
	struct sockaddr_un addr;
	socklen_t len;
	int dirfd;
};
int ipc_sockaddr_init(struct ipc_sockaddr *sa, const char *path, struct error *err);
void ipc_sockaddr_release(struct ipc_sockaddr *sa);

#endif
