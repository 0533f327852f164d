/* The client side: one connection, calls matched to replies by request id,
 * events delivered to a callback while a call waits or on demand. */
#ifndef CONTAINER_IPC_CLIENT_H
#define CONTAINER_IPC_CLIENT_H

#include "frame.h"

struct ipc_client;

typedef void (*ipc_event_fn)(void *data, struct ipc_frame *event);

int ipc_client_connect(const char *path, struct ipc_client **out, struct error *err);
/* Wraps a connected socket (e.g. one end of a socketpair). */
struct ipc_client *ipc_client_from_fd(int fd);
void ipc_client_close(struct ipc_client *c);
int ipc_client_fd(const struct ipc_client *c);
/* Default 30 s; < 0 waits forever. */
void ipc_client_set_timeout(struct ipc_client *c, int timeout_ms);
void ipc_client_set_event_handler(struct ipc_client *c, ipc_event_fn fn, void *data);

/* Sends {"route": route, ...request} and waits for the reply with the same id.
 * request is borrowed (may be NULL). An error reply becomes err and < 0. */
int ipc_call(struct ipc_client *c, const char *route, json_t *request, json_t **reply,
	     struct error *err);
/* The same with descriptors both ways; *reply_frame (if not NULL) receives
 * the whole reply frame, descriptors included (release it). */
int ipc_call_fds(struct ipc_client *c, const char *route, json_t *request, const int *fds,
		 unsigned nfds, struct ipc_frame *reply_frame, struct error *err);
/* Waits for one event frame; returns 1 with *event, 0 on timeout. */
int ipc_client_wait_event(struct ipc_client *c, int timeout_ms, struct ipc_frame *event,
			  struct error *err);

#endif
