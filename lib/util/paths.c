#include "paths.h"
#include "fs.h"
#include "util.h"

#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

/* Relative roots from flags or the environment become absolute: daemons
 * change directory and plugins inherit them. */
static char *absolute(const char *path)
{
	if (path[0] == '/')
		return xstrdup(path);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof(cwd)))
		return xstrdup(path);
	return xasprintf("%s/%s", cwd, path);
}

static char *pick(const char *flag, const char *env, const char *fallback)
{
	if (flag && *flag)
		return absolute(flag);
	const char *value = getenv(env);
	if (value && *value)
		return absolute(value);
	return fallback ? xstrdup(fallback) : NULL;
}

void paths_resolve(struct paths *p, const char *app_root, const char *run_root,
		   const char *log_root)
{
	memset(p, 0, sizeof(*p));
	p->app_root = pick(app_root, "CONTAINER_APP_ROOT", "/var/lib/container");
	p->run_root = pick(run_root, "CONTAINER_RUN_ROOT", "/run/container");
	p->log_root = pick(log_root, "CONTAINER_LOG_ROOT", NULL);
	if (!p->log_root)
		p->log_root = xasprintf("%s/logs", p->app_root);
	p->install_root = pick(NULL, "CONTAINER_INSTALL_ROOT", NULL);
	if (!p->install_root) {
		_cleanup_free_ char *bindir = fs_self_exe_dir();
		p->install_root = fs_dirname(bindir);
	}
	p->builtin_plugins = xasprintf("%s/libexec/container/plugins", p->install_root);
	p->user_plugins = pick(NULL, "CONTAINER_USER_PLUGIN_DIR", NULL);
	if (!p->user_plugins) {
		const char *home = getenv("HOME");
		if (!home || !*home) {
			struct passwd *pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : "/root";
		}
		p->user_plugins = xasprintf("%s/.local/libexec/container/plugins", home);
	}
}

void paths_release(struct paths *p)
{
	free(p->app_root);
	free(p->run_root);
	free(p->log_root);
	free(p->install_root);
	free(p->builtin_plugins);
	free(p->user_plugins);
	memset(p, 0, sizeof(*p));
}

char *paths_apiserver_socket(const struct paths *p)
{
	return xasprintf("%s/apiserver.sock", p->run_root);
}

char *paths_apiserver_pidfile(const struct paths *p)
{
	return xasprintf("%s/apiserver.pid", p->run_root);
}
