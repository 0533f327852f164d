/* ipc-probe: drives an API socket the way a broken or hostile client would,
 * for the CLI tests, and measures round trips for the benchmarks.
 *
 *   ipc-probe SOCKET MODE [ARGS]
 *
 * Modes (exit 0 when the server behaved as it must):
 *   ping                  one ping; prints the server pid
 *   call ROUTE [JSON]     any route; prints the reply JSON (exit 1 on an error reply)
 *   garbage               random bytes: expect an error reply and a close
 *   oversize              a header announcing a body over 16 MiB: error + close
 *   toomanyfds            20 descriptors with one frame: error + close
 *   truncated             half a frame, then hang up
 *   badjson               malformed JSON: error reply, connection still usable
 *   notobject             a JSON array body: error reply, connection still usable
 *   noroute               an object without "route": error reply, still usable
 *   unknownroute          an unknown route: notFound, still usable
 *   wrongtype             pluginGet with a numeric name: invalidArgument, still usable
 *   withfds               a ping carrying 3 descriptors: normal reply
 *   bench N               N pings on one connection; prints rate and latency percentiles
 */
#include "ipc/client.h"
#include "ipc/stream.h"
#include "json/jsonutil.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ipc-probe: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

static int raw_connect(const char *path)
{
	struct ipc_sockaddr sa;
	struct error err = ERROR_INIT;
	if (ipc_sockaddr_init(&sa, path, &err) < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&sa.addr, sa.len) < 0) {
		close(fd);
		fd = -1;
	}
	ipc_sockaddr_release(&sa);
	return fd;
}

/* Reads one frame with a 5 s limit; prints its error, if any. Returns
 * 1 frame, 0 closed, -1 timeout or failure. */
static int read_reply(int fd, struct ipc_frame *frame)
{
	struct ipc_reader r;
	ipc_reader_init(&r);
	int64_t deadline = time_monotonic_ms() + 5000;
	int result = -1;
	for (;;) {
		struct error err = ERROR_INIT;
		int rc = ipc_reader_read(&r, fd, MSG_DONTWAIT, frame, &err);
		if (rc == IPC_READ_FRAME) {
			struct error e = ERROR_INIT;
			if (ipc_body_error(frame->body, &e) < 0)
				printf("error %s: %s\n", error_code_name(e.code), e.message);
			error_release(&e);
			result = 1;
			break;
		}
		if (rc < 0) {
			result = err.code == ECONNRESET ? 0 : -1;
			error_release(&err);
			break;
		}
		error_release(&err);
		int64_t left = deadline - time_monotonic_ms();
		if (left <= 0)
			break;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		poll(&p, 1, (int)left);
	}
	ipc_reader_release(&r);
	return result;
}

static bool is_error(struct ipc_frame *f, const char *code)
{
	json_t *e = json_object_get(f->body, "error");
	return e && strcmp(json_string_value(json_object_get(e, "code")), code) == 0;
}

/* After a bad frame: the server must answer with an error, then close. */
static int expect_error_then_close(int fd, const char *code)
{
	struct ipc_frame f;
	ipc_frame_init(&f);
	int rc = read_reply(fd, &f);
	if (rc != 1)
		return fail("expected an error reply, got %s", rc == 0 ? "a close" : "nothing");
	bool ok = is_error(&f, code);
	ipc_frame_release(&f);
	if (!ok)
		return fail("expected error code %s", code);
	rc = read_reply(fd, &f);
	if (rc != 0)
		return fail("expected the server to close the connection");
	ipc_frame_release(&f);
	puts("closed");
	return 0;
}

static int send_raw_frame(int fd, uint64_t id, const char *body, size_t len)
{
	struct ipc_header h = {IPC_MAGIC, IPC_VERSION, 0, id, (uint32_t)len, 0};
	uint8_t head[IPC_HEADER_SIZE];
	ipc_header_encode(&h, head);
	if (write(fd, head, sizeof(head)) != sizeof(head) || write(fd, body, len) != (ssize_t)len)
		return -1;
	return 0;
}

