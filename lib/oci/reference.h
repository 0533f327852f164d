/* Image references, normalized like Docker's:
 *   busybox                 -> docker.io/library/busybox:latest
 *   user/app:1.0            -> docker.io/user/app:1.0
 *   localhost:5000/a/b      -> localhost:5000/a/b:latest
 *   ghcr.io/x/y@sha256:...  -> ghcr.io/x/y@sha256:...
 *   name:tag@sha256:...     keeps both
 * Grammar: the distribution/reference one (lower-case path components of
 * [a-z0-9] joined by '.', '_', '__' or runs of '-', separated by '/'; a
 * first component with '.' or ':' or equal to "localhost" is a registry
 * domain; tags [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; name at most 255 chars). */
#ifndef CONTAINER_OCI_REFERENCE_H
#define CONTAINER_OCI_REFERENCE_H

#include "../util/error.h"
#include <stdbool.h>

struct oci_reference {
	char *domain; /* "docker.io" */
	char *path;   /* "library/busybox" */
	char *tag;    /* "latest"; NULL when only a digest was given */
	char *digest; /* "sha256:<hex>" or NULL */
};

/* Errors say why: "invalid reference 'Busybox': repository name must be
 * lowercase", "... tag is longer than 128 characters", ... (EINVAL). */
int oci_reference_parse(const char *text, struct oci_reference *out, struct error *err);
void oci_reference_release(struct oci_reference *ref);
/* domain/path[:tag][@digest] (new string). */
char *oci_reference_string(const struct oci_reference *ref);
/* domain/path (new string). */
char *oci_reference_name(const struct oci_reference *ref);
/* Parses and returns the normalized string in one step (NULL + err on error). */
char *oci_reference_normalize(const char *text, struct error *err);
/* Docker's short form for display: drops "docker.io/" and "library/". */
char *oci_reference_familiar_name(const struct oci_reference *ref);

#endif
