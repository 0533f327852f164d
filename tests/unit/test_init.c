/* container-init, run as a subprocess: status passthrough, signal forwarding,
 * zombie reaping (it is a child subreaper when not PID 1), exec errors, usage,
 * and terminal signals reaching the child once. The binary comes from $CONTAINER_INIT; skipped when
 * unset.
 *
 * Nothing here depends on timing: every wait polls against a generous
 * deadline, and on expiry the init's process group (ours: it is put in its
 * own) is killed so that no shell loop outlives the test. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_MS 20000
#define POLL_MS	    10

struct fixture {
	const char *init;
	char dir[64];
	char out_path[96]; /* the init's stdout */
	char err_path[96]; /* and stderr */
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void pause_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static char *path_in(const struct fixture *f, const char *name)
{
	char *p;
	if (asprintf(&p, "%s/%s", f->dir, name) < 0)
		fail_msg("asprintf");
	return p;
}

/* Starts the init with ARGS (NULL-terminated) in its own process group, its
 * output going to f->out_path and f->err_path. With TTY, the group is a new
 * session whose controlling terminal TTY is its stdin and stdout. */
static pid_t start_on(const struct fixture *f, const char *tty, const char *const *args)
{
	const char *argv[16] = {f->init};
	size_t n = 1;
	while (args[n - 1] && n < 15) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;

	int out = open(f->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	int err = open(f->err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(out >= 0 && err >= 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (tty) {
			setsid();
			/* A session leader's first terminal becomes its own. */
			int fd = open(tty, O_RDWR | O_CLOEXEC);
			if (fd < 0)
				_exit(98);
			dup2(fd, STDIN_FILENO);
			out = fd;
		} else {
			setpgid(0, 0);
		}
		dup2(out, STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		execv(f->init, (char *const *)argv);
		_exit(99);
	}
	close(out);
	close(err);
	if (!tty)
		setpgid(pid, pid); /* both sides, so it is done before either goes on */
	return pid;
}

static pid_t start(const struct fixture *f, const char *const *args)
{
	return start_on(f, NULL, args);
}

/* Kills everything the init left, so that a failing test leaks nothing. */
static void kill_group(pid_t pid)
{
	kill(-pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Waits for PID (an init we started) and returns its exit code. */
static int finish(pid_t pid)
{
	long long deadline = now_ms() + DEADLINE_MS;
	int status;
	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			fail_msg("waitpid: %s", strerror(errno));
		if (now_ms() > deadline) {
			kill_group(pid);
			fail_msg("container-init did not exit");
		}
		pause_ms(POLL_MS);
	}
	if (!WIFEXITED(status))
		fail_msg("container-init died of signal %d", WTERMSIG(status));
	return WEXITSTATUS(status);
}

static int run(const struct fixture *f, const char *const *args)
{
	return finish(start(f, args));
}

/* Polls until PATH exists; gives up (killing PID's group) at the deadline. */
static void await_file(const char *path, pid_t pid)
{
	long long deadline = now_ms() + DEADLINE_MS;
	while (access(path, F_OK) != 0) {
		if (now_ms() > deadline) {
			kill_group(pid);
			fail_msg("%s never appeared", path);
		}
		pause_ms(POLL_MS);
	}
}

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static char *slurp(const char *path)
{
	static char buf[4096];
	FILE *fp = fopen(path, "r");
	size_t n = 0;
	if (fp) {
		n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
	}
	buf[n] = '\0';
	return buf;
}

/* The state letter and parent of PID from /proc, false once it is gone. */
static bool proc_status(pid_t pid, char *state, pid_t *ppid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return false;
	*state = '?';
	*ppid = -1;
	while (fgets(line, sizeof(line), fp)) {
		int v;
		if (sscanf(line, "State: %c", state) == 1)
			continue;
		if (sscanf(line, "PPid: %d", &v) == 1)
			*ppid = v;
	}
	fclose(fp);
	return *ppid >= 0;
}

/* Zombies whose parent is PARENT, from a scan of /proc. */
static int count_zombies(pid_t parent)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;
	assert_non_null(d);
	while ((e = readdir(d))) {
		char state, *end;
		pid_t ppid;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		if (proc_status((pid_t)pid, &state, &ppid) && ppid == parent && state == 'Z')
			n++;
	}
	closedir(d);
	return n;
}

static int setup(void **state)
{
	const char *init = getenv("CONTAINER_INIT");
	if (!init || !*init) {
		*state = NULL;
		return 0;
	}
	if (access(init, X_OK) != 0) {
		fprintf(stderr, "CONTAINER_INIT=%s: %s\n", init, strerror(errno));
		return -1;
	}
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->init = init;
	strcpy(f->dir, "/tmp/init-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->out_path, sizeof(f->out_path), "%s/stdout", f->dir);
	snprintf(f->err_path, sizeof(f->err_path), "%s/stderr", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (!f)
		return 0;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", f->dir);
	free(f);
	return 0;
}

static void test_exit_code(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	const char *const plain[] = {"sh", "-c", "exit 7", NULL};
	assert_int_equal(run(f, plain), 7);
	const char *const dashdash[] = {"--", "sh", "-c", "exit 0", NULL};
	assert_int_equal(run(f, dashdash), 0);
}

static void test_killed_by_signal(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	const char *const args[] = {"sh", "-c", "kill -KILL $$", NULL};
	assert_int_equal(run(f, args), 128 + SIGKILL);
}

static void test_forwards_sigterm(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	char *ready = path_in(f, "ready"), *script;
	/* The trap must be in place before the signal is sent: "ready" says so. */
	assert_true(asprintf(&script, "trap 'exit 3' TERM; : > '%s'; while :; do sleep 0.05; done",
			     ready) > 0);
	const char *const args[] = {"sh", "-c", script, NULL};
	pid_t pid = start(f, args);
	await_file(ready, pid);
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(finish(pid), 3);
	free(script);
	free(ready);
}

static void test_reaps_orphans(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	char *orphan = path_in(f, "orphan"), *release = path_in(f, "release");
	char *done = path_in(f, "done"), *script;
	/* An inner shell starts a waiting subshell and exits at once, so the
	 * subshell is orphaned to the init; then the main child waits for
	 * "done", keeping the init running while the orphan exits. */
	assert_true(asprintf(&script,
			     "sh -c '(while [ ! -e %s ]; do sleep 0.05; done) & "
			     "echo $! > %s.tmp && mv %s.tmp %s'; "
			     "while [ ! -e %s ]; do sleep 0.05; done; exit 5",
			     release, orphan, orphan, orphan, done) > 0);
	const char *const args[] = {"sh", "-c", script, NULL};
	pid_t pid = start(f, args);
	await_file(orphan, pid);
	pid_t opid = (pid_t)atoi(slurp(orphan));
	assert_true(opid > 0);

	/* It must have been re-parented to the init, or the test proves nothing. */
	long long deadline = now_ms() + DEADLINE_MS;
	char st;
	pid_t ppid;
	while (!proc_status(opid, &st, &ppid) || ppid != pid) {
		if (now_ms() > deadline) {
			kill_group(pid);
			fail_msg("orphan %d was not re-parented to the init %d", opid, pid);
		}
		pause_ms(POLL_MS);
	}

	/* Let it exit: it must disappear (be reaped), not stay a zombie. */
	touch(release);
	deadline = now_ms() + DEADLINE_MS;
	while ((proc_status(opid, &st, &ppid) && ppid == pid) || count_zombies(pid) > 0) {
		if (now_ms() > deadline) {
			kill_group(pid);
			fail_msg("orphan %d left a zombie (state %c)", opid, st);
		}
		pause_ms(POLL_MS);
	}
	assert_int_equal(waitpid(pid, NULL, WNOHANG), 0); /* the init still runs */

	touch(done);
	assert_int_equal(finish(pid), 5);
	free(script);
	free(done);
	free(release);
	free(orphan);
}

static void test_missing_command(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	const char *const abs[] = {"/nonexistent/cmd", NULL};
	assert_int_equal(run(f, abs), 127);
	assert_non_null(strstr(slurp(f->err_path),
			       "container-init: exec /nonexistent/cmd: No such file or directory"));
	const char *const bare[] = {"no-such-command-for-init", NULL};
	assert_int_equal(run(f, bare), 127);
	assert_non_null(strstr(slurp(f->err_path), "exec no-such-command-for-init: "));
}

static void test_not_executable(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	char *file = path_in(f, "script");
	int fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);
	const char *const args[] = {file, NULL};
	assert_int_equal(run(f, args), 126);
	assert_non_null(strstr(slurp(f->err_path), "Permission denied"));
	free(file);
}

static void test_usage(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	const char *const none[] = {NULL};
	assert_int_equal(run(f, none), 2);
	assert_non_null(strstr(slurp(f->err_path), "Usage: container-init"));
	const char *const only_dashdash[] = {"--", NULL};
	assert_int_equal(run(f, only_dashdash), 2);
	const char *const bad[] = {"--bogus", "true", NULL};
	assert_int_equal(run(f, bad), 2);
	assert_non_null(strstr(slurp(f->err_path), "unknown option --bogus"));
	const char *const help[] = {"--help", NULL};
	assert_int_equal(run(f, help), 0);
	assert_non_null(strstr(slurp(f->out_path), "Usage: container-init"));
}

/* The child of test_tty_signals_once (this program, re-executed): counts
 * SIGINTs in PROGRESS, and on SIGTERM exits with the count. */
static volatile sig_atomic_t sigints, terminated;

static void count_signal(int sig)
{
	if (sig == SIGINT)
		sigints++;
	else
		terminated = 1;
}

static int count_sigints(const char *progress)
{
	struct sigaction sa = {.sa_handler = count_signal};
	sigset_t block, none;
	char tmp[PATH_MAX];

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&none);
	snprintf(tmp, sizeof(tmp), "%s.tmp", progress);
	for (int written = -1; !terminated;) {
		if (sigints != written) {
			FILE *fp = fopen(tmp, "w");
			if (!fp)
				return 100;
			written = sigints;
			fprintf(fp, "%d\n", written);
			if (fclose(fp) != 0 || rename(tmp, progress) != 0)
				return 100;
		}
		sigsuspend(&none);
	}
	return sigints;
}

/* ^C on the terminal reaches the child once: the kernel signals the whole
 * foreground group, init and child alike, and init must not forward it again.
 * Each ^C waits for the previous one to be counted, so that none coalesce; a
 * forwarded duplicate would still be counted before the final SIGTERM, which
 * init forwards after any SIGINT it holds (lower signals come first). */
static void test_tty_signals_once(void **state)
{
	struct fixture *f = *state;
	if (!f)
		skip();
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0)
		skip(); /* no ptys here */
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	char self[PATH_MAX], *progress = path_in(f, "sigints");
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	assert_true(n > 0);
	self[n] = '\0';
	const char *const args[] = {self, "--count-sigints", progress, NULL};
	pid_t pid = start_on(f, ptsname(master), args);

	for (int i = 0; i <= 5; i++) {
		long long deadline = now_ms() + DEADLINE_MS;
		while (access(progress, F_OK) != 0 || atoi(slurp(progress)) < i) {
			if (now_ms() > deadline) {
				kill_group(pid);
				fail_msg("SIGINT %d never reached the child", i);
			}
			pause_ms(POLL_MS);
		}
		if (i < 5)
			assert_int_equal(write(master, "\x03", 1), 1);
	}
	assert_int_equal(kill(pid, SIGTERM), 0);
	assert_int_equal(finish(pid), 5);
	close(master);
	free(progress);
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--count-sigints"))
		return count_sigints(argv[2]);

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exit_code, setup, teardown),
		cmocka_unit_test_setup_teardown(test_killed_by_signal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forwards_sigterm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reaps_orphans, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_executable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tty_signals_once, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
