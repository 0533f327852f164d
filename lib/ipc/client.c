#include "client.h"
#include "stream.h"
#include "../json/jsonutil.h"
#include "../util/util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

struct ipc_client {
	int fd;
	uint64_t next_id;
	int timeout_ms;
	struct ipc_reader reader;
	ipc_event_fn event_fn;
	void *event_data;
	int rcvtimeo_ms; /* what SO_RCVTIMEO is set to; -1 = none */
	int spin_us;
};

/* Reads block with SO_RCVTIMEO instead of poll + read: one syscall per
 * reply. The timeout thus bounds each wait for data, so a stream of events
 * keeps a call alive as long as the server makes progress. */
static void set_rcvtimeo(struct ipc_client *c, int ms)
{
	if (c->rcvtimeo_ms == ms)
		return;
	struct timeval tv = {0};
	if (ms > 0) {
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	c->rcvtimeo_ms = ms;
}

struct ipc_client *ipc_client_from_fd(int fd)
{
	struct ipc_client *c = xzalloc(sizeof(*c));
	c->fd = fd;
	c->next_id = 1;
	c->timeout_ms = 30000;
	c->rcvtimeo_ms = -1;
	/* CONTAINER_IPC_SPIN_US: how long to look for a reply before sleeping. */
	const char *spin = getenv("CONTAINER_IPC_SPIN_US");
	c->spin_us = spin ? atoi(spin) : 50;
	ipc_reader_init(&c->reader);
	return c;
}

int ipc_client_connect(const char *path, struct ipc_client **out, struct error *err)
{
	struct ipc_sockaddr sa;
	if (ipc_sockaddr_init(&sa, path, err) < 0)
		return -err->code;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ipc_sockaddr_release(&sa);
		return error_errno(err, errno, "socket");
	}
	int rc;
	do
		rc = connect(fd, (struct sockaddr *)&sa.addr, sa.len);
	while (rc < 0 && errno == EINTR);
	int saved = errno;
	ipc_sockaddr_release(&sa);
	if (rc < 0) {
		close(fd);
		if (saved == EACCES || saved == EPERM)
			return error_errno(err, saved,
					   "permission denied connecting to %s: run as root or as "
					   "a member of the container-admin group",
					   path);
		return error_set(err, saved, "connect to %s: %s", path, strerror(saved));
	}
	*out = ipc_client_from_fd(fd);
	return 0;
}

void ipc_client_close(struct ipc_client *c)
{
	if (!c)
		return;
	ipc_reader_release(&c->reader);
	close(c->fd);
	free(c);
}

int ipc_client_fd(const struct ipc_client *c)
{
	return c->fd;
}

