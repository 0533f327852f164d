#include "store.h"
#include "../util/log.h"
#include "../util/util.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <string.h>

/* The CLI and the apiserver may both open the database: a writer waits this
 * long for another process's write lock before failing with EBUSY. */
#define STORE_BUSY_TIMEOUT_MS 5000

/* Forward migrations: entry i takes the schema from version i to i + 1, in one
 * transaction that also bumps schema_version. Append only: a shipped entry is
 * never edited, databases in the field have already run it. schema_version
 * keeps its shape forever, since an older build reads it to refuse a newer
 * database. SQLite accepts NULL in a TEXT PRIMARY KEY, hence the NOT NULLs. */
static const char *const schema_migrations[] = {
	/* 1: the initial tables. */
	"CREATE TABLE schema_version ("
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
	" PRIMARY KEY (network, address));",

	/* 2: store_ip_release_container() deletes by container on every container
	 * removal; without an index that is a scan of every allocation. */
	"CREATE INDEX ip_allocations_container ON ip_allocations (container_id);",

	/* 3: unpacked layer snapshots, one per chain id, in snapshots/<id>/fs. */
	"CREATE TABLE snapshots ("
	" chain_id TEXT PRIMARY KEY NOT NULL,"
	" id INTEGER UNIQUE NOT NULL,"
	" parent TEXT,"
	" diff_id TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" created INTEGER NOT NULL);",
};

/* Every statement the store runs, prepared once on first use and kept for the
 * life of the connection. Values are always bound, never formatted in. */
enum stmt_id {
	STMT_BEGIN,
	STMT_COMMIT,
	STMT_ROLLBACK,
	STMT_JOURNAL_MODE_WAL,
	STMT_INTEGRITY_CHECK,
	STMT_SCHEMA_TABLE_EXISTS,
	STMT_SCHEMA_VERSION_GET,
	STMT_SCHEMA_VERSION_SET,
	STMT_CONTAINER_PUT,
	STMT_CONTAINER_GET,
	STMT_CONTAINER_LIST,
	STMT_CONTAINER_DELETE,
	STMT_NETWORK_PUT,
	STMT_NETWORK_GET,
	STMT_NETWORK_LIST,
	STMT_NETWORK_DELETE,
	STMT_VOLUME_PUT,
	STMT_VOLUME_GET,
	STMT_VOLUME_LIST,
	STMT_VOLUME_DELETE,
	STMT_IMAGE_REF_PUT,
	STMT_IMAGE_REF_GET,
	STMT_IMAGE_REF_LIST,
	STMT_IMAGE_REF_DELETE,
	STMT_IP_ALLOCATE,
	STMT_IP_RELEASE,
	STMT_IP_RELEASE_CONTAINER,
	STMT_IP_LIST,
	STMT_SNAPSHOT_PUT,
	STMT_SNAPSHOT_GET,
	STMT_SNAPSHOT_LIST,
	STMT_SNAPSHOT_DELETE,
	STMT_SNAPSHOT_NEXT_ID,
	STMT_COUNT,
};

/* put is an upsert on the primary key rather than INSERT OR REPLACE: REPLACE
 * would silently delete another container whose unique name collides. */
