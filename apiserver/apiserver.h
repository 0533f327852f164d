/* container-apiserver: shared state of the daemon. Everything runs on one
 * loop; handlers and callbacks never block. */
#ifndef CONTAINER_APISERVER_H
#define CONTAINER_APISERVER_H

#include "ipc/server.h"
#include "store/store.h"
#include "util/loop.h"
#include "util/paths.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct supervisor;

struct apiserver {
	struct paths paths;
	struct loop *loop;
	struct ipc_server *server;
	struct store *store;
	struct supervisor *supervisor;
	gid_t admin_gid; /* (gid_t)-1 when there is no admin group */
	int64_t started_mono_ms;
	int64_t started_real_ms;
	bool debug;
	bool foreground;
	bool shutting_down;
	bool stop_containers; /* systemShutdown: stop every container first */
};

/* The route table (routes.c). */
extern const struct ipc_route apiserver_routes[];
extern const size_t apiserver_nroutes;

/* health.c */
int health_ping(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int health_shutdown(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);

/* containers.c */
int containers_create(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_bootstrap(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_start(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_wait(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_stop(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_kill(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_delete(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_list(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_inspect(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_stats(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_prune(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_resize(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_logs(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int containers_create_process(void *ctx, struct ipc_request *req, json_t **reply,
			      struct error *err);
/* Reconnects to the helpers of containers that were running. */
void containers_reconcile(struct apiserver *api);
size_t containers_running(void);
void containers_stop_all(struct apiserver *api);
/* Keeps one runtime helper started ahead of need; stop lets it go. */
void containers_standby_start(struct apiserver *api);
void containers_standby_stop(void);
/* Removes the bundles of removed containers now (they wait for an idle loop). */
void containers_trash_sweep(struct apiserver *api);

/* plugins.c: the plugin supervisor. */
struct supervisor *supervisor_new(struct apiserver *api);
/* Discovers plugins and starts the loadAtBoot ones. */
void supervisor_boot(struct supervisor *sup);
/* SIGCHLD: reaps children and schedules restarts. */
void supervisor_reap(struct supervisor *sup);
/* Stops every plugin (TERM, then KILL after timeout_ms); blocks: only for shutdown. */
void supervisor_shutdown(struct supervisor *sup, int timeout_ms);
void supervisor_free(struct supervisor *sup);
int plugins_list(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int plugins_get(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int plugins_load(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int plugins_unload(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);
int plugins_restart(void *ctx, struct ipc_request *req, json_t **reply, struct error *err);

#endif