void ipc_client_set_timeout(struct ipc_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

void ipc_client_set_event_handler(struct ipc_client *c, ipc_event_fn fn, void *data)
{
	c->event_fn = fn;
	c->event_data = data;
}

/* Reads one frame, waiting at most timeout_ms (< 0: forever) for data.
 * 0 = timed out. */
static int read_frame(struct ipc_client *c, int timeout_ms, struct ipc_frame *out,
		      struct error *err)
{
	/* A reply usually arrives within tens of microseconds: look for it
	 * briefly before sleeping, which spares a wake-up across CPUs. */
	int rc = IPC_READ_AGAIN;
	int64_t spin_until = time_monotonic_us() + c->spin_us;
	do
		rc = ipc_reader_next(&c->reader, c->fd, MSG_DONTWAIT, false, out, err);
	while (rc == IPC_READ_AGAIN && time_monotonic_us() < spin_until);
	if (rc == IPC_READ_AGAIN) {
		set_rcvtimeo(c, timeout_ms < 0 ? 0 : timeout_ms == 0 ? 1 : timeout_ms);
		rc = ipc_reader_next(&c->reader, c->fd, 0, false, out, err);
	}
	if (rc == IPC_READ_FRAME)
		return 1;
	if (rc == IPC_READ_AGAIN)
		return 0;
	if (rc == IPC_READ_BAD_BODY)
		return error_prefix(err, "malformed frame from the server");
	if (err->code == ECONNRESET)
		return error_set(err, ECONNRESET, "the server closed the connection");
	return rc;
}

int ipc_call_fds(struct ipc_client *c, const char *route, json_t *request, const int *fds,
		 unsigned nfds, struct ipc_frame *reply_frame, struct error *err)
{
	if (nfds > IPC_MAX_FDS)
		return error_set(err, EINVAL, "at most %u descriptors per frame", IPC_MAX_FDS);
	_cleanup_json_ json_t *body = request ? json_deep_copy(request) : json_object();
	json_object_set_new(body, "route", json_string(route));
	uint64_t id = c->next_id++;
	size_t len;
	_cleanup_free_ char *data = ipc_frame_encode(0, id, body, nfds, &len);
	if (len - IPC_HEADER_SIZE > IPC_MAX_BODY)
		return error_set(err, EMSGSIZE, "request of %zu bytes exceeds the frame limit",
				 len - IPC_HEADER_SIZE);
	if (ipc_write_all(c->fd, data, len, fds, nfds, c->timeout_ms, err) < 0) {
		/* A server that refused us (permission, protocol) said why before
		 * hanging up: prefer its words to "broken pipe". */
		struct ipc_frame said;
		struct error reason = ERROR_INIT;
		ipc_frame_init(&said);
		if (ipc_reader_next(&c->reader, c->fd, MSG_DONTWAIT, false, &said, &reason) ==
			    IPC_READ_FRAME &&
		    ipc_body_error(said.body, &reason) < 0) {
			ipc_frame_release(&said);
			error_release(err);
			*err = reason;
			return -err->code;
		}
		ipc_frame_release(&said);
		error_release(&reason);
		return error_prefix(err, "%s", route);
	}
	for (;;) {
		struct ipc_frame frame;
		ipc_frame_init(&frame);
		int rc = read_frame(c, c->timeout_ms, &frame, err);
		if (rc < 0)
			return error_prefix(err, "%s", route);
		if (rc == 0)
			return error_set(err, ETIMEDOUT, "%s: no reply within %d ms", route,
					 c->timeout_ms);
		if (frame.header.flags & IPC_FLAG_EVENT) {
			if (c->event_fn)
				c->event_fn(c->event_data, &frame);
			ipc_frame_release(&frame);
			continue;
		}
		/* id 0 is a connection-level error (refused, out of sync). */
		if (frame.header.id != id && frame.header.id != 0) {
			ipc_frame_release(&frame);
			continue;
		}
		if (ipc_body_error(frame.body, err) < 0) {
			ipc_frame_release(&frame);
			return -err->code;
		}
		if (reply_frame)
			*reply_frame = frame;
		else
			ipc_frame_release(&frame);
		return 0;
	}
}

int ipc_call(struct ipc_client *c, const char *route, json_t *request, json_t **reply,
	     struct error *err)
{
	struct ipc_frame frame;
	ipc_frame_init(&frame);
	int rc = ipc_call_fds(c, route, request, NULL, 0, &frame, err);
	if (rc < 0)
		return rc;
	if (reply)
		*reply = move_ptr(frame.body);
	ipc_frame_release(&frame);
	return 0;
}

int ipc_client_wait_event(struct ipc_client *c, int timeout_ms, struct ipc_frame *event,
			  struct error *err)
{
	for (;;) {
		ipc_frame_init(event);
		int rc = read_frame(c, timeout_ms, event, err);
		if (rc <= 0)
			return rc;
		if (event->header.flags & IPC_FLAG_EVENT)
			return 1;
		if (ipc_body_error(event->body, err) < 0) {
			ipc_frame_release(event);
			return -err->code;
		}
		ipc_frame_release(event);
	}
}
