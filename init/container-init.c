/* container-init: the tiny init of `container run --init`.
 *
 *   container-init [--] CMD [ARG...]
 *
 * Runs as PID 1 of a container (or anywhere else, as a child subreaper). It
 * starts CMD, forwards the signals it receives to it, reaps every process
 * re-parented to it, and exits with CMD's status: its exit code, or 128+N when
 * signal N killed it. Its own failures exit 125, as the engine's do.
 *
 * The child stays in init's session and process group so that a terminal keeps
 * working without any tcsetpgrp dance. It is statically linked: only syscalls
 * and libc basics, nothing that would pull in NSS. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_INIT_FAILED 125
#define DEFAULT_PATH	 "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static void usage(FILE *out)
{
	fputs("Usage: container-init [--] CMD [ARG...]\n"
	      "Run CMD as the child of a minimal init: forward signals to it, reap\n"
	      "zombies, and exit with its status (128+N if signal N killed it).\n",
	      out);
}

/* The signals init waits for: everything but the ones a fault raises
 * synchronously, which must stay deliverable so a bug in init crashes it
 * rather than hanging it. SIGKILL and SIGSTOP cannot be blocked anyway. */
static void wait_set(sigset_t *set)
{
	static const int sync_signals[] = {SIGABRT, SIGBUS, SIGFPE, SIGILL,
					   SIGSEGV, SIGSYS, SIGTRAP};

	sigfillset(set);
	for (size_t i = 0; i < sizeof(sync_signals) / sizeof(sync_signals[0]); i++)
		sigdelset(set, sync_signals[i]);
}

/* Runs in the forked child: never returns. */
static void exec_child(char **argv)
{
	sigset_t empty;

	sigemptyset(&empty);
	sigprocmask(SIG_SETMASK, &empty, NULL);
	/* Docker's default, rather than glibc's "/bin:/usr/bin". */
	if (!getenv("PATH") && setenv("PATH", DEFAULT_PATH, 1) != 0)
		_exit(EXIT_INIT_FAILED);
	execvp(argv[0], argv);
	int err = errno;
	fprintf(stderr, "container-init: exec %s: %s\n", argv[0], strerror(err));
	_exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
}

/* Reaps every exited child, ours or re-parented; returns CMD's exit code once
 * it has exited, -1 while it still runs. */
static int reap(pid_t child)
{
	int code = -1;

	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid < 0 && errno == EINTR)
			continue;
		if (pid <= 0) /* 0: nothing more exited; ECHILD: no children left */
			return code;
		if (pid == child)
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
}

int main(int argc, char **argv)
{
	int first = 1;
	sigset_t set;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc > 1 && !strcmp(argv[1], "--"))
		first = 2;
	else if (argc > 1 && argv[1][0] == '-') {
		fprintf(stderr, "container-init: unknown option %s\n", argv[1]);
		usage(stderr);
		return 2;
	}
	if (first >= argc) {
		usage(stderr);
		return 2;
	}

	/* Outside a pid namespace, orphans must come to us to be reaped. */
	if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0)
		perror("container-init: PR_SET_CHILD_SUBREAPER");

	/* Ignored dispositions survive exec, and an ignored SIGCHLD would make
	 * the kernel reap CMD before we can see its status. */
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL); /* EINVAL for KILL, STOP and libc's own: fine */

	/* Blocked before fork so that nothing sent meanwhile is lost. Blocked
	 * signals are queued even for a pid namespace's init, which otherwise
	 * drops those it has no handler for. */
	wait_set(&set);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
		perror("container-init: sigprocmask");
		return EXIT_INIT_FAILED;
	}

	pid_t child = fork();
	if (child < 0) {
		perror("container-init: fork");
		return EXIT_INIT_FAILED;
	}
	if (child == 0)
		exec_child(argv + first);

	for (;;) {
		siginfo_t info;
		int sig = sigwaitinfo(&set, &info);
		if (sig < 0) {
			if (errno == EINTR)
				continue;
			perror("container-init: sigwaitinfo");
			return EXIT_INIT_FAILED;
		}
		if (sig == SIGCHLD) {
			int code = reap(child);
			if (code >= 0)
				return code;
			continue;
		}
		/* The kernel sends terminal signals (^C, ^Z, SIGWINCH, hangup) to
		 * the whole foreground process group: a child still in ours has
		 * had it already, and a second SIGINT would be one too many. */
		if (info.si_code == SI_KERNEL && getpgid(child) == getpgrp())
			continue;
		/* ESRCH: it has exited and its SIGCHLD is on its way. */
		if (kill(child, sig) != 0 && errno != ESRCH)
			perror("container-init: kill");
	}
}
