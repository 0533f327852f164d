/* The frame codec and JSON route decoding. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ipc/frame.h"
#include "ipc/stream.h"
#include "json/jsonutil.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static void test_header_layout_is_little_endian(void **state)
{
	struct ipc_header h = {
		IPC_MAGIC, IPC_VERSION, IPC_FLAG_REPLY, 0x0102030405060708ull, 0x00223344, 3};
	uint8_t b[IPC_HEADER_SIZE];
	ipc_header_encode(&h, b);
	static const uint8_t expected[IPC_HEADER_SIZE] = {
		'C', 'T', 'R', '1', 1,	  0,	1,    0,    8, 7, 6, 5,
		4,   3,	  2,   1,   0x44, 0x33, 0x22, 0x00, 3, 0, 0, 0,
	};
	assert_memory_equal(b, expected, IPC_HEADER_SIZE);
	struct ipc_header back;
	struct error err = ERROR_INIT;
	assert_int_equal(ipc_header_decode(b, &back, &err), 0);
	assert_int_equal(back.id, h.id);
	assert_int_equal(back.body_len, h.body_len);
	assert_int_equal(back.nfds, 3);
	assert_int_equal(back.flags, IPC_FLAG_REPLY);
}

static void expect_header_error(struct ipc_header h, int code, const char *needle)
{
	uint8_t b[IPC_HEADER_SIZE];
	ipc_header_encode(&h, b);
	struct ipc_header back;
	struct error err = ERROR_INIT;
	assert_int_equal(ipc_header_decode(b, &back, &err), -code);
	assert_non_null(strstr(err.message, needle));
	error_release(&err);
}

static void test_header_rejects_bad_fields(void **state)
{
	expect_header_error((struct ipc_header){0xdeadbeef, IPC_VERSION, 0, 1, 2, 0}, EPROTO,
			    "magic");
	expect_header_error((struct ipc_header){IPC_MAGIC, 9, 0, 1, 2, 0}, EPROTO, "version 9");
	expect_header_error((struct ipc_header){IPC_MAGIC, IPC_VERSION, 0x80, 1, 2, 0}, EPROTO,
			    "flags");
	expect_header_error((struct ipc_header){IPC_MAGIC, IPC_VERSION, 0, 1, IPC_MAX_BODY + 1, 0},
			    EMSGSIZE, "exceeds");
	expect_header_error((struct ipc_header){IPC_MAGIC, IPC_VERSION, 0, 1, 2, IPC_MAX_FDS + 1},
			    EMSGSIZE, "descriptors");
}

static void test_header_accepts_limits(void **state)
{
	struct ipc_header h = {IPC_MAGIC, IPC_VERSION,	IPC_FLAG_EVENT,
			       1,	  IPC_MAX_BODY, IPC_MAX_FDS};
	uint8_t b[IPC_HEADER_SIZE];
	ipc_header_encode(&h, b);
	struct ipc_header back;
	struct error err = ERROR_INIT;
	assert_int_equal(ipc_header_decode(b, &back, &err), 0);
}

static void test_body_decode(void **state)
{
	struct error err = ERROR_INIT;
	json_t *j = NULL;
	const char ok[] = "{\"route\":\"ping\",\"n\":1}";
	assert_int_equal(ipc_body_decode(ok, strlen(ok), &j, &err), 0);
	const char *route = NULL;
	assert_int_equal(ipc_body_route(j, &route, &err), 0);
	assert_string_equal(route, "ping");
	json_decref(j);

	static const struct {
		const char *body;
		const char *needle;
	} bad[] = {
		{"", "empty"},
		{"{\"route\":", "malformed"},
		{"[1,2]", "object"},
		{"\"str\"", "malformed"},
		{"{\"a\":1,\"a\":2}", "malformed"}, /* duplicate keys */
		{"{\"route\":\"x\"} trailing", "malformed"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		j = NULL;
		assert_int_equal(ipc_body_decode(bad[i].body, strlen(bad[i].body), &j, &err),
				 -EINVAL);
		assert_null(j);
		if (!strstr(err.message, bad[i].needle))
			fail_msg("'%s': %s", bad[i].body, err.message);
		error_release(&err);
	}
	/* A NUL inside the body is refused, not truncated. */
	const char nul[] = "{\"route\":\"pi\0ng\"}";
	assert_int_equal(ipc_body_decode(nul, sizeof(nul) - 1, &j, &err), -EINVAL);
	error_release(&err);
}

static void test_route_decoding(void **state)
{
	struct error err = ERROR_INIT;
	const char *route = NULL;
	static const char *const bodies[] = {"{}", "{\"route\":5}", "{\"route\":\"\"}",
					     "{\"route\":null}"};
	for (size_t i = 0; i < ARRAY_SIZE(bodies); i++) {
		json_t *j = json_loads(bodies[i], 0, NULL);
		assert_int_equal(ipc_body_route(j, &route, &err), -EINVAL);
		assert_non_null(strstr(err.message, "route"));
		error_release(&err);
		json_decref(j);
	}
}

