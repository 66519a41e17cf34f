/*
 * check: `pigeon check` — main.c has already loaded and checked the
 * configuration (config_load + config_finish); this adds that state_dir
 * is usable without creating it: the directory, or when it is missing its
 * nearest existing parent (mkdir -p would start there), must take a new
 * file (one is written and removed at once). It prints the route table
 * as config.c understood it (passwords as ***), one row a line, and warns
 * of a row an earlier one hides. -v prints every directive.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "admin.h"

/* Writes and removes a file in dir. 0 or -1 (errno). */
static int
probe(const char *dir)
{
	char path[PATH_MAX];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/.pigeon-check.%ld", dir,
	                     (long)getpid()) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1)
		return -1;
	close(fd);
	return unlink(path);
}

/* 0 when state_dir is usable; else -1 with at (the path that failed) and
 * errno set. *missing = 1 when it does not exist yet. */
static int
state_dir_usable(const char *dir, char *at, size_t atlen, int *missing)
{
	struct stat st;
	char *slash;

	*missing = 0;
	snprintf(at, atlen, "%s", dir);
	for (;;) {
		if (stat(at, &st) == 0) {
			if (!S_ISDIR(st.st_mode)) {
				errno = ENOTDIR;
				return -1;
			}
			return probe(at);
		}
		if (errno != ENOENT)
			return -1;
		/* Missing: look at the parent, as mkdir -p would. */
		*missing = 1;
		while ((slash = strrchr(at, '/')) != NULL && slash[1] == '\0' &&
		       slash != at)
			*slash = '\0';
		if ((slash = strrchr(at, '/')) == NULL)
			snprintf(at, atlen, ".");
		else if (slash == at)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (strcmp(at, ".") == 0 && stat(at, &st) == -1)
			return -1;
	}
}

/* A warning on stderr for each route an earlier one hides (first match
 * wins, so it is never used). */
static void
warn_shadowed(const struct config *cfg)
{
	const char *file = cfg->file != NULL ? cfg->file : "(defaults)";
	size_t i;
	long j;

	for (i = 0; i < cfg->nroutes; i++) {
		const struct cfg_route *r = &cfg->routes[i], *by;

		if ((j = config_route_shadowed(cfg, i)) == -1)
			continue;
		by = &cfg->routes[j];
		if (i < cfg->nroutes_file)
			fprintf(stderr,
			        "pigeon: warning: %s:%d: route %s can never "
			        "match: route %s on line %d comes first\n",
			        file, r->line, r->pattern, by->pattern,
			        by->line);
		else
			fprintf(stderr,
			        "pigeon: warning: %s:%d: default_route can "
			        "never match: route %s on line %d comes first "
			        "(default_route is the last route)\n",
			        file, r->line, by->pattern, by->line);
	}
}

int
admin_check(struct admin *a)
{
	struct json_object *o;
	char at[PATH_MAX];
	int missing;
	size_t i;

	if (state_dir_usable(a->cfg.state_dir, at, sizeof(at), &missing) == -1)
		return admin_err(ADMIN_FAIL,
		                 "state_dir %s is not usable: "
		                 "%s: %s",
		                 a->cfg.state_dir, at, strerror(errno));
	if (admin_opt(a, "-v"))
		config_dump(&a->cfg, stdout);
	/* not an error, and no matter in dev mode */
	if (!a->cfg.dev && strchr(a->cfg.hostname, '.') == NULL)
		fprintf(stderr,
		        "pigeon: warning: hostname '%s' is not a full domain "
		        "name; pigeon domain dns cannot name it in SPF and MX "
		        "records and leaves them out (set hostname in the "
		        "config)\n",
		        a->cfg.hostname);
	warn_shadowed(&a->cfg);
	if (a->json) {
		struct json_object *routes = json_object_new_array();

		for (i = 0; i < a->cfg.nroutes; i++)
			json_object_array_add(
			    routes,
			    json_object_new_string(a->cfg.routes[i].text));
		o = json_object_new_object();
		json_object_object_add(o, "ok", json_object_new_boolean(1));
		json_object_object_add(
		    o, "state_dir", json_object_new_string(a->cfg.state_dir));
		json_object_object_add(o, "db_path",
		                       json_object_new_string(a->cfg.db_path));
		json_object_object_add(o, "routes", routes);
		json_object_object_add(
		    o, "metrics_listen",
		    json_object_new_string(a->cfg.metrics_listen));
		admin_json_print(o);
		return ADMIN_OK;
	}
	printf("config ok: state_dir %s%s, store %s, http %s:%d\n",
	       a->cfg.state_dir, missing ? " (will be created)" : "",
	       a->cfg.db_path, a->cfg.http_listen, a->cfg.http_port);
	if (a->cfg.metrics_listen[0] != '\0')
		printf("metrics %s (/metrics there, not on the API's port)\n",
		       a->cfg.metrics_listen);
	/* -v has printed them with every directive */
	for (i = 0; !admin_opt(a, "-v") && i < a->cfg.nroutes; i++)
		printf("route %s%s\n", a->cfg.routes[i].text,
		       a->cfg.routes[i].line == 0 ? CONFIG_DEFAULT_MARK : "");
	return ADMIN_OK;
}
