#include "digest.h"
#include "util.h"

#include <openssl/evp.h>
#include <string.h>

struct digest_ctx {
	EVP_MD_CTX *md;
};

struct digest_ctx *digest_new(void)
{
	struct digest_ctx *ctx = xzalloc(sizeof(*ctx));
	ctx->md = EVP_MD_CTX_new();
	if (!ctx->md || EVP_DigestInit_ex(ctx->md, EVP_sha256(), NULL) != 1) {
		fputs("container: cannot initialise SHA-256\n", stderr);
		abort();
	}
	return ctx;
}

void digest_update(struct digest_ctx *ctx, const void *data, size_t len)
{
	EVP_DigestUpdate(ctx->md, data, len);
}

void digest_final(struct digest_ctx *ctx, char out[DIGEST_STRING_SIZE])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_DigestFinal_ex(ctx->md, md, &len);
	static const char hex[] = "0123456789abcdef";
	memcpy(out, "sha256:", 7);
	for (unsigned int i = 0; i < len; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[7 + 2 * i + 1] = hex[md[i] & 15];
	}
	out[7 + 2 * len] = '\0';
	digest_free(ctx);
}

void digest_free(struct digest_ctx *ctx)
{
	if (!ctx)
		return;
	EVP_MD_CTX_free(ctx->md);
	free(ctx);
}

void digest_buffer(const void *data, size_t len, char out[DIGEST_STRING_SIZE])
{
	struct digest_ctx *ctx = digest_new();
	digest_update(ctx, data, len);
	digest_final(ctx, out);
}
