/* Small helpers: durations, timestamps, errors, atomic files, the loop's timers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "util/error.h"
#include "util/fs.h"
#include "util/loop.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>

static void test_durations(void **state)
{
	assert_int_equal(time_parse_duration_ms("90s"), 90000);
	assert_int_equal(time_parse_duration_ms("5m"), 300000);
	assert_int_equal(time_parse_duration_ms("2h"), 7200000);
	assert_int_equal(time_parse_duration_ms("1d"), 86400000);
	assert_int_equal(time_parse_duration_ms("250ms"), 250);
	assert_int_equal(time_parse_duration_ms("7"), 7000);
	assert_int_equal(time_parse_duration_ms(""), -1);
	assert_int_equal(time_parse_duration_ms("-5s"), -1);
	assert_int_equal(time_parse_duration_ms("5x"), -1);
	assert_int_equal(time_parse_duration_ms("s"), -1);
	assert_int_equal(time_parse_duration_ms("99999999999999999999d"), -1);
	assert_int_equal(time_parse_duration_ms("33333333333333333"), -1);
}

static void test_names_and_ids(void **state)
{
	assert_true(name_valid("web"));
	assert_true(name_valid("a.b_c-1"));
	assert_false(name_valid(""));
	assert_false(name_valid("."));
	assert_false(name_valid(".."));
	assert_false(name_valid("../x"));
	assert_false(name_valid("-x"));
	assert_false(name_valid("a/b"));
	char longest[130];
	memset(longest, 'a', 129);
	longest[129] = '\0';
	assert_false(name_valid(longest));
	longest[128] = '\0';
	assert_true(name_valid(longest));
	char a[RANDOM_ID_LEN + 1], b[RANDOM_ID_LEN + 1];
	random_id(a);
	random_id(b);
	assert_int_equal(strlen(a), RANDOM_ID_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), RANDOM_ID_LEN);
	assert_string_not_equal(a, b);
}

static void test_rfc3339_parse(void **state)
{
	int64_t ns = 0;
	assert_true(time_parse_rfc3339_ns("1970-01-01T00:00:00Z", &ns));
	assert_int_equal(ns, 0);
	assert_true(time_parse_rfc3339_ns("2026-11-23T14:07:11Z", &ns));
	assert_int_equal(ns, 1795442831LL * 1000000000);
	assert_true(time_parse_rfc3339_ns("2026-11-23T14:07:11.5Z", &ns));
	assert_int_equal(ns, 1795442831LL * 1000000000 + 500000000);
	/* nine digits as the logs write them: compared as times, not text */
	int64_t a, b;
	assert_true(time_parse_rfc3339_ns("2026-11-23T14:07:11.123456789Z", &a));
	assert_true(time_parse_rfc3339_ns("2026-11-23T14:07:11.2Z", &b));
	assert_true(a < b);
	assert_int_equal(a % 1000000000, 123456789);
	assert_true(time_parse_rfc3339_ns("2026-11-23T15:07:11+01:00", &ns));
	assert_int_equal(ns, 1795442831LL * 1000000000);
	assert_true(time_parse_rfc3339_ns("2026-11-23t13:37:11-00:30", &ns));
	assert_int_equal(ns, 1795442831LL * 1000000000);
	assert_true(time_parse_rfc3339_ns("2026-11-23", &ns));
	assert_int_equal(ns, 1795392000LL * 1000000000);
	assert_true(time_parse_rfc3339_ns("2024-02-29T00:00:00Z", &ns));
	assert_int_equal(ns, 1709164800LL * 1000000000);
	static const char *const bad[] = {"",
					  "2026",
					  "2026-11-23T14:07",
					  "2026-11-23T14:07:11",
					  "2026-11-23T14:07:11.Z",
					  "2026-13-01T00:00:00Z",
					  "2026-11-23T24:00:00Z",
					  "2026-11-23T14:07:11Zjunk",
					  "2026-11-23T14:07:11+0100",
					  "0026-11-24",
					  "9999-12-31T23:59:59Z",
					  "10m"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (time_parse_rfc3339_ns(bad[i], &ns))
			fail_msg("accepted \"%s\"", bad[i]);
	assert_false(time_parse_rfc3339_ns(NULL, &ns));
}

static void test_rfc3339(void **state)
{
	char buf[40];
	time_format_rfc3339(1795442831123LL, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-23T14:07:11.123Z");
}

static int fails(struct error *err)
{
	errno = ENOENT;
	return error_errno(err, errno, "open %s", "/x");
}

static void test_error_convention(void **state)
{
	struct error err = ERROR_INIT;
	assert_int_equal(fails(&err), -ENOENT);
	assert_int_equal(error_prefix(&err, "load plugin %s", "p"), -ENOENT);
	assert_string_equal(err.message, "load plugin p: open /x: No such file or directory");
	assert_string_equal(error_code_name(err.code), "notFound");
	assert_int_equal(error_code_from_name("notFound"), ENOENT);
	assert_int_equal(error_code_from_name("bogus"), EIO);
	error_release(&err);
	assert_false(error_is_set(&err));
	/* code 0 becomes EIO: an error is never "success" */
	assert_int_equal(error_set(&err, 0, "x"), -EIO);
	error_release(&err);
}

static void test_atomic_write(void **state)
{
	char dir[] = "/tmp/util-test.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char *path = xasprintf("%s/a/b/state.json", dir);
	char *parent = fs_dirname(path);
	struct error err = ERROR_INIT;
	assert_int_equal(fs_mkdir_p(parent, 0755, &err), 0);
	assert_int_equal(fs_write_file_atomic(path, "{}", 2, 0644, &err), 0);
	assert_int_equal(fs_write_file_atomic(path, "{\"a\":1}", 7, 0644, &err), 0);
	char *text = NULL;
	size_t len = 0;
	assert_int_equal(fs_read_file(path, 100, &text, &len, &err), 0);
	assert_string_equal(text, "{\"a\":1}");
	free(text);
	assert_int_equal(fs_read_file(path, 3, &text, &len, &err), -EFBIG);
	error_release(&err);
	char *tmp = xasprintf("%s.tmp", path);
	assert_int_equal(access(tmp, F_OK), -1);
	unsigned long long start = 0;
	assert_int_equal(fs_proc_start_time(getpid(), &start, &err), 0);
	assert_true(start > 0);
	char *cmd = xasprintf("rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(tmp);
	free(parent);
	free(path);
}

static int order[4], norder;
static struct loop_timer *cancelled;
static void fire(struct loop *loop, void *data)
{
	order[norder++] = (int)(intptr_t)data;
	if ((intptr_t)data == 1)
		loop_cancel_timer(cancelled);
	if (norder == 3)
		loop_quit(loop);
}

static void test_timers_fire_in_order(void **state)
{
	struct error err = ERROR_INIT;
	struct loop *loop = loop_new(&err);
	loop_add_timer(loop, 30, fire, (void *)3);
	loop_add_timer(loop, 1, fire, (void *)1);
	cancelled = loop_add_timer(loop, 15, fire, (void *)99);
	loop_add_timer(loop, 10, fire, (void *)2);
	loop_add_timer(loop, 500, fire, (void *)4);
	assert_int_equal(loop_run(loop, &err), 0);
	assert_int_equal(norder, 3);
	assert_int_equal(order[0], 1);
	assert_int_equal(order[1], 2);
	assert_int_equal(order[2], 3);
	loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_rfc3339_parse),
		cmocka_unit_test(test_names_and_ids),
		cmocka_unit_test(test_error_convention),
		cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_timers_fire_in_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