static const char *const stmt_sql[STMT_COUNT] = {
	[STMT_BEGIN] = "BEGIN IMMEDIATE",
	[STMT_COMMIT] = "COMMIT",
	[STMT_ROLLBACK] = "ROLLBACK",
	[STMT_JOURNAL_MODE_WAL] = "PRAGMA journal_mode = WAL",
	[STMT_INTEGRITY_CHECK] = "PRAGMA integrity_check",
	[STMT_SCHEMA_TABLE_EXISTS] =
		"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
	[STMT_SCHEMA_VERSION_GET] = "SELECT version FROM schema_version WHERE singleton = 1",
	[STMT_SCHEMA_VERSION_SET] =
		"INSERT INTO schema_version (singleton, version) VALUES (1, ?1)"
		" ON CONFLICT (singleton) DO UPDATE SET version = excluded.version",

	[STMT_CONTAINER_PUT] =
		"INSERT INTO containers (id, name, image, state, created, config)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO UPDATE SET"
		" name = excluded.name, image = excluded.image, state = excluded.state,"
		" created = excluded.created, config = excluded.config",
	/* An exact id wins over another container's equal name. */
	[STMT_CONTAINER_GET] = "SELECT id, name, image, state, created, config FROM containers"
			       " WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1",
	[STMT_CONTAINER_LIST] = "SELECT id, name, image, state, created, config FROM containers"
				" ORDER BY created, id",
	[STMT_CONTAINER_DELETE] = "DELETE FROM containers WHERE id = ?1",

	[STMT_NETWORK_PUT] = "INSERT INTO networks (name, config, created) VALUES (?1, ?2, ?3)"
			     " ON CONFLICT (name) DO UPDATE SET"
			     " config = excluded.config, created = excluded.created",
	[STMT_NETWORK_GET] = "SELECT name, config, created FROM networks WHERE name = ?1",
	[STMT_NETWORK_LIST] = "SELECT name, config, created FROM networks ORDER BY name",
	[STMT_NETWORK_DELETE] = "DELETE FROM networks WHERE name = ?1",

	[STMT_VOLUME_PUT] = "INSERT INTO volumes (name, config, created) VALUES (?1, ?2, ?3)"
			    " ON CONFLICT (name) DO UPDATE SET"
			    " config = excluded.config, created = excluded.created",
	[STMT_VOLUME_GET] = "SELECT name, config, created FROM volumes WHERE name = ?1",
	[STMT_VOLUME_LIST] = "SELECT name, config, created FROM volumes ORDER BY name",
	[STMT_VOLUME_DELETE] = "DELETE FROM volumes WHERE name = ?1",

	[STMT_IMAGE_REF_PUT] = "INSERT INTO image_refs (reference, digest, media_type, created)"
			       " VALUES (?1, ?2, ?3, ?4) ON CONFLICT (reference) DO UPDATE SET"
			       " digest = excluded.digest, media_type = excluded.media_type,"
			       " created = excluded.created",
	[STMT_IMAGE_REF_GET] = "SELECT reference, digest, media_type, created FROM image_refs"
			       " WHERE reference = ?1",
	[STMT_IMAGE_REF_LIST] = "SELECT reference, digest, media_type, created FROM image_refs"
				" ORDER BY reference",
	[STMT_IMAGE_REF_DELETE] = "DELETE FROM image_refs WHERE reference = ?1",

	[STMT_IP_ALLOCATE] = "INSERT INTO ip_allocations (network, address, container_id)"
			     " VALUES (?1, ?2, ?3)",
	[STMT_IP_RELEASE] = "DELETE FROM ip_allocations WHERE network = ?1 AND address = ?2",
	[STMT_IP_RELEASE_CONTAINER] = "DELETE FROM ip_allocations WHERE container_id = ?1",
	[STMT_IP_LIST] = "SELECT network, address, container_id FROM ip_allocations"
			 " WHERE ?1 IS NULL OR network = ?1 ORDER BY network, address",

	[STMT_SNAPSHOT_PUT] =
		"INSERT INTO snapshots (chain_id, id, parent, diff_id, size, created)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (chain_id) DO UPDATE SET"
		" id = excluded.id, parent = excluded.parent,"
		" diff_id = excluded.diff_id, size = excluded.size,"
		" created = excluded.created",
	[STMT_SNAPSHOT_GET] = "SELECT chain_id, id, parent, diff_id, size, created FROM snapshots"
			      " WHERE chain_id = ?1",
	[STMT_SNAPSHOT_LIST] = "SELECT chain_id, id, parent, diff_id, size, created FROM snapshots"
			       " ORDER BY id",
	[STMT_SNAPSHOT_DELETE] = "DELETE FROM snapshots WHERE chain_id = ?1",
	[STMT_SNAPSHOT_NEXT_ID] = "SELECT COALESCE(MAX(id), 0) + 1 FROM snapshots",
};

struct store {
	sqlite3 *db;
	char *path;
	int schema_version;
	sqlite3_stmt *stmts[STMT_COUNT];
};

/* A row type described column by column, in the order of its SELECT and of
 * its put parameters, key first; the typed accessors share one implementation. */
enum column_type { COLUMN_TEXT, COLUMN_INT64 };

struct column {
	const char *name; /* in messages: "container id is required" */
	enum column_type type;
	size_t offset;
	bool required;
};

struct entity {
	const char *kind;   /* in messages: "container 'web' not found" */
	const char *plural; /* in messages: "list containers" */
	size_t size;
	const struct column *columns;
	size_t ncolumns;
	enum stmt_id put, get, list, delete;
};

/* clang-format off */
#define TEXT_COLUMN(type, field, req) {#field, COLUMN_TEXT, offsetof(type, field), req}
#define INT64_COLUMN(type, field)     {#field, COLUMN_INT64, offsetof(type, field), false}
/* clang-format on */

