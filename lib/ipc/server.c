#include "server.h"
#include "stream.h"
#include "../json/jsonutil.h"
#include "../util/log.h"
#include "../util/util.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>

/* A client that stops reading may not make the server hold unbounded memory. */
#define OUT_QUEUE_LIMIT (64u * 1024 * 1024)

struct out_frame {
	char *data;
	size_t len, off;
	int fds[IPC_MAX_FDS];
	unsigned nfds;
	struct out_frame *next;
};

struct ipc_conn {
	struct ipc_server *srv;
	int fd;
	int refs;
	bool open;
	struct loop_source *src;
	struct ipc_reader reader;
	uint32_t events; /* what epoll watches for now */
	struct ucred peer;
	struct out_frame *out_head, *out_tail;
	size_t out_bytes;
	void (*close_hook)(struct ipc_conn *, void *);
	void *close_data;
	struct ipc_conn *prev, *next;
};

struct ipc_server {
	struct loop *loop;
	int fd;
	char *path;
	struct loop_source *src;
	struct ipc_server_options opts;
	struct ipc_conn *conns;
	size_t nconns;
};

static void out_frame_free(struct out_frame *f)
{
	for (unsigned i = 0; i < f->nfds; i++)
		if (f->fds[i] >= 0)
			close(f->fds[i]);
	free(f->data);
	free(f);
}

static void conn_close(struct ipc_conn *conn)
{
	if (!conn->open)
		return;
	conn->open = false;
	loop_remove_fd(conn->src);
	conn->src = NULL;
	close(conn->fd);
	conn->fd = -1;
	ipc_reader_release(&conn->reader);
	while (conn->out_head) {
		struct out_frame *f = conn->out_head;
		conn->out_head = f->next;
		out_frame_free(f);
	}
	conn->out_tail = NULL;
	conn->out_bytes = 0;
	struct ipc_server *srv = conn->srv;
	if (srv) {
		if (conn->prev)
			conn->prev->next = conn->next;
		else
			srv->conns = conn->next;
		if (conn->next)
			conn->next->prev = conn->prev;
		srv->nconns--;
		conn->srv = NULL;
	}
	if (conn->close_hook) {
		void (*hook)(struct ipc_conn *, void *) = conn->close_hook;
		conn->close_hook = NULL;
		hook(conn, conn->close_data);
	}
	ipc_conn_unref(conn); /* the server's own reference */
}

struct ipc_conn *ipc_conn_ref(struct ipc_conn *conn)
{
	conn->refs++;
	return conn;
}

void ipc_conn_unref(struct ipc_conn *conn)
{
	if (!conn || --conn->refs > 0)
		return;
	free(conn);
}

bool ipc_conn_is_open(const struct ipc_conn *conn)
{
	return conn && conn->open;
}

void ipc_conn_set_close_hook(struct ipc_conn *conn, void (*fn)(struct ipc_conn *, void *),
			     void *data)
{
	conn->close_hook = fn;
	conn->close_data = data;
}

/* Sends queued frames until the socket would block. */
static int conn_flush(struct ipc_conn *conn)
{
	while (conn->out_head) {
		struct out_frame *f = conn->out_head;
		ssize_t n = ipc_send_chunk(conn->fd, f->data, f->len, f->off, f->fds, f->nfds);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return (int)n;
		if (f->off == 0 && n > 0) {
			/* The kernel holds its own references now. */
			for (unsigned i = 0; i < f->nfds; i++)
				close(f->fds[i]);
			f->nfds = 0;
		}
		f->off += n;
		conn->out_bytes -= n;
		if (f->off < f->len)
			break;
		conn->out_head = f->next;
		if (!conn->out_head)
			conn->out_tail = NULL;
		out_frame_free(f);
	}
	uint32_t events = EPOLLIN | (conn->out_head ? EPOLLOUT : 0);
	if (events != conn->events) {
		loop_mod_fd(conn->src, events);
		conn->events = events;
	}
	return 0;
}

