/* Starting a real container: namespaces, overlay root, /proc /sys /dev,
 * pivot_root, confinement, exec; errors from the child as data; exec into
 * a running one. Needs root and a static busybox (Debian's busybox-static);
 * skipped otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "container_spawn.h"
#include "util/fs.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#define BUSYBOX "/bin/busybox"

struct fixture {
	char dir[64];
	char *lower, *upper, *work, *rootfs;
	struct seccomp_program seccomp;
};

static void must(int rc)
{
	if (rc != 0)
		fail_msg("setup step failed: %s", strerror(errno));
}

static int setup(void **state)
{
	if (geteuid() != 0 || access(BUSYBOX, X_OK) != 0) {
		*state = NULL;
		return 0;
	}
	struct fixture *f = xzalloc(sizeof(*f));
	strcpy(f->dir, "/tmp/spawn-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->lower = xasprintf("%s/lower", f->dir);
	f->upper = xasprintf("%s/upper", f->dir);
	f->work = xasprintf("%s/work", f->dir);
	f->rootfs = xasprintf("%s/rootfs", f->dir);
	struct error err = ERROR_INIT;
	char *bin = xasprintf("%s/bin", f->lower);
	must(fs_mkdir_p(bin, 0755, &err));
	must(fs_mkdir_p(f->upper, 0755, &err));
	must(fs_mkdir_p(f->work, 0755, &err));
	must(fs_mkdir_p(f->rootfs, 0755, &err));
	char *cmd = xasprintf("cp %s %s/busybox && for a in sh echo cat ls hostname id mount "
			      "sleep true; do ln -s busybox %s/$a; done",
			      BUSYBOX, bin, bin);
	must(system(cmd));
	free(cmd);
	free(bin);
	assert_int_equal(seccomp_profile_load(caps_default(), f->dir, &f->seccomp, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (!f)
		return 0;
	umount2(f->rootfs, MNT_DETACH);
	char *cmd = xasprintf("rm -rf %s", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(cmd);
	seccomp_program_release(&f->seccomp);
	free(f->lower);
	free(f->upper);
	free(f->work);
	free(f->rootfs);
	free(f);
	return 0;
}

static const char *const env[] = {"PATH=/bin", "HOME=/root", NULL};

static void config(struct fixture *f, struct spawn_config *cfg, const char *const *argv, int out)
{
	static const char *lowers[1];
	lowers[0] = f->lower;
	memset(cfg, 0, sizeof(*cfg));
	cfg->lowerdirs = lowers;
	cfg->nlowerdirs = 1;
	cfg->upperdir = f->upper;
	cfg->workdir = f->work;
	cfg->rootfs = f->rootfs;
	cfg->argv = argv;
	cfg->env = env;
	cfg->hostname = "box";
	cfg->caps = caps_default();
	cfg->seccomp = &f->seccomp;
	cfg->stdio[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cfg->stdio[1] = out;
	cfg->stdio[2] = out;
}

/* Runs argv in a fresh container; returns its output and exit status. */
static char *run(struct fixture *f, const char *const *argv, int *status, struct error *err,
		 int *rc)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	struct spawn_config cfg;
	config(f, &cfg, argv, p[1]);
	pid_t pid = 0;
	*rc = spawn_container(&cfg, &pid, err);
	close(p[1]);
	close(cfg.stdio[0]);
	char *buf = xzalloc(65536);
	size_t len = 0;
	ssize_t n;
	while ((n = read(p[0], buf + len, 65535 - len)) > 0)
		len += n;
	close(p[0]);
	if (*rc == 0)
		waitpid(pid, status, 0);
	/* the overlay lived in the container's mount namespace: nothing to undo here */
	return buf;
}