static const struct column container_columns[] = {
	TEXT_COLUMN(struct store_container, id, true),
	TEXT_COLUMN(struct store_container, name, true),
	TEXT_COLUMN(struct store_container, image, false),
	TEXT_COLUMN(struct store_container, state, false),
	INT64_COLUMN(struct store_container, created),
	TEXT_COLUMN(struct store_container, config, false),
};
static const struct column network_columns[] = {
	TEXT_COLUMN(struct store_network, name, true),
	TEXT_COLUMN(struct store_network, config, false),
	INT64_COLUMN(struct store_network, created),
};
static const struct column volume_columns[] = {
	TEXT_COLUMN(struct store_volume, name, true),
	TEXT_COLUMN(struct store_volume, config, false),
	INT64_COLUMN(struct store_volume, created),
};
static const struct column image_ref_columns[] = {
	TEXT_COLUMN(struct store_image_ref, reference, true),
	TEXT_COLUMN(struct store_image_ref, digest, true),
	TEXT_COLUMN(struct store_image_ref, media_type, false),
	INT64_COLUMN(struct store_image_ref, created),
};
static const struct column ip_columns[] = {
	TEXT_COLUMN(struct store_ip_allocation, network, true),
	TEXT_COLUMN(struct store_ip_allocation, address, true),
	TEXT_COLUMN(struct store_ip_allocation, container_id, false),
};

static const struct entity container_entity = {
	.kind = "container",
	.plural = "containers",
	.size = sizeof(struct store_container),
	.columns = container_columns,
	.ncolumns = ARRAY_SIZE(container_columns),
	.put = STMT_CONTAINER_PUT,
	.get = STMT_CONTAINER_GET,
	.list = STMT_CONTAINER_LIST,
	.delete = STMT_CONTAINER_DELETE,
};
static const struct entity network_entity = {
	.kind = "network",
	.plural = "networks",
	.size = sizeof(struct store_network),
	.columns = network_columns,
	.ncolumns = ARRAY_SIZE(network_columns),
	.put = STMT_NETWORK_PUT,
	.get = STMT_NETWORK_GET,
	.list = STMT_NETWORK_LIST,
	.delete = STMT_NETWORK_DELETE,
};
static const struct entity volume_entity = {
	.kind = "volume",
	.plural = "volumes",
	.size = sizeof(struct store_volume),
	.columns = volume_columns,
	.ncolumns = ARRAY_SIZE(volume_columns),
	.put = STMT_VOLUME_PUT,
	.get = STMT_VOLUME_GET,
	.list = STMT_VOLUME_LIST,
	.delete = STMT_VOLUME_DELETE,
};
static const struct entity image_ref_entity = {
	.kind = "image reference",
	.plural = "image references",
	.size = sizeof(struct store_image_ref),
	.columns = image_ref_columns,
	.ncolumns = ARRAY_SIZE(image_ref_columns),
	.put = STMT_IMAGE_REF_PUT,
	.get = STMT_IMAGE_REF_GET,
	.list = STMT_IMAGE_REF_LIST,
	.delete = STMT_IMAGE_REF_DELETE,
};
static const struct column snapshot_columns[] = {
	TEXT_COLUMN(struct store_snapshot, chain_id, true),
	INT64_COLUMN(struct store_snapshot, id),
	TEXT_COLUMN(struct store_snapshot, parent, false),
	TEXT_COLUMN(struct store_snapshot, diff_id, true),
	INT64_COLUMN(struct store_snapshot, size),
	INT64_COLUMN(struct store_snapshot, created),
};
static const struct entity snapshot_entity = {
	.kind = "snapshot",
	.plural = "snapshots",
	.size = sizeof(struct store_snapshot),
	.columns = snapshot_columns,
	.ncolumns = ARRAY_SIZE(snapshot_columns),
	.put = STMT_SNAPSHOT_PUT,
	.get = STMT_SNAPSHOT_GET,
	.list = STMT_SNAPSHOT_LIST,
	.delete = STMT_SNAPSHOT_DELETE,
};
/* Allocations are keyed by two columns and have accessors of their own: only
 * binding, reading and freeing go through the descriptor. */
static const struct entity ip_entity = {
	.kind = "IP allocation",
	.plural = "IP allocations",
	.size = sizeof(struct store_ip_allocation),
	.columns = ip_columns,
	.ncolumns = ARRAY_SIZE(ip_columns),
};

/* Out of memory aborts everywhere else (xmalloc); SQLite reports it as a code. */
static void store_oom(void)
{
	fputs("container: out of memory\n", stderr);
	abort();
}

static int sql_errno(struct store *st, int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_PRIMARYKEY:
	case SQLITE_CONSTRAINT_UNIQUE:
		return EEXIST;
	}
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		store_oom();
		return ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return EBUSY;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
	case SQLITE_TOOBIG:
		return EINVAL;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return EACCES;
	case SQLITE_READONLY:
		return EROFS;
	case SQLITE_FULL:
		return ENOSPC;
	case SQLITE_IOERR:
	case SQLITE_CANTOPEN: {
		/* The errno of the failed system call says more (EACCES, ENOSPC, ...). */
		int sys = st && st->db ? sqlite3_system_errno(st->db) : 0;
		return sys > 0 ? sys : EIO;
	}
	default:
		return EIO;
	}
}