static int conn_send(struct ipc_conn *conn, uint16_t flags, uint64_t id, json_t *body,
		     const int *fds, unsigned nfds)
{
	if (!conn->open || nfds > IPC_MAX_FDS) {
		for (unsigned i = 0; i < nfds; i++)
			close(fds[i]);
		json_decref(body);
		return -EPIPE;
	}
	if (!body)
		body = json_object();
	struct out_frame *f = xzalloc(sizeof(*f));
	f->data = ipc_frame_encode(flags, id, body, nfds, &f->len);
	json_decref(body);
	if (nfds > 0)
		memcpy(f->fds, fds, sizeof(int) * nfds);
	f->nfds = nfds;
	if (conn->out_bytes + f->len > OUT_QUEUE_LIMIT) {
		log_warn("closing connection of pid %d: it does not read its replies",
			 (int)conn->peer.pid);
		out_frame_free(f);
		conn_close(conn);
		return -ENOBUFS;
	}
	if (conn->out_tail)
		conn->out_tail->next = f;
	else
		conn->out_head = f;
	conn->out_tail = f;
	conn->out_bytes += f->len;
	if (conn->out_head == f) {
		int rc = conn_flush(conn);
		if (rc < 0) {
			conn_close(conn);
			return rc;
		}
	}
	return 0;
}

int ipc_conn_reply(struct ipc_conn *conn, uint64_t id, json_t *body, const int *fds, unsigned nfds)
{
	return conn_send(conn, IPC_FLAG_REPLY, id, body, fds, nfds);
}

int ipc_conn_reply_error(struct ipc_conn *conn, uint64_t id, const struct error *err)
{
	return conn_send(conn, IPC_FLAG_REPLY, id, ipc_error_body(err), NULL, 0);
}

int ipc_conn_event(struct ipc_conn *conn, uint64_t id, json_t *body, const int *fds, unsigned nfds)
{
	return conn_send(conn, IPC_FLAG_EVENT, id, body, fds, nfds);
}

static const struct ipc_route *find_route(const struct ipc_server *srv, const char *name)
{
	for (size_t i = 0; i < srv->opts.nroutes; i++)
		if (strcmp(srv->opts.routes[i].name, name) == 0)
			return &srv->opts.routes[i];
	return NULL;
}

static void dispatch(struct ipc_conn *conn, struct ipc_frame *frame)
{
	_cleanup_error_ struct error err = ERROR_INIT;
	uint64_t id = frame->header.id;
	if (frame->header.flags != 0) {
		error_set(&err, EPROTO, "a request may not carry reply or event flags");
		ipc_conn_reply_error(conn, id, &err);
		return;
	}
	const char *route = NULL;
	if (ipc_body_route(frame->body, &route, &err) < 0) {
		ipc_conn_reply_error(conn, id, &err);
		return;
	}
	const struct ipc_route *r = find_route(conn->srv, route);
	if (!r) {
		error_set(&err, ENOENT, "unknown route '%s'", route);
		ipc_conn_reply_error(conn, id, &err);
		return;
	}
	struct ipc_request req = {
		.conn = conn,
		.id = id,
		.route = route,
		.body = frame->body,
		.frame = frame,
		.peer = &conn->peer,
	};
	json_t *reply = NULL;
	log_debug("request %s id=%llu from pid %d", route, (unsigned long long)id,
		  (int)conn->peer.pid);
	ipc_conn_ref(conn);
	int rc = r->handler(conn->srv->opts.ctx, &req, &reply, &err);
	if (rc == IPC_REPLY_DEFERRED) {
		/* the handler owns the answer */
	} else if (rc < 0) {
		if (!error_is_set(&err))
			error_set(&err, -rc, "%s failed", route);
		log_debug("request %s failed: %s", route, err.message);
		ipc_conn_reply_error(conn, id, &err);
		for (unsigned i = 0; i < req.reply_nfds; i++)
			close(req.reply_fds[i]);
		json_decref(reply);
	} else {
		ipc_conn_reply(conn, id, reply, req.reply_fds, req.reply_nfds);
	}
	ipc_conn_unref(conn);
}

static void conn_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	(void)loop;
	(void)fd;
	struct ipc_conn *conn = data;
	ipc_conn_ref(conn);
	if (events & EPOLLOUT) {
		if (conn_flush(conn) < 0)
			conn_close(conn);
	}
	/* Serve a bounded number of frames per wakeup so that one busy client
	 * cannot starve the others. */
	for (int served = 0;
	     conn->open && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && served < 32; served++) {
		_cleanup_error_ struct error err = ERROR_INIT;
		struct ipc_frame frame;
		ipc_frame_init(&frame);
		int rc = ipc_reader_next(&conn->reader, conn->fd, MSG_DONTWAIT, true, &frame, &err);
		if (rc == IPC_READ_AGAIN)
			break;
		if (rc < 0) {
			if (err.code != ECONNRESET) {
				/* The stream is out of sync: say why, then hang up. */
				log_warn("closing connection of pid %d: %s", (int)conn->peer.pid,
					 err.message);
				ipc_conn_reply_error(conn, conn->reader.header.id, &err);
				if (conn->open)
					conn_flush(conn);
			}
			conn_close(conn);
			break;
		}
		if (rc == IPC_READ_BAD_BODY)
			ipc_conn_reply_error(conn, frame.header.id, &err);
		else
			dispatch(conn, &frame);
		ipc_frame_release(&frame);
	}
	ipc_conn_unref(conn);
}

