/* Capabilities, the default seccomp profile, rlimits, masked and read-only
 * paths (DESIGN §4). */
#include "security.h"
#include "util/fs.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CAP_BIT(cap) ((cap_mask_t)1 << (cap))

/* ---- capabilities ---- */

/* Indexed by capability number; the kernel's numbering is ABI. */
static const char *const caps_names[] = {
	[CAP_CHOWN] = "CAP_CHOWN",
	[CAP_DAC_OVERRIDE] = "CAP_DAC_OVERRIDE",
	[CAP_DAC_READ_SEARCH] = "CAP_DAC_READ_SEARCH",
	[CAP_FOWNER] = "CAP_FOWNER",
	[CAP_FSETID] = "CAP_FSETID",
	[CAP_KILL] = "CAP_KILL",
	[CAP_SETGID] = "CAP_SETGID",
	[CAP_SETUID] = "CAP_SETUID",
	[CAP_SETPCAP] = "CAP_SETPCAP",
	[CAP_LINUX_IMMUTABLE] = "CAP_LINUX_IMMUTABLE",
	[CAP_NET_BIND_SERVICE] = "CAP_NET_BIND_SERVICE",
	[CAP_NET_BROADCAST] = "CAP_NET_BROADCAST",
	[CAP_NET_ADMIN] = "CAP_NET_ADMIN",
	[CAP_NET_RAW] = "CAP_NET_RAW",
	[CAP_IPC_LOCK] = "CAP_IPC_LOCK",
	[CAP_IPC_OWNER] = "CAP_IPC_OWNER",
	[CAP_SYS_MODULE] = "CAP_SYS_MODULE",
	[CAP_SYS_RAWIO] = "CAP_SYS_RAWIO",
	[CAP_SYS_CHROOT] = "CAP_SYS_CHROOT",
	[CAP_SYS_PTRACE] = "CAP_SYS_PTRACE",
	[CAP_SYS_PACCT] = "CAP_SYS_PACCT",
	[CAP_SYS_ADMIN] = "CAP_SYS_ADMIN",
	[CAP_SYS_BOOT] = "CAP_SYS_BOOT",
	[CAP_SYS_NICE] = "CAP_SYS_NICE",
	[CAP_SYS_RESOURCE] = "CAP_SYS_RESOURCE",
	[CAP_SYS_TIME] = "CAP_SYS_TIME",
	[CAP_SYS_TTY_CONFIG] = "CAP_SYS_TTY_CONFIG",
	[CAP_MKNOD] = "CAP_MKNOD",
	[CAP_LEASE] = "CAP_LEASE",
	[CAP_AUDIT_WRITE] = "CAP_AUDIT_WRITE",
	[CAP_AUDIT_CONTROL] = "CAP_AUDIT_CONTROL",
	[CAP_SETFCAP] = "CAP_SETFCAP",
	[CAP_MAC_OVERRIDE] = "CAP_MAC_OVERRIDE",
	[CAP_MAC_ADMIN] = "CAP_MAC_ADMIN",
	[CAP_SYSLOG] = "CAP_SYSLOG",
	[CAP_WAKE_ALARM] = "CAP_WAKE_ALARM",
	[CAP_BLOCK_SUSPEND] = "CAP_BLOCK_SUSPEND",
	[CAP_AUDIT_READ] = "CAP_AUDIT_READ",
	[CAP_PERFMON] = "CAP_PERFMON",
	[CAP_BPF] = "CAP_BPF",
	[CAP_CHECKPOINT_RESTORE] = "CAP_CHECKPOINT_RESTORE",
};

cap_mask_t caps_default(void)
{
	return CAP_BIT(CAP_CHOWN) | CAP_BIT(CAP_DAC_OVERRIDE) | CAP_BIT(CAP_FSETID) |
	       CAP_BIT(CAP_FOWNER) | CAP_BIT(CAP_MKNOD) | CAP_BIT(CAP_NET_RAW) |
	       CAP_BIT(CAP_SETGID) | CAP_BIT(CAP_SETUID) | CAP_BIT(CAP_SETFCAP) |
	       CAP_BIT(CAP_SETPCAP) | CAP_BIT(CAP_NET_BIND_SERVICE) | CAP_BIT(CAP_SYS_CHROOT) |
	       CAP_BIT(CAP_KILL) | CAP_BIT(CAP_AUDIT_WRITE);
}