/* Sets err to "<context>: <SQLite's message>" with an errno mapped from rc. */
static int sql_error(struct store *st, struct error *err, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int sql_error(struct store *st, struct error *err, int rc, const char *fmt, ...)
{
	int code = sql_errno(st, rc);
	va_list ap;
	va_start(ap, fmt);
	_cleanup_free_ char *context = xvasprintf(fmt, ap);
	va_end(ap);
	const char *message = st && st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc);
	/* "unable to open database file" alone does not say why. */
	int primary = rc & 0xff;
	if ((primary == SQLITE_CANTOPEN || primary == SQLITE_IOERR) && code != EIO)
		return error_set(err, code, "%s: %s (%s)", context, message, strerror(code));
	return error_set(err, code, "%s: %s", context, message);
}

/* A cached statement is reset (and its bindings, which may point at the
 * caller's strings, cleared) when the variable holding it goes out of scope,
 * so that no read transaction stays open behind the caller's back. */
static void stmt_resetp(sqlite3_stmt **stmt)
{
	if (*stmt) {
		sqlite3_reset(*stmt);
		sqlite3_clear_bindings(*stmt);
	}
}
#define _cleanup_stmt_reset_ __attribute__((cleanup(stmt_resetp)))

static int stmt_get(struct store *st, enum stmt_id id, sqlite3_stmt **out, struct error *err)
{
	if (!st->stmts[id]) {
		int rc = sqlite3_prepare_v3(st->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
					    &st->stmts[id], NULL);
		if (rc != SQLITE_OK)
			return sql_error(st, err, rc, "prepare \"%s\"", stmt_sql[id]);
	}
	*out = st->stmts[id];
	return 0;
}

/* Binding only fails on misuse or a value over SQLite's size limit; the first
 * failure is kept and later binds are skipped, so callers check once. */
static void bind_text(sqlite3_stmt *stmt, int index, const char *value, int *rc)
{
	if (*rc == SQLITE_OK)
		*rc = sqlite3_bind_text(stmt, index, value, -1, SQLITE_STATIC);
}

static const char *entity_key(const struct entity *e, const void *obj)
{
	return *(char *const *)((const char *)obj + e->columns[0].offset);
}

static int entity_bind(struct store *st, sqlite3_stmt *stmt, const struct entity *e,
		       const void *obj, struct error *err)
{
	int rc = SQLITE_OK;
	for (size_t i = 0; i < e->ncolumns; i++) {
		const struct column *col = &e->columns[i];
		const char *field = (const char *)obj + col->offset;
		if (col->type == COLUMN_INT64) {
			if (rc == SQLITE_OK)
				rc = sqlite3_bind_int64(stmt, (int)i + 1, *(const int64_t *)field);
			continue;
		}
		const char *text = *(char *const *)field;
		if (!text && col->required)
			return error_set(err, EINVAL, "%s %s is required", e->kind, col->name);
		bind_text(stmt, (int)i + 1, text, &rc);
	}
	if (rc != SQLITE_OK)
		return sql_error(st, err, rc, "bind %s", e->kind);
	return 0;
}

static void entity_read(sqlite3_stmt *stmt, const struct entity *e, void *obj)
{
	for (size_t i = 0; i < e->ncolumns; i++) {
		const struct column *col = &e->columns[i];
		char *field = (char *)obj + col->offset;
		if (col->type == COLUMN_INT64) {
			*(int64_t *)field = sqlite3_column_int64(stmt, (int)i);
			continue;
		}
		char **text = (char **)field;
		if (sqlite3_column_type(stmt, (int)i) == SQLITE_NULL) {
			*text = NULL;
			continue;
		}
		const unsigned char *value = sqlite3_column_text(stmt, (int)i);
		if (!value)
			store_oom();
		*text = xstrndup((const char *)value, (size_t)sqlite3_column_bytes(stmt, (int)i));
	}
}

static void entity_release(const struct entity *e, void *obj)
{
	if (!obj)
		return;
	for (size_t i = 0; i < e->ncolumns; i++)
		if (e->columns[i].type == COLUMN_TEXT)
			free(*(char **)((char *)obj + e->columns[i].offset));
	memset(obj, 0, e->size);
}

static void entity_list_free(const struct entity *e, void *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		entity_release(e, (char *)list + i * e->size);
	free(list);
}

/* Runs stmt (already bound) to its end: an INSERT, UPDATE or DELETE. */
static int stmt_run(struct store *st, sqlite3_stmt *stmt, const char *what, const char *key,
		    struct error *err)
{
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		return sql_error(st, err, rc, "%s '%s'", what, key);
	return 0;
}

