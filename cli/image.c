/* container image load|save|import|tag|list|inspect|delete|prune */
#include "cli.h"
#include "json/jsonutil.h"
#include "util/digest.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

/* The image service's socket appears shortly after the API server answers:
 * give a fresh system a few seconds before saying it is missing. */
static int connect_images(struct cli *cli, struct ipc_client **out, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/core-images.sock", cli->paths.run_root);
	int64_t deadline = time_monotonic_ms() + 5000;
	for (;;) {
		if (ipc_client_connect(path, out, err) == 0)
			return 0;
		if (err->code != ENOENT && err->code != ECONNREFUSED)
			return -err->code;
		error_release(err);
		json_t *reply = NULL;
		if (cli_call(cli, "ping", NULL, &reply, err) < 0)
			return -err->code; /* says the API server is not running */
		json_decref(reply);
		if (time_monotonic_ms() >= deadline)
			return error_set(err, ENOTCONN,
					 "the image service (plugin container-core-images) does "
					 "not answer on %s: see `container plugin list` and "
					 "`container system logs`",
					 path);
		usleep(50000);
	}
}

static int call_images(struct cli *cli, const char *route, json_t *request, const int *fds,
		       unsigned nfds, json_t **reply, ipc_event_fn on_event, void *data,
		       struct error *err)
{
	struct ipc_client *c = NULL;
	if (connect_images(cli, &c, err) < 0)
		return -err->code;
	/* Loads and saves of large images take a while; events keep it alive. */
	ipc_client_set_timeout(c, 600000);
	if (on_event)
		ipc_client_set_event_handler(c, on_event, data);
	struct ipc_frame frame;
	ipc_frame_init(&frame);
	cli_debug(cli, "calling %s", route);
	int rc = ipc_call_fds(c, route, request, fds, nfds, &frame, err);
	if (rc == 0 && reply)
		*reply = move_ptr(frame.body);
	ipc_frame_release(&frame);
	ipc_client_close(c);
	return rc;
}

/* ---- load ---- */

enum progress_mode { PROGRESS_AUTO, PROGRESS_PLAIN, PROGRESS_NONE };

struct progress {
	enum progress_mode mode;
	bool drawn;
	int64_t last_plain_ms;
};

static void on_progress(void *data, struct ipc_frame *event)
{
	struct progress *p = data;
	double done = (double)json_integer_value(json_object_get(event->body, "done"));
	double total = (double)json_integer_value(json_object_get(event->body, "total"));
	char d[16], t[16];
	cli_format_size(done, d, sizeof(d));
	cli_format_size(total, t, sizeof(t));
	if (p->mode == PROGRESS_PLAIN) {
		int64_t now = time_monotonic_ms();
		if (now - p->last_plain_ms < 1000 && done < total)
			return;
		p->last_plain_ms = now;
		if (total > 0)
			printf("loading: %s of %s (%.0f%%)\n", d, t, 100.0 * done / total);
		else
			printf("loading: %s\n", d);
		fflush(stdout);
		return;
	}
	const int width = 30;
	int filled = total > 0 ? (int)(width * done / total) : 0;
	if (filled > width)
		filled = width;
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < filled ? '=' : (i == filled ? '>' : ' ');
	bar[width] = '\0';
	if (total > 0)
		printf("\rLoading [%s] %8s/%s", bar, d, t);
	else
		printf("\rLoading %s", d);
	fflush(stdout);
	p->drawn = true;
}

static const char load_usage[] =
	"Usage: container image load [-i FILE] [--progress auto|plain|none]\n"
	"\n"
	"Loads images from an OCI layout tar or a `docker save` tar (optionally\n"
	"compressed), from FILE or standard input, and prints what it loaded.\n"
	"\n"
	"Options:\n"
	"  -i, --input FILE   read FILE instead of standard input\n"
	"  --progress MODE    auto (a bar when stdout is a terminal), plain or none\n"
	"  -h, --help         show this help\n";