static bool peer_in_group(int fd, gid_t gid, const struct ucred *cred)
{
	if (cred->gid == gid)
		return true;
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == gid)
			return true;
	return false;
}

static void accept_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	(void)events;
	struct ipc_server *srv = data;
	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("accept: %s", strerror(errno));
			return;
		}
		struct ucred cred = {0};
		socklen_t len = sizeof(cred);
		if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			log_warn("SO_PEERCRED: %s", strerror(errno));
			close(cfd);
			continue;
		}
		bool allowed = cred.uid == 0 || (srv->opts.admin_gid != (gid_t)-1 &&
						 peer_in_group(cfd, srv->opts.admin_gid, &cred));
		if (!allowed) {
			struct error err = ERROR_INIT;
			error_set(&err, EACCES,
				  "permission denied: uid %u is neither root nor in the "
				  "container-admin group",
				  (unsigned)cred.uid);
			log_warn("refused pid %d uid %u: not root nor in container-admin",
				 (int)cred.pid, (unsigned)cred.uid);
			json_t *body = ipc_error_body(&err);
			size_t flen;
			_cleanup_free_ char *frame =
				ipc_frame_encode(IPC_FLAG_REPLY, 0, body, 0, &flen);
			json_decref(body);
			ipc_send_chunk(cfd, frame, flen, 0, NULL, 0);
			error_release(&err);
			close(cfd);
			continue;
		}
		struct ipc_conn *conn = xzalloc(sizeof(*conn));
		conn->srv = srv;
		conn->fd = cfd;
		conn->refs = 1;
		conn->open = true;
		conn->peer = cred;
		conn->events = EPOLLIN;
		ipc_reader_init(&conn->reader);
		_cleanup_error_ struct error err = ERROR_INIT;
		conn->src = loop_add_fd(loop, cfd, EPOLLIN, conn_event, conn, &err);
		if (!conn->src) {
			log_warn("%s", err.message);
			close(cfd);
			free(conn);
			continue;
		}
		conn->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = conn;
		srv->conns = conn;
		srv->nconns++;
	}
}

int ipc_server_listen(struct loop *loop, const struct ipc_server_options *opts,
		      struct ipc_server **out, struct error *err)
{
	struct ipc_sockaddr sa;
	if (ipc_sockaddr_init(&sa, opts->path, err) < 0)
		return -err->code;
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ipc_sockaddr_release(&sa);
		return error_errno(err, errno, "socket");
	}
	/* A socket file left by a crashed server: the caller holds the pid-file
	 * lock, so nobody is listening on it. */
	unlink(opts->path);
	/* Create it with the final mode: no window where anyone may connect. */
	mode_t old = umask(~opts->mode & 0777);
	int rc = bind(fd, (struct sockaddr *)&sa.addr, sa.len);
	int saved = errno;
	umask(old);
	ipc_sockaddr_release(&sa);
	if (rc < 0)
		return error_errno(err, saved, "bind %s", opts->path);
	if (opts->socket_gid != (gid_t)-1 && chown(opts->path, 0, opts->socket_gid) < 0)
		return error_errno(err, errno, "chown %s", opts->path);
	if (chmod(opts->path, opts->mode) < 0)
		return error_errno(err, errno, "chmod %s", opts->path);
	if (listen(fd, 256) < 0)
		return error_errno(err, errno, "listen %s", opts->path);
	struct ipc_server *srv = xzalloc(sizeof(*srv));
	srv->loop = loop;
	srv->opts = *opts;
	srv->path = xstrdup(opts->path);
	srv->src = loop_add_fd(loop, fd, EPOLLIN, accept_event, srv, err);
	if (!srv->src) {
		free(srv->path);
		free(srv);
		return -err->code;
	}
	srv->fd = move_fd(fd);
	*out = srv;
	return 0;
}

void ipc_server_free(struct ipc_server *srv)
{
	if (!srv)
		return;
	while (srv->conns)
		conn_close(srv->conns);
	loop_remove_fd(srv->src);
	close(srv->fd);
	unlink(srv->path);
	free(srv->path);
	free(srv);
}

size_t ipc_server_connection_count(const struct ipc_server *srv)
{
	return srv->nconns;
}
