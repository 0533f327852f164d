/* OCI image index, manifest and config documents (and Docker's
 * equivalents), decoded and validated; the chain id of a layer stack. */
#ifndef CONTAINER_OCI_IMAGE_H
#define CONTAINER_OCI_IMAGE_H

#include "../util/error.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OCI_MEDIA_INDEX			 "application/vnd.oci.image.index.v1+json"
#define OCI_MEDIA_MANIFEST		 "application/vnd.oci.image.manifest.v1+json"
#define OCI_MEDIA_CONFIG		 "application/vnd.oci.image.config.v1+json"
#define OCI_MEDIA_LAYER			 "application/vnd.oci.image.layer.v1.tar"
#define OCI_MEDIA_LAYER_GZIP		 "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MEDIA_LAYER_ZSTD		 "application/vnd.oci.image.layer.v1.tar+zstd"
#define DOCKER_MEDIA_LIST		 "application/vnd.docker.distribution.manifest.list.v2+json"
#define DOCKER_MEDIA_MANIFEST		 "application/vnd.docker.distribution.manifest.v2+json"
#define DOCKER_MEDIA_CONFIG		 "application/vnd.docker.container.image.v1+json"
#define DOCKER_MEDIA_LAYER_GZIP		 "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define DOCKER_MEDIA_LAYER		 "application/vnd.docker.image.rootfs.diff.tar"
#define OCI_ANNOTATION_REF_NAME		 "org.opencontainers.image.ref.name"
#define CONTAINERD_ANNOTATION_IMAGE_NAME "io.containerd.image.name"

enum oci_media_kind {
	OCI_KIND_UNKNOWN,
	OCI_KIND_INDEX,	   /* OCI index or Docker manifest list */
	OCI_KIND_MANIFEST, /* OCI or Docker image manifest */
	OCI_KIND_CONFIG,
	OCI_KIND_LAYER,
};
enum oci_compression { OCI_COMPRESSION_NONE, OCI_COMPRESSION_GZIP, OCI_COMPRESSION_ZSTD };

enum oci_media_kind oci_media_kind(const char *media_type);
/* For a layer media type; unknown types (and foreign/non-distributable
 * layers) are an error naming the type. */
int oci_layer_compression(const char *media_type, enum oci_compression *out, struct error *err);

struct oci_descriptor {
	char *media_type;
	char *digest;	  /* validated sha256 digest */
	int64_t size;	  /* >= 0 */
	char *ref_name;	  /* annotation org.opencontainers.image.ref.name, or NULL */
	char *image_name; /* annotation io.containerd.image.name, or NULL */
	char *os, *architecture, *variant; /* "platform", NULLs when absent */
};

struct oci_index {
	struct oci_descriptor *manifests;
	size_t nmanifests;
};

struct oci_manifest {
	char *media_type; /* may be NULL in OCI manifests */
	struct oci_descriptor config;
	struct oci_descriptor *layers;
	size_t nlayers;
};

struct oci_config {
	char *os, *architecture, *variant;
	char **diff_ids; /* validated digests */
	size_t ndiff_ids;
	json_t *config; /* the "config" object (Env, Cmd, ...), owned; may be NULL */
	char *created;	/* may be NULL */
};

/* Each parser checks types and required fields and names the bad field in
 * its error: "manifests[2].digest: 'sha256:zz' is not a valid digest". */
int oci_index_parse(const char *text, size_t len, struct oci_index *out, struct error *err);
int oci_manifest_parse(const char *text, size_t len, struct oci_manifest *out, struct error *err);
int oci_config_parse(const char *text, size_t len, struct oci_config *out, struct error *err);
void oci_descriptor_release(struct oci_descriptor *d);
void oci_index_release(struct oci_index *idx);
void oci_manifest_release(struct oci_manifest *m);
void oci_config_release(struct oci_config *c);

/* docker save's manifest.json:
 *   [{"Config": "abc.json", "RepoTags": ["busybox:latest"], "Layers": ["x/layer.tar"]}]
 * Paths are archive member names; each is checked (relative, no ".."). */
struct docker_save_entry {
	char *config;	  /* member name */
	char **repo_tags; /* NULL-terminated; may be empty */
	char **layers;	  /* member names, NULL-terminated */
	size_t nlayers;
};
int docker_save_manifest_parse(const char *text, size_t len, struct docker_save_entry **out,
			       size_t *n, struct error *err);
void docker_save_manifest_free(struct docker_save_entry *entries, size_t n);

/* chain id of the stack diff_ids[0..n): chain(0) = diff(0),
 * chain(i) = sha256(chain(i-1) + " " + diff(i)). out holds DIGEST_STRING_SIZE. */
void oci_chain_id(char *const *diff_ids, size_t n, char *out);

#endif