/* A bad body: an error reply with the same id, then a ping on the same
 * connection still works. */
static int expect_error_then_usable(int fd, const char *body, const char *code)
{
	if (send_raw_frame(fd, 7, body, strlen(body)) < 0)
		return fail("write: %s", strerror(errno));
	struct ipc_frame f;
	ipc_frame_init(&f);
	if (read_reply(fd, &f) != 1)
		return fail("no reply to a bad request");
	bool ok = f.header.id == 7 && is_error(&f, code);
	ipc_frame_release(&f);
	if (!ok)
		return fail("expected error %s for request 7", code);
	struct ipc_client *c = ipc_client_from_fd(fd);
	struct error err = ERROR_INIT;
	json_t *reply = NULL;
	int rc = ipc_call(c, "ping", NULL, &reply, &err);
	if (rc < 0)
		rc = fail("ping after the bad request failed: %s", err.message);
	else
		puts("still usable");
	json_decref(reply);
	error_release(&err);
	ipc_client_close(c);
	return rc < 0 ? 1 : 0;
}

static int compare_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int bench(const char *path, long n)
{
	struct ipc_client *c = NULL;
	struct error err = ERROR_INIT;
	if (ipc_client_connect(path, &c, &err) < 0)
		return fail("%s", err.message);
	int64_t *lat = xmalloc(sizeof(int64_t) * n);
	int64_t start = time_monotonic_us();
	for (long i = 0; i < n; i++) {
		int64_t t0 = time_monotonic_us();
		json_t *reply = NULL;
		if (ipc_call(c, "ping", NULL, &reply, &err) < 0)
			return fail("ping %ld: %s", i, err.message);
		json_decref(reply);
		lat[i] = time_monotonic_us() - t0;
	}
	int64_t total = time_monotonic_us() - start;
	qsort(lat, n, sizeof(*lat), compare_i64);
	printf("{\"calls\":%ld,\"seconds\":%.3f,\"perSecond\":%.0f,\"p50us\":%lld,"
	       "\"p99us\":%lld}\n",
	       n, total / 1e6, n / (total / 1e6), (long long)lat[n / 2],
	       (long long)lat[(n * 99) / 100]);
	free(lat);
	ipc_client_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return fail("usage: ipc-probe SOCKET MODE [ARGS]");
	const char *path = argv[1], *mode = argv[2];
	if (strcmp(mode, "bench") == 0)
		return bench(path, argc > 3 ? atol(argv[3]) : 100000);
	if (strcmp(mode, "ping") == 0 || strcmp(mode, "call") == 0) {
		struct ipc_client *c = NULL;
		struct error err = ERROR_INIT;
		if (ipc_client_connect(path, &c, &err) < 0)
			return fail("%s", err.message);
		const char *route = strcmp(mode, "ping") == 0 ? "ping" : argc > 3 ? argv[3] : "";
		json_t *req = NULL;
		if (argc > 4) {
			json_error_t jerr;
			req = json_loads(argv[4], 0, &jerr);
			if (!req)
				return fail("bad JSON argument: %s", jerr.text);
		}
		json_t *reply = NULL;
		int rc = ipc_call(c, route, req, &reply, &err);
		json_decref(req);
		ipc_client_close(c);
		if (rc < 0) {
			printf("error %s: %s\n", error_code_name(err.code), err.message);
			return 1;
		}
		if (strcmp(mode, "ping") == 0)
			printf("%lld\n",
			       (long long)json_integer_value(json_object_get(reply, "pid")));
		else
			puts(json_dump_compact(reply));
		json_decref(reply);
		return 0;
	}
	int fd = raw_connect(path);
	if (fd < 0)
		return fail("connect %s: %s", path, strerror(errno));
	if (strcmp(mode, "garbage") == 0) {
		char junk[64];
		for (size_t i = 0; i < sizeof(junk); i++)
			junk[i] = (char)(i * 37 + 11);
		if (write(fd, junk, sizeof(junk)) < 0)
			return fail("write");
		return expect_error_then_close(fd, "protocolError");
	}
	if (strcmp(mode, "oversize") == 0) {
		struct ipc_header h = {IPC_MAGIC, IPC_VERSION, 0, 1, IPC_MAX_BODY + 1, 0};
		uint8_t head[IPC_HEADER_SIZE];
		ipc_header_encode(&h, head);
		if (write(fd, head, sizeof(head)) < 0)
			return fail("write");
		return expect_error_then_close(fd, "messageTooLarge");
	}
	if (strcmp(mode, "toomanyfds") == 0) {
		int fds[20];
		for (int i = 0; i < 20; i++)
			fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		const char body[] = "{\"route\":\"ping\"}";
		struct ipc_header h = {IPC_MAGIC, IPC_VERSION, 0, 1, sizeof(body) - 1, 16};
		char frame[IPC_HEADER_SIZE + sizeof(body)];
		ipc_header_encode(&h, (uint8_t *)frame);
		memcpy(frame + IPC_HEADER_SIZE, body, sizeof(body) - 1);
		union {
			char buf[CMSG_SPACE(sizeof(int) * 20)];
			struct cmsghdr align;
		} control;
		memset(&control, 0, sizeof(control));
		struct iovec iov = {frame, IPC_HEADER_SIZE + sizeof(body) - 1};
		struct msghdr msg = {.msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = control.buf,
				     .msg_controllen = sizeof(control.buf)};
		struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * 20);
		memcpy(CMSG_DATA(cm), fds, sizeof(fds));
		if (sendmsg(fd, &msg, MSG_NOSIGNAL) < 0)
			return fail("sendmsg: %s", strerror(errno));
		for (int i = 0; i < 20; i++)
			close(fds[i]);
		return expect_error_then_close(fd, "messageTooLarge");
	}
	if (strcmp(mode, "truncated") == 0) {
		struct ipc_header h = {IPC_MAGIC, IPC_VERSION, 0, 1, 100, 0};
		uint8_t head[IPC_HEADER_SIZE];
		ipc_header_encode(&h, head);
		if (write(fd, head, sizeof(head)) < 0 || write(fd, "{\"route\":", 9) < 0)
			return fail("write");
		close(fd);
		puts("hung up mid-frame");
		return 0;
	}
	if (strcmp(mode, "badjson") == 0)
		return expect_error_then_usable(fd, "{\"route\": \"ping\"", "invalidArgument");
	if (strcmp(mode, "notobject") == 0)
		return expect_error_then_usable(fd, "[1, 2, 3]", "invalidArgument");
	if (strcmp(mode, "noroute") == 0)
		return expect_error_then_usable(fd, "{\"name\": \"x\"}", "invalidArgument");
	if (strcmp(mode, "unknownroute") == 0)
		return expect_error_then_usable(fd, "{\"route\": \"noSuchRoute\"}", "notFound");
	if (strcmp(mode, "wrongtype") == 0)
		return expect_error_then_usable(fd, "{\"route\": \"pluginGet\", \"name\": 5}",
						"invalidArgument");
	if (strcmp(mode, "withfds") == 0) {
		struct ipc_client *c = ipc_client_from_fd(fd);
		int fds[3];
		for (int i = 0; i < 3; i++)
			fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		struct ipc_frame f;
		ipc_frame_init(&f);
		struct error err = ERROR_INIT;
		int rc = ipc_call_fds(c, "ping", NULL, fds, 3, &f, &err);
		for (int i = 0; i < 3; i++)
			close(fds[i]);
		ipc_frame_release(&f);
		ipc_client_close(c);
		if (rc < 0)
			return fail("%s", err.message);
		puts("ok");
		return 0;
	}
	return fail("unknown mode '%s'", mode);
}
