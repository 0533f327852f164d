/* libFuzzer target: the bytes a peer can send on an API socket. They go
 * through a socketpair into the buffered frame reader; every complete frame
 * is decoded as a request (route + typed keys), as the server does. */
#include "ipc/frame.h"
#include "ipc/stream.h"
#include "json/jsonutil.h"
#include "util/util.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static void decode_request(json_t *body)
{
	struct error err = ERROR_INIT;
	const char *route = NULL, *name = NULL;
	int64_t n = 0;
	bool b = false;
	json_t *arr = NULL;
	if (ipc_body_route(body, &route, &err) == 0) {
		json_get_string(body, "name", false, &name, &err);
		json_get_int(body, "timeout", false, &n, &err);
		json_get_bool(body, "force", false, &b, &err);
		json_get_string_array(body, "args", false, &arr, &err);
	}
	ipc_body_error(body, &err);
	error_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	/* The header decoder on its own, as a fixed-size view of the input. */
	if (size >= IPC_HEADER_SIZE) {
		struct ipc_header h;
		struct error err = ERROR_INIT;
		ipc_header_decode(data, &h, &err);
		error_release(&err);
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	int sndbuf = 1 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	size_t off = 0;
	while (off < size) {
		ssize_t n = send(sv[0], data + off, size - off, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n <= 0)
			break;
		off += n;
	}
	close(sv[0]);
	struct ipc_reader r;
	ipc_reader_init(&r);
	for (int frames = 0; frames < 1024; frames++) {
		struct ipc_frame f;
		struct error err = ERROR_INIT;
		int rc = ipc_reader_read(&r, sv[1], MSG_DONTWAIT, &f, &err);
		error_release(&err);
		if (rc == IPC_READ_FRAME) {
			decode_request(f.body);
			ipc_frame_release(&f);
			continue;
		}
		if (rc == IPC_READ_BAD_BODY)
			continue;
		break;
	}
	ipc_reader_release(&r);
	close(sv[1]);
	return 0;
}
