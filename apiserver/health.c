#include "apiserver.h"
#include "build-info.h"
#include "util/log.h"
#include "util/util.h"

#include <unistd.h>

int health_ping(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	char started[40];
	time_format_rfc3339(api->started_real_ms, started, sizeof(started));
	double uptime = (double)(time_monotonic_ms() - api->started_mono_ms) / 1000.0;
	*reply = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:i}", "appName",
			   "container-apiserver", "version", CONTAINER_VERSION, "commit",
			   CONTAINER_GIT_COMMIT, "buildType", CONTAINER_BUILD_TYPE, "buildDate",
			   CONTAINER_BUILD_DATE, "appRoot", api->paths.app_root, "runRoot",
			   api->paths.run_root, "installRoot", api->paths.install_root, "logRoot",
			   api->paths.log_root, "startedAt", started, "uptime", uptime, "pid",
			   (int)getpid());
	return 0;
}

static void quit_now(struct loop *loop, void *data)
{
	(void)data;
	loop_quit(loop);
}

int health_shutdown(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct apiserver *api = ctx;
	log_info("shutdown requested by pid %d uid %u", (int)req->peer->pid,
		 (unsigned)req->peer->uid);
	api->shutting_down = true;
	api->stop_containers = true;
	/* Leave the loop on its next turn, once this reply has been sent. */
	loop_add_timer(api->loop, 0, quit_now, NULL);
	*reply = json_pack("{s:i}", "pid", (int)getpid());
	return 0;
}
