#include "stream.h"
#include "../json/jsonutil.h"
#include "../util/util.h"
#include "../util/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

void ipc_reader_init(struct ipc_reader *r)
{
	memset(r, 0, sizeof(*r));
	for (unsigned i = 0; i < IPC_MAX_FDS; i++)
		r->fds[i] = -1;
}

static void reader_reset(struct ipc_reader *r, bool close_fds)
{
	free(r->body);
	if (close_fds)
		for (unsigned i = 0; i < r->nfds; i++)
			if (r->fds[i] >= 0)
				close(r->fds[i]);
	ipc_reader_init(r);
}

void ipc_reader_release(struct ipc_reader *r)
{
	reader_reset(r, true);
}

bool ipc_reader_mid_frame(const struct ipc_reader *r)
{
	return r->head_have > 0 || r->nfds > 0;
}

/* Collects SCM_RIGHTS descriptors; any beyond the limit are closed and
 * reported, since a peer that sends them is not speaking the protocol. */
static int collect_fds(struct ipc_reader *r, struct msghdr *msg, struct error *err)
{
	int rc = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, fds + i, sizeof(fd));
			if (r->nfds < IPC_MAX_FDS) {
				r->fds[r->nfds++] = fd;
			} else {
				close(fd);
				rc = error_set(err, EMSGSIZE, "peer sent more than %u descriptors",
					       IPC_MAX_FDS);
			}
		}
	}
	if (rc == 0 && (msg->msg_flags & MSG_CTRUNC))
		rc = error_set(err, EMSGSIZE, "descriptors were truncated in transit");
	return rc;
}

int ipc_reader_read(struct ipc_reader *r, int fd, int recv_flags, struct ipc_frame *out,
		    struct error *err)
{
	for (;;) {
		char *dst;
		size_t want;
		if (!r->have_header) {
			dst = (char *)r->head + r->head_have;
			want = IPC_HEADER_SIZE - r->head_have;
		} else {
			dst = r->body + r->body_have;
			want = r->header.body_len - r->body_have;
		}
		if (want > 0) {
			union {
				char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
				struct cmsghdr align;
			} control;
			struct iovec iov = {.iov_base = dst, .iov_len = want};
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
				return error_set(err, errno, "receive frame");
			}
			if (collect_fds(r, &msg, err) < 0)
				return -err->code;
			if (n == 0) {
				if (ipc_reader_mid_frame(r))
					return error_set(err, ECONNRESET,
							 "peer closed the connection mid-frame");
				return error_set(err, ECONNRESET, "peer closed the connection");
			}
			if (!r->have_header)
				r->head_have += n;
			else
				r->body_have += n;
			if ((size_t)n < want)
				continue;
		}
		if (!r->have_header) {
			if (ipc_header_decode(r->head, &r->header, err) < 0)
				return -err->code;
			r->have_header = true;
			r->body = xmalloc((size_t)r->header.body_len + 1);
			continue;
		}
		/* The frame is complete. */
		if (r->nfds != r->header.nfds)
			return error_set(err, EPROTO, "frame announced %u descriptors but %u arrived",
					 r->header.nfds, r->nfds);
		ipc_frame_init(out);
		out->header = r->header;
		out->nfds = r->nfds;
		memcpy(out->fds, r->fds, sizeof(r->fds));
		int rc = ipc_body_decode(r->body, r->header.body_len, &out->body, err);
		reader_reset(r, false);
		return rc < 0 ? IPC_READ_BAD_BODY : IPC_READ_FRAME;
	}
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
			return error_set(err, errno, "poll");
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
		return error_set(err, errno, "open socket directory %s", dir);
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