/* The highest capability number this kernel knows. /proc may be missing or
 * foreign (the child runs after pivot_root), so fall back to probing the
 * bounding set, where an unknown capability gives EINVAL. */
static int caps_last_cap(void)
{
	_cleanup_close_ int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[16];
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		if (n > 0) {
			buf[n] = '\0';
			char *end;
			long last = strtol(buf, &end, 10);
			if (end != buf && (*end == '\n' || *end == '\0') && last >= 0 && last < 64)
				return (int)last;
		}
	}
	int last = 0;
	while (last < 63 && prctl(PR_CAPBSET_READ, last + 1, 0, 0, 0) >= 0)
		last++;
	return last;
}

cap_mask_t caps_all(void)
{
	int last = caps_last_cap();
	return last >= 63 ? ~(cap_mask_t)0 : CAP_BIT(last + 1) - 1;
}

int caps_from_name(const char *name, int *cap, struct error *err)
{
	if (!name)
		return error_set(err, EINVAL, "missing capability name");
	const char *bare = strncasecmp(name, "CAP_", 4) == 0 ? name + 4 : name;
	if (*bare) {
		for (size_t i = 0; i < ARRAY_SIZE(caps_names); i++) {
			if (strcasecmp(bare, caps_names[i] + 4) == 0) {
				*cap = (int)i;
				return 0;
			}
		}
	}
	return error_set(err, EINVAL, "unknown capability \"%s\"", name);
}

const char *caps_name(int cap)
{
	if (cap < 0 || (size_t)cap >= ARRAY_SIZE(caps_names))
		return NULL;
	return caps_names[cap];
}

static bool caps_is_all(const char *name)
{
	return strcasecmp(name, "ALL") == 0;
}

/* Validates every name and folds the individual ones into *mask, noting "ALL". */
static int caps_collect(const char *const *names, size_t n, const char *what, cap_mask_t *mask,
			bool *all, struct error *err)
{
	*mask = 0;
	*all = false;
	for (size_t i = 0; i < n; i++) {
		if (names[i] && caps_is_all(names[i])) {
			*all = true;
			continue;
		}
		int cap;
		int rc = caps_from_name(names[i], &cap, err);
		if (rc < 0)
			return err ? error_prefix(err, "%s", what) : rc;
		*mask |= CAP_BIT(cap);
	}
	return 0;
}

int caps_apply_changes(cap_mask_t base, const char *const *add, size_t nadd,
		       const char *const *drop, size_t ndrop, cap_mask_t *out, struct error *err)
{
	cap_mask_t add_mask, drop_mask;
	bool add_all, drop_all;
	int rc = caps_collect(add, nadd, "cap-add", &add_mask, &add_all, err);
	if (rc < 0)
		return rc;
	rc = caps_collect(drop, ndrop, "cap-drop", &drop_mask, &drop_all, err);
	if (rc < 0)
		return rc;
	cap_mask_t caps = base;
	if (drop_all)
		caps = 0;
	if (add_all)
		caps = caps_all();
	caps |= add_mask;
	caps &= ~drop_mask;
	*out = caps;
	return 0;
}

static int caps_get(struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3], struct error *err)
{
	struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
	memset(data, 0, sizeof(*data) * _LINUX_CAPABILITY_U32S_3);
	if (syscall(SYS_capget, &header, data) < 0)
		return error_errno(err, errno, "capget");
	return 0;
}

static int caps_set(cap_mask_t effective, cap_mask_t permitted, cap_mask_t inheritable,
		    struct error *err)
{
	struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
		data[i].effective = (uint32_t)(effective >> (32 * i));
		data[i].permitted = (uint32_t)(permitted >> (32 * i));
		data[i].inheritable = (uint32_t)(inheritable >> (32 * i));
	}
	if (syscall(SYS_capset, &header, data) < 0)
		return error_errno(err, errno, "capset");
	return 0;
}