static int image_load(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"input", required_argument, NULL, 'i'},
		{"progress", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *input = NULL;
	struct progress progress = {PROGRESS_AUTO, false, 0};
	int opt;
	while ((opt = getopt_long(argc, argv, "i:h", options, NULL)) != -1) {
		switch (opt) {
		case 'i':
			input = optarg;
			break;
		case 'p':
			if (strcmp(optarg, "auto") == 0)
				progress.mode = PROGRESS_AUTO;
			else if (strcmp(optarg, "plain") == 0)
				progress.mode = PROGRESS_PLAIN;
			else if (strcmp(optarg, "none") == 0)
				progress.mode = PROGRESS_NONE;
			else {
				cli_fail("--progress takes auto, plain or none, not '%s'", optarg);
				return CLI_USAGE;
			}
			break;
		case 'h':
			fputs(load_usage, stdout);
			return CLI_OK;
		default:
			return cli_usage_error(load_usage);
		}
	}
	if (optind < argc) {
		cli_fail("unexpected argument '%s' (the archive goes with -i)", argv[optind]);
		return CLI_USAGE;
	}
	if (progress.mode == PROGRESS_AUTO && !isatty(STDOUT_FILENO))
		progress.mode = PROGRESS_NONE;
	_cleanup_close_ int fd = -1;
	if (input && strcmp(input, "-") != 0) {
		fd = open(input, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return cli_fail("cannot open %s: %s", input, strerror(errno));
	} else {
		if (isatty(STDIN_FILENO))
			return cli_fail("no archive: give -i FILE or pipe one into standard input");
		fd = dup(STDIN_FILENO);
	}
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_json_ json_t *request =
		json_pack("{s:b}", "progress", progress.mode != PROGRESS_NONE);
	_cleanup_json_ json_t *reply = NULL;
	int rc = call_images(cli, "imageLoad", request, &fd, 1, &reply,
			     progress.mode != PROGRESS_NONE ? on_progress : NULL, &progress, &err);
	if (progress.drawn)
		putchar('\n');
	if (rc < 0)
		return cli_fail("load failed: %s", err.message);
	size_t i;
	json_t *name;
	json_array_foreach(json_object_get(reply, "loaded"), i, name)
	{
		printf("Loaded image: %s\n", json_string_value(name));
	}
	return CLI_OK;
}

/* ---- save ---- */

static const char save_usage[] =
	"Usage: container image save [-o FILE] IMAGE...\n"
	"\n"
	"Writes the images as one OCI layout tar to FILE or standard output.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE  write to FILE ('-' or absent: standard output)\n"
	"  -h, --help         show this help\n";

static int image_save(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *output = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
		switch (opt) {
		case 'o':
			output = optarg;
			break;
		case 'h':
			fputs(save_usage, stdout);
			return CLI_OK;
		default:
			return cli_usage_error(save_usage);
		}
	}
	if (optind >= argc) {
		cli_fail("name at least one image to save");
		return cli_usage_error(save_usage);
	}
	bool to_file = output && strcmp(output, "-") != 0;
	_cleanup_close_ int fd = -1;
	if (to_file) {
		fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return cli_fail("cannot create %s: %s", output, strerror(errno));
	} else {
		if (isatty(STDOUT_FILENO))
			return cli_fail("refusing to write an archive to a terminal: use -o FILE "
					"or redirect standard output");
		fd = dup(STDOUT_FILENO);
	}
	_cleanup_json_ json_t *refs = json_array();
	for (int i = optind; i < argc; i++)
		json_array_append_new(refs, json_string(argv[i]));
	_cleanup_json_ json_t *request = json_pack("{s:O}", "references", refs);
	_cleanup_error_ struct error err = ERROR_INIT;
	int rc = call_images(cli, "imageSave", request, &fd, 1, NULL, NULL, NULL, &err);
	if (rc < 0) {
		if (to_file)
			unlink(output); /* no half-written archive */
		return cli_fail("save failed: %s", err.message);
	}
	return CLI_OK;
}

/* ---- import ---- */

static const char import_usage[] =
	"Usage: container image import FILE|- REFERENCE\n"
	"\n"
	"Makes a one-layer image from a root file system tar (plain, gzip or zstd).\n"
	"\n"
	"Options:\n"
	"  -h, --help  show this help\n";

static int image_import(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(import_usage, stdout);
			return CLI_OK;
		}
		return cli_usage_error(import_usage);
	}
	if (argc - optind != 2) {
		cli_fail("import takes a file and a reference");
		return cli_usage_error(import_usage);
	}
	const char *file = argv[optind], *ref = argv[optind + 1];
	_cleanup_close_ int fd = -1;
	if (strcmp(file, "-") == 0)
		fd = dup(STDIN_FILENO);
	else if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0)
		return cli_fail("cannot open %s: %s", file, strerror(errno));
	_cleanup_json_ json_t *request = json_pack("{s:s}", "reference", ref);
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_error_ struct error err = ERROR_INIT;
	if (call_images(cli, "imageImport", request, &fd, 1, &reply, NULL, NULL, &err) < 0)
		return cli_fail("import failed: %s", err.message);
	printf("%s\n", json_string_value(json_object_get(reply, "digest")));
	return CLI_OK;
}

/* ---- tag ---- */

static const char tag_usage[] = "Usage: container image tag SOURCE TARGET\n"
				"\n"
				"Gives the image SOURCE the additional name TARGET.\n"
				"\n"
				"Options:\n"
				"  -h, --help  show this help\n";