static void test_runs_isolated(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	const char *const argv[] = {"sh", "-c",
				    "echo pid=$$; hostname; echo procs: /proc/[0-9]*; "
				    "ls /dev; cat /proc/self/status | grep NoNewPrivs; "
				    "echo x > /written && echo wrote; "
				    "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags; "
				    "ls /sys/class/net",
				    NULL};
	int status = -1, rc;
	struct error err = ERROR_INIT;
	char *out = run(f, argv, &status, &err, &rc);
	if (rc < 0)
		fail_msg("spawn: %s", err.message);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_non_null(strstr(out, "pid=1\n"));
	assert_non_null(strstr(out, "box\n"));
	assert_non_null(strstr(out, "procs: /proc/1\n")); /* only itself */
	assert_non_null(strstr(out, "null"));
	assert_non_null(strstr(out, "pts"));
	assert_non_null(strstr(out, "NoNewPrivs:\t1"));
	assert_non_null(strstr(out, "wrote"));
	/* its own network: loopback only, and up (0x9 = IFF_UP|IFF_LOOPBACK) */
	assert_non_null(strstr(out, "\nlo\n"));
	assert_non_null(strstr(out, "0x9"));
	/* the write went to the upper dir, not the image */
	char *written = xasprintf("%s/written", f->upper);
	assert_int_equal(access(written, F_OK), 0);
	char *lower_written = xasprintf("%s/written", f->lower);
	assert_int_equal(access(lower_written, F_OK), -1);
	free(written);
	free(lower_written);
	free(out);
}

static void test_confined(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	const char *const argv[] = {"sh", "-c",
				    "mount -t tmpfs none /mnt 2>/dev/null && echo MOUNTED; "
				    "cat /proc/kcore 2>/dev/null | head -c 1 | grep -q . && "
				    "echo KCORE; echo done",
				    NULL};
	int status = -1, rc;
	struct error err = ERROR_INIT;
	char *out = run(f, argv, &status, &err, &rc);
	if (rc < 0)
		fail_msg("spawn: %s", err.message);
	assert_null(strstr(out, "MOUNTED"));
	assert_null(strstr(out, "KCORE"));
	assert_non_null(strstr(out, "done"));
	free(out);
}

static void test_errors_travel_back(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	const char *const missing[] = {"no-such-command", NULL};
	int status, rc;
	struct error err = ERROR_INIT;
	char *out = run(f, missing, &status, &err, &rc);
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(err.message, "'no-such-command' not found"));
	error_release(&err);
	free(out);
	/* not executable */
	char *plain = xasprintf("%s/bin/plain", f->lower);
	int fd = open(plain, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	close(fd);
	const char *const noexec[] = {"/bin/plain", NULL};
	out = run(f, noexec, &status, &err, &rc);
	assert_int_equal(rc, -EACCES);
	error_release(&err);
	free(out);
	free(plain);
}

static void test_exec_joins(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	const char *const init[] = {"sleep", "30", NULL};
	struct spawn_config cfg;
	int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	config(f, &cfg, init, devnull);
	pid_t pid = 0;
	struct error err = ERROR_INIT;
	if (spawn_container(&cfg, &pid, &err) < 0)
		fail_msg("spawn: %s", err.message);
	close(cfg.stdio[0]);
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	const char *const argv[] = {"sh", "-c", "hostname; echo procs: /proc/[0-9]*", NULL};
	struct spawn_config ecfg;
	config(f, &ecfg, argv, p[1]);
	pid_t epid = 0;
	int rc = spawn_exec(pid, &ecfg, &epid, &err);
	close(p[1]);
	close(ecfg.stdio[0]);
	char buf[256] = {0};
	size_t len = 0;
	ssize_t n;
	while ((n = read(p[0], buf + len, sizeof(buf) - 1 - len)) > 0)
		len += n;
	close(p[0]);
	if (rc < 0)
		fail_msg("exec: %s", err.message);
	int status;
	assert_int_equal(waitpid(epid, &status, 0), epid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_non_null(strstr(buf, "box\n"));
	/* the container's init (pid 1, sleep) and the shell: nothing else */
	assert_non_null(strstr(buf, "procs: /proc/1 /proc/"));
	assert_null(strstr(strstr(buf, "procs: /proc/1 /proc/") + 21, " /proc/"));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(devnull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_runs_isolated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_travel_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_joins, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
