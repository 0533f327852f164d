/* Where things live. Precedence: command-line flag, then environment
 * (CONTAINER_APP_ROOT, CONTAINER_RUN_ROOT, CONTAINER_LOG_ROOT,
 * CONTAINER_INSTALL_ROOT, CONTAINER_USER_PLUGIN_DIR), then the default. */
#ifndef CONTAINER_PATHS_H
#define CONTAINER_PATHS_H

struct paths {
	char *app_root;	       /* default /var/lib/container */
	char *run_root;	       /* default /run/container */
	char *log_root;	       /* default <app_root>/logs */
	char *install_root;    /* the prefix the binaries run from: <exe dir>/.. */
	char *builtin_plugins; /* <install_root>/libexec/container/plugins */
	char *user_plugins;    /* ~/.local/libexec/container/plugins */
};

void paths_resolve(struct paths *p, const char *app_root, const char *run_root,
		   const char *log_root);
void paths_release(struct paths *p);
/* <run_root>/apiserver.sock, <run_root>/apiserver.pid (new strings). */
char *paths_apiserver_socket(const struct paths *p);
char *paths_apiserver_pidfile(const struct paths *p);

#endif