int caps_apply(cap_mask_t mask, struct error *err)
{
	struct __user_cap_data_struct now[_LINUX_CAPABILITY_U32S_3];
	int rc = caps_get(now, err);
	if (rc < 0)
		return rc;
	cap_mask_t permitted = (cap_mask_t)now[1].permitted << 32 | now[0].permitted;
	cap_mask_t effective = (cap_mask_t)now[1].effective << 32 | now[0].effective;
	cap_mask_t inheritable = (cap_mask_t)now[1].inheritable << 32 | now[0].inheritable;
	int last = caps_last_cap();

	cap_mask_t bounding = 0;
	for (int cap = 0; cap <= last; cap++)
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
			bounding |= CAP_BIT(cap);

	/* What a process may never regain: capset refuses permitted bits it does
	 * not hold and inheritable bits outside the bounding set. A host that
	 * lacks a capability (here CAP_SYS_RESOURCE) must still run --cap-add
	 * ALL, so the mask is clamped like rlimits are, not refused. */
	mask &= caps_all() & permitted & bounding;

	/* Dropping from the bounding set needs CAP_SETPCAP in the effective set. */
	if (effective != permitted && caps_set(permitted, permitted, inheritable, err) < 0)
		return error_prefix(err, "raise effective capabilities");
	for (int cap = 0; cap <= last; cap++) {
		if (!(bounding & CAP_BIT(cap)) || (mask & CAP_BIT(cap)))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
			return error_errno(err, errno, "drop %s from the bounding set",
					   caps_name(cap) ? caps_name(cap) : "capability");
	}

	/* As Docker: the set is effective and permitted for root; nothing is
	 * inheritable or ambient, so a non-root user (whose permitted and
	 * effective sets the kernel clears at setuid) ends up with none. */
	rc = caps_set(mask, mask, 0, err);
	if (rc < 0)
		return rc;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return error_errno(err, errno, "clear ambient capabilities");
	return 0;
}

/* ---- seccomp ---- */

/* Bump whenever seccomp_rules or seccomp_profile_build change: the number is
 * part of the cache file name, so a stale compiled program is never loaded. */
#define SECCOMP_PROFILE_VERSION 1

/* Namespace creation flags for clone and unshare, as Docker's profile masks
 * them (CLONE_NEWTIME only exists for unshare: in clone it overlaps the exit
 * signal byte). */
#define SECCOMP_CLONE_NS_FLAGS                                                                     \
	(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | \
	 CLONE_NEWCGROUP)
#define SECCOMP_UNSHARE_NS_FLAGS (SECCOMP_CLONE_NS_FLAGS | CLONE_NEWTIME)

enum seccomp_rule_kind {
	SECCOMP_RULE_ALWAYS,	     /* the syscall is refused whatever its arguments */
	SECCOMP_RULE_CLONE_FLAGS,    /* refused when arg 0 holds a namespace flag */
	SECCOMP_RULE_UNSHARE_FLAGS,  /* the same with CLONE_NEWTIME */
	SECCOMP_RULE_PERSONA_UNUSUAL /* refused unless arg 0 is a persona Docker allows */
};

struct seccomp_rule {
	const char *syscall;
	enum seccomp_rule_kind kind;
	cap_mask_t unless; /* allowed when the container holds any of these; 0: never */
	int errno_value;
};

/* clang-format off */
#define DENY(name, caps)              {name, SECCOMP_RULE_ALWAYS, caps, EPERM}
#define NEEDS(name, cap)              DENY(name, CAP_BIT(cap))
#define NEEDS2(name, c1, c2)          DENY(name, CAP_BIT(c1) | CAP_BIT(c2))
#define NEEDS_ADMIN_FLAGS(name, kind) {name, kind, CAP_BIT(CAP_SYS_ADMIN), EPERM}
/* clang-format on */

/* Docker's default profile turned into a deny-list. A name unknown to
 * libseccomp or absent on every configured arch (vm86 on x86_64) is skipped. */
