/* container-core-images: the image service plugin. Started by the
 * apiserver (loadAtBoot) with the roots in its environment; serves the image
 * routes on <run-root>/core-images.sock. Clients connect to it directly, as
 * Apple's CLI talks to its image service directly: archives travel as file
 * descriptors from the CLI straight to this process, with no copy through
 * the apiserver and no second hop on every call. */
#include "images.h"
#include "build-info.h"
#include "ipc/server.h"
#include "json/jsonutil.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>

struct service {
	struct paths paths;
	struct loop *loop;
	struct images *images;
};

static int take_fd(struct ipc_request *req, const char *what, int *fd, struct error *err)
{
	*fd = ipc_frame_take_fd(req->frame, 0);
	if (*fd < 0)
		return error_set(err, EINVAL, "%s: the request carries no file descriptor", what);
	return 0;
}

struct progress_ctx {
	struct ipc_request *req;
};

static void send_progress(void *data, uint64_t done, uint64_t total)
{
	struct progress_ctx *p = data;
	ipc_conn_event(p->req->conn, p->req->id,
		       json_pack("{s:I,s:I}", "done", (json_int_t)done, "total", (json_int_t)total),
		       NULL, 0);
}

static int route_load(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct service *svc = ctx;
	_cleanup_close_ int fd = -1;
	bool progress = false;
	if (take_fd(req, "imageLoad", &fd, err) < 0 ||
	    json_get_bool(req->body, "progress", false, &progress, err) < 0)
		return -err->code;
	struct progress_ctx p = {req};
	return images_load(svc->images, fd, progress ? send_progress : NULL, &p, reply, err);
}

static int route_save(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct service *svc = ctx;
	_cleanup_close_ int fd = -1;
	json_t *refs = NULL;
	if (json_get_string_array(req->body, "references", true, &refs, err) < 0 ||
	    take_fd(req, "imageSave", &fd, err) < 0)
		return -err->code;
	return images_save(svc->images, refs, fd, err);
}

static int route_import(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct service *svc = ctx;
	_cleanup_close_ int fd = -1;
	const char *ref = NULL;
	if (json_get_string(req->body, "reference", true, &ref, err) < 0 ||
	    take_fd(req, "imageImport", &fd, err) < 0)
		return -err->code;
	return images_import(svc->images, fd, ref, reply, err);
}

static int route_tag(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct service *svc = ctx;
	const char *source = NULL, *target = NULL;
	if (json_get_string(req->body, "source", true, &source, err) < 0 ||
	    json_get_string(req->body, "target", true, &target, err) < 0)
		return -err->code;
	return images_tag(svc->images, source, target, reply, err);
}

static int route_list(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct service *svc = ctx;
	return images_list(svc->images, reply, err);
}

static int route_inspect(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct service *svc = ctx;
	const char *ref = NULL;
	if (json_get_string(req->body, "reference", true, &ref, err) < 0)
		return -err->code;
	return images_inspect(svc->images, ref, reply, err);
}

static int route_delete(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct service *svc = ctx;
	json_t *refs = NULL;
	bool all = false, force = false;
	if (json_get_string_array(req->body, "references", false, &refs, err) < 0 ||
	    json_get_bool(req->body, "all", false, &all, err) < 0 ||
	    json_get_bool(req->body, "force", false, &force, err) < 0)
		return -err->code;
	if (!all && (!refs || json_array_size(refs) == 0))
		return error_set(err, EINVAL, "name at least one image, or ask for all");
	return images_delete(svc->images, refs, all, reply, err);
}

static int route_prune(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct service *svc = ctx;
	bool all = false;
	if (json_get_bool(req->body, "all", false, &all, err) < 0)
		return -err->code;
	return images_prune(svc->images, all, reply, err);
}

static int route_unpack(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct service *svc = ctx;
	const char *ref = NULL;
	if (json_get_string(req->body, "reference", true, &ref, err) < 0)
		return -err->code;
	return images_unpack(svc->images, ref, reply, err);
}