static int image_tag(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(tag_usage, stdout);
			return CLI_OK;
		}
		return cli_usage_error(tag_usage);
	}
	if (argc - optind != 2) {
		cli_fail("tag takes a source and a target");
		return cli_usage_error(tag_usage);
	}
	_cleanup_json_ json_t *request =
		json_pack("{s:s,s:s}", "source", argv[optind], "target", argv[optind + 1]);
	_cleanup_error_ struct error err = ERROR_INIT;
	if (call_images(cli, "imageTag", request, NULL, 0, NULL, NULL, NULL, &err) < 0)
		return cli_fail_error(&err);
	return CLI_OK;
}

/* ---- list ---- */

static const char list_usage[] = "Usage: container image list [-q] [-v] [--format table|json]\n"
				 "\n"
				 "Lists images.\n"
				 "\n"
				 "Options:\n"
				 "  -q, --quiet      print references only\n"
				 "  -v, --verbose    add platform, size and creation time\n"
				 "  --format FORMAT  table (default) or json\n"
				 "  -h, --help       show this help\n";

static int image_list(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool quiet = false, verbose = false;
	enum cli_format format = CLI_FORMAT_TABLE;
	int opt;
	while ((opt = getopt_long(argc, argv, "qvh", options, NULL)) != -1) {
		switch (opt) {
		case 'q':
			quiet = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'f':
			if (cli_parse_format(optarg, &format) < 0)
				return CLI_USAGE;
			break;
		case 'h':
			fputs(list_usage, stdout);
			return CLI_OK;
		default:
			return cli_usage_error(list_usage);
		}
	}
	if (optind < argc) {
		cli_fail("unexpected argument '%s'", argv[optind]);
		return CLI_USAGE;
	}
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_error_ struct error err = ERROR_INIT;
	if (call_images(cli, "imageList", NULL, NULL, 0, &reply, NULL, NULL, &err) < 0)
		return cli_fail_error(&err);
	json_t *images = json_object_get(reply, "images");
	if (format == CLI_FORMAT_JSON) {
		cli_print_json(images);
		return CLI_OK;
	}
	size_t i;
	json_t *img;
	if (quiet) {
		json_array_foreach(images, i, img)
		{
			puts(json_string_value(json_object_get(img, "reference")));
		}
		return CLI_OK;
	}
	static const char *const headers[] = {"NAME",	  "TAG",  "DIGEST",
					      "PLATFORM", "SIZE", "CREATED"};
	struct cli_table *t = cli_table_new(verbose ? 6 : 3, headers);
	json_array_foreach(images, i, img)
	{
		const char *name = json_string_value(json_object_get(img, "name"));
		const char *tag = json_string_value(json_object_get(img, "tag"));
		const char *digest = json_string_value(json_object_get(img, "digest"));
		char short_digest[20] = "";
		if (digest && digest_valid(digest))
			snprintf(short_digest, sizeof(short_digest), "%.12s", digest_hex(digest));
		char platform[64], size[16], created[40];
		const char *os = json_string_value(json_object_get(img, "os"));
		const char *arch = json_string_value(json_object_get(img, "architecture"));
		snprintf(platform, sizeof(platform), "%s/%s", os ? os : "?", arch ? arch : "?");
		cli_format_size((double)json_integer_value(json_object_get(img, "size")), size,
				sizeof(size));
		/* the image's own creation time; else when it was stored here */
		const char *made = json_string_value(json_object_get(img, "imageCreated"));
		if (made)
			snprintf(created, sizeof(created), "%s", made);
		else
			time_format_rfc3339(json_integer_value(json_object_get(img, "created")),
					    created, sizeof(created));
		created[strlen(created) > 19 ? 19 : strlen(created)] = '\0';
		const char *cells[] = {name ? name : "<none>",
				       tag ? tag : "<none>",
				       short_digest,
				       platform,
				       size,
				       created};
		cli_table_add(t, cells);
	}
	cli_table_print(t, stdout);
	cli_table_free(t);
	return CLI_OK;
}

/* ---- inspect ---- */

static const char inspect_usage[] = "Usage: container image inspect IMAGE...\n"
				    "\n"
				    "Prints the images as a JSON array: configuration, layers,\n"
				    "platform, size.\n"
				    "\n"
				    "Options:\n"
				    "  -h, --help  show this help\n";

