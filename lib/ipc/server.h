/* The server side of the wire protocol: a listening socket on a loop,
 * authorization by SO_PEERCRED, and a route table. */
#ifndef CONTAINER_IPC_SERVER_H
#define CONTAINER_IPC_SERVER_H

#include "frame.h"
#include "../util/loop.h"
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

struct ipc_server;
struct ipc_conn;

struct ipc_request {
	struct ipc_conn *conn;
	uint64_t id;
	const char *route;
	json_t *body;		    /* borrowed for the handler call */
	struct ipc_frame *frame;    /* descriptors: ipc_frame_take_fd(req->frame, i) */
	const struct ucred *peer;   /* who is asking */
	int reply_fds[IPC_MAX_FDS]; /* descriptors for the reply, closed once sent */
	unsigned reply_nfds;
};

/* Returns 0 with *reply set (NULL means {}), < 0 with err set, or
 * IPC_REPLY_DEFERRED when it keeps a reference to req->conn and answers later
 * with ipc_conn_reply(). */
typedef int (*ipc_handler_fn)(void *ctx, struct ipc_request *req, json_t **reply,
			      struct error *err);
#define IPC_REPLY_DEFERRED 1

struct ipc_route {
	const char *name;
	ipc_handler_fn handler;
};

/* Peers allowed: root, and members of admin_gid unless it is (gid_t)-1. */
struct ipc_server_options {
	const char *path;
	mode_t mode;	  /* permissions of the socket file */
	gid_t socket_gid; /* group owner of the socket file, (gid_t)-1 to keep */
	gid_t admin_gid;
	const struct ipc_route *routes;
	size_t nroutes;
	void *ctx; /* passed to every handler */
};

int ipc_server_listen(struct loop *loop, const struct ipc_server_options *opts,
		      struct ipc_server **out, struct error *err);
/* Closes every connection and the listening socket, unlinks the path. */
void ipc_server_free(struct ipc_server *srv);
size_t ipc_server_connection_count(const struct ipc_server *srv);

struct ipc_conn *ipc_conn_ref(struct ipc_conn *conn);
void ipc_conn_unref(struct ipc_conn *conn);
bool ipc_conn_is_open(const struct ipc_conn *conn);
/* Called once when the connection closes (the peer went away). */
void ipc_conn_set_close_hook(struct ipc_conn *conn, void (*fn)(struct ipc_conn *, void *),
			     void *data);
/* body is stolen; fds are owned by the frame and closed once sent. */
int ipc_conn_reply(struct ipc_conn *conn, uint64_t id, json_t *body, const int *fds, unsigned nfds);
int ipc_conn_reply_error(struct ipc_conn *conn, uint64_t id, const struct error *err);
int ipc_conn_event(struct ipc_conn *conn, uint64_t id, json_t *body, const int *fds, unsigned nfds);

#endif