static const struct seccomp_rule seccomp_rules[] = {
	/* The kernel keyring is not namespaced. */
	DENY("keyctl", 0),
	DENY("add_key", 0),
	DENY("request_key", 0),
	/* Obsolete or never useful in a container. */
	DENY("uselib", 0),
	DENY("ustat", 0),
	DENY("sysfs", 0),
	DENY("_sysctl", 0),
	DENY("nfsservctl", 0),
	DENY("create_module", 0),
	DENY("get_kernel_syms", 0),
	DENY("query_module", 0),
	DENY("vm86", 0),
	DENY("vm86old", 0),
	/* io_uring performs operations the filter never sees; Docker's profile
	 * stopped allowing it too. */
	DENY("io_uring_setup", 0),
	DENY("io_uring_enter", 0),
	DENY("io_uring_register", 0),
	NEEDS("kexec_load", CAP_SYS_BOOT),
	NEEDS("kexec_file_load", CAP_SYS_BOOT),
	NEEDS("reboot", CAP_SYS_BOOT),
	NEEDS("init_module", CAP_SYS_MODULE),
	NEEDS("finit_module", CAP_SYS_MODULE),
	NEEDS("delete_module", CAP_SYS_MODULE),
	NEEDS("mount", CAP_SYS_ADMIN),
	NEEDS("umount", CAP_SYS_ADMIN),
	NEEDS("umount2", CAP_SYS_ADMIN),
	NEEDS("pivot_root", CAP_SYS_ADMIN),
	NEEDS("fsopen", CAP_SYS_ADMIN),
	NEEDS("fsconfig", CAP_SYS_ADMIN),
	NEEDS("fsmount", CAP_SYS_ADMIN),
	NEEDS("fspick", CAP_SYS_ADMIN),
	NEEDS("move_mount", CAP_SYS_ADMIN),
	NEEDS("open_tree", CAP_SYS_ADMIN),
	NEEDS("mount_setattr", CAP_SYS_ADMIN),
	NEEDS("swapon", CAP_SYS_ADMIN),
	NEEDS("swapoff", CAP_SYS_ADMIN),
	NEEDS("quotactl", CAP_SYS_ADMIN),
	NEEDS("quotactl_fd", CAP_SYS_ADMIN),
	NEEDS("lookup_dcookie", CAP_SYS_ADMIN),
	NEEDS("name_to_handle_at", CAP_SYS_ADMIN),
	/* setns(fd, 0) joins whatever fd names, so its flags prove nothing. */
	NEEDS("setns", CAP_SYS_ADMIN),
	NEEDS_ADMIN_FLAGS("clone", SECCOMP_RULE_CLONE_FLAGS),
	NEEDS_ADMIN_FLAGS("unshare", SECCOMP_RULE_UNSHARE_FLAGS),
	/* clone3 passes its flags in memory a filter cannot read: ENOSYS makes
	 * glibc fall back to clone, whose flags the rule above checks. */
	{"clone3", SECCOMP_RULE_ALWAYS, CAP_BIT(CAP_SYS_ADMIN), ENOSYS},
	NEEDS2("bpf", CAP_SYS_ADMIN, CAP_BPF),
	NEEDS2("perf_event_open", CAP_SYS_ADMIN, CAP_PERFMON),
	NEEDS2("syslog", CAP_SYS_ADMIN, CAP_SYSLOG),
	NEEDS("open_by_handle_at", CAP_DAC_READ_SEARCH),
	NEEDS("ptrace", CAP_SYS_PTRACE),
	NEEDS("process_vm_readv", CAP_SYS_PTRACE),
	NEEDS("process_vm_writev", CAP_SYS_PTRACE),
	NEEDS("kcmp", CAP_SYS_PTRACE),
	NEEDS("userfaultfd", CAP_SYS_PTRACE),
	NEEDS("acct", CAP_SYS_PACCT),
	NEEDS("settimeofday", CAP_SYS_TIME),
	NEEDS("stime", CAP_SYS_TIME),
	NEEDS("clock_settime", CAP_SYS_TIME),
	NEEDS("clock_settime64", CAP_SYS_TIME),
	NEEDS("iopl", CAP_SYS_RAWIO),
	NEEDS("ioperm", CAP_SYS_RAWIO),
	{"personality", SECCOMP_RULE_PERSONA_UNUSUAL, 0, EPERM},
};

/* Personas Docker allows: PER_LINUX (0), PER_LINUX32 (8), UNAME26 (0x20000),
 * both (0x20008), and the query 0xffffffff. */
#define SECCOMP_PERSONA_FREE_BITS 0x00020008u

/* libseccomp refuses two comparisons of the same argument in one rule, so "not
 * one of the allowed personas" is written as a union of masked compares, each
 * "bit b set and bit c clear" with b outside SECCOMP_PERSONA_FREE_BITS. Allowed
 * values never match (no such b is set in 0, 8, 0x20000, 0x20008; no c is
 * clear in 0xffffffff). The edges b -> c chain every such b into a cycle and
 * reach bits 3 and 17 too, so any other value matches: starting from one of
 * its set bits b, if no edge led to a clear bit, every bit would be set. Only
 * the low 32 bits are compared, as the kernel reads an unsigned int. */
