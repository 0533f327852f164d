/* --ulimit settings: "nofile=1024:2048", "nproc=512", "core=-1". */
#ifndef CONTAINER_RLIMIT_H
#define CONTAINER_RLIMIT_H

#include "error.h"
#include <stdint.h>

struct rlimit_setting {
	int resource; /* RLIMIT_* */
	uint64_t soft, hard;
};
/* "nofile=1024:2048", "nproc=512", "core=-1" (unlimited); names as Docker's
 * --ulimit (core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile,
 * nproc, rss, rtprio, rttime, sigpending, stack). EINVAL naming the bad part;
 * soft > hard is an error. */
int rlimit_parse(const char *text, struct rlimit_setting *out, struct error *err);
/* "nofile" for RLIMIT_NOFILE; "unknown" for others. */
const char *rlimit_name(int resource);

#endif