static void test_typed_getters_name_the_key(void **state)
{
	json_t *j = json_loads("{\"name\":5,\"flag\":\"yes\",\"n\":\"1\",\"list\":[\"a\",2],"
			       "\"obj\":[]}",
			       0, NULL);
	struct error err = ERROR_INIT;
	const char *s;
	bool b;
	int64_t n;
	json_t *o;
	assert_int_equal(json_get_string(j, "name", true, &s, &err), -EINVAL);
	assert_string_equal(err.message, "key 'name' must be a string");
	error_release(&err);
	assert_int_equal(json_get_bool(j, "flag", true, &b, &err), -EINVAL);
	assert_string_equal(err.message, "key 'flag' must be a boolean");
	error_release(&err);
	assert_int_equal(json_get_int(j, "n", true, &n, &err), -EINVAL);
	error_release(&err);
	assert_int_equal(json_get_string_array(j, "list", true, &o, &err), -EINVAL);
	assert_string_equal(err.message, "key 'list[1]' must be a string");
	error_release(&err);
	assert_int_equal(json_get_object(j, "obj", true, &o, &err), -EINVAL);
	error_release(&err);
	assert_int_equal(json_get_string(j, "missing", true, &s, &err), -EINVAL);
	assert_string_equal(err.message, "missing required key 'missing'");
	error_release(&err);
	s = "unchanged";
	assert_int_equal(json_get_string(j, "missing", false, &s, &err), 0);
	assert_string_equal(s, "unchanged");
	json_decref(j);
}

static void test_error_body_round_trip(void **state)
{
	struct error err = ERROR_INIT;
	error_set(&err, ENOENT, "container %s not found", "web");
	json_t *body = ipc_error_body(&err);
	error_release(&err);
	assert_int_equal(ipc_body_error(body, &err), -ENOENT);
	assert_string_equal(err.message, "container web not found");
	error_release(&err);
	json_decref(body);
	json_t *ok = json_object();
	assert_int_equal(ipc_body_error(ok, &err), 0);
	json_decref(ok);
}

/* Several frames written at once come out one by one; one split into
 * single bytes comes out whole; descriptors stay with their frame. */
static void test_reader_reassembles_frames(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	json_t *a = json_pack("{s:s}", "route", "a"), *b = json_pack("{s:s}", "route", "b");
	size_t la, lb;
	char *fa = ipc_frame_encode(0, 1, a, 0, &la);
	char *fb = ipc_frame_encode(0, 2, b, 1, &lb);
	struct error err = ERROR_INIT;
	assert_int_equal(ipc_write_all(sv[0], fa, la, NULL, 0, 1000, &err), 0);
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(ipc_write_all(sv[0], fb, lb, &pipefd[0], 1, 1000, &err), 0);
	/* the second frame again, byte by byte, without descriptors announced */
	char *fc = ipc_frame_encode(0, 3, a, 0, &la);
	for (size_t i = 0; i < la; i++)
		assert_int_equal(write(sv[0], fc + i, 1), 1);

	struct ipc_reader r;
	ipc_reader_init(&r);
	struct ipc_frame f;
	assert_int_equal(ipc_reader_read(&r, sv[1], MSG_DONTWAIT, &f, &err), IPC_READ_FRAME);
	assert_int_equal(f.header.id, 1);
	assert_int_equal(f.nfds, 0);
	ipc_frame_release(&f);
	assert_int_equal(ipc_reader_read(&r, sv[1], MSG_DONTWAIT, &f, &err), IPC_READ_FRAME);
	assert_int_equal(f.header.id, 2);
	assert_int_equal(f.nfds, 1);
	assert_true(f.fds[0] >= 0);
	ipc_frame_release(&f);
	assert_int_equal(ipc_reader_read(&r, sv[1], MSG_DONTWAIT, &f, &err), IPC_READ_FRAME);
	assert_int_equal(f.header.id, 3);
	assert_string_equal(json_string_value(json_object_get(f.body, "route")), "a");
	ipc_frame_release(&f);
	assert_int_equal(ipc_reader_read(&r, sv[1], MSG_DONTWAIT, &f, &err), IPC_READ_AGAIN);
	close(sv[0]);
	assert_int_equal(ipc_reader_read(&r, sv[1], MSG_DONTWAIT, &f, &err), -ECONNRESET);
	error_release(&err);
	ipc_reader_release(&r);
	close(sv[1]);
	close(pipefd[0]);
	close(pipefd[1]);
	free(fa);
	free(fb);
	free(fc);
	json_decref(a);
	json_decref(b);
}

static void test_reader_rejects_unannounced_fds(void **state)
{
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	json_t *a = json_pack("{s:s}", "route", "a");
	size_t la;
	char *fa = ipc_frame_encode(0, 1, a, 0, &la); /* announces 0 */
	int fd = dup(0);
	struct error err = ERROR_INIT;
	assert_int_equal(ipc_write_all(sv[0], fa, la, &fd, 1, 1000, &err), 0);
	struct ipc_reader r;
	ipc_reader_init(&r);
	struct ipc_frame f;
	assert_int_equal(ipc_reader_read(&r, sv[1], MSG_DONTWAIT, &f, &err), -EPROTO);
	assert_non_null(strstr(err.message, "announced 0 descriptors but 1"));
	error_release(&err);
	ipc_reader_release(&r);
	close(fd);
	close(sv[0]);
	close(sv[1]);
	free(fa);
	json_decref(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_layout_is_little_endian),
		cmocka_unit_test(test_header_rejects_bad_fields),
		cmocka_unit_test(test_header_accepts_limits),
		cmocka_unit_test(test_body_decode),
		cmocka_unit_test(test_route_decoding),
		cmocka_unit_test(test_typed_getters_name_the_key),
		cmocka_unit_test(test_error_body_round_trip),
		cmocka_unit_test(test_reader_reassembles_frames),
		cmocka_unit_test(test_reader_rejects_unannounced_fds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