static int entity_put(struct store *st, const struct entity *e, const void *obj, struct error *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	int r = stmt_get(st, e->put, &stmt, err);
	if (r < 0)
		return r;
	r = entity_bind(st, stmt, e, obj, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *what = xasprintf("store %s", e->kind);
	return stmt_run(st, stmt, what, entity_key(e, obj), err);
}

static int entity_get(struct store *st, const struct entity *e, const char *key, void *out,
		      struct error *err)
{
	/* Zeroed first, so that releasing it after a failure is harmless. */
	memset(out, 0, e->size);
	if (!key)
		return error_set(err, EINVAL, "%s %s is required", e->kind, e->columns[0].name);
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	int r = stmt_get(st, e->get, &stmt, err);
	if (r < 0)
		return r;
	int rc = SQLITE_OK;
	bind_text(stmt, 1, key, &rc);
	if (rc != SQLITE_OK)
		return sql_error(st, err, rc, "bind %s", e->kind);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return error_set(err, ENOENT, "%s '%s' not found", e->kind, key);
	if (rc != SQLITE_ROW)
		return sql_error(st, err, rc, "get %s '%s'", e->kind, key);
	entity_read(stmt, e, out);
	return 0;
}

/* Steps stmt (already bound) through every row into a new array. */
static int entity_list(struct store *st, const struct entity *e, sqlite3_stmt *stmt, void **out,
		       size_t *n, struct error *err)
{
	char *items = NULL;
	size_t count = 0, capacity = 0;

	*out = NULL;
	*n = 0;
	for (;;) {
		int rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW) {
			entity_list_free(e, items, count);
			return sql_error(st, err, rc, "list %s", e->plural);
		}
		if (count == capacity) {
			capacity = capacity ? capacity * 2 : 8;
			items = xrealloc(items, capacity * e->size);
		}
		entity_read(stmt, e, items + count * e->size);
		count++;
	}
	*out = items;
	*n = count;
	return 0;
}

static int entity_list_all(struct store *st, const struct entity *e, void **out, size_t *n,
			   struct error *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	*out = NULL;
	*n = 0;
	int r = stmt_get(st, e->list, &stmt, err);
	if (r < 0)
		return r;
	return entity_list(st, e, stmt, out, n, err);
}

static int entity_delete(struct store *st, const struct entity *e, const char *key,
			 struct error *err)
{
	if (!key)
		return error_set(err, EINVAL, "%s %s is required", e->kind, e->columns[0].name);
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	int r = stmt_get(st, e->delete, &stmt, err);
	if (r < 0)
		return r;
	int rc = SQLITE_OK;
	bind_text(stmt, 1, key, &rc);
	if (rc != SQLITE_OK)
		return sql_error(st, err, rc, "bind %s", e->kind);
	_cleanup_free_ char *what = xasprintf("delete %s", e->kind);
	r = stmt_run(st, stmt, what, key, err);
	if (r < 0)
		return r;
	if (sqlite3_changes(st->db) == 0)
		return error_set(err, ENOENT, "%s '%s' not found", e->kind, key);
	return 0;
}

/* ---- Schema ---- */

int store_schema_latest(void)
{
	return (int)ARRAY_SIZE(schema_migrations);
}

int store_schema_version(struct store *st)
{
	return st->schema_version;
}

static int schema_too_new(struct error *err, int version)
{
	return error_set(err, EPROTO,
			 "database schema version %d is newer than this build supports (%d); "
			 "refusing to open it, upgrade container",
			 version, store_schema_latest());
}

/* 0 for a database that has never been migrated (no schema_version table). */
static int schema_read_version(struct store *st, int *version, struct error *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *exists = NULL;
	int r = stmt_get(st, STMT_SCHEMA_TABLE_EXISTS, &exists, err);
	if (r < 0)
		return r;
	int rc = sqlite3_step(exists);
	if (rc == SQLITE_DONE) {
		*version = 0;
		return 0;
	}
	if (rc != SQLITE_ROW)
		return sql_error(st, err, rc, "read schema version");

	_cleanup_stmt_reset_ sqlite3_stmt *get = NULL;
	r = stmt_get(st, STMT_SCHEMA_VERSION_GET, &get, err);
	if (r < 0)
		return r;
	rc = sqlite3_step(get);
	if (rc == SQLITE_DONE)
		return error_set(err, EPROTO, "read schema version: schema_version has no row");
	if (rc != SQLITE_ROW)
		return sql_error(st, err, rc, "read schema version");
	int64_t value = sqlite3_column_int64(get, 0);
	if (value < 1 || value > INT32_MAX)
		return error_set(err, EPROTO, "read schema version: invalid version %lld",
				 (long long)value);
	*version = (int)value;
	return 0;
}

/* Applies the migration after the current version, inside the caller's
 * transaction; *done when there is none left. */