static int image_inspect(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {{"help", no_argument, NULL, 'h'}, {0}};
	int opt;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		if (opt == 'h') {
			fputs(inspect_usage, stdout);
			return CLI_OK;
		}
		return cli_usage_error(inspect_usage);
	}
	if (optind >= argc) {
		cli_fail("name at least one image");
		return cli_usage_error(inspect_usage);
	}
	_cleanup_json_ json_t *all = json_array();
	int rc = CLI_OK;
	for (int i = optind; i < argc; i++) {
		_cleanup_json_ json_t *request = json_pack("{s:s}", "reference", argv[i]);
		_cleanup_json_ json_t *reply = NULL;
		_cleanup_error_ struct error err = ERROR_INIT;
		if (call_images(cli, "imageInspect", request, NULL, 0, &reply, NULL, NULL, &err) <
		    0) {
			rc = cli_fail_error(&err);
			if (err.code != ENOENT)
				return rc;
			continue;
		}
		json_array_append(all, json_object_get(reply, "image"));
	}
	cli_print_json(all);
	return rc;
}

/* ---- delete and prune ---- */

static void print_removal(json_t *reply)
{
	size_t i;
	json_t *name;
	json_array_foreach(json_object_get(reply, "deleted"), i, name)
	{
		printf("Deleted: %s\n", json_string_value(name));
	}
	char size[16];
	cli_format_size((double)json_integer_value(json_object_get(reply, "reclaimed")), size,
			sizeof(size));
	printf("Reclaimed space: %s\n", size);
}

static const char delete_usage[] = "Usage: container image delete [-a] [-f] [IMAGE...]\n"
				   "\n"
				   "Removes image references; content no image uses any more is\n"
				   "removed with them.\n"
				   "\n"
				   "Options:\n"
				   "  -a, --all    remove every image\n"
				   "  -f, --force  remove images even when containers use them\n"
				   "  -h, --help   show this help\n";

static int image_delete(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"all", no_argument, NULL, 'a'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool all = false, force = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "afh", options, NULL)) != -1) {
		switch (opt) {
		case 'a':
			all = true;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			fputs(delete_usage, stdout);
			return CLI_OK;
		default:
			return cli_usage_error(delete_usage);
		}
	}
	if (!all && optind >= argc) {
		cli_fail("name at least one image, or use --all");
		return cli_usage_error(delete_usage);
	}
	if (all && optind < argc) {
		cli_fail("--all takes no image names");
		return CLI_USAGE;
	}
	_cleanup_json_ json_t *refs = json_array();
	for (int i = optind; i < argc; i++)
		json_array_append_new(refs, json_string(argv[i]));
	_cleanup_json_ json_t *request =
		json_pack("{s:O,s:b,s:b}", "references", refs, "all", all, "force", force);
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_error_ struct error err = ERROR_INIT;
	if (call_images(cli, "imageDelete", request, NULL, 0, &reply, NULL, NULL, &err) < 0)
		return cli_fail_error(&err);
	print_removal(reply);
	return CLI_OK;
}

static const char prune_usage[] = "Usage: container image prune [-a]\n"
				  "\n"
				  "Removes images without a name, and the content no image uses.\n"
				  "\n"
				  "Options:\n"
				  "  -a, --all   also remove every image no container uses\n"
				  "  -h, --help  show this help\n";

static int image_prune(struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{"all", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	bool all = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "ah", options, NULL)) != -1) {
		switch (opt) {
		case 'a':
			all = true;
			break;
		case 'h':
			fputs(prune_usage, stdout);
			return CLI_OK;
		default:
			return cli_usage_error(prune_usage);
		}
	}
	if (optind < argc) {
		cli_fail("unexpected argument '%s'", argv[optind]);
		return CLI_USAGE;
	}
	_cleanup_json_ json_t *request = json_pack("{s:b}", "all", all);
	_cleanup_json_ json_t *reply = NULL;
	_cleanup_error_ struct error err = ERROR_INIT;
	if (call_images(cli, "imagePrune", request, NULL, 0, &reply, NULL, NULL, &err) < 0)
		return cli_fail_error(&err);
	print_removal(reply);
	return CLI_OK;
}

static const struct cli_command image_commands[] = {
	{"load", NULL, image_load, "load images from an OCI or docker-save archive"},
	{"save", NULL, image_save, "write images to an OCI layout archive"},
	{"import", NULL, image_import, "make an image from a root file system tar"},
	{"tag", NULL, image_tag, "give an image another name"},
	{"list", "ls", image_list, "list images"},
	{"inspect", NULL, image_inspect, "show images as JSON"},
	{"delete", "rm", image_delete, "remove images"},
	{"prune", NULL, image_prune, "remove unused images and content"},
};

int cli_image(struct cli *cli, int argc, char **argv)
{
	return cli_dispatch(cli, "image", image_commands, ARRAY_SIZE(image_commands), argc, argv);
}