static int route_snapshot_get(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct service *svc = ctx;
	const char *chain = NULL;
	if (json_get_string(req->body, "chainId", true, &chain, err) < 0)
		return -err->code;
	return images_snapshot_get(svc->images, chain, reply, err);
}

static int route_content_get(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct service *svc = ctx;
	const char *digest = NULL;
	int fd = -1;
	if (json_get_string(req->body, "digest", true, &digest, err) < 0 ||
	    images_open_blob(svc->images, digest, &fd, err) < 0)
		return -err->code;
	req->reply_fds[0] = fd;
	req->reply_nfds = 1;
	return 0;
}

static int route_ping(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	*reply = json_pack("{s:s,s:s,s:i}", "appName", "container-core-images", "version",
			   CONTAINER_VERSION, "pid", (int)getpid());
	return 0;
}

static const struct ipc_route routes[] = {
	{"ping", route_ping},
	{"imageLoad", route_load},
	{"imageSave", route_save},
	{"imageImport", route_import},
	{"imageTag", route_tag},
	{"imageList", route_list},
	{"imageInspect", route_inspect},
	{"imageDelete", route_delete},
	{"imagePrune", route_prune},
	{"imageUnpack", route_unpack},
	{"snapshotGet", route_snapshot_get},
	{"contentGet", route_content_get},
};

static void signal_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		log_info("received %s: stopping", strsignal(si.ssi_signo));
		loop_quit(loop);
	}
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "start") != 0) {
		fprintf(stderr, "Usage: container-core-images start\n\n"
				"The image service; the API server starts it with the roots in "
				"CONTAINER_APP_ROOT, CONTAINER_RUN_ROOT and CONTAINER_LOG_ROOT.\n");
		return argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
			       ? 0
			       : 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct service svc = {0};
	_cleanup_error_ struct error err = ERROR_INIT;
	paths_resolve(&svc.paths, NULL, NULL, NULL);
	log_open("container-core-images", NULL,
		 getenv("CONTAINER_DEBUG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO, &err);
	int rc = 1;
	struct ipc_server *server = NULL;
	_cleanup_free_ char *sock = xasprintf("%s/core-images.sock", svc.paths.run_root);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	struct group *gr = getgrnam("container-admin");
	gid_t gid = gr ? gr->gr_gid : (gid_t)-1;
	struct ipc_server_options opts = {
		.path = sock,
		.mode = gid == (gid_t)-1 ? 0600 : 0660,
		.socket_gid = gid,
		.admin_gid = gid,
		.routes = routes,
		.nroutes = ARRAY_SIZE(routes),
		.ctx = &svc,
	};
	uint64_t reclaimed = 0;
	if (sfd < 0) {
		error_errno(&err, errno, "signalfd");
		goto out;
	}
	if (images_open(&svc.paths, &svc.images, &err) < 0)
		goto out;
	/* What a crash left behind: blobs and snapshots nothing references. */
	if (images_collect_garbage(svc.images, &reclaimed, &err) < 0)
		goto out;
	if (reclaimed)
		log_info("collected %llu bytes of garbage", (unsigned long long)reclaimed);
	svc.loop = loop_new(&err);
	if (!svc.loop || !loop_add_fd(svc.loop, sfd, EPOLLIN, signal_event, NULL, &err) ||
	    ipc_server_listen(svc.loop, &opts, &server, &err) < 0)
		goto out;
	log_info("container-core-images %s serving %s", CONTAINER_VERSION, sock);
	rc = loop_run(svc.loop, &err) < 0 ? 1 : 0;
out:
	if (error_is_set(&err))
		log_error("%s", err.message);
	ipc_server_free(server);
	images_close(svc.images);
	loop_free(svc.loop);
	paths_release(&svc.paths);
	return rc;
}
