/* Unit tests of the SQLite metadata store (lib/store): accessors, transactions,
 * migrations, refusal of a newer schema, and durability across a SIGKILL. */
#include "store/store.h"
#include "util/fs.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

/* The binary's scratch directory; every test gets its own database in it. */
static char test_dir[] = "/tmp/test-store-XXXXXX";
static unsigned test_counter;

struct fixture {
	char *path;
	struct store *st;
};

/* Uses the `err` in scope, so that a failure shows the store's message. */
#define assert_ok(expr)                                                                            \
	do {                                                                                       \
		int _r = (expr);                                                                   \
		if (_r < 0)                                                                        \
			fail_msg("%s returned %d: %s", #expr, _r,                                  \
				 err.message ? err.message : "(no message)");                      \
		assert_false(error_is_set(&err));                                                  \
	} while (0)

/* Checks the code and the exact message, then drops the error. */
#define assert_error(expr, expected_code, expected_message)                                        \
	do {                                                                                       \
		int _r = (expr);                                                                   \
		assert_int_equal(_r, -(expected_code));                                            \
		assert_int_equal(err.code, (expected_code));                                       \
		assert_non_null(err.message);                                                      \
		assert_string_equal(err.message, (expected_message));                              \
		error_release(&err);                                                               \
	} while (0)

static int remove_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	return remove(path);
}

static int group_setup(void **state)
{
	return mkdtemp(test_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	return nftw(test_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup_path(void **state)
{
	struct fixture *f = xzalloc(sizeof(*f));
	f->path = xasprintf("%s/%u.db", test_dir, test_counter++);
	*state = f;
	return 0;
}

static int setup_store(void **state)
{
	setup_path(state);
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	if (store_open(f->path, &f->st, &err) < 0) {
		print_error("store_open %s: %s\n", f->path, err.message);
		error_release(&err);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->st);
	free(f->path);
	free(f);
	return 0;
}

/* ---- Raw SQLite, to build and inspect databases behind the store's back ---- */

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		fail_msg("sqlite3_open %s: %s", path, sqlite3_errmsg(db));
	return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *message = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &message) != SQLITE_OK)
		fail_msg("%s: %s", sql, message);
}

