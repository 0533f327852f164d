/* The server and client together, in one process: the server's loop runs
 * in a thread. Every malformed input a peer can send is thrown at it; it
 * must answer or hang up, keep serving, and end with no descriptor more
 * than it started with (memory: LeakSanitizer in the sanitizer build). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ipc/client.h"
#include "ipc/server.h"
#include "ipc/stream.h"
#include "json/jsonutil.h"
#include "util/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

struct fixture {
	char dir[64];
	char path[128];
	struct loop *loop;
	struct ipc_server *server;
	pthread_t thread;
	int fds_before;
};

static struct fixture *current;

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int route_echo(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	*reply = json_deep_copy(req->body);
	return 0;
}

static int route_fail(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	return error_set(err, EBUSY, "resource %s is busy", "x");
}

struct deferred {
	struct ipc_conn *conn;
	uint64_t id;
};

static void deferred_fire(struct loop *loop, void *data)
{
	struct deferred *d = data;
	ipc_conn_event(d->conn, d->id, json_pack("{s:i}", "progress", 50), NULL, 0);
	ipc_conn_event(d->conn, d->id, json_pack("{s:i}", "progress", 100), NULL, 0);
	ipc_conn_reply(d->conn, d->id, json_pack("{s:b}", "done", 1), NULL, 0);
	ipc_conn_unref(d->conn);
	free(d);
}

static int route_deferred(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	struct deferred *d = xzalloc(sizeof(*d));
	d->conn = ipc_conn_ref(req->conn);
	d->id = req->id;
	loop_add_timer(current->loop, 20, deferred_fire, d);
	return IPC_REPLY_DEFERRED;
}

/* Reads the descriptor it was given and answers with a new pipe's read end. */
static int route_fds(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	int in = ipc_frame_take_fd(req->frame, 0);
	if (in < 0)
		return error_set(err, EINVAL, "no descriptor");
	char buf[16] = {0};
	ssize_t n = read(in, buf, sizeof(buf) - 1);
	close(in);
	int p[2];
	if (n < 0 || pipe2(p, O_CLOEXEC) < 0)
		return error_errno(err, errno, "pipe");
	if (write(p[1], "pong", 4) != 4)
		return error_errno(err, errno, "write");
	close(p[1]);
	req->reply_fds[0] = p[0];
	req->reply_nfds = 1;
	*reply = json_pack("{s:s}", "got", buf);
	return 0;
}

static int route_conns(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	*reply = json_pack("{s:I}", "count",
			   (json_int_t)ipc_server_connection_count(current->server));
	return 0;
}

static int route_quit(void *ctx, struct ipc_request *req, json_t **reply, struct error *err)
{
	loop_quit(current->loop);
	return 0;
}

static const struct ipc_route routes[] = {
	{"echo", route_echo}, {"fail", route_fail},   {"deferred", route_deferred},
	{"fds", route_fds},   {"conns", route_conns}, {"quit", route_quit},
};

static void *serve(void *arg)
{
	struct fixture *f = arg;
	struct error err = ERROR_INIT;
	loop_run(f->loop, &err);
	error_release(&err);
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = xzalloc(sizeof(*f));
	strcpy(f->dir, "/tmp/ipc-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/api.sock", f->dir);
	f->fds_before = count_fds();
	struct error err = ERROR_INIT;
	f->loop = loop_new(&err);
	struct ipc_server_options opts = {
		.path = f->path,
		.mode = 0600,
		.socket_gid = (gid_t)-1,
		.admin_gid = (gid_t)-1,
		.routes = routes,
		.nroutes = ARRAY_SIZE(routes),
	};
	assert_int_equal(ipc_server_listen(f->loop, &opts, &f->server, &err), 0);
	current = f;
	assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
	*state = f;
	return 0;
}

static struct ipc_client *connect_client(struct fixture *f)
{
	struct ipc_client *c = NULL;
	struct error err = ERROR_INIT;
	if (ipc_client_connect(f->path, &c, &err) < 0)
		fail_msg("connect: %s", err.message);
	ipc_client_set_timeout(c, 5000);
	return c;
}

