/* What confines a container process besides namespaces (DESIGN §4):
 * capabilities, the default seccomp profile, rlimits, masked and read-only
 * paths, all as Docker's defaults. */
#ifndef CONTAINER_SECURITY_H
#define CONTAINER_SECURITY_H

#include "util/error.h"
#include "util/rlimit.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- capabilities ---- */

/* A set of capability numbers (0..63) as a bit mask. */
typedef uint64_t cap_mask_t;

/* Docker's default set: CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW
 * SETGID SETUID SETFCAP SETPCAP NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE. */
cap_mask_t caps_default(void);
/* Every capability this kernel knows (from /proc/sys/kernel/cap_last_cap). */
cap_mask_t caps_all(void);
/* "NET_ADMIN", "cap_net_admin", "CAP_NET_ADMIN" -> number; "ALL" is handled
 * by caps_apply_changes. EINVAL naming the bad name. */
int caps_from_name(const char *name, int *cap, struct error *err);
const char *caps_name(int cap); /* "CAP_NET_ADMIN" */
/* Docker's order: start from default; --cap-drop ALL clears, --cap-add ALL
 * sets everything; then individual adds, then individual drops. */
int caps_apply_changes(cap_mask_t base, const char *const *add, size_t nadd,
		       const char *const *drop, size_t ndrop, cap_mask_t *out, struct error *err);
/* In the child before exec (and before setuid): bounding set reduced to
 * mask, effective and permitted set to mask, inheritable and ambient empty,
 * as Docker does: a non-root user then holds no capability. */
int caps_apply(cap_mask_t mask, struct error *err);

/* ---- seccomp ---- */

/* Docker's default profile, in spirit: default action EPERM (errno) for the
 * dangerous syscalls it blocks (keyctl, add_key, request_key, kexec_load,
 * init_module, finit_module, delete_module, mount/umount2 unless CAP_SYS_ADMIN,
 * swapon/swapoff, reboot, ptrace unless CAP_SYS_PTRACE, bpf, perf_event_open,
 * userfaultfd, open_by_handle_at, name_to_handle_at, setns/unshare with
 * namespace flags, clone with namespace flags, pivot_root, acct, settimeofday
 * / clock_settime unless CAP_SYS_TIME, quotactl, lookup_dcookie, vm86, kcmp,
 * iopl/ioperm, personality with unusual values, keyctl...), allowing the
 * rest. Implemented as a deny-list with libseccomp (Debian's libseccomp-dev)
 * for the native arch (and x32/i386 on x86_64 if cheap).
 *
 * The compiled BPF program is cached in a file so a container start does not
 * pay for libseccomp's compilation: seccomp_profile_load() returns the
 * program from cache_path when it exists and matches the mask, else compiles
 * (seccomp_export_bpf), writes the cache atomically and returns it. */
struct seccomp_program {
	void *filter; /* struct sock_filter array */
	size_t len;   /* number of instructions */
};
int seccomp_profile_load(cap_mask_t caps, const char *cache_dir, struct seccomp_program *out,
			 struct error *err);
void seccomp_program_release(struct seccomp_program *p);
/* In the child, after no_new_privs: prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER). */
int seccomp_program_install(const struct seccomp_program *p, struct error *err);

/* ---- rlimits ---- */

/* Clamps to the current hard limit of the calling process when lowering is
 * all it may do (no CAP_SYS_RESOURCE on the host), then setrlimit. */
int rlimit_apply(const struct rlimit_setting *r, struct error *err);

/* ---- paths ---- */

/* Docker's masked paths (/proc/acpi, /proc/kcore, /proc/keys, ...,
 * /sys/firmware, /sys/devices/virtual/powercap) and read-only paths
 * (/proc/bus, /proc/fs, /proc/irq, /proc/sys, /proc/sysrq-trigger),
 * NULL-terminated. */
extern const char *const security_masked_paths[];
extern const char *const security_readonly_paths[];

#endif
