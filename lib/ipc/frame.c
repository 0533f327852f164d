#include "frame.h"
#include "../util/util.h"

#include <errno.h>
#include <string.h>

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (v >> (8 * i)) & 0xff;
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v = 0;
	for (int i = 3; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void ipc_header_encode(const struct ipc_header *h, uint8_t out[IPC_HEADER_SIZE])
{
	put_le32(out + 0, h->magic);
	put_le16(out + 4, h->version);
	put_le16(out + 6, h->flags);
	put_le64(out + 8, h->id);
	put_le32(out + 16, h->body_len);
	put_le32(out + 20, h->nfds);
}

int ipc_header_decode(const uint8_t in[IPC_HEADER_SIZE], struct ipc_header *h, struct error *err)
{
	h->magic = get_le32(in + 0);
	h->version = get_le16(in + 4);
	h->flags = get_le16(in + 6);
	h->id = get_le64(in + 8);
	h->body_len = get_le32(in + 16);
	h->nfds = get_le32(in + 20);
	if (h->magic != IPC_MAGIC)
		return error_set(err, EPROTO, "bad frame magic 0x%08x (not a container API peer?)",
				 h->magic);
	if (h->version != IPC_VERSION)
		return error_set(err, EPROTO,
				 "unsupported protocol version %u (this side speaks %u)",
				 h->version, IPC_VERSION);
	if (h->flags & ~IPC_FLAGS_KNOWN)
		return error_set(err, EPROTO, "unknown frame flags 0x%04x", h->flags);
	if (h->body_len > IPC_MAX_BODY)
		return error_set(err, EMSGSIZE, "frame body of %u bytes exceeds the limit of %u",
				 h->body_len, IPC_MAX_BODY);
	if (h->nfds > IPC_MAX_FDS)
		return error_set(err, EMSGSIZE, "frame carries %u descriptors, the limit is %u",
				 h->nfds, IPC_MAX_FDS);
	return 0;
}

int ipc_body_decode(const char *body, size_t len, json_t **out, struct error *err)
{
	json_error_t jerr;
	if (len == 0)
		return error_set(err, EINVAL, "empty frame body");
	json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return error_set(err, EINVAL, "malformed JSON body at byte %d: %s", jerr.position,
				 jerr.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return error_set(err, EINVAL, "frame body must be a JSON object");
	}
	*out = j;
	return 0;
}

int ipc_body_route(json_t *body, const char **route, struct error *err)
{
	json_t *r = json_object_get(body, "route");
	if (!r)
		return error_set(err, EINVAL, "request has no 'route' key");
	if (!json_is_string(r) || json_string_length(r) == 0)
		return error_set(err, EINVAL, "key 'route' must be a non-empty string");
	*route = json_string_value(r);
	return 0;
}

int ipc_body_error(json_t *body, struct error *err)
{
	json_t *e = json_object_get(body, "error");
	if (!e)
		return 0;
	const char *code = json_string_value(json_object_get(e, "code"));
	const char *message = json_string_value(json_object_get(e, "message"));
	return error_set(err, error_code_from_name(code), "%s",
			 message ? message : "error reply without a message");
}

json_t *ipc_error_body(const struct error *err)
{
	int code = err && err->code ? err->code : EIO;
	const char *message = err && err->message ? err->message : "unknown error";
	return json_pack("{s:{s:s,s:s}}", "error", "code", error_code_name(code), "message",
			 message);
}

void ipc_frame_init(struct ipc_frame *f)
{
	memset(f, 0, sizeof(*f));
	for (unsigned i = 0; i < IPC_MAX_FDS; i++)
		f->fds[i] = -1;
}

void ipc_frame_release(struct ipc_frame *f)
{
	if (f->body)
		json_decref(f->body);
	f->body = NULL;
	for (unsigned i = 0; i < f->nfds; i++)
		if (f->fds[i] >= 0)
			close(f->fds[i]);
	f->nfds = 0;
}

int ipc_frame_take_fd(struct ipc_frame *f, unsigned i)
{
	if (i >= f->nfds)
		return -1;
	return move_fd(f->fds[i]);
}
