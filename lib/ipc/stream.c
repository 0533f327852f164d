#include "stream.h"
#include "../json/jsonutil.h"
#include "../util/util.h"
#include "../util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#define READER_INITIAL_CAP 65536

void ipc_reader_init(struct ipc_reader *r)
{
	memset(r, 0, sizeof(*r));
}

void ipc_reader_release(struct ipc_reader *r)
{
	for (unsigned b = 0; b < r->nbatches; b++)
		for (unsigned i = 0; i < r->batches[b].nfds; i++)
			close(r->batches[b].fds[i]);
	free(r->buf);
	ipc_reader_init(r);
}

bool ipc_reader_mid_frame(const struct ipc_reader *r)
{
	return r->end > r->start || r->nbatches > 0;
}

/* Stream offset where the frame after the one at `at` starts, or UINT64_MAX
 * when its header is not all in the buffer yet. */
static uint64_t next_frame_start(const struct ipc_reader *r, uint64_t at)
{
	size_t pos = (size_t)(at - r->base);
	if (pos + IPC_HEADER_SIZE > r->end)
		return UINT64_MAX;
	const uint8_t *h = (const uint8_t *)r->buf + pos;
	uint32_t body_len = (uint32_t)h[16] | (uint32_t)h[17] << 8 | (uint32_t)h[18] << 16 |
			    (uint32_t)h[19] << 24;
	return at + IPC_HEADER_SIZE + body_len;
}

/* Files the descriptors that came with the bytes [from, to) of the stream. */
static int file_fds(struct ipc_reader *r, struct msghdr *msg, uint64_t from, uint64_t to,
		    struct error *err)
{
	int fds[IPC_MAX_FDS];
	unsigned n = 0;
	int rc = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, (int *)CMSG_DATA(c) + i, sizeof(fd));
			if (n < IPC_MAX_FDS)
				fds[n++] = fd;
			else {
				close(fd);
				rc = error_set(err, EMSGSIZE, "peer sent more than %u descriptors",
					       IPC_MAX_FDS);
			}
		}
	}
	if (rc == 0 && (msg->msg_flags & MSG_CTRUNC))
		rc = error_set(err, EMSGSIZE, "descriptors were truncated in transit");
	if (rc == 0 && n > 0) {
		/* Walk the frame starts to the last one inside [from, to). */
		uint64_t at = r->base + r->start, owner = UINT64_MAX;
		while (at < to) {
			if (at >= from)
				owner = at;
			at = next_frame_start(r, at);
		}
		if (owner == UINT64_MAX)
			rc = error_set(err, EPROTO, "descriptors arrived in the middle of a frame");
		else if (r->nbatches == IPC_READER_BATCHES)
			rc = error_set(err, EPROTO, "too many frames with descriptors in flight");
		else {
			struct ipc_fd_batch *b = &r->batches[r->nbatches++];
			b->frame_offset = owner;
			b->nfds = n;
			memcpy(b->fds, fds, sizeof(int) * n);
			n = 0;
		}
	}
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
	return rc;
}

/* Makes room for `need` more bytes after end. */
static void reserve(struct ipc_reader *r, size_t need)
{
	if (r->cap - r->end >= need)
		return;
	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->base += r->start;
		r->end -= r->start;
		r->start = 0;
	}
	if (r->cap - r->end >= need)
		return;
	size_t cap = r->cap ? r->cap : READER_INITIAL_CAP;
	while (cap - r->end < need)
		cap *= 2;
	r->buf = xrealloc(r->buf, cap);
	r->cap = cap;
}

/* A complete frame at start: hand it out. */
static int take_frame(struct ipc_reader *r, const struct ipc_header *h, struct ipc_frame *out,
		      struct error *err)
{
	uint64_t offset = r->base + r->start;
	ipc_frame_init(out);
	out->header = *h;
	if (r->nbatches > 0 && r->batches[0].frame_offset < offset)
		return error_set(err, EPROTO, "descriptors arrived without a frame");
	unsigned got = 0;
	if (r->nbatches > 0 && r->batches[0].frame_offset == offset) {
		got = r->batches[0].nfds;
		memcpy(out->fds, r->batches[0].fds, sizeof(int) * got);
		out->nfds = got;
		r->nbatches--;
		memmove(&r->batches[0], &r->batches[1], sizeof(r->batches[0]) * r->nbatches);
	}
	if (got != h->nfds)
		return error_set(err, EPROTO, "frame announced %u descriptors but %u arrived",
				 h->nfds, got);
	const char *body = r->buf + r->start + IPC_HEADER_SIZE;
	r->start += IPC_HEADER_SIZE + h->body_len;
	if (r->start == r->end) {
		r->base += r->end;
		r->start = r->end = 0;
	}
	/* body stays valid: nothing moves the buffer before the next read */
	int rc = ipc_body_decode(body, h->body_len, &out->body, err);
	return rc < 0 ? IPC_READ_BAD_BODY : IPC_READ_FRAME;
}

