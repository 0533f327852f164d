/* Every route the apiserver serves: one line each. A route's meaning never
 * changes once shipped; new behaviour gets a new route. */
#include "apiserver.h"
#include "volumes.h"

const struct ipc_route apiserver_routes[] = {
	{"ping", health_ping},
	{"systemShutdown", health_shutdown},
	{"pluginList", plugins_list},
	{"pluginGet", plugins_get},
	{"pluginLoad", plugins_load},
	{"pluginUnload", plugins_unload},
	{"pluginRestart", plugins_restart},
	{"containerCreate", containers_create},
	{"containerBootstrap", containers_bootstrap},
	{"containerStartProcess", containers_start},
	{"containerWait", containers_wait},
	{"containerStop", containers_stop},
	{"containerKill", containers_kill},
	{"containerDelete", containers_delete},
	{"containerList", containers_list},
	{"containerInspect", containers_inspect},
	{"containerCreateProcess", containers_create_process},
	{"containerLogs", containers_logs},
	{"containerStats", containers_stats},
	{"containerPrune", containers_prune},
	{"containerResize", containers_resize},
	{"volumeCreate", volumes_create},
	{"volumeList", volumes_list},
	{"volumeInspect", volumes_inspect},
	{"volumeDelete", volumes_delete},
	{"volumePrune", volumes_prune},
};
const size_t apiserver_nroutes = sizeof(apiserver_routes) / sizeof(apiserver_routes[0]);