static int seccomp_add_persona_rules(scmp_filter_ctx ctx, int nr, uint32_t action)
{
	int chain[32], n = 0;
	for (int bit = 0; bit < 32; bit++)
		if (!(SECCOMP_PERSONA_FREE_BITS & (1u << bit)))
			chain[n++] = bit;
	for (int i = 0; i < n; i++) {
		int b = chain[i];
		int targets[3] = {chain[(i + 1) % n], -1, -1};
		if (i == 0) {
			targets[1] = 3;
			targets[2] = 17;
		}
		for (int t = 0; t < 3 && targets[t] >= 0; t++) {
			uint64_t mask = (1ull << b) | (1ull << targets[t]);
			int rc = seccomp_rule_add(ctx, action, nr, 1,
						  SCMP_A0(SCMP_CMP_MASKED_EQ, mask, 1ull << b));
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

/* One rule per flag: rules for one syscall are ORed, comparisons are not. */
static int seccomp_add_flag_rules(scmp_filter_ctx ctx, int nr, uint32_t action, uint64_t flags)
{
	for (int bit = 0; bit < 64; bit++) {
		uint64_t flag = 1ull << bit;
		if (!(flags & flag))
			continue;
		int rc = seccomp_rule_add(ctx, action, nr, 1,
					  SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int seccomp_profile_build(cap_mask_t caps, scmp_filter_ctx ctx, struct error *err)
{
	/* Native first, then the compat ABIs an x86_64 kernel also accepts, so
	 * that their syscalls meet the same rules. Should libseccomp refuse one,
	 * its syscalls meet the bad-arch action (kill) instead: stricter, not
	 * looser, so that is no reason to fail. */
	if (seccomp_arch_native() == SCMP_ARCH_X86_64) {
		seccomp_arch_add(ctx, SCMP_ARCH_X86);
		seccomp_arch_add(ctx, SCMP_ARCH_X32);
	}
	for (size_t i = 0; i < ARRAY_SIZE(seccomp_rules); i++) {
		const struct seccomp_rule *rule = &seccomp_rules[i];
		if (rule->unless & caps)
			continue;
		int nr = seccomp_syscall_resolve_name(rule->syscall);
		if (nr == __NR_SCMP_ERROR)
			continue;
		uint32_t action = SCMP_ACT_ERRNO(rule->errno_value);
		int rc;
		switch (rule->kind) {
		case SECCOMP_RULE_ALWAYS:
			rc = seccomp_rule_add(ctx, action, nr, 0);
			break;
		case SECCOMP_RULE_CLONE_FLAGS:
			rc = seccomp_add_flag_rules(ctx, nr, action, SECCOMP_CLONE_NS_FLAGS);
			break;
		case SECCOMP_RULE_UNSHARE_FLAGS:
			rc = seccomp_add_flag_rules(ctx, nr, action, SECCOMP_UNSHARE_NS_FLAGS);
			break;
		case SECCOMP_RULE_PERSONA_UNUSUAL:
			rc = seccomp_add_persona_rules(ctx, nr, action);
			break;
		default:
			rc = -EINVAL;
		}
		if (rc < 0)
			return error_set(err, -rc, "seccomp: rule for %s", rule->syscall);
	}
	return 0;
}

static void seccomp_releasep(scmp_filter_ctx *ctx)
{
	if (*ctx)
		seccomp_release(*ctx);
}

/* Compiles the profile and reads the BPF back: libseccomp 2.5 only exports
 * to a file descriptor. */
static int seccomp_profile_compile(cap_mask_t caps, char **data, size_t *len, struct error *err)
{
	__attribute__((cleanup(seccomp_releasep))) scmp_filter_ctx ctx =
		seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return error_set(err, EINVAL, "seccomp: init filter");
	int rc = seccomp_profile_build(caps, ctx, err);
	if (rc < 0)
		return rc;
	_cleanup_close_ int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, "seccomp: memfd_create");
	rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0)
		return error_set(err, -rc, "seccomp: export bpf");
	off_t size = lseek(fd, 0, SEEK_CUR);
	if (size < 0)
		return error_errno(err, errno, "seccomp: size of exported bpf");
	_cleanup_free_ char *buf = xmalloc(size);
	ssize_t n = pread(fd, buf, size, 0);
	if (n < 0)
		return error_errno(err, errno, "seccomp: read exported bpf");
	if (n != size)
		return error_set(err, EIO, "seccomp: short read of exported bpf");
	*data = move_ptr(buf);
	*len = (size_t)size;
	return 0;
}

/* A program the kernel would take: whole instructions, at most BPF_MAXINSNS,
 * ending in a return. Anything else in the cache is recompiled. */
static bool seccomp_program_valid(const char *data, size_t len)
{
	if (len == 0 || len % sizeof(struct sock_filter) != 0 ||
	    len / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return false;
	struct sock_filter last;
	memcpy(&last, data + len - sizeof(last), sizeof(last));
	return BPF_CLASS(last.code) == BPF_RET;
}

int seccomp_profile_load(cap_mask_t caps, const char *cache_dir, struct seccomp_program *out,
			 struct error *err)
{
	_cleanup_free_ char *path = NULL;
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (cache_dir) {
		path = xasprintf("%s/seccomp-%016" PRIx64 "-v%d.bpf", cache_dir, (uint64_t)caps,
				 SECCOMP_PROFILE_VERSION);
		struct error read_err = ERROR_INIT;
		/* One byte over the limit so that a full-size program is not EFBIG. */
		if (fs_read_file(path, BPF_MAXINSNS * sizeof(struct sock_filter) + 1, &data, &len,
				 &read_err) == 0 &&
		    seccomp_program_valid(data, len)) {
			out->filter = move_ptr(data);
			out->len = len / sizeof(struct sock_filter);
			return 0;
		}
		/* Missing, unreadable or corrupt: the cache is only an optimisation. */
		error_release(&read_err);
		free(move_ptr(data));
	}

	int rc = seccomp_profile_compile(caps, &data, &len, err);
	if (rc < 0)
		return rc;
	if (!seccomp_program_valid(data, len))
		return error_set(err, E2BIG, "seccomp: compiled program of %zu bytes is unusable",
				 len);

	if (path) {
		/* A read-only or full cache directory costs a compile per start, not
		 * the start itself; concurrent writers produce the same bytes. */
		struct error write_err = ERROR_INIT;
		if (fs_mkdir_p(cache_dir, 0700, &write_err) < 0 ||
		    fs_write_file_atomic(path, data, len, 0600, &write_err) < 0)
			error_release(&write_err);
	}
	out->filter = move_ptr(data);
	out->len = len / sizeof(struct sock_filter);
	return 0;
}

void seccomp_program_release(struct seccomp_program *p)
{
	if (!p)
		return;
	free(p->filter);
	p->filter = NULL;
	p->len = 0;
}

int seccomp_program_install(const struct seccomp_program *p, struct error *err)
{
	if (!p || !p->filter || p->len == 0 || p->len > BPF_MAXINSNS)
		return error_set(err, EINVAL, "seccomp: no usable program to install");
	struct sock_fprog prog = {
		.len = (unsigned short)p->len,
		.filter = p->filter,
	};
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		return error_errno(err, errno, "seccomp: install filter");
	return 0;
}

/* ---- rlimits ---- */

int rlimit_apply(const struct rlimit_setting *r, struct error *err)
{
	struct rlimit want = {.rlim_cur = r->soft, .rlim_max = r->hard};
	if (setrlimit(r->resource, &want) == 0)
		return 0;
	if (errno != EPERM)
		return error_errno(err, errno, "setrlimit %s", rlimit_name(r->resource));
	/* Raising the hard limit needs CAP_SYS_RESOURCE (and nofile can never pass
	 * fs.nr_open): keep what the host allows instead of failing the start. */
	struct rlimit now;
	if (getrlimit(r->resource, &now) < 0)
		return error_errno(err, errno, "getrlimit %s", rlimit_name(r->resource));
	if (want.rlim_max > now.rlim_max)
		want.rlim_max = now.rlim_max;
	if (want.rlim_cur > want.rlim_max)
		want.rlim_cur = want.rlim_max;
	if (setrlimit(r->resource, &want) < 0)
		return error_errno(err, errno, "setrlimit %s (clamped to %llu:%llu)",
				   rlimit_name(r->resource), (unsigned long long)want.rlim_cur,
				   (unsigned long long)want.rlim_max);
	return 0;
}

/* ---- paths ---- */

/* moby's oci/defaults.go; /proc/interrupts joined in 2025 (GHSA-6fw5-f8r9-fgfm).
 * Docker also masks each /sys/devices/system/cpu/cpuN/thermal_throttle, which
 * depends on the host and so cannot live in a constant list. */
const char *const security_masked_paths[] = {
	"/proc/asound",
	"/proc/acpi",
	"/proc/interrupts",
	"/proc/kcore",
	"/proc/keys",
	"/proc/latency_stats",
	"/proc/timer_list",
	"/proc/timer_stats",
	"/proc/sched_debug",
	"/proc/scsi",
	"/sys/firmware",
	"/sys/devices/virtual/powercap",
	NULL,
};

const char *const security_readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};