static int64_t connection_count(struct fixture *f)
{
	struct ipc_client *c = connect_client(f);
	json_t *reply = NULL;
	struct error err = ERROR_INIT;
	assert_int_equal(ipc_call(c, "conns", NULL, &reply, &err), 0);
	int64_t n = json_integer_value(json_object_get(reply, "count"));
	json_decref(reply);
	ipc_client_close(c);
	return n - 1; /* not this one */
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	/* Closed connections are noticed by the server asynchronously. */
	for (int i = 0; i < 200 && connection_count(f) != 0; i++)
		usleep(5000);
	assert_int_equal(connection_count(f), 0);
	struct ipc_client *c = connect_client(f);
	struct error err = ERROR_INIT;
	assert_int_equal(ipc_call(c, "quit", NULL, NULL, &err), 0);
	ipc_client_close(c);
	pthread_join(f->thread, NULL);
	ipc_server_free(f->server);
	loop_free(f->loop);
	assert_int_equal(count_fds(), f->fds_before);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void test_call_and_error(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *c = connect_client(f);
	struct error err = ERROR_INIT;
	json_t *req = json_pack("{s:s,s:i}", "name", "web", "n", 42);
	json_t *reply = NULL;
	assert_int_equal(ipc_call(c, "echo", req, &reply, &err), 0);
	assert_string_equal(json_string_value(json_object_get(reply, "route")), "echo");
	assert_int_equal(json_integer_value(json_object_get(reply, "n")), 42);
	json_decref(reply);
	assert_int_equal(ipc_call(c, "fail", req, &reply, &err), -EBUSY);
	assert_string_equal(err.message, "resource x is busy");
	error_release(&err);
	assert_int_equal(ipc_call(c, "nosuch", req, &reply, &err), -ENOENT);
	assert_non_null(strstr(err.message, "unknown route 'nosuch'"));
	error_release(&err);
	json_decref(req);
	ipc_client_close(c);
}

static void test_large_body(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *c = connect_client(f);
	struct error err = ERROR_INIT;
	size_t len = 4 * 1024 * 1024;
	char *big = xmalloc(len + 1);
	memset(big, 'x', len);
	big[len] = '\0';
	json_t *req = json_pack("{s:s}", "data", big);
	json_t *reply = NULL;
	assert_int_equal(ipc_call(c, "echo", req, &reply, &err), 0);
	assert_int_equal(strlen(json_string_value(json_object_get(reply, "data"))), len);
	json_decref(reply);
	json_decref(req);
	free(big);
	ipc_client_close(c);
}

static int events_seen;
static void on_event(void *data, struct ipc_frame *event)
{
	events_seen++;
	assert_int_equal(json_integer_value(json_object_get(event->body, "progress")),
			 events_seen * 50);
}

static void test_deferred_reply_with_events(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *c = connect_client(f);
	ipc_client_set_event_handler(c, on_event, NULL);
	struct error err = ERROR_INIT;
	json_t *reply = NULL;
	events_seen = 0;
	assert_int_equal(ipc_call(c, "deferred", NULL, &reply, &err), 0);
	assert_int_equal(events_seen, 2);
	assert_true(json_is_true(json_object_get(reply, "done")));
	json_decref(reply);
	ipc_client_close(c);
}

static void test_descriptors_both_ways(void **state)
{
	struct fixture *f = *state;
	struct ipc_client *c = connect_client(f);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write(p[1], "ping", 4), 4);
	close(p[1]);
	struct ipc_frame reply;
	struct error err = ERROR_INIT;
	assert_int_equal(ipc_call_fds(c, "fds", NULL, &p[0], 1, &reply, &err), 0);
	close(p[0]);
	assert_string_equal(json_string_value(json_object_get(reply.body, "got")), "ping");
	assert_int_equal(reply.nfds, 1);
	char buf[8] = {0};
	assert_int_equal(read(reply.fds[0], buf, sizeof(buf)), 4);
	assert_string_equal(buf, "pong");
	ipc_frame_release(&reply);
	ipc_client_close(c);
}