/* First column of the first row as text, or NULL when there is no row. */
static char *raw_query(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	char *value = NULL;
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
		value = xstrdup((const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
	return value;
}

static void raw_set_version(sqlite3 *db, int version)
{
	sqlite3_stmt *stmt = NULL;
	assert_int_equal(sqlite3_prepare_v2(db,
					    "INSERT OR REPLACE INTO schema_version VALUES (1, ?1)",
					    -1, &stmt, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_bind_int(stmt, 1, version), SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
	sqlite3_finalize(stmt);
}

/* Schema version 1 exactly as it shipped: frozen here on purpose, so that the
 * migration test keeps starting from what databases in the field hold, even
 * if store.c's copy were edited by mistake. */
static const char schema_v1[] = "CREATE TABLE schema_version ("
				" singleton INTEGER PRIMARY KEY CHECK (singleton = 1),"
				" version INTEGER NOT NULL);"
				"CREATE TABLE containers ("
				" id TEXT PRIMARY KEY NOT NULL,"
				" name TEXT UNIQUE NOT NULL,"
				" image TEXT,"
				" state TEXT,"
				" created INTEGER NOT NULL,"
				" config TEXT);"
				"CREATE TABLE networks ("
				" name TEXT PRIMARY KEY NOT NULL,"
				" config TEXT,"
				" created INTEGER NOT NULL);"
				"CREATE TABLE volumes ("
				" name TEXT PRIMARY KEY NOT NULL,"
				" config TEXT,"
				" created INTEGER NOT NULL);"
				"CREATE TABLE image_refs ("
				" reference TEXT PRIMARY KEY NOT NULL,"
				" digest TEXT NOT NULL,"
				" media_type TEXT,"
				" created INTEGER NOT NULL);"
				"CREATE TABLE ip_allocations ("
				" network TEXT NOT NULL,"
				" address TEXT NOT NULL,"
				" container_id TEXT,"
				" PRIMARY KEY (network, address));"
				"INSERT INTO schema_version VALUES (1, 1);";

static void assert_string_or_null_equal(const char *a, const char *b)
{
	if (!a || !b)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_container_equal(const struct store_container *a, const struct store_container *b)
{
	assert_string_equal(a->id, b->id);
	assert_string_equal(a->name, b->name);
	assert_string_or_null_equal(a->image, b->image);
	assert_string_or_null_equal(a->state, b->state);
	assert_int_equal(a->created, b->created);
	assert_string_or_null_equal(a->config, b->config);
}

/* ---- Open ---- */

static void test_open_creates_latest_schema(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;

	assert_true(store_schema_latest() >= 2);
	assert_int_equal(store_schema_version(f->st), store_schema_latest());
	assert_ok(store_check_integrity(f->st, &err));

	sqlite3 *db = raw_open(f->path);
	_cleanup_free_ char *mode = raw_query(db, "PRAGMA journal_mode");
	_cleanup_free_ char *version = raw_query(db, "SELECT version FROM schema_version");
	_cleanup_free_ char *index = raw_query(
		db, "SELECT name FROM sqlite_master WHERE name = 'ip_allocations_container'");
	sqlite3_close(db);
	assert_string_equal(mode, "wal");
	assert_int_equal(atoi(version), store_schema_latest());
	assert_non_null(index);

	/* Opening again finds nothing to migrate. */
	store_close(f->st);
	f->st = NULL;
	assert_ok(store_open(f->path, &f->st, &err));
	assert_int_equal(store_schema_version(f->st), store_schema_latest());
}

static void test_open_not_a_database(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	static const char garbage[] = "this is not an SQLite database, just some text in a file\n";

	assert_ok(fs_write_file_atomic(f->path, garbage, sizeof(garbage) - 1, 0600, &err));
	struct store *st = (struct store *)1;
	int r = store_open(f->path, &st, &err);
	assert_true(r < 0);
	assert_null(st);
	assert_non_null(strstr(err.message, "not a database"));
	assert_non_null(strstr(err.message, f->path));
	error_release(&err);

	_cleanup_free_ char *data = NULL;
	assert_ok(fs_read_file(f->path, 4096, &data, NULL, &err));
	assert_string_equal(data, garbage);
}

static void test_open_missing_directory(void **state)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *path = xasprintf("%s/no/such/dir/metadata.db", test_dir);
	struct store *st = NULL;
	int r = store_open(path, &st, &err);
	assert_int_equal(r, -ENOENT);
	assert_null(st);
	assert_non_null(strstr(err.message, path));
	error_release(&err);
}

/* ---- Containers ---- */

static void test_container_crud(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	struct store_container web = {
		.id = "4f2a9c1d0b7e4f3a8c6d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b",
		.name = "web",
		.image = "docker.io/library/nginx:latest",
		.state = "created",
		.created = 1700000000123,
		.config = "{\"cmd\":[\"nginx\",\"-g\",\"daemon off;\"]}",
	};
	/* Optional fields left NULL come back NULL. */
	struct store_container db = {.id = "db-id", .name = "db", .created = 1600000000000};
	struct store_container got;

	assert_ok(store_container_put(f->st, &web, &err));
	assert_ok(store_container_put(f->st, &db, &err));

	assert_ok(store_container_get(f->st, web.id, &got, &err));
	assert_container_equal(&got, &web);
	store_container_release(&got);
	assert_ok(store_container_get(f->st, "web", &got, &err));
	assert_container_equal(&got, &web);
	store_container_release(&got);
	assert_ok(store_container_get(f->st, "db", &got, &err));
	assert_container_equal(&got, &db);
	assert_null(got.image);
	assert_null(got.config);
	store_container_release(&got);
	assert_null(got.id);

	/* put replaces by id. */
	web.state = "running";
	web.config = "{}";
	assert_ok(store_container_put(f->st, &web, &err));
	assert_ok(store_container_get(f->st, "web", &got, &err));
	assert_container_equal(&got, &web);
	store_container_release(&got);

	struct store_container *list = NULL;
	size_t n = 0;
	assert_ok(store_container_list(f->st, &list, &n, &err));
	assert_int_equal(n, 2);
	/* Oldest first. */
	assert_container_equal(&list[0], &db);
	assert_container_equal(&list[1], &web);
	store_container_list_free(list, n);

	assert_ok(store_container_delete(f->st, web.id, &err));
	assert_error(store_container_get(f->st, "web", &got, &err), ENOENT,
		     "container 'web' not found");
	assert_null(got.id);
	store_container_release(&got);
	assert_error(store_container_delete(f->st, "nope", &err), ENOENT,
		     "container 'nope' not found");

	assert_ok(store_container_list(f->st, &list, &n, &err));
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "db");
	store_container_list_free(list, n);

	assert_ok(store_container_delete(f->st, "db-id", &err));
	assert_ok(store_container_list(f->st, &list, &n, &err));
	assert_int_equal(n, 0);
	store_container_list_free(list, n);
}

static void test_container_name_conflict(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	struct store_container first = {.id = "id-1", .name = "web", .state = "running"};
	struct store_container second = {.id = "id-2", .name = "web", .state = "created"};
	struct store_container got;

	assert_ok(store_container_put(f->st, &first, &err));
	assert_error(store_container_put(f->st, &second, &err), EEXIST,
		     "container name 'web' is already in use");

	/* The first one is intact and the second was not stored. */
	assert_ok(store_container_get(f->st, "web", &got, &err));
	assert_container_equal(&got, &first);
	store_container_release(&got);
	assert_error(store_container_get(f->st, "id-2", &got, &err), ENOENT,
		     "container 'id-2' not found");

	/* Renaming frees the name. */
	first.name = "web-old";
	assert_ok(store_container_put(f->st, &first, &err));
	assert_ok(store_container_put(f->st, &second, &err));
	assert_ok(store_container_get(f->st, "web", &got, &err));
	assert_string_equal(got.id, "id-2");
	store_container_release(&got);
}

static void test_container_get_prefers_id(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	struct store_container named = {.id = "aaa", .name = "bbb"};
	struct store_container ided = {.id = "bbb", .name = "ccc"};
	struct store_container got;

	assert_ok(store_container_put(f->st, &named, &err));
	assert_ok(store_container_put(f->st, &ided, &err));
	assert_ok(store_container_get(f->st, "bbb", &got, &err));
	assert_string_equal(got.name, "ccc");
	store_container_release(&got);
}

static void test_container_required_fields(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	struct store_container no_id = {.name = "x"};
	struct store_container no_name = {.id = "x"};
	struct store_container got;

	assert_error(store_container_put(f->st, &no_id, &err), EINVAL, "container id is required");
	assert_error(store_container_put(f->st, &no_name, &err), EINVAL,
		     "container name is required");
	assert_error(store_container_get(f->st, NULL, &got, &err), EINVAL,
		     "container id is required");
}

/* ---- Networks, volumes, image references ---- */

static void test_network_crud(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	struct store_network def = {
		.name = "default", .config = "{\"subnet\":\"192.168.64.0/24\"}", .created = 1};
	struct store_network backend = {.name = "backend", .config = NULL, .created = 2};
	struct store_network got;

	assert_ok(store_network_put(f->st, &def, &err));
	assert_ok(store_network_put(f->st, &backend, &err));
	assert_ok(store_network_get(f->st, "default", &got, &err));
	assert_string_equal(got.name, "default");
	assert_string_equal(got.config, def.config);
	assert_int_equal(got.created, 1);
	store_network_release(&got);

	def.config = "{\"subnet\":\"10.0.0.0/24\"}";
	assert_ok(store_network_put(f->st, &def, &err));
	assert_ok(store_network_get(f->st, "default", &got, &err));
	assert_string_equal(got.config, def.config);
	store_network_release(&got);

	struct store_network *list = NULL;
	size_t n = 0;
	assert_ok(store_network_list(f->st, &list, &n, &err));
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "backend");
	assert_null(list[0].config);
	assert_int_equal(list[0].created, 2);
	assert_string_equal(list[1].name, "default");
	store_network_list_free(list, n);

	assert_ok(store_network_delete(f->st, "backend", &err));
	assert_error(store_network_get(f->st, "backend", &got, &err), ENOENT,
		     "network 'backend' not found");
	assert_error(store_network_delete(f->st, "backend", &err), ENOENT,
		     "network 'backend' not found");
	struct store_network unnamed = {.config = "{}"};
	assert_error(store_network_put(f->st, &unnamed, &err), EINVAL, "network name is required");
}

static void test_volume_crud(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	struct store_volume data = {
		.name = "data", .config = "{\"driver\":\"local\"}", .created = 5};
	struct store_volume cache = {.name = "cache", .config = "{}", .created = 6};
	struct store_volume got;

	assert_ok(store_volume_put(f->st, &data, &err));
	assert_ok(store_volume_put(f->st, &cache, &err));
	assert_ok(store_volume_get(f->st, "data", &got, &err));
	assert_string_equal(got.name, "data");
	assert_string_equal(got.config, data.config);
	assert_int_equal(got.created, 5);
	store_volume_release(&got);

	data.created = 50;
	assert_ok(store_volume_put(f->st, &data, &err));
	assert_ok(store_volume_get(f->st, "data", &got, &err));
	assert_int_equal(got.created, 50);
	store_volume_release(&got);

	struct store_volume *list = NULL;
	size_t n = 0;
	assert_ok(store_volume_list(f->st, &list, &n, &err));
	assert_int_equal(n, 2);
	assert_string_equal(list[0].name, "cache");
	assert_string_equal(list[1].name, "data");
	store_volume_list_free(list, n);

	assert_ok(store_volume_delete(f->st, "data", &err));
	assert_error(store_volume_get(f->st, "data", &got, &err), ENOENT,
		     "volume 'data' not found");
	assert_error(store_volume_delete(f->st, "data", &err), ENOENT, "volume 'data' not found");
	assert_ok(store_volume_list(f->st, &list, &n, &err));
	assert_int_equal(n, 1);
	store_volume_list_free(list, n);
}

static void test_image_ref_crud(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	struct store_image_ref busybox = {
		.reference = "docker.io/library/busybox:latest",
		.digest = "sha256:"
			  "9ae97d36d26566ff84e8893c64a6dc4fe8ca6d1144bf5b87b2b85a32def253c7",
		.media_type = "application/vnd.oci.image.index.v1+json",
		.created = 10,
	};
	struct store_image_ref alpine = {
		.reference = "docker.io/library/alpine:3.20",
		.digest = "sha256:"
			  "0000000000000000000000000000000000000000000000000000000000000001",
		.created = 11,
	};
	struct store_image_ref got;

	assert_ok(store_image_ref_put(f->st, &busybox, &err));
	assert_ok(store_image_ref_put(f->st, &alpine, &err));
	assert_ok(store_image_ref_get(f->st, busybox.reference, &got, &err));
	assert_string_equal(got.reference, busybox.reference);
	assert_string_equal(got.digest, busybox.digest);
	assert_string_equal(got.media_type, busybox.media_type);
	assert_int_equal(got.created, 10);
	store_image_ref_release(&got);

	/* Retagging moves the reference to another digest. */
	busybox.digest = alpine.digest;
	busybox.media_type = NULL;
	assert_ok(store_image_ref_put(f->st, &busybox, &err));
	assert_ok(store_image_ref_get(f->st, busybox.reference, &got, &err));
	assert_string_equal(got.digest, alpine.digest);
	assert_null(got.media_type);
	store_image_ref_release(&got);

	struct store_image_ref *list = NULL;
	size_t n = 0;
	assert_ok(store_image_ref_list(f->st, &list, &n, &err));
	assert_int_equal(n, 2);
	assert_string_equal(list[0].reference, alpine.reference);
	assert_string_equal(list[1].reference, busybox.reference);
	store_image_ref_list_free(list, n);

	assert_ok(store_image_ref_delete(f->st, alpine.reference, &err));
	assert_error(store_image_ref_get(f->st, alpine.reference, &got, &err), ENOENT,
		     "image reference 'docker.io/library/alpine:3.20' not found");
	assert_error(store_image_ref_delete(f->st, alpine.reference, &err), ENOENT,
		     "image reference 'docker.io/library/alpine:3.20' not found");
	struct store_image_ref no_digest = {.reference = "x"};
	assert_error(store_image_ref_put(f->st, &no_digest, &err), EINVAL,
		     "image reference digest is required");
}

/* ---- Snapshots ---- */

static void test_snapshot_crud(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	int64_t id = 0;
	assert_ok(store_snapshot_next_id(f->st, &id, &err));
	assert_int_equal(id, 1);
	struct store_snapshot base = {
		.chain_id = "sha256:"
			    "1111111111111111111111111111111111111111111111111111111111111111",
		.id = 1,
		.diff_id = "sha256:"
			   "1111111111111111111111111111111111111111111111111111111111111111",
		.size = 100,
		.created = 5,
	};
	struct store_snapshot top = {
		.chain_id = "sha256:"
			    "2222222222222222222222222222222222222222222222222222222222222222",
		.id = 2,
		.parent = base.chain_id,
		.diff_id = "sha256:"
			   "3333333333333333333333333333333333333333333333333333333333333333",
		.size = 7,
		.created = 6,
	};
	assert_ok(store_snapshot_put(f->st, &base, &err));
	assert_ok(store_snapshot_put(f->st, &top, &err));
	assert_ok(store_snapshot_next_id(f->st, &id, &err));
	assert_int_equal(id, 3);
	struct store_snapshot got;
	assert_ok(store_snapshot_get(f->st, top.chain_id, &got, &err));
	assert_int_equal(got.id, 2);
	assert_string_equal(got.parent, base.chain_id);
	assert_int_equal(got.size, 7);
	store_snapshot_release(&got);
	/* ids are unique: a second snapshot may not take id 1 */
	struct store_snapshot clash = top;
	clash.chain_id = "sha256:"
			 "4444444444444444444444444444444444444444444444444444444444444444";
	clash.id = 1;
	assert_true(store_snapshot_put(f->st, &clash, &err) < 0);
	error_release(&err);
	struct store_snapshot *list = NULL;
	size_t n = 0;
	assert_ok(store_snapshot_list(f->st, &list, &n, &err));
	assert_int_equal(n, 2);
	assert_int_equal(list[0].id, 1);
	store_snapshot_list_free(list, n);
	assert_ok(store_snapshot_delete(f->st, base.chain_id, &err));
	assert_error(store_snapshot_get(f->st, base.chain_id, &got, &err), ENOENT,
		     "snapshot "
		     "'sha256:1111111111111111111111111111111111111111111111111111111111111111' "
		     "not found");
}

/* ---- IP allocations ---- */

static void test_ip_allocations(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	struct store_ip_allocation *list = NULL;
	size_t n = 0;

	assert_ok(store_ip_allocate(f->st, "default", "192.168.64.2", "c1", &err));
	assert_error(store_ip_allocate(f->st, "default", "192.168.64.2", "c2", &err), EEXIST,
		     "address 192.168.64.2 is already allocated on network default");
	/* The same address on another network is another address. */
	assert_ok(store_ip_allocate(f->st, "backend", "192.168.64.2", "c2", &err));
	assert_ok(store_ip_allocate(f->st, "default", "192.168.64.3", "c1", &err));

	assert_ok(store_ip_list(f->st, "default", &list, &n, &err));
	assert_int_equal(n, 2);
	assert_string_equal(list[0].network, "default");
	assert_string_equal(list[0].address, "192.168.64.2");
	assert_string_equal(list[0].container_id, "c1");
	assert_string_equal(list[1].address, "192.168.64.3");
	store_ip_list_free(list, n);
	assert_ok(store_ip_list(f->st, NULL, &list, &n, &err));
	assert_int_equal(n, 3);
	assert_string_equal(list[0].network, "backend");
	assert_string_equal(list[0].container_id, "c2");
	store_ip_list_free(list, n);
	assert_ok(store_ip_list(f->st, "nowhere", &list, &n, &err));
	assert_int_equal(n, 0);
	store_ip_list_free(list, n);

	assert_ok(store_ip_release(f->st, "default", "192.168.64.3", &err));
	assert_error(store_ip_release(f->st, "default", "192.168.64.3", &err), ENOENT,
		     "address 192.168.64.3 is not allocated on network default");

	assert_ok(store_ip_allocate(f->st, "default", "192.168.64.4", "c1", &err));
	assert_ok(store_ip_release_container(f->st, "c1", &err));
	assert_ok(store_ip_list(f->st, "default", &list, &n, &err));
	assert_int_equal(n, 0);
	store_ip_list_free(list, n);
	assert_ok(store_ip_list(f->st, NULL, &list, &n, &err));
	assert_int_equal(n, 1);
	assert_string_equal(list[0].container_id, "c2");
	store_ip_list_free(list, n);
	/* Nothing to release is not an error. */
	assert_ok(store_ip_release_container(f->st, "c1", &err));

	/* A released address can be handed out again. */
	assert_ok(store_ip_allocate(f->st, "default", "192.168.64.2", "c3", &err));
	assert_error(store_ip_allocate(f->st, NULL, "192.168.64.9", "c3", &err), EINVAL,
		     "IP allocation network is required");
}

/* ---- Transactions ---- */

static void test_transaction_rollback(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	struct store_container c = {.id = "tx-1", .name = "tx"};
	struct store_network net = {.name = "txnet"};
	struct store_container got;
	struct store_ip_allocation *ips = NULL;
	size_t n = 0;

	assert_ok(store_begin(f->st, &err));
	assert_ok(store_network_put(f->st, &net, &err));
	assert_ok(store_container_put(f->st, &c, &err));
	assert_ok(store_ip_allocate(f->st, "txnet", "10.0.0.2", "tx-1", &err));
	/* Reads inside the transaction see its writes. */
	assert_ok(store_container_get(f->st, "tx", &got, &err));
	store_container_release(&got);
	store_rollback(f->st);

	assert_error(store_container_get(f->st, "tx", &got, &err), ENOENT,
		     "container 'tx' not found");
	struct store_network got_net;
	assert_error(store_network_get(f->st, "txnet", &got_net, &err), ENOENT,
		     "network 'txnet' not found");
	assert_ok(store_ip_list(f->st, NULL, &ips, &n, &err));
	assert_int_equal(n, 0);
	store_ip_list_free(ips, n);

	/* A multi-step change that fails midway is undone as a whole. */
	struct store_container taken = {.id = "other", .name = "taken"};
	struct store_container clash = {.id = "tx-2", .name = "taken"};
	assert_ok(store_container_put(f->st, &taken, &err));
	assert_ok(store_begin(f->st, &err));
	assert_ok(store_ip_allocate(f->st, "txnet", "10.0.0.3", "tx-2", &err));
	assert_error(store_container_put(f->st, &clash, &err), EEXIST,
		     "container name 'taken' is already in use");
	store_rollback(f->st);
	assert_ok(store_ip_list(f->st, NULL, &ips, &n, &err));
	assert_int_equal(n, 0);
	store_ip_list_free(ips, n);

	/* Committed work stays. */
	assert_ok(store_begin(f->st, &err));
	assert_ok(store_container_put(f->st, &c, &err));
	assert_ok(store_ip_allocate(f->st, "txnet", "10.0.0.2", "tx-1", &err));
	assert_ok(store_commit(f->st, &err));
	assert_ok(store_container_get(f->st, "tx", &got, &err));
	store_container_release(&got);

	/* Misuse is reported, and a rollback with nothing open is harmless. */
	assert_ok(store_begin(f->st, &err));
	assert_error(store_begin(f->st, &err), EINVAL,
		     "begin transaction: a transaction is already open");
	store_rollback(f->st);
	store_rollback(f->st);
	assert_true(store_commit(f->st, &err) < 0);
	assert_non_null(strstr(err.message, "no transaction is active"));
	error_release(&err);
}

static void test_transaction_isolation(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	struct store *other = NULL;
	struct store_container c = {.id = "iso", .name = "iso"};
	struct store_container got;

	assert_ok(store_open(f->path, &other, &err));
	assert_ok(store_begin(f->st, &err));
	assert_ok(store_container_put(f->st, &c, &err));
	/* Another connection does not see uncommitted rows (and is not blocked). */
	assert_error(store_container_get(other, "iso", &got, &err), ENOENT,
		     "container 'iso' not found");
	assert_ok(store_commit(f->st, &err));
	assert_ok(store_container_get(other, "iso", &got, &err));
	store_container_release(&got);
	store_close(other);
}

/* ---- Migrations ---- */

static void test_migrate_from_v1(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;

	/* A version 1 database in the default (rollback journal) mode, with data. */
	sqlite3 *db = raw_open(f->path);
	raw_exec(db, "BEGIN");
	raw_exec(db, schema_v1);
	raw_exec(db,
		 "INSERT INTO containers VALUES ('old-id', 'old', 'busybox', 'stopped', 42, '{}');"
		 "INSERT INTO networks VALUES ('default', '{\"v\":1}', 7);"
		 "INSERT INTO ip_allocations VALUES ('default', '192.168.64.2', 'old-id');");
	raw_exec(db, "COMMIT");
	sqlite3_close(db);

	assert_ok(store_open(f->path, &f->st, &err));
	assert_int_equal(store_schema_version(f->st), store_schema_latest());
	assert_ok(store_check_integrity(f->st, &err));

	struct store_container got;
	assert_ok(store_container_get(f->st, "old", &got, &err));
	assert_string_equal(got.id, "old-id");
	assert_string_equal(got.image, "busybox");
	assert_string_equal(got.state, "stopped");
	assert_int_equal(got.created, 42);
	store_container_release(&got);
	struct store_network net;
	assert_ok(store_network_get(f->st, "default", &net, &err));
	assert_string_equal(net.config, "{\"v\":1}");
	store_network_release(&net);
	assert_ok(store_ip_release_container(f->st, "old-id", &err));
	struct store_ip_allocation *ips = NULL;
	size_t n = 0;
	assert_ok(store_ip_list(f->st, NULL, &ips, &n, &err));
	assert_int_equal(n, 0);
	store_ip_list_free(ips, n);
	store_close(f->st);
	f->st = NULL;

	/* What version 2 adds is there, and the version is recorded. */
	db = raw_open(f->path);
	_cleanup_free_ char *version = raw_query(db, "SELECT version FROM schema_version");
	_cleanup_free_ char *index =
		raw_query(db, "SELECT name FROM sqlite_master WHERE type = 'index'"
			      " AND name = 'ip_allocations_container'");
	_cleanup_free_ char *mode = raw_query(db, "PRAGMA journal_mode");
	_cleanup_free_ char *rows = raw_query(db, "SELECT count(*) FROM schema_version");
	sqlite3_close(db);
	assert_int_equal(atoi(version), store_schema_latest());
	assert_non_null(index);
	assert_string_equal(mode, "wal");
	assert_string_equal(rows, "1");
}

static void test_refuse_newer_schema(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	int newer = store_schema_latest() + 1;

	sqlite3 *db = raw_open(f->path);
	raw_exec(db, schema_v1);
	raw_exec(db, "CREATE TABLE from_the_future (x)");
	raw_set_version(db, newer);
	sqlite3_close(db);

	_cleanup_free_ char *before = NULL, *after = NULL;
	size_t before_len = 0, after_len = 0;
	assert_ok(fs_read_file(f->path, 1 << 20, &before, &before_len, &err));

	struct store *st = NULL;
	int r = store_open(f->path, &st, &err);
	assert_int_equal(r, -EPROTO);
	assert_null(st);
	_cleanup_free_ char *expected =
		xasprintf("database schema version %d is newer than this build supports (%d)",
			  newer, store_schema_latest());
	assert_non_null(strstr(err.message, expected));
	error_release(&err);

	/* Untouched: same bytes, no WAL file, still the old journal mode. */
	assert_ok(fs_read_file(f->path, 1 << 20, &after, &after_len, &err));
	assert_int_equal(before_len, after_len);
	assert_memory_equal(before, after, before_len);
	_cleanup_free_ char *wal = xasprintf("%s-wal", f->path);
	assert_int_equal(access(wal, F_OK), -1);
	db = raw_open(f->path);
	_cleanup_free_ char *mode = raw_query(db, "PRAGMA journal_mode");
	_cleanup_free_ char *version = raw_query(db, "SELECT version FROM schema_version");
	sqlite3_close(db);
	assert_string_equal(mode, "delete");
	assert_int_equal(atoi(version), newer);
}

/* ---- Durability across a crash ---- */

#define CRASH_ID_LEN 16 /* "crash-" and 10 digits: one fixed-size record per id */
#define CRASH_RUN_MS 300

/* Commits one container and its address per transaction, then reports the
 * id; killed by the parent at an arbitrary point. */
static void __attribute__((noreturn)) crash_writer(const char *path, int fd)
{
	struct error err = ERROR_INIT;
	struct store *st = NULL;
	char config[600];

	if (store_open(path, &st, &err) < 0)
		_exit(2);
	/* Rows big enough that the WAL fills and checkpoints during the run. */
	memset(config, 'x', sizeof(config));
	memcpy(config, "{\"pad\":\"", 8);
	memcpy(config + sizeof(config) - 3, "\"}", 3);
	for (unsigned long i = 0;; i++) {
		char id[CRASH_ID_LEN + 1], name[32], address[32];
		snprintf(id, sizeof(id), "crash-%010lu", i);
		snprintf(name, sizeof(name), "name-%lu", i);
		snprintf(address, sizeof(address), "10.%lu.%lu.%lu", (i >> 16) & 255,
			 (i >> 8) & 255, i & 255);
		struct store_container c = {
			.id = id,
			.name = name,
			.image = "docker.io/library/busybox:latest",
			.state = "created",
			.created = (int64_t)i,
			.config = config,
		};
		if (store_begin(st, &err) < 0 || store_container_put(st, &c, &err) < 0 ||
		    store_ip_allocate(st, "default", address, id, &err) < 0 ||
		    store_commit(st, &err) < 0)
			_exit(3);
		/* At most PIPE_BUF bytes: the record arrives whole or not at all. */
		if (write(fd, id, CRASH_ID_LEN) != CRASH_ID_LEN)
			_exit(4);
	}
}

static void test_crash_durability(void **state)
{
	struct fixture *f = *state;
	struct error err = ERROR_INIT;
	int fds[2];

	/* Created before the child runs, so that the child only adds rows. */
	assert_ok(store_open(f->path, &f->st, &err));
	store_close(f->st);
	f->st = NULL;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		crash_writer(f->path, fds[1]);
	}
	close(fds[1]);

	char *ids = NULL;
	size_t len = 0, capacity = 0;
	int64_t deadline = time_monotonic_ms() + CRASH_RUN_MS;
	bool killed = false;
	for (;;) {
		int64_t left = deadline - time_monotonic_ms();
		if (!killed && left <= 0) {
			assert_int_equal(kill(pid, SIGKILL), 0);
			killed = true;
		}
		if (!killed) {
			struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
			if (poll(&pfd, 1, (int)left) <= 0)
				continue;
		}
		/* After the kill, read what is left until end of file. */
		if (capacity - len < 4096) {
			capacity = capacity ? capacity * 2 : 65536;
			ids = xrealloc(ids, capacity);
		}
		ssize_t got = read(fds[0], ids + len, capacity - len);
		if (got < 0 && errno == EINTR)
			continue;
		assert_true(got >= 0);
		if (got == 0)
			break;
		len += (size_t)got;
	}
	close(fds[0]);

	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status))
		fail_msg("writer ended by itself (exit status %d) instead of being killed",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	assert_int_equal(WTERMSIG(status), SIGKILL);
	assert_int_equal(len % CRASH_ID_LEN, 0);
	size_t committed = len / CRASH_ID_LEN;
	assert_true(committed > 0);
	print_message("    %zu transactions reported committed before SIGKILL\n", committed);

	assert_ok(store_open(f->path, &f->st, &err));
	assert_ok(store_check_integrity(f->st, &err));
	for (size_t i = 0; i < committed; i++) {
		char id[CRASH_ID_LEN + 1];
		memcpy(id, ids + i * CRASH_ID_LEN, CRASH_ID_LEN);
		id[CRASH_ID_LEN] = '\0';
		struct store_container got;
		assert_ok(store_container_get(f->st, id, &got, &err));
		assert_string_equal(got.id, id);
		store_container_release(&got);
	}
	free(ids);

	/* At most the one transaction committed after its id was written may be
	 * extra, and each transaction is whole: one address per container. */
	struct store_container *containers = NULL;
	struct store_ip_allocation *ips = NULL;
	size_t ncontainers = 0, nips = 0;
	assert_ok(store_container_list(f->st, &containers, &ncontainers, &err));
	assert_ok(store_ip_list(f->st, "default", &ips, &nips, &err));
	assert_true(ncontainers == committed || ncontainers == committed + 1);
	assert_int_equal(nips, ncontainers);
	store_container_list_free(containers, ncontainers);
	store_ip_list_free(ips, nips);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_latest_schema, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_open_not_a_database, setup_path, teardown),
		cmocka_unit_test_setup_teardown(test_open_missing_directory, setup_path, teardown),
		cmocka_unit_test_setup_teardown(test_container_crud, setup_store, teardown),
		cmocka_unit_test_setup_teardown(test_container_name_conflict, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_container_get_prefers_id, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_container_required_fields, setup_store,
						teardown),
		cmocka_unit_test_setup_teardown(test_network_crud, setup_store, teardown),
		cmocka_unit_test_setup_teardown(test_volume_crud, setup_store, teardown),
		cmocka_unit_test_setup_teardown(test_image_ref_crud, setup_store, teardown),
		cmocka_unit_test_setup_teardown(test_ip_allocations, setup_store, teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_crud, setup_store, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_rollback, setup_store, teardown),
		cmocka_unit_test_setup_teardown(test_transaction_isolation, setup_store, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup_path, teardown),
		cmocka_unit_test_setup_teardown(test_refuse_newer_schema, setup_path, teardown),
		cmocka_unit_test_setup_teardown(test_crash_durability, setup_path, teardown),
	};
	return cmocka_run_group_tests_name("store", tests, group_setup, group_teardown);
}
