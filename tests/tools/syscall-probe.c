/* syscall-probe: makes harmless calls of the named system calls and says how
 * each went ("keyctl: ok" or "keyctl: EPERM"), so that the CLI tests can see
 * what the seccomp profile lets through inside a container. Static: it runs
 * in images that have no libc. Never installed.
 *
 *   syscall-probe keyctl add_key request_key unshare */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KEYCTL_GET_KEYRING_ID	 0
#define KEY_SPEC_PROCESS_KEYRING (-2)
#define KEY_SPEC_SESSION_KEYRING (-3)

static long probe(const char *name)
{
	if (strcmp(name, "keyctl") == 0)
		return syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
	if (strcmp(name, "add_key") == 0)
		return syscall(SYS_add_key, "user", "syscall-probe", "x", 1,
			       KEY_SPEC_PROCESS_KEYRING);
	if (strcmp(name, "request_key") == 0)
		return syscall(SYS_request_key, "user", "syscall-probe-none", NULL, 0);
	if (strcmp(name, "unshare") == 0)
		return syscall(SYS_unshare, CLONE_NEWUTS);
	if (strcmp(name, "getpid") == 0)
		return syscall(SYS_getpid);
	errno = EINVAL;
	return -2;
}

static const char *errno_name(int e)
{
	switch (e) {
	case EPERM:
		return "EPERM";
	case EACCES:
		return "EACCES";
	case ENOSYS:
		return "ENOSYS";
	case ENOKEY:
		return "ENOKEY";
	case EINVAL:
		return "EINVAL";
	case EDQUOT:
		return "EDQUOT";
	default:
		return strerror(e);
	}
}

int main(int argc, char **argv)
{
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		errno = 0;
		long r = probe(argv[i]);
		if (r == -2) {
			fprintf(stderr, "syscall-probe: unknown call %s\n", argv[i]);
			rc = 2;
		} else if (r < 0) {
			printf("%s: %s\n", argv[i], errno_name(errno));
		} else {
			printf("%s: ok\n", argv[i]);
		}
	}
	return rc;
}