int ipc_reader_next(struct ipc_reader *r, int fd, int recv_flags, bool stop_when_drained,
		    struct ipc_frame *out, struct error *err)
{
	for (;;) {
		size_t have = r->end - r->start;
		size_t need = IPC_HEADER_SIZE;
		if (have >= IPC_HEADER_SIZE) {
			struct ipc_header h;
			if (ipc_header_decode((uint8_t *)r->buf + r->start, &h, err) < 0) {
				r->header = h;
				return -err->code;
			}
			r->header = h;
			need = IPC_HEADER_SIZE + (size_t)h.body_len;
			if (have >= need) {
				int rc = take_frame(r, &h, out, err);
				if (rc != IPC_READ_FRAME)
					ipc_frame_release(out);
				return rc;
			}
		}
		if (stop_when_drained && r->drained) {
			r->drained = false;
			return IPC_READ_AGAIN;
		}
		reserve(r, need - have > 4096 ? need - have : 4096);
		union {
			char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
			struct cmsghdr align;
		} control;
		size_t room = r->cap - r->end;
		struct iovec iov = {.iov_base = r->buf + r->end, .iov_len = room};
		struct msghdr msg = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = control.buf,
			.msg_controllen = sizeof(control.buf),
		};
		ssize_t n = recvmsg(fd, &msg, recv_flags | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return IPC_READ_AGAIN;
			return error_errno(err, errno, "receive frame");
		}
		uint64_t from = r->base + r->end;
		r->end += n;
		r->drained = (size_t)n < room;
		if (file_fds(r, &msg, from, from + n, err) < 0)
			return -err->code;
		if (n == 0) {
			if (ipc_reader_mid_frame(r))
				return error_set(err, ECONNRESET,
						 "peer closed the connection mid-frame");
			return error_set(err, ECONNRESET, "peer closed the connection");
		}
	}
}

int ipc_reader_read(struct ipc_reader *r, int fd, int recv_flags, struct ipc_frame *out,
		    struct error *err)
{
	return ipc_reader_next(r, fd, recv_flags, false, out, err);
}

char *ipc_frame_encode(uint16_t flags, uint64_t id, const json_t *body, unsigned nfds,
		       size_t *len_out)
{
	_cleanup_free_ char *text = json_dump_compact(body);
	size_t body_len = strlen(text);
	struct ipc_header h = {
		.magic = IPC_MAGIC,
		.version = IPC_VERSION,
		.flags = flags,
		.id = id,
		.body_len = (uint32_t)body_len,
		.nfds = nfds,
	};
	char *data = xmalloc(IPC_HEADER_SIZE + body_len);
	ipc_header_encode(&h, (uint8_t *)data);
	memcpy(data + IPC_HEADER_SIZE, text, body_len);
	*len_out = IPC_HEADER_SIZE + body_len;
	return data;
}

ssize_t ipc_send_chunk(int fd, const char *data, size_t len, size_t off, const int *fds,
		       unsigned nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = (char *)data + off, .iov_len = len - off};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (off == 0 && nfds > 0) {
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			return -EAGAIN;
		return -errno;
	}
}

int ipc_write_all(int fd, const char *data, size_t len, const int *fds, unsigned nfds,
		  int timeout_ms, struct error *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : time_monotonic_ms() + timeout_ms;
	size_t off = 0;
	while (off < len) {
		ssize_t n = ipc_send_chunk(fd, data, len, off, fds, nfds);
		if (n >= 0) {
			off += n;
			continue;
		}
		if (n != -EAGAIN)
			return error_set(err, (int)-n, "send frame");
		int wait = -1;
		if (deadline >= 0) {
			int64_t left = deadline - time_monotonic_ms();
			if (left <= 0)
				return error_set(err, ETIMEDOUT, "timed out sending a frame");
			wait = (int)left;
		}
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		if (poll(&p, 1, wait) < 0 && errno != EINTR)
			return error_errno(err, errno, "poll");
	}
	return 0;
}

int ipc_sockaddr_init(struct ipc_sockaddr *sa, const char *path, struct error *err)
{
	memset(sa, 0, sizeof(*sa));
	sa->dirfd = -1;
	sa->addr.sun_family = AF_UNIX;
	size_t len = strlen(path);
	if (len < sizeof(sa->addr.sun_path)) {
		memcpy(sa->addr.sun_path, path, len + 1);
		sa->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
		return 0;
	}
	/* Long path: reach the directory through a descriptor. */
	_cleanup_free_ char *dir = fs_dirname(path);
	_cleanup_free_ char *base = fs_basename(path);
	int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return error_errno(err, errno, "open socket directory %s", dir);
	int n = snprintf(sa->addr.sun_path, sizeof(sa->addr.sun_path), "/proc/self/fd/%d/%s", dfd,
			 base);
	if (n < 0 || (size_t)n >= sizeof(sa->addr.sun_path)) {
		close(dfd);
		return error_set(err, ENAMETOOLONG,
				 "socket name '%s' is too long for a Unix socket address", base);
	}
	sa->dirfd = dfd;
	sa->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

void ipc_sockaddr_release(struct ipc_sockaddr *sa)
{
	if (sa->dirfd >= 0)
		close(sa->dirfd);
	sa->dirfd = -1;
}