static int schema_migrate_one(struct store *st, bool *done, struct error *err)
{
	int version;
	/* Read under the write lock: another process may have migrated meanwhile. */
	int r = schema_read_version(st, &version, err);
	if (r < 0)
		return r;
	if (version > store_schema_latest())
		return schema_too_new(err, version);
	if (version == store_schema_latest()) {
		st->schema_version = version;
		*done = true;
		return 0;
	}

	int next = version + 1;
	char *message = NULL;
	/* Static DDL without values: exec handles its several statements. */
	int rc = sqlite3_exec(st->db, schema_migrations[version], NULL, NULL, &message);
	if (rc != SQLITE_OK) {
		r = error_set(err, sql_errno(st, rc), "migrate schema to version %d: %s", next,
			      message ? message : sqlite3_errstr(rc));
		sqlite3_free(message);
		return r;
	}

	_cleanup_stmt_reset_ sqlite3_stmt *set = NULL;
	r = stmt_get(st, STMT_SCHEMA_VERSION_SET, &set, err);
	if (r < 0)
		return r;
	rc = sqlite3_bind_int(set, 1, next);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(set);
	if (rc != SQLITE_DONE)
		return sql_error(st, err, rc, "migrate schema to version %d", next);
	return 0;
}

static int schema_migrate(struct store *st, struct error *err)
{
	for (;;) {
		bool done = false;
		int r = store_begin(st, err);
		if (r < 0)
			return r;
		r = schema_migrate_one(st, &done, err);
		if (r == 0)
			r = store_commit(st, err);
		if (r < 0) {
			store_rollback(st);
			return r;
		}
		if (done)
			return 0;
	}
}

static int store_enable_wal(struct store *st, struct error *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	int r = stmt_get(st, STMT_JOURNAL_MODE_WAL, &stmt, err);
	if (r < 0)
		return r;
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW)
		return sql_error(st, err, rc, "enable WAL journal mode");
	/* The pragma answers with the mode in effect, which is not WAL when the
	 * database cannot use it (e.g. an in-memory one). */
	const char *mode = (const char *)sqlite3_column_text(stmt, 0);
	if (!mode || strcmp(mode, "wal") != 0)
		return error_set(err, EIO, "enable WAL journal mode: journal mode is '%s'",
				 mode ? mode : "?");
	return 0;
}

static void cleanup_storep(struct store **st)
{
	if (*st)
		store_close(*st);
}

static int store_open_db(struct store *st, struct error *err)
{
	int rc = sqlite3_open_v2(st->path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
				 NULL);
	if (rc != SQLITE_OK)
		return sql_error(st, err, rc, "open");
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);

	/* Settings of this connection only: nothing is written to the file yet,
	 * so that a database refused below is left untouched. synchronous=NORMAL
	 * in WAL mode survives a crash of the process (not of the machine). */
	char *message = NULL;
	rc = sqlite3_exec(st->db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL", NULL,
			  NULL, &message);
	if (rc != SQLITE_OK) {
		int r = error_set(err, sql_errno(st, rc), "configure connection: %s",
				  message ? message : sqlite3_errstr(rc));
		sqlite3_free(message);
		return r;
	}

	int version;
	int r = schema_read_version(st, &version, err);
	if (r < 0)
		return r;
	if (version > store_schema_latest())
		return schema_too_new(err, version);
	st->schema_version = version;

	r = store_enable_wal(st, err);
	if (r < 0)
		return r;
	if (version < store_schema_latest())
		return schema_migrate(st, err);
	return 0;
}

int store_open(const char *path, struct store **out, struct error *err)
{
	*out = NULL;
	__attribute__((cleanup(cleanup_storep))) struct store *st = xzalloc(sizeof(*st));
	st->path = xstrdup(path);
	int r = store_open_db(st, err);
	if (r < 0)
		return error_prefix(err, "open store %s", path);
	*out = move_ptr(st);
	return 0;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(st->stmts[i]);
	/* Closing the last connection checkpoints the WAL into the database. */
	sqlite3_close_v2(st->db);
	free(st->path);
	free(st);
}