static int raw_connect(struct fixture *f)
{
	struct ipc_sockaddr sa;
	struct error err = ERROR_INIT;
	assert_int_equal(ipc_sockaddr_init(&sa, f->path, &err), 0);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa.addr, sa.len), 0);
	ipc_sockaddr_release(&sa);
	return fd;
}

/* Reads until the server hangs up; returns the error code of the first
 * reply, or NULL when it just closed. */
static char *drain(int fd)
{
	struct ipc_client *c = ipc_client_from_fd(fd);
	struct ipc_frame frame;
	struct error err = ERROR_INIT;
	char *code = NULL;
	/* A reply without an event flag is returned as an error by wait_event. */
	int rc = ipc_client_wait_event(c, 5000, &frame, &err);
	if (rc < 0 && err.code != ECONNRESET)
		code = xstrdup(error_code_name(err.code));
	error_release(&err);
	if (rc == 1)
		ipc_frame_release(&frame);
	rc = ipc_client_wait_event(c, 5000, &frame, &err);
	assert_int_equal(rc, -ECONNRESET);
	error_release(&err);
	ipc_client_close(c);
	return code;
}

static void test_hostile_peers(void **state)
{
	struct fixture *f = *state;
	/* garbage */
	int fd = raw_connect(f);
	assert_int_equal(write(fd, "GET / HTTP/1.1\r\n\r\n0123456789", 28), 28);
	char *code = drain(fd);
	assert_string_equal(code, "protocolError");
	free(code);
	/* oversize */
	fd = raw_connect(f);
	struct ipc_header h = {IPC_MAGIC, IPC_VERSION, 0, 9, IPC_MAX_BODY + 1, 0};
	uint8_t head[IPC_HEADER_SIZE];
	ipc_header_encode(&h, head);
	assert_int_equal(write(fd, head, sizeof(head)), sizeof(head));
	code = drain(fd);
	assert_string_equal(code, "messageTooLarge");
	free(code);
	/* truncated: half a frame, then gone */
	fd = raw_connect(f);
	h = (struct ipc_header){IPC_MAGIC, IPC_VERSION, 0, 9, 100, 0};
	ipc_header_encode(&h, head);
	assert_int_equal(write(fd, head, 10), 10);
	close(fd);
	/* vanished mid-body */
	fd = raw_connect(f);
	assert_int_equal(write(fd, head, sizeof(head)), sizeof(head));
	assert_int_equal(write(fd, "{\"ro", 4), 4);
	close(fd);
	/* the most descriptors a frame may carry are fine */
	json_t *body = json_pack("{s:s}", "route", "echo");
	size_t len;
	char *frame;
	int many[IPC_MAX_FDS];
	for (int i = 0; i < IPC_MAX_FDS; i++)
		many[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	struct error err = ERROR_INIT;
	struct ipc_client *c = connect_client(f);
	struct ipc_frame reply;
	assert_int_equal(ipc_call_fds(c, "echo", NULL, many, IPC_MAX_FDS, &reply, &err), 0);
	ipc_frame_release(&reply);
	ipc_client_close(c);
	for (int i = 0; i < IPC_MAX_FDS; i++)
		close(many[i]);
	/* announced 2, sent 1: out of sync, closed */
	fd = raw_connect(f);
	frame = ipc_frame_encode(0, 6, body, 2, &len);
	int one = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(ipc_write_all(fd, frame, len, &one, 1, 1000, &err), 0);
	close(one);
	code = drain(fd);
	assert_string_equal(code, "protocolError");
	free(code);
	free(frame);
	json_decref(body);
	/* the server still serves */
	c = connect_client(f);
	json_t *r = NULL;
	assert_int_equal(ipc_call(c, "echo", NULL, &r, &err), 0);
	json_decref(r);
	ipc_client_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_call_and_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deferred_reply_with_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_descriptors_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_peers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
