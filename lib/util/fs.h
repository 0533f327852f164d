/* File system helpers. */
#ifndef CONTAINER_FS_H
#define CONTAINER_FS_H

#include "error.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* mkdir -p with mode for the created components. */
int fs_mkdir_p(const char *path, mode_t mode, struct error *err);
/* Reads a whole file (NUL-terminated); *len_out may be NULL. */
int fs_read_file(const char *path, size_t max, char **out, size_t *len_out, struct error *err);
/* Atomic replace: write path.tmp, fsync, rename, fsync the directory. */
int fs_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
			 struct error *err);
/* The same without the fsyncs: readers see the old or the new file, never
 * a part of one, but a power loss may take it. For files on the hot path
 * that do not outlive a reboot in any way that matters (a container's
 * state, files regenerated from the store). */
int fs_write_file_replace(const char *path, const void *data, size_t len, mode_t mode,
			  struct error *err);
/* rm -r that stays on the file system of `path` and never follows a
 * symbolic link; *bytes (may be NULL) gets the sizes of the regular files
 * removed. A missing path is no error; the first entry that cannot go is.
 * Not reentrant: one walk at a time. */
int fs_remove_tree(const char *path, int64_t *bytes, struct error *err);
/* Directory name / base name as new strings. */
char *fs_dirname(const char *path);
char *fs_basename(const char *path);
/* The directory holding the running executable (readlink /proc/self/exe). */
char *fs_self_exe_dir(void);
/* Start time of a process in clock ticks since boot (field 22 of /proc/PID/stat),
 * so that a pid recorded in a file is never mistaken for a recycled one. */
int fs_proc_start_time(pid_t pid, unsigned long long *start, struct error *err);

#endif