int store_check_integrity(struct store *st, struct error *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	int r = stmt_get(st, STMT_INTEGRITY_CHECK, &stmt, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *problems = NULL;
	for (int rows = 0;; rows++) {
		int rc = sqlite3_step(stmt);
		if (rc == SQLITE_DONE)
			break;
		if (rc != SQLITE_ROW)
			return sql_error(st, err, rc, "check integrity of %s", st->path);
		const char *line = (const char *)sqlite3_column_text(stmt, 0);
		if (!line)
			line = "?";
		if (rows == 0 && strcmp(line, "ok") == 0)
			return 0;
		/* The pragma reports up to 100 problems: the first few say enough. */
		if (rows >= 5)
			continue;
		char *joined = problems ? xasprintf("%s; %s", problems, line) : xstrdup(line);
		free(problems);
		problems = joined;
	}
	return error_set(err, EIO, "integrity check of %s failed: %s", st->path,
			 problems ? problems : "no result");
}

/* ---- Transactions ---- */

/* IMMEDIATE takes the write lock at once: a deferred transaction that reads
 * first and writes later can fail with SQLITE_BUSY midway, past the busy
 * timeout's help. */
int store_begin(struct store *st, struct error *err)
{
	if (!sqlite3_get_autocommit(st->db))
		return error_set(err, EINVAL, "begin transaction: a transaction is already open");
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	int r = stmt_get(st, STMT_BEGIN, &stmt, err);
	if (r < 0)
		return r;
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		return sql_error(st, err, rc, "begin transaction");
	return 0;
}

int store_commit(struct store *st, struct error *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	int r = stmt_get(st, STMT_COMMIT, &stmt, err);
	if (r < 0)
		return r;
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		return sql_error(st, err, rc, "commit transaction");
	return 0;
}

/* Safe to call after a failed commit or when no transaction is open. */
void store_rollback(struct store *st)
{
	if (sqlite3_get_autocommit(st->db))
		return;
	_cleanup_error_ struct error err = ERROR_INIT;
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	if (stmt_get(st, STMT_ROLLBACK, &stmt, &err) < 0) {
		log_warn("store %s: %s", st->path, err.message);
		return;
	}
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		log_warn("store %s: rollback: %s", st->path, sqlite3_errmsg(st->db));
}

/* ---- Containers ---- */

int store_container_put(struct store *st, const struct store_container *c, struct error *err)
{
	int r = entity_put(st, &container_entity, c, err);
	/* The id is upserted, so only the name can collide. */
	if (r == -EEXIST)
		return error_set(err, EEXIST, "container name '%s' is already in use", c->name);
	return r;
}

int store_container_get(struct store *st, const char *id_or_name, struct store_container *out,
			struct error *err)
{
	return entity_get(st, &container_entity, id_or_name, out, err);
}

int store_container_list(struct store *st, struct store_container **out, size_t *n,
			 struct error *err)
{
	void *items;
	int r = entity_list_all(st, &container_entity, &items, n, err);
	*out = items;
	return r;
}

int store_container_delete(struct store *st, const char *id, struct error *err)
{
	return entity_delete(st, &container_entity, id, err);
}

void store_container_release(struct store_container *c)
{
	entity_release(&container_entity, c);
}

void store_container_list_free(struct store_container *list, size_t n)
{
	entity_list_free(&container_entity, list, n);
}

/* ---- Networks ---- */

int store_network_put(struct store *st, const struct store_network *n, struct error *err)
{
	return entity_put(st, &network_entity, n, err);
}

int store_network_get(struct store *st, const char *name, struct store_network *out,
		      struct error *err)
{
	return entity_get(st, &network_entity, name, out, err);
}

int store_network_list(struct store *st, struct store_network **out, size_t *n, struct error *err)
{
	void *items;
	int r = entity_list_all(st, &network_entity, &items, n, err);
	*out = items;
	return r;
}

int store_network_delete(struct store *st, const char *name, struct error *err)
{
	return entity_delete(st, &network_entity, name, err);
}

void store_network_release(struct store_network *n)
{
	entity_release(&network_entity, n);
}

void store_network_list_free(struct store_network *list, size_t n)
{
	entity_list_free(&network_entity, list, n);
}

/* ---- Volumes ---- */

int store_volume_put(struct store *st, const struct store_volume *v, struct error *err)
{
	return entity_put(st, &volume_entity, v, err);
}

int store_volume_get(struct store *st, const char *name, struct store_volume *out,
		     struct error *err)
{
	return entity_get(st, &volume_entity, name, out, err);
}

int store_volume_list(struct store *st, struct store_volume **out, size_t *n, struct error *err)
{
	void *items;
	int r = entity_list_all(st, &volume_entity, &items, n, err);
	*out = items;
	return r;
}

int store_volume_delete(struct store *st, const char *name, struct error *err)
{
	return entity_delete(st, &volume_entity, name, err);
}

void store_volume_release(struct store_volume *v)
{
	entity_release(&volume_entity, v);
}

void store_volume_list_free(struct store_volume *list, size_t n)
{
	entity_list_free(&volume_entity, list, n);
}

/* ---- Image references ---- */

int store_image_ref_put(struct store *st, const struct store_image_ref *r, struct error *err)
{
	return entity_put(st, &image_ref_entity, r, err);
}

int store_image_ref_get(struct store *st, const char *reference, struct store_image_ref *out,
			struct error *err)
{
	return entity_get(st, &image_ref_entity, reference, out, err);
}

int store_image_ref_list(struct store *st, struct store_image_ref **out, size_t *n,
			 struct error *err)
{
	void *items;
	int r = entity_list_all(st, &image_ref_entity, &items, n, err);
	*out = items;
	return r;
}

int store_image_ref_delete(struct store *st, const char *reference, struct error *err)
{
	return entity_delete(st, &image_ref_entity, reference, err);
}

void store_image_ref_release(struct store_image_ref *r)
{
	entity_release(&image_ref_entity, r);
}

void store_image_ref_list_free(struct store_image_ref *list, size_t n)
{
	entity_list_free(&image_ref_entity, list, n);
}

/* ---- IP allocations ---- */

int store_ip_allocate(struct store *st, const char *network, const char *address,
		      const char *container_id, struct error *err)
{
	const struct store_ip_allocation ip = {
		.network = (char *)network,
		.address = (char *)address,
		.container_id = (char *)container_id,
	};
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	int r = stmt_get(st, STMT_IP_ALLOCATE, &stmt, err);
	if (r < 0)
		return r;
	r = entity_bind(st, stmt, &ip_entity, &ip, err);
	if (r < 0)
		return r;
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return error_set(err, EEXIST, "address %s is already allocated on network %s",
				 address, network);
	if (rc != SQLITE_DONE)
		return sql_error(st, err, rc, "allocate address %s on network %s", address,
				 network);
	return 0;
}

int store_ip_release(struct store *st, const char *network, const char *address, struct error *err)
{
	if (!network || !address)
		return error_set(err, EINVAL, "release address: network and address are required");
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	int r = stmt_get(st, STMT_IP_RELEASE, &stmt, err);
	if (r < 0)
		return r;
	int rc = SQLITE_OK;
	bind_text(stmt, 1, network, &rc);
	bind_text(stmt, 2, address, &rc);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		return sql_error(st, err, rc, "release address %s on network %s", address, network);
	if (sqlite3_changes(st->db) == 0)
		return error_set(err, ENOENT, "address %s is not allocated on network %s", address,
				 network);
	return 0;
}

int store_ip_release_container(struct store *st, const char *container_id, struct error *err)
{
	if (!container_id)
		return error_set(err, EINVAL, "release addresses: container id is required");
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	int r = stmt_get(st, STMT_IP_RELEASE_CONTAINER, &stmt, err);
	if (r < 0)
		return r;
	int rc = SQLITE_OK;
	bind_text(stmt, 1, container_id, &rc);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		return sql_error(st, err, rc, "release addresses of container '%s'", container_id);
	return 0;
}

int store_ip_list(struct store *st, const char *network, struct store_ip_allocation **out,
		  size_t *n, struct error *err)
{
	*out = NULL;
	*n = 0;
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	int r = stmt_get(st, STMT_IP_LIST, &stmt, err);
	if (r < 0)
		return r;
	/* NULL binds SQL NULL, which the statement reads as "every network". */
	int rc = SQLITE_OK;
	bind_text(stmt, 1, network, &rc);
	if (rc != SQLITE_OK)
		return sql_error(st, err, rc, "list IP allocations");
	void *items;
	r = entity_list(st, &ip_entity, stmt, &items, n, err);
	*out = items;
	return r;
}

void store_ip_list_free(struct store_ip_allocation *list, size_t n)
{
	entity_list_free(&ip_entity, list, n);
}

/* ---- Snapshots ---- */

int store_snapshot_put(struct store *st, const struct store_snapshot *s, struct error *err)
{
	return entity_put(st, &snapshot_entity, s, err);
}

int store_snapshot_get(struct store *st, const char *chain_id, struct store_snapshot *out,
		       struct error *err)
{
	return entity_get(st, &snapshot_entity, chain_id, out, err);
}

int store_snapshot_list(struct store *st, struct store_snapshot **out, size_t *n, struct error *err)
{
	return entity_list_all(st, &snapshot_entity, (void **)out, n, err);
}

int store_snapshot_delete(struct store *st, const char *chain_id, struct error *err)
{
	return entity_delete(st, &snapshot_entity, chain_id, err);
}

int store_snapshot_next_id(struct store *st, int64_t *id, struct error *err)
{
	_cleanup_stmt_reset_ sqlite3_stmt *stmt = NULL;
	int r = stmt_get(st, STMT_SNAPSHOT_NEXT_ID, &stmt, err);
	if (r < 0)
		return r;
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW)
		return sql_error(st, err, rc, "next snapshot id");
	*id = sqlite3_column_int64(stmt, 0);
	return 0;
}

void store_snapshot_release(struct store_snapshot *s)
{
	entity_release(&snapshot_entity, s);
}

void store_snapshot_list_free(struct store_snapshot *list, size_t n)
{
	entity_list_free(&snapshot_entity, list, n);
}
