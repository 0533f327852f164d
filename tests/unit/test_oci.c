/* Image references and OCI/Docker image documents: normalization, and
 * refusals that say which field or rule was broken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "oci/image.h"
#include "oci/reference.h"
#include "util/digest.h"
#include "util/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* printf a | sha256sum, printf b | sha256sum, printf c | sha256sum */
#define DA    "sha256:ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
#define DB    "sha256:3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
#define DC    "sha256:2e7d2c03a9507ae265ecf5b5356885a53393a2029d241394997265a1a25aefc6"
#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* The documents below are written with ' for " to stay readable. */
static char *json_text(const char *s)
{
	char *t = xstrdup(s);
	for (char *p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	return t;
}

struct refusal {
	const char *text;
	const char *message; /* expected substring of the error */
};

typedef int (*parse_fn)(const char *text, struct error *err);

/* Every case must fail with EINVAL and a message containing the expected
 * text; a mismatch prints the case so the table is easy to fix. */
static void check_refusals(const struct refusal *cases, size_t n, parse_fn parse, bool quoted)
{
	for (size_t i = 0; i < n; i++) {
		char *text = quoted ? json_text(cases[i].text) : xstrdup(cases[i].text);
		struct error err = ERROR_INIT;
		int rc = parse(text, &err);
		if (rc != -EINVAL || !err.message || !strstr(err.message, cases[i].message)) {
			print_error("case %zu: %s\n  expected: %s\n  got (%d): %s\n", i, text,
				    cases[i].message, rc, err.message ? err.message : "(none)");
			free(text);
			error_release(&err);
			fail();
		}
		free(text);
		error_release(&err);
	}
}

static void test_reference_normalization(void **state)
{
	static const struct {
		const char *text;
		const char *normalized;
	} cases[] = {
		{"busybox", "docker.io/library/busybox:latest"},
		{"busybox:1.36", "docker.io/library/busybox:1.36"},
		{"library/busybox", "docker.io/library/busybox:latest"},
		{"docker.io/busybox", "docker.io/library/busybox:latest"},
		{"docker.io/library/busybox:musl", "docker.io/library/busybox:musl"},
		{"index.docker.io/busybox", "docker.io/library/busybox:latest"},
		{"index.docker.io/user/app:2", "docker.io/user/app:2"},
		{"user/app:1.0", "docker.io/user/app:1.0"},
		{"my-registry/app", "docker.io/my-registry/app:latest"},
		{"0/1", "docker.io/0/1:latest"},
		{"localhost", "docker.io/library/localhost:latest"},
		/* no '/': the part after ':' is a tag, as in Docker */
		{"localhost:5000", "docker.io/library/localhost:5000"},
		{"localhost/foo", "localhost/foo:latest"},
		{"localhost:5000/a/b", "localhost:5000/a/b:latest"},
		{"127.0.0.1:5000/app:x", "127.0.0.1:5000/app:x"},
		{"[::1]:5000/app", "[::1]:5000/app:latest"},
		{"[fe80::1]/app:v", "[fe80::1]/app:v"},
		{"Registry.Example.COM/app", "Registry.Example.COM/app:latest"},
		{"registry.example.com:443/team/sub/app:v1.2.3-rc_1",
		 "registry.example.com:443/team/sub/app:v1.2.3-rc_1"},
		{"a_b__c--d---e/f.g_h", "docker.io/a_b__c--d---e/f.g_h:latest"},
		{"busybox:_tag", "docker.io/library/busybox:_tag"},
		{"busybox:UPPER.case-Tag", "docker.io/library/busybox:UPPER.case-Tag"},
		{"ghcr.io/x/y@sha256:" HEX64, "ghcr.io/x/y@sha256:" HEX64},
		{"busybox@sha256:" HEX64, "docker.io/library/busybox@sha256:" HEX64},
		{"name:tag@sha256:" HEX64, "docker.io/library/name:tag@sha256:" HEX64},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct error err = ERROR_INIT;
		char *normalized = oci_reference_normalize(cases[i].text, &err);
		if (!normalized || strcmp(normalized, cases[i].normalized) != 0) {
			print_error("%s: expected %s, got %s (%s)\n", cases[i].text,
				    cases[i].normalized, normalized ? normalized : "NULL",
				    err.message ? err.message : "");
			fail();
		}
		free(normalized);
		/* normalizing is idempotent */
		normalized = oci_reference_normalize(cases[i].normalized, &err);
		assert_non_null(normalized);
		assert_string_equal(normalized, cases[i].normalized);
		free(normalized);
	}
}

static int parse_reference(const char *text, struct error *err)
{
	struct oci_reference ref;
	int rc = oci_reference_parse(text, &ref, err);
	/* a failed parse leaves a zeroed reference, safe to release */
	if (rc < 0)
		assert_null(ref.domain);
	oci_reference_release(&ref);
	return rc;
}

static void test_reference_refusals(void **state)
{
	char long_tag[160], long_name[260];
	snprintf(long_tag, sizeof(long_tag), "busybox:%0129d", 0);
	memset(long_name, 'a', 250);
	long_name[250] = '\0';
	const struct refusal cases[] = {
		{"", "invalid reference '': reference is empty"},
		{"Busybox", "invalid reference 'Busybox': repository name must be lowercase"},
		{"docker.io/Library/busybox", "repository name must be lowercase"},
		{"User/app", "repository name must be lowercase"},
		{"busybox:", "tag is empty"},
		{long_tag, "tag is longer than 128 characters"},
		{"busybox:.bad", "tag must start with a letter, a digit or '_'"},
		{"busybox:-bad", "tag must start with a letter, a digit or '_'"},
		{"busybox:a+b", "tag contains invalid character '+'"},
		{"busybox@", "digest is empty"},
		{"busybox@abc", "digest 'abc' has no algorithm"},
		{"busybox@sha512:" HEX64 HEX64, "digest algorithm 'sha512' is not supported"},
		{"busybox@sha256:zz",
		 "digest 'sha256:zz' must be sha256: followed by 64 lowercase"},
		{"busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
		 "64 lowercase hexadecimal digits"},
		{"busybox@sha256:" HEX64 "@sha256:" HEX64, "must be sha256: followed by"},
		{":latest", "repository name is empty"},
		{"@sha256:" HEX64, "repository name is empty"},
		{"docker.io/", "repository name is empty"},
		{"a//b", "repository name has an empty path component"},
		{"/busybox", "repository name has an empty path component"},
		{"busybox/", "repository name has an empty path component"},
		{"-busybox",
		 "component '-busybox' must start and end with a lowercase letter or digit"},
		{"busybox_", "must start and end with a lowercase letter or digit"},
		{"a..b", "component 'a..b' has an invalid separator '..'"},
		{"a___b", "invalid separator '___'"},
		{"a.-b", "invalid separator '.-'"},
		{"a_-b", "invalid separator '_-'"},
		{"bus box", "repository name contains invalid character ' '"},
		{"foo:bar:baz", "repository name contains invalid character ':'"},
		{"\001abc", "repository name contains invalid character 0x01"},
		{"ex ample.com/x", "registry domain 'ex ample.com' contains invalid character ' '"},
		{"a_b.com/x", "registry domain 'a_b.com' contains invalid character '_'"},
		{"-a.com/x", "a component must not start or end with '-'"},
		{"a-.com/x", "a component must not start or end with '-'"},
		{"a..com/x", "registry domain 'a..com' has an empty component"},
		{"example.com./x", "has an empty component"},
		{"localhost:abc/x",
		 "registry domain 'localhost:abc' has a port that is not a number"},
		{"localhost:/x", "has a port that is not a number"},
		{":5000/x", "registry domain ':5000' has an empty host"},
		{"[::1/x", "has an unterminated IPv6 address"},
		{"[]:5000/x", "has an empty IPv6 address"},
		{"[zz::1]/x", "has an invalid IPv6 address"},
		{"[::1]x:5/y", "has text after its IPv6 address"},
		{HEX64, "is an image id, not a repository name"},
		{long_name, "repository name must not be more than 255 characters"},
	};
	check_refusals(cases, ARRAY_SIZE(cases), parse_reference, false);

	/* 128 characters of tag and 255 of name are still fine */
	char tag_ok[160];
	snprintf(tag_ok, sizeof(tag_ok), "busybox:%0128d", 0);
	struct error err = ERROR_INIT;
	assert_int_equal(parse_reference(tag_ok, &err), 0);
	long_name[255 - strlen("docker.io/library/")] = '\0';
	assert_int_equal(parse_reference(long_name, &err), 0);
	char too_long[sizeof(long_name) + 1];
	snprintf(too_long, sizeof(too_long), "%sb", long_name);
	assert_int_equal(parse_reference(too_long, &err), -EINVAL);
	error_release(&err);
}

static void test_reference_fields_and_familiar_names(void **state)
{
	struct oci_reference ref;
	struct error err = ERROR_INIT;
	assert_int_equal(oci_reference_parse("busybox", &ref, &err), 0);
	assert_string_equal(ref.domain, "docker.io");
	assert_string_equal(ref.path, "library/busybox");
	assert_string_equal(ref.tag, "latest");
	assert_null(ref.digest);
	char *s = oci_reference_name(&ref);
	assert_string_equal(s, "docker.io/library/busybox");
	free(s);
	oci_reference_release(&ref);
	oci_reference_release(&ref); /* released twice: harmless */

	assert_int_equal(oci_reference_parse("ghcr.io/x/y@sha256:" HEX64, &ref, &err), 0);
	assert_string_equal(ref.domain, "ghcr.io");
	assert_string_equal(ref.path, "x/y");
	assert_null(ref.tag);
	assert_string_equal(ref.digest, "sha256:" HEX64);
	oci_reference_release(&ref);

	static const struct {
		const char *text;
		const char *familiar;
	} cases[] = {
		{"busybox", "busybox"},
		{"docker.io/library/busybox:1", "busybox"},
		{"index.docker.io/user/app", "user/app"},
		{"docker.io/library/foo/bar", "library/foo/bar"},
		{"ghcr.io/x/y", "ghcr.io/x/y"},
		{"localhost:5000/a@sha256:" HEX64, "localhost:5000/a"},
		{"localhost/library/a", "localhost/library/a"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(oci_reference_parse(cases[i].text, &ref, &err), 0);
		s = oci_reference_familiar_name(&ref);
		assert_string_equal(s, cases[i].familiar);
		free(s);
		oci_reference_release(&ref);
	}
	assert_null(oci_reference_normalize("Busybox", &err));
	assert_int_equal(err.code, EINVAL);
	error_release(&err);
}

static void test_media_kinds_and_compression(void **state)
{
	static const struct {
		const char *media_type;
		enum oci_media_kind kind;
	} kinds[] = {
		{OCI_MEDIA_INDEX, OCI_KIND_INDEX},
		{DOCKER_MEDIA_LIST, OCI_KIND_INDEX},
		{OCI_MEDIA_MANIFEST, OCI_KIND_MANIFEST},
		{DOCKER_MEDIA_MANIFEST, OCI_KIND_MANIFEST},
		{OCI_MEDIA_CONFIG, OCI_KIND_CONFIG},
		{DOCKER_MEDIA_CONFIG, OCI_KIND_CONFIG},
		{OCI_MEDIA_LAYER, OCI_KIND_LAYER},
		{OCI_MEDIA_LAYER_GZIP, OCI_KIND_LAYER},
		{OCI_MEDIA_LAYER_ZSTD, OCI_KIND_LAYER},
		{DOCKER_MEDIA_LAYER, OCI_KIND_LAYER},
		{DOCKER_MEDIA_LAYER_GZIP, OCI_KIND_LAYER},
		{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", OCI_KIND_LAYER},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", OCI_KIND_LAYER},
		{"application/vnd.in-toto+json", OCI_KIND_UNKNOWN},
		{"application/vnd.oci.image.manifest.v1+json; charset=utf-8", OCI_KIND_UNKNOWN},
		{"", OCI_KIND_UNKNOWN},
		{NULL, OCI_KIND_UNKNOWN},
	};
	for (size_t i = 0; i < ARRAY_SIZE(kinds); i++)
		assert_int_equal(oci_media_kind(kinds[i].media_type), kinds[i].kind);

	static const struct {
		const char *media_type;
		enum oci_compression compression;
	} layers[] = {
		{OCI_MEDIA_LAYER, OCI_COMPRESSION_NONE},
		{OCI_MEDIA_LAYER_GZIP, OCI_COMPRESSION_GZIP},
		{OCI_MEDIA_LAYER_ZSTD, OCI_COMPRESSION_ZSTD},
		{DOCKER_MEDIA_LAYER, OCI_COMPRESSION_NONE},
		{DOCKER_MEDIA_LAYER_GZIP, OCI_COMPRESSION_GZIP},
		{"application/vnd.docker.image.rootfs.diff.tar.zstd", OCI_COMPRESSION_ZSTD},
	};
	for (size_t i = 0; i < ARRAY_SIZE(layers); i++) {
		enum oci_compression c = -1;
		struct error err = ERROR_INIT;
		assert_int_equal(oci_layer_compression(layers[i].media_type, &c, &err), 0);
		assert_int_equal(c, layers[i].compression);
	}

	static const struct refusal refused[] = {
		{"x", "unknown layer media type 'x'"},
		{OCI_MEDIA_CONFIG, "unknown layer media type '" OCI_MEDIA_CONFIG "'"},
		{"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
		 "non-distributable (foreign) layer"},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar", "non-distributable"},
		{"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
		 "non-distributable"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		enum oci_compression c = OCI_COMPRESSION_GZIP;
		struct error err = ERROR_INIT;
		assert_int_equal(oci_layer_compression(refused[i].text, &c, &err), -EINVAL);
		assert_non_null(strstr(err.message, refused[i].message));
		assert_int_equal(c, OCI_COMPRESSION_GZIP); /* untouched */
		error_release(&err);
	}
	struct error err = ERROR_INIT;
	enum oci_compression c;
	assert_int_equal(oci_layer_compression(NULL, &c, &err), -EINVAL);
	error_release(&err);
}

/* ---- index ---- */

static const char good_index[] =
	"{'schemaVersion':2,'mediaType':'" OCI_MEDIA_INDEX "','manifests':["
	"{'mediaType':'" OCI_MEDIA_MANIFEST "','digest':'" DA "','size':1234,"
	"'platform':{'architecture':'amd64','os':'linux'},"
	"'annotations':{'" OCI_ANNOTATION_REF_NAME "':'1.36','" CONTAINERD_ANNOTATION_IMAGE_NAME
	"':'docker.io/library/busybox:1.36','other':'x'}},"
	"{'mediaType':'" OCI_MEDIA_MANIFEST "','digest':'" DB "','size':0,"
	"'platform':{'architecture':'arm64','os':'linux','variant':'v8',"
	"'os.version':'1','os.features':['a']},'urls':['https://example.com/b']},"
	"{'mediaType':'" OCI_MEDIA_INDEX "','digest':'" DC "','size':9007199254740993,"
	"'platform':null,'annotations':null,'artifactType':'x','data':'e30='}]}";

static void test_index_parse(void **state)
{
	char *text = json_text(good_index);
	struct oci_index idx;
	struct error err = ERROR_INIT;
	assert_int_equal(oci_index_parse(text, strlen(text), &idx, &err), 0);
	free(text);
	assert_int_equal(idx.nmanifests, 3);
	struct oci_descriptor *d = &idx.manifests[0];
	assert_string_equal(d->media_type, OCI_MEDIA_MANIFEST);
	assert_string_equal(d->digest, DA);
	assert_int_equal(d->size, 1234);
	assert_string_equal(d->os, "linux");
	assert_string_equal(d->architecture, "amd64");
	assert_null(d->variant);
	assert_string_equal(d->ref_name, "1.36");
	assert_string_equal(d->image_name, "docker.io/library/busybox:1.36");
	d = &idx.manifests[1];
	assert_int_equal(d->size, 0);
	assert_string_equal(d->architecture, "arm64");
	assert_string_equal(d->variant, "v8");
	assert_null(d->ref_name);
	assert_null(d->image_name);
	d = &idx.manifests[2];
	assert_int_equal(d->size, 9007199254740993LL); /* beyond a double's precision */
	assert_null(d->os);
	assert_null(d->architecture);
	oci_index_release(&idx);
	assert_null(idx.manifests);
	oci_index_release(&idx);

	/* Docker's manifest list, no schemaVersion, empty list */
	text = json_text("{'mediaType':'" DOCKER_MEDIA_LIST
			 "','manifests':[{'mediaType':'" DOCKER_MEDIA_MANIFEST "','digest':'" DA
			 "','size':1,'platform':{'architecture':'s390x','os':'linux'}}]}");
	assert_int_equal(oci_index_parse(text, strlen(text), &idx, &err), 0);
	assert_int_equal(idx.nmanifests, 1);
	assert_string_equal(idx.manifests[0].media_type, DOCKER_MEDIA_MANIFEST);
	oci_index_release(&idx);
	free(text);
	assert_int_equal(oci_index_parse("{\"manifests\":[]}", 16, &idx, &err), 0);
	assert_int_equal(idx.nmanifests, 0);
	oci_index_release(&idx);

	/* only len bytes are read */
	const char *prefix = "{\"manifests\":[]}garbage";
	assert_int_equal(oci_index_parse(prefix, 16, &idx, &err), 0);
	oci_index_release(&idx);
}

static int parse_index(const char *text, struct error *err)
{
	struct oci_index idx;
	int rc = oci_index_parse(text, strlen(text), &idx, err);
	if (rc < 0) {
		assert_null(idx.manifests);
		assert_int_equal(idx.nmanifests, 0);
	}
	oci_index_release(&idx);
	return rc;
}

#define M0     "'mediaType':'" OCI_MEDIA_MANIFEST "'"
#define DESC_A "{" M0 ",'digest':'" DA "','size':1}"
/* {'manifests':[<good descriptor>, <x>]} */
#define INDEX_WITH(x) "{'manifests':[" DESC_A "," x "]}"

static void test_index_refusals(void **state)
{
	static const struct refusal cases[] = {
		{"", "invalid JSON"},
		{"{", "invalid JSON"},
		{"[]", "the top level must be a JSON object"},
		{"{'manifests':[],'manifests':[]}", "invalid JSON"},
		{"{'schemaVersion':1,'manifests':[]}", "schemaVersion: must be 2, not 1"},
		{"{'schemaVersion':'2','manifests':[]}", "schemaVersion: must be the integer 2"},
		{"{'schemaVersion':2.0,'manifests':[]}", "schemaVersion: must be the integer 2"},
		{"{'schemaVersion':2}", "manifests: missing"},
		{"{'manifests':null}", "manifests: missing"},
		{"{'manifests':{}}", "manifests: must be an array"},
		{"{'mediaType':'" OCI_MEDIA_MANIFEST "','manifests':[]}",
		 "mediaType: '" OCI_MEDIA_MANIFEST "' is not an image index media type"},
		{"{'mediaType':3,'manifests':[]}", "mediaType: must be a string"},
		{"{'manifests':[3]}", "manifests[0]: must be an object"},
		{INDEX_WITH("{'digest':'" DA "','size':1}"), "manifests[1].mediaType: missing"},
		{INDEX_WITH("{'mediaType':'','digest':'" DA "','size':1}"),
		 "manifests[1].mediaType: must not be empty"},
		{INDEX_WITH("{" M0 ",'size':1}"), "manifests[1].digest: missing"},
		{INDEX_WITH("{" M0 ",'digest':5,'size':1}"),
		 "manifests[1].digest: must be a string"},
		{INDEX_WITH("{" M0 ",'digest':'sha256:zz','size':1}"),
		 "manifests[1].digest: 'sha256:zz' is not a valid digest"},
		{INDEX_WITH("{" M0 ",'digest':'sha512:" HEX64 "','size':1}"),
		 "manifests[1].digest: 'sha512:" HEX64 "' is not a valid digest"},
		{INDEX_WITH("{" M0 ",'digest':'" DA "'}"), "manifests[1].size: missing"},
		{INDEX_WITH("{" M0 ",'digest':'" DA "','size':-1}"),
		 "manifests[1].size: must be a non-negative integer"},
		{INDEX_WITH("{" M0 ",'digest':'" DA "','size':1.5}"),
		 "manifests[1].size: must be a non-negative integer"},
		{INDEX_WITH("{" M0 ",'digest':'" DA "','size':'1'}"),
		 "manifests[1].size: must be a non-negative integer"},
		{INDEX_WITH("{" M0 ",'digest':'" DA "','size':1,'platform':'linux'}"),
		 "manifests[1].platform: must be an object"},
		{INDEX_WITH("{" M0 ",'digest':'" DA "','size':1,'platform':{}}"),
		 "manifests[1].platform.architecture: missing"},
		{INDEX_WITH("{" M0 ",'digest':'" DA "','size':1,'platform':{'architecture':'x'}}"),
		 "manifests[1].platform.os: missing"},
		{INDEX_WITH("{" M0 ",'digest':'" DA "','size':1,'platform':{'architecture':'x',"
			    "'os':'linux','variant':8}}"),
		 "manifests[1].platform.variant: must be a string"},
		{INDEX_WITH("{" M0 ",'digest':'" DA "','size':1,'platform':{'architecture':'x',"
			    "'os':'linux','os.features':'a'}}"),
		 "manifests[1].platform.os.features: must be an array"},
		{INDEX_WITH("{" M0 ",'digest':'" DA "','size':1,'annotations':[]}"),
		 "manifests[1].annotations: must be an object"},
		{INDEX_WITH("{" M0 ",'digest':'" DA
			    "','size':1,'annotations':{'" OCI_ANNOTATION_REF_NAME "':1}}"),
		 "manifests[1].annotations." OCI_ANNOTATION_REF_NAME ": must be a string"},
		{INDEX_WITH("{" M0 ",'digest':'" DA "','size':1,'urls':[1]}"),
		 "manifests[1].urls[0]: must be a string"},
	};
	check_refusals(cases, ARRAY_SIZE(cases), parse_index, true);
}

/* ---- manifest ---- */

#define IN_TOTO		   "application/vnd.in-toto+json"
#define LAYER(mt, d, size) "{'mediaType':'" mt "','digest':'" d "','size':" #size "}"

static void test_manifest_parse(void **state)
{
	/* clang-format off */
	static const char doc[] =
		"{'schemaVersion':2,"
		"'config':" LAYER(OCI_MEDIA_CONFIG, DA, 7023) ","
		"'layers':[" LAYER(OCI_MEDIA_LAYER_GZIP, DB, 32654) ","
			LAYER(OCI_MEDIA_LAYER_ZSTD, DC, 16724) ","
			LAYER(IN_TOTO, DA, 0) "],"
		"'annotations':{'org.opencontainers.image.created':'x'}}";
	/* clang-format on */
	char *text = json_text(doc);
	struct oci_manifest m;
	struct error err = ERROR_INIT;
	assert_int_equal(oci_manifest_parse(text, strlen(text), &m, &err), 0);
	free(text);
	assert_null(m.media_type);
	assert_string_equal(m.config.media_type, OCI_MEDIA_CONFIG);
	assert_string_equal(m.config.digest, DA);
	assert_int_equal(m.config.size, 7023);
	assert_int_equal(m.nlayers, 3);
	assert_string_equal(m.layers[0].media_type, OCI_MEDIA_LAYER_GZIP);
	assert_string_equal(m.layers[0].digest, DB);
	assert_int_equal(m.layers[0].size, 32654);
	assert_string_equal(m.layers[1].media_type, OCI_MEDIA_LAYER_ZSTD);
	/* kept: attestation layers are refused only when unpacking */
	assert_int_equal(oci_media_kind(m.layers[2].media_type), OCI_KIND_UNKNOWN);
	oci_manifest_release(&m);
	oci_manifest_release(&m);

	text = json_text("{'schemaVersion':2,'mediaType':'" DOCKER_MEDIA_MANIFEST
			 "','config':{'mediaType':'" DOCKER_MEDIA_CONFIG "','digest':'" DA
			 "','size':1},'layers':[" LAYER(DOCKER_MEDIA_LAYER_GZIP, DB, 2) "]}");
	assert_int_equal(oci_manifest_parse(text, strlen(text), &m, &err), 0);
	free(text);
	assert_string_equal(m.media_type, DOCKER_MEDIA_MANIFEST);
	assert_string_equal(m.config.media_type, DOCKER_MEDIA_CONFIG);
	assert_int_equal(m.nlayers, 1);
	oci_manifest_release(&m);

	/* an image without layers */
	text = json_text("{'config':" LAYER(OCI_MEDIA_CONFIG, DA, 2) ",'layers':[]}");
	assert_int_equal(oci_manifest_parse(text, strlen(text), &m, &err), 0);
	free(text);
	assert_int_equal(m.nlayers, 0);
	oci_manifest_release(&m);
}

static int parse_manifest(const char *text, struct error *err)
{
	struct oci_manifest m;
	int rc = oci_manifest_parse(text, strlen(text), &m, err);
	if (rc < 0) {
		assert_null(m.layers);
		assert_null(m.config.digest);
	}
	oci_manifest_release(&m);
	return rc;
}

#define CONFIG_A  "'config':" LAYER(OCI_MEDIA_CONFIG, DA, 1)
#define LAYERS_OK "'layers':[" LAYER(OCI_MEDIA_LAYER_GZIP, DB, 1) "]"
#define LAYER_A	  LAYER(OCI_MEDIA_LAYER, DB, 1)
#define LAYER_ZZ  LAYER(OCI_MEDIA_LAYER, "sha256:zz", 1)

static void test_manifest_refusals(void **state)
{
	static const struct refusal cases[] = {
		{"", "invalid JSON"},
		{"'x'", "the top level must be a JSON object"},
		{"{'schemaVersion':1," CONFIG_A "," LAYERS_OK "}",
		 "schemaVersion: must be 2, not 1"},
		{"{'mediaType':'" OCI_MEDIA_INDEX "'," CONFIG_A "," LAYERS_OK "}",
		 "mediaType: '" OCI_MEDIA_INDEX "' is not an image manifest media type"},
		{"{'mediaType':'" DOCKER_MEDIA_LIST "'," CONFIG_A "," LAYERS_OK "}",
		 "is not an image manifest media type"},
		{"{" LAYERS_OK "}", "config: missing"},
		{"{'config':[]," LAYERS_OK "}", "config: must be an object"},
		{"{'config':{}," LAYERS_OK "}", "config.mediaType: missing"},
		{"{'config':{'mediaType':'" OCI_MEDIA_CONFIG
		 "','digest':'sha256:zz','size':1}," LAYERS_OK "}",
		 "config.digest: 'sha256:zz' is not a valid digest"},
		{"{'config':{'mediaType':'" OCI_MEDIA_CONFIG "','digest':'" DA "'}," LAYERS_OK "}",
		 "config.size: missing"},
		{"{" CONFIG_A "}", "layers: missing"},
		{"{" CONFIG_A ",'layers':{}}", "layers: must be an array"},
		{"{" CONFIG_A ",'layers':[null]}", "layers[0]: must be an object"},
		{"{" CONFIG_A ",'layers':[" LAYER_A "," LAYER_ZZ "]}",
		 "layers[1].digest: 'sha256:zz' is not a valid digest"},
		{"{" CONFIG_A ",'layers':[" LAYER(OCI_MEDIA_LAYER, DB, -5) "]}",
		 "layers[0].size: must be a non-negative integer"},
		{"{" CONFIG_A ",'layers':[" LAYER(OCI_MEDIA_LAYER, DB, true) "]}",
		 "layers[0].size: must be a non-negative integer"},
		{"{" CONFIG_A ",'layers':[{'digest':'" DB "','size':1}]}",
		 "layers[0].mediaType: missing"},
		{"{" CONFIG_A "," LAYERS_OK ",'annotations':{'a':1}}",
		 "annotations.a: must be a string"},
	};
	check_refusals(cases, ARRAY_SIZE(cases), parse_manifest, true);
}

/* ---- config ---- */

static void test_config_parse(void **state)
{
	char *text = json_text(
		"{'architecture':'arm','os':'linux','variant':'v7','created':'2024-05-01T10:00:00Z'"
		","
		"'config':{'Env':['PATH=/bin'],'Cmd':['sh'],'Entrypoint':null,'User':'1000',"
		"'WorkingDir':'/w','Labels':{'a':'b'},'ExposedPorts':{'80/tcp':{}},"
		"'Healthcheck':{'Test':['NONE']}},"
		"'rootfs':{'type':'layers','diff_ids':['" DA "','" DB "']},"
		"'history':[{'created_by':'x'}]}");
	struct oci_config c;
	struct error err = ERROR_INIT;
	assert_int_equal(oci_config_parse(text, strlen(text), &c, &err), 0);
	free(text);
	assert_string_equal(c.architecture, "arm");
	assert_string_equal(c.os, "linux");
	assert_string_equal(c.variant, "v7");
	assert_string_equal(c.created, "2024-05-01T10:00:00Z");
	assert_int_equal(c.ndiff_ids, 2);
	assert_string_equal(c.diff_ids[0], DA);
	assert_string_equal(c.diff_ids[1], DB);
	assert_null(c.diff_ids[2]);
	assert_non_null(c.config);
	assert_string_equal(json_string_value(json_array_get(json_object_get(c.config, "Env"), 0)),
			    "PATH=/bin");
	/* unknown members are kept for later readers */
	assert_non_null(json_object_get(c.config, "Healthcheck"));
	oci_config_release(&c);
	oci_config_release(&c);

	/* the minimum: no config, no layers */
	text = json_text("{'architecture':'amd64','os':'linux','config':null,"
			 "'rootfs':{'type':'layers','diff_ids':[]}}");
	assert_int_equal(oci_config_parse(text, strlen(text), &c, &err), 0);
	free(text);
	assert_null(c.config);
	assert_null(c.variant);
	assert_null(c.created);
	assert_int_equal(c.ndiff_ids, 0);
	oci_config_release(&c);
}

static int parse_config(const char *text, struct error *err)
{
	struct oci_config c;
	int rc = oci_config_parse(text, strlen(text), &c, err);
	if (rc < 0) {
		assert_null(c.os);
		assert_null(c.config);
	}
	oci_config_release(&c);
	return rc;
}

#define PLATFORM "'architecture':'amd64','os':'linux'"
#define ROOTFS	 "'rootfs':{'type':'layers','diff_ids':['" DA "']}"

static void test_config_refusals(void **state)
{
	static const struct refusal cases[] = {
		{"nul", "invalid JSON"},
		{"[]", "the top level must be a JSON object"},
		{"{'os':'linux'," ROOTFS "}", "architecture: missing"},
		{"{'architecture':'','os':'linux'," ROOTFS "}", "architecture: must not be empty"},
		{"{'architecture':'amd64','os':5," ROOTFS "}", "os: must be a string"},
		{"{" PLATFORM ",'variant':7," ROOTFS "}", "variant: must be a string"},
		{"{" PLATFORM ",'created':5," ROOTFS "}", "created: must be a string"},
		{"{" PLATFORM ",'history':{}," ROOTFS "}", "history: must be an array"},
		{"{" PLATFORM "}", "rootfs: missing"},
		{"{" PLATFORM ",'rootfs':[]}", "rootfs: must be an object"},
		{"{" PLATFORM ",'rootfs':{'diff_ids':[]}}", "rootfs.type: missing"},
		{"{" PLATFORM ",'rootfs':{'type':'tar','diff_ids':[]}}",
		 "rootfs.type: must be 'layers', not 'tar'"},
		{"{" PLATFORM ",'rootfs':{'type':'layers'}}", "rootfs.diff_ids: missing"},
		{"{" PLATFORM ",'rootfs':{'type':'layers','diff_ids':['" DA "','sha256:zz']}}",
		 "rootfs.diff_ids[1]: 'sha256:zz' is not a valid digest"},
		{"{" PLATFORM ",'rootfs':{'type':'layers','diff_ids':[3]}}",
		 "rootfs.diff_ids[0]: must be a string"},
		{"{" PLATFORM ",'config':[]," ROOTFS "}", "config: must be an object"},
		{"{" PLATFORM ",'config':{'Env':'A=1'}," ROOTFS "}",
		 "config.Env: must be an array"},
		{"{" PLATFORM ",'config':{'Cmd':[1]}," ROOTFS "}",
		 "config.Cmd[0]: must be a string"},
		{"{" PLATFORM ",'config':{'Entrypoint':['a',{}]}," ROOTFS "}",
		 "config.Entrypoint[1]: must be a string"},
		{"{" PLATFORM ",'config':{'User':0}," ROOTFS "}", "config.User: must be a string"},
		{"{" PLATFORM ",'config':{'WorkingDir':[]}," ROOTFS "}",
		 "config.WorkingDir: must be a string"},
		{"{" PLATFORM ",'config':{'Labels':{'a':1}}," ROOTFS "}",
		 "config.Labels.a: must be a string"},
		{"{" PLATFORM ",'config':{'ExposedPorts':['80']}," ROOTFS "}",
		 "config.ExposedPorts: must be an object"},
	};
	check_refusals(cases, ARRAY_SIZE(cases), parse_config, true);
}

/* ---- docker save manifest.json ---- */

static void test_docker_save_parse(void **state)
{
	char *text = json_text(
		"[{'Config':'abc.json','RepoTags':['busybox:latest','busybox:1'],"
		"'Layers':['x/layer.tar','./y/layer.tar','a..b/..c/layer.tar']},"
		"{'Config':'blobs/sha256/def','RepoTags':null,'Layers':[],'LayerSources':{}}]");
	struct docker_save_entry *entries;
	size_t n;
	struct error err = ERROR_INIT;
	assert_int_equal(docker_save_manifest_parse(text, strlen(text), &entries, &n, &err), 0);
	free(text);
	assert_int_equal(n, 2);
	assert_string_equal(entries[0].config, "abc.json");
	assert_string_equal(entries[0].repo_tags[0], "busybox:latest");
	assert_string_equal(entries[0].repo_tags[1], "busybox:1");
	assert_null(entries[0].repo_tags[2]);
	assert_int_equal(entries[0].nlayers, 3);
	assert_string_equal(entries[0].layers[0], "x/layer.tar");
	assert_string_equal(entries[0].layers[2], "a..b/..c/layer.tar");
	assert_null(entries[0].layers[3]);
	assert_string_equal(entries[1].config, "blobs/sha256/def");
	assert_non_null(entries[1].repo_tags);
	assert_null(entries[1].repo_tags[0]);
	assert_int_equal(entries[1].nlayers, 0);
	assert_null(entries[1].layers[0]);
	docker_save_manifest_free(entries, n);
	docker_save_manifest_free(NULL, 0);
}

static int parse_docker_save(const char *text, struct error *err)
{
	struct docker_save_entry *entries;
	size_t n;
	int rc = docker_save_manifest_parse(text, strlen(text), &entries, &n, err);
	if (rc < 0) {
		assert_null(entries);
		assert_int_equal(n, 0);
	}
	docker_save_manifest_free(entries, n);
	return rc;
}

static void test_docker_save_refusals(void **state)
{
	static const struct refusal cases[] = {
		{"[", "invalid JSON"},
		{"{}", "the top level must be a JSON array"},
		{"[]", "the manifest lists no images"},
		{"[1]", "[0]: must be an object"},
		{"[{}]", "[0].Config: missing"},
		{"[{'Config':'','Layers':[]}]", "[0].Config: must not be empty"},
		{"[{'Config':3,'Layers':[]}]", "[0].Config: must be a string"},
		{"[{'Config':'/etc/passwd','Layers':[]}]",
		 "[0].Config: '/etc/passwd' is an absolute path"},
		{"[{'Config':'../x.json','Layers':[]}]",
		 "[0].Config: '../x.json' has a '..' component"},
		{"[{'Config':'a.json'}]", "[0].Layers: missing"},
		{"[{'Config':'a.json','Layers':'x'}]", "[0].Layers: must be an array"},
		{"[{'Config':'a.json','Layers':['..']}]",
		 "[0].Layers[0]: '..' has a '..' component"},
		{"[{'Config':'a.json','Layers':['ok','a/../../b']}]",
		 "[0].Layers[1]: 'a/../../b' has a '..' component"},
		{"[{'Config':'a.json','Layers':['a/..']}]",
		 "[0].Layers[0]: 'a/..' has a '..' component"},
		{"[{'Config':'a.json','Layers':['ok','']}]", "[0].Layers[1]: must not be empty"},
		{"[{'Config':'a.json','Layers':[3]}]", "[0].Layers[0]: must be a string"},
		{"[{'Config':'a.json','Layers':['//x']}]",
		 "[0].Layers[0]: '//x' is an absolute path"},
		{"[{'Config':'a.json','Layers':[],'RepoTags':'x'}]",
		 "[0].RepoTags: must be an array"},
		{"[{'Config':'a.json','Layers':[],'RepoTags':[1]}]",
		 "[0].RepoTags[0]: must be a string"},
		{"[{'Config':'a.json','Layers':[],'RepoTags':['']}]",
		 "[0].RepoTags[0]: must not be empty"},
		{"[{'Config':'a.json','Layers':['l']},{'Layers':[]}]", "[1].Config: missing"},
	};
	check_refusals(cases, ARRAY_SIZE(cases), parse_docker_save, true);
}

/* ---- chain id ---- */

static void test_chain_id(void **state)
{
	char *ids[] = {DA, DB, DC};
	char out[DIGEST_STRING_SIZE];
	oci_chain_id(ids, 1, out);
	assert_string_equal(out, DA);
	/* printf 'sha256:ca97...48bb sha256:3e23...009d' | sha256sum */
	oci_chain_id(ids, 2, out);
	assert_string_equal(
		out, "sha256:51c0c8ace48498d6f5fee6b0592cc06f2da0f3cbe09c5a34a97dce85c3889676");
	/* printf 'sha256:51c0...9676 sha256:2e7d...efc6' | sha256sum */
	oci_chain_id(ids, 3, out);
	assert_string_equal(
		out, "sha256:2fce7f8ce91bcf0a1428b36e1024639fdbd9469eea762dba98aa749631885106");
	oci_chain_id(ids, 0, out);
	assert_string_equal(out, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_normalization),
		cmocka_unit_test(test_reference_refusals),
		cmocka_unit_test(test_reference_fields_and_familiar_names),
		cmocka_unit_test(test_media_kinds_and_compression),
		cmocka_unit_test(test_index_parse),
		cmocka_unit_test(test_index_refusals),
		cmocka_unit_test(test_manifest_parse),
		cmocka_unit_test(test_manifest_refusals),
		cmocka_unit_test(test_config_parse),
		cmocka_unit_test(test_config_refusals),
		cmocka_unit_test(test_docker_save_parse),
		cmocka_unit_test(test_docker_save_refusals),
		cmocka_unit_test(test_chain_id),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
