/* The text form of digests, apart from the hashing so that programs that
 * only read digests (the CLI) do not load libcrypto. */
#include "digest.h"

#include <string.h>

bool digest_valid(const char *digest)
{
	if (!digest || strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 71)
		return false;
	for (const char *p = digest + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

const char *digest_hex(const char *digest)
{
	return digest + 7;
}
