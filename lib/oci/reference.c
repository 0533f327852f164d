/* Image references: the distribution/reference grammar, with Docker's
 * normalization (default domain, "library/" for official images, default
 * tag). Written from the grammar, not from Docker's regular expressions:
 * every refusal says which rule was broken. */
#include "reference.h"
#include "../util/digest.h"
#include "../util/util.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#define REFERENCE_DEFAULT_DOMAIN "docker.io"
/* Older clients wrote this for Docker Hub; it names the same registry. */
#define REFERENCE_LEGACY_DOMAIN	  "index.docker.io"
#define REFERENCE_OFFICIAL_PREFIX "library/"
#define REFERENCE_DEFAULT_TAG	  "latest"
#define REFERENCE_NAME_MAX	  255
#define REFERENCE_TAG_MAX	  128
#define REFERENCE_ID_LENGTH	  64

static int reject(struct error *err, const char *text, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int reject(struct error *err, const char *text, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *reason = xvasprintf(fmt, ap);
	va_end(ap);
	return error_set(err, EINVAL, "invalid reference '%s': %s", text, reason);
}

/* Character classes by explicit ranges: <ctype.h> depends on the locale. */
static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_word(char c)
{
	return is_alnum(c) || c == '_';
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A character for a message: itself when printable, else its code. */
static const char *show_char(char c, char buf[8])
{
	if (c >= ' ' && c < 0x7f)
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "0x%02x", (unsigned char)c);
	return buf;
}

/* Docker refuses a bare 64-hex string: it is an image id, and accepting it
 * as a repository name would make "run <id>" ambiguous. */
static bool looks_like_image_id(const char *text)
{
	if (strlen(text) != REFERENCE_ID_LENGTH)
		return false;
	for (const char *p = text; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* The first path component names a registry when it cannot be a
 * repository component: it has a '.' or a ':' or is "localhost". */
static bool names_domain(const char *component, size_t len)
{
	return memchr(component, '.', len) || memchr(component, ':', len) ||
	       (len == strlen("localhost") && memcmp(component, "localhost", len) == 0);
}

/* path-component := [a-z0-9]+ (separator [a-z0-9]+)*
 * separator      := '.' | '_' | '__' | '-'+ */
static int check_path_component(const char *text, const char *comp, size_t len, struct error *err)
{
	char shown[8];
	for (size_t i = 0; i < len; i++) {
		char c = comp[i];
		if (!is_lower_alnum(c) && c != '.' && c != '_' && c != '-')
			return reject(err, text, "repository name contains invalid character %s",
				      show_char(c, shown));
	}
	if (!is_lower_alnum(comp[0]) || !is_lower_alnum(comp[len - 1]))
		return reject(err, text,
			      "repository name component '%.*s' must start and end with a "
			      "lowercase letter or digit",
			      (int)len, comp);
	for (size_t i = 0; i < len;) {
		if (is_lower_alnum(comp[i])) {
			i++;
			continue;
		}
		size_t run = 0;
		bool dashes = true;
		while (i + run < len && !is_lower_alnum(comp[i + run])) {
			dashes = dashes && comp[i + run] == '-';
			run++;
		}
		bool valid =
			dashes || (run == 1) || (run == 2 && comp[i] == '_' && comp[i + 1] == '_');
		if (!valid)
			return reject(err, text,
				      "repository name component '%.*s' has an invalid separator "
				      "'%.*s' (one of '.', '_', '__' or dashes)",
				      (int)len, comp, (int)run, comp + i);
		i += run;
	}
	return 0;
}

static int check_path(const char *text, const char *path, struct error *err)
{
	if (!*path)
		return reject(err, text, "repository name is empty");
	for (const char *p = path; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			return reject(err, text, "repository name must be lowercase");
	const char *comp = path;
	for (;;) {
		const char *slash = strchr(comp, '/');
		size_t len = slash ? (size_t)(slash - comp) : strlen(comp);
		if (len == 0)
			return reject(err, text, "repository name has an empty path component");
		int rc = check_path_component(text, comp, len, err);
		if (rc < 0)
			return rc;
		if (!slash)
			return 0;
		comp = slash + 1;
	}
}

/* domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9],
 * joined by '.'; IPv4 addresses fit this too. */
static int check_domain_name(const char *text, const char *domain, const char *host, size_t len,
			     struct error *err)
{
	char shown[8];
	if (len == 0)
		return reject(err, text, "registry domain '%s' has an empty host", domain);
	const char *comp = host, *end = host + len;
	while (comp <= end) {
		const char *dot = memchr(comp, '.', (size_t)(end - comp));
		size_t clen = dot ? (size_t)(dot - comp) : (size_t)(end - comp);
		if (clen == 0)
			return reject(err, text, "registry domain '%s' has an empty component",
				      domain);
		for (size_t i = 0; i < clen; i++)
			if (!is_alnum(comp[i]) && comp[i] != '-')
				return reject(err, text,
					      "registry domain '%s' contains invalid character %s",
					      domain, show_char(comp[i], shown));
		if (comp[0] == '-' || comp[clen - 1] == '-')
			return reject(err, text,
				      "registry domain '%s': a component must not start or end "
				      "with '-'",
				      domain);
		if (!dot)
			break;
		comp = dot + 1;
	}
	return 0;
}

/* domain := host [':' port]; host := domain-name | '[' IPv6 ']' */
static int check_domain(const char *text, const char *domain, struct error *err)
{
	const char *host_end;
	if (domain[0] == '[') {
		const char *close = strchr(domain, ']');
		if (!close)
			return reject(err, text,
				      "registry domain '%s' has an unterminated IPv6 address",
				      domain);
		if (close == domain + 1)
			return reject(err, text, "registry domain '%s' has an empty IPv6 address",
				      domain);
		for (const char *p = domain + 1; p < close; p++)
			if (!is_hex(*p) && *p != ':')
				return reject(err, text,
					      "registry domain '%s' has an invalid IPv6 address",
					      domain);
		host_end = close + 1;
	} else {
		host_end = domain + strcspn(domain, ":");
		int rc = check_domain_name(text, domain, domain, (size_t)(host_end - domain), err);
		if (rc < 0)
			return rc;
	}
	if (*host_end == '\0')
		return 0;
	if (*host_end != ':')
		return reject(err, text, "registry domain '%s' has text after its IPv6 address",
			      domain);
	const char *port = host_end + 1;
	if (!*port || strspn(port, "0123456789") != strlen(port))
		return reject(err, text, "registry domain '%s' has a port that is not a number",
			      domain);
	return 0;
}

/* tag := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127} */
static int check_tag(const char *text, const char *tag, struct error *err)
{
	char shown[8];
	size_t len = strlen(tag);
	if (len == 0)
		return reject(err, text, "tag is empty");
	if (len > REFERENCE_TAG_MAX)
		return reject(err, text, "tag is longer than %d characters", REFERENCE_TAG_MAX);
	if (!is_word(tag[0]))
		return reject(err, text, "tag must start with a letter, a digit or '_'");
	for (size_t i = 1; i < len; i++)
		if (!is_word(tag[i]) && tag[i] != '.' && tag[i] != '-')
			return reject(err, text, "tag contains invalid character %s",
				      show_char(tag[i], shown));
	return 0;
}

static int check_digest(const char *text, const char *digest, struct error *err)
{
	if (!*digest)
		return reject(err, text, "digest is empty");
	const char *colon = strchr(digest, ':');
	if (!colon)
		return reject(err, text, "digest '%s' has no algorithm (expected sha256:<hex>)",
			      digest);
	if ((size_t)(colon - digest) != strlen("sha256") || strncmp(digest, "sha256", 6) != 0)
		return reject(err, text, "digest algorithm '%.*s' is not supported (only sha256)",
			      (int)(colon - digest), digest);
	if (!digest_valid(digest))
		return reject(err, text,
			      "digest '%s' must be sha256: followed by 64 lowercase hexadecimal "
			      "digits",
			      digest);
	return 0;
}

int oci_reference_parse(const char *text, struct oci_reference *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	if (!text || !*text)
		return reject(err, text ? text : "", "reference is empty");
	if (looks_like_image_id(text))
		return reject(err, text,
			      "a 64-character hexadecimal string is an image id, not a repository "
			      "name");

	/* reference := name [':' tag] ['@' digest]; the tag's ':' is the last
	 * one after the last '/', any earlier one belongs to a port. */
	const char *at = strchr(text, '@');
	_cleanup_free_ char *name = xstrndup(text, at ? (size_t)(at - text) : strlen(text));
	_cleanup_free_ char *digest = at ? xstrdup(at + 1) : NULL;
	_cleanup_free_ char *tag = NULL;
	char *last_slash = strrchr(name, '/');
	char *colon = strrchr(last_slash ? last_slash : name, ':');
	if (colon) {
		tag = xstrdup(colon + 1);
		*colon = '\0';
	}

	_cleanup_free_ char *domain = NULL;
	const char *remainder = name;
	const char *first_slash = strchr(name, '/');
	if (first_slash && names_domain(name, (size_t)(first_slash - name))) {
		domain = xstrndup(name, (size_t)(first_slash - name));
		remainder = first_slash + 1;
	}

	int rc = check_path(text, remainder, err);
	if (rc == 0 && domain)
		rc = check_domain(text, domain, err);
	if (rc == 0 && tag)
		rc = check_tag(text, tag, err);
	if (rc == 0 && digest)
		rc = check_digest(text, digest, err);
	if (rc < 0)
		return rc;

	if (!domain || strcmp(domain, REFERENCE_LEGACY_DOMAIN) == 0) {
		free(domain);
		domain = xstrdup(REFERENCE_DEFAULT_DOMAIN);
	}
	char *path;
	if (strcmp(domain, REFERENCE_DEFAULT_DOMAIN) == 0 && !strchr(remainder, '/'))
		path = xasprintf(REFERENCE_OFFICIAL_PREFIX "%s", remainder);
	else
		path = xstrdup(remainder);
	if (strlen(domain) + 1 + strlen(path) > REFERENCE_NAME_MAX) {
		free(path);
		return reject(err, text, "repository name must not be more than %d characters",
			      REFERENCE_NAME_MAX);
	}
	if (!tag && !digest)
		tag = xstrdup(REFERENCE_DEFAULT_TAG);

	out->domain = move_ptr(domain);
	out->path = path;
	out->tag = move_ptr(tag);
	out->digest = move_ptr(digest);
	return 0;
}

void oci_reference_release(struct oci_reference *ref)
{
	if (!ref)
		return;
	free(ref->domain);
	free(ref->path);
	free(ref->tag);
	free(ref->digest);
	memset(ref, 0, sizeof(*ref));
}

char *oci_reference_string(const struct oci_reference *ref)
{
	return xasprintf("%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "",
			 ref->tag ? ref->tag : "", ref->digest ? "@" : "",
			 ref->digest ? ref->digest : "");
}

char *oci_reference_name(const struct oci_reference *ref)
{
	return xasprintf("%s/%s", ref->domain, ref->path);
}

char *oci_reference_normalize(const char *text, struct error *err)
{
	struct oci_reference ref;
	if (oci_reference_parse(text, &ref, err) < 0)
		return NULL;
	char *normalized = oci_reference_string(&ref);
	oci_reference_release(&ref);
	return normalized;
}

char *oci_reference_familiar_name(const struct oci_reference *ref)
{
	if (strcmp(ref->domain, REFERENCE_DEFAULT_DOMAIN) != 0)
		return oci_reference_name(ref);
	const char *path = ref->path;
	/* "library/foo/bar" keeps its prefix: "foo/bar" would normalize back
	 * to a different repository, docker.io/foo/bar. */
	if (str_has_prefix(path, REFERENCE_OFFICIAL_PREFIX) &&
	    !strchr(path + strlen(REFERENCE_OFFICIAL_PREFIX), '/'))
		path += strlen(REFERENCE_OFFICIAL_PREFIX);
	return xstrdup(path);
}
