/*
 * serve: `pigeon serve` — runs the service until SIGTERM or SIGINT.
 *
 * Start: log level; the state_dir lock and the listening socket, so a
 * start that cannot have them changes nothing; the store (migrations),
 * in dev mode the first-start bootstrap of SPEC §10 and dev.env; then
 * the queue (writer) wired to the delivery engine, and the HTTP front.
 * Stop: the HTTP front first (no new requests, the ones in flight
 * finish), then the queue (refuses sends, stops the engine, commits
 * what is in flight).
 *
 * Signals are blocked before any thread starts, so every thread inherits
 * the mask and only sigwait() here sees them.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../api/api.h"
#include "../core/buf.h"
#include "../core/file.h"
#include "../core/clock.h"
#include "../core/log.h"
#include "../limits/limits.h"
#include "../queue/queue.h"
#include "../inbound/inbound.h"
#include "../smtpd/cert.h"
#include "../smtpd/smtpd.h"
#include "../submit/submit.h"
#include "../tenant/tenant.h"
#include "../webhook/webhook.h"
#include "admin.h"
#include "wire.h"

#define DEV_ENV "dev.env"
#define DEV_ENV_MAX (64 * 1024)
#define DEV_ZONE "example.com"
#define BASE_URL_KEY "CLOUDFLARE_BASE_URL="
#define LOCK_FILE "pigeon.lock"
#define SMTP_CA_KEY "PIGEON_SMTP_CA="

/* The URL clients use: a wildcard listen address is reached on loopback;
 * IPv6 literals take brackets (RFC 3986 §3.2.2). */
static void
base_url(const struct config *cfg, char *out, size_t outlen)
{
	const char *h = cfg->http_listen;

	if (strcmp(h, "0.0.0.0") == 0 || h[0] == '\0')
		h = "127.0.0.1";
	else if (strcmp(h, "::") == 0)
		h = "::1";
	snprintf(out, outlen, "http://%s%s%s:%d/client/v4",
	         strchr(h, ':') ? "[" : "", h, strchr(h, ':') ? "]" : "",
	         cfg->http_port);
}

static int
env_write(const char *path, const char *url, const char *secret,
          const char *account_id)
{
	struct buf b;
	int rc = -1;

	buf_init(&b, DEV_ENV_MAX);
	if (buf_printf(&b,
	               BASE_URL_KEY "%s\n"
	                            "CLOUDFLARE_API_TOKEN=%s\n"
	                            "CLOUDFLARE_ACCOUNT_ID=%s\n",
	               url, secret, account_id) == -1)
		goto out;
	if ((rc = file_replace(path, b.p, b.len)) == -1)
		admin_err(-1, "cannot write %s: %s", path, strerror(errno));
out:
	buf_clear(&b);
	return rc;
}

/* Rewrites the line of key (as "KEY=") in an existing dev.env when its
 * value changed, or adds it; other lines are kept. 0 or -1. */
static int
env_set(const char *path, const char *key, const char *url)
{
	struct buf in, out;
	char chunk[4096], *line, *nl;
	size_t n;
	int found = 0, changed = 0, rc = -1, w;
	FILE *fp;

	buf_init(&in, DEV_ENV_MAX);
	buf_init(&out, DEV_ENV_MAX);
	if ((fp = fopen(path, "r")) == NULL) {
		admin_err(-1, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (buf_append(&in, chunk, n) == -1) {
			fclose(fp);
			admin_err(-1, "%s is too big", path);
			goto out;
		}
	fclose(fp);
	for (line = in.p; line && *line; line = nl) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl++ = '\0';
		if (strncmp(line, key, strlen(key)) == 0) {
			found = 1;
			if (strcmp(line + strlen(key), url) != 0)
				changed = 1;
			w = buf_printf(&out, "%s%s\n", key, url);
		} else
			w = buf_printf(&out, "%s\n", line);
		if (w == -1)
			goto toobig;
	}
	if (!found) {
		changed = 1;
		if (buf_printf(&out, "%s%s\n", key, url) == -1)
			goto toobig;
	}
	rc = 0;
	if (changed &&
	    (rc = file_replace(path, out.p ? out.p : "", out.len)) == -1)
		admin_err(-1, "cannot write %s: %s", path, strerror(errno));
	else if (changed) {
		char lp[LOG_VALUE_LEN(1024)];

		log_info("dev: %s now has %s%s",
		         log_value(path, lp, sizeof(lp)), key, url);
	}
	goto out;
toobig:
	admin_err(-1, "%s is too big", path);
out:
	buf_clear(&in);
	buf_clear(&out);
	return rc;
}

/* What dev.env needs once the server listens: a new file (a new token's
 * secret), or only its URL line brought up to date. */
struct dev_env {
	char path[4096];
	char secret[TOKEN_LEN + 1]; /* set: write a new file */
	char account_id[ID_LEN + 1];
};

/*
 * SPEC §10, first start: account "dev", zone and sending domain
 * example.com (RSA + Ed25519 keys), a send,read,manage token; dev.env
 * is written by dev_env_apply(), once the port is known to be ours.
 * Later starts only
 * repair dev.env: a new token when the file is gone (the old secret is
 * unknowable), the URL line when the port moved.
 */
static int
dev_bootstrap(struct admin *a, struct store *s, struct dev_env *env)
{
	struct account *v = NULL, ac;
	struct zone z;
	struct domain d;
	struct token t;
	char *path = env->path, *secret = env->secret, err[512];
	const struct account *use;
	size_t n = 0, i;
	int rc = -1;

	memset(&ac, 0, sizeof(ac));
	memset(&z, 0, sizeof(z));
	memset(&d, 0, sizeof(d));
	memset(&t, 0, sizeof(t));
	memset(env, 0, sizeof(*env));
	snprintf(path, sizeof(env->path), "%s/%s", a->cfg.state_dir, DEV_ENV);
	if (store_account_list(s, &v, &n) != 0) {
		admin_err(-1, "cannot list accounts: %s", store_error(s));
		goto out;
	}
	if (n == 0) {
		if (tenant_account_new(s, "dev", NULL, &ac, err, sizeof(err)) ||
		    tenant_zone_new(s, &ac, DEV_ZONE, &z, err, sizeof(err)) ||
		    tenant_domain_new(s, &z, DEV_ZONE, NULL, 1, &d, err,
		                      sizeof(err)) ||
		    tenant_token_new(s, ac.id, "dev",
		                     PERM_SEND | PERM_READ | PERM_MANAGE, 0,
		                     NULL, &t, secret, err, sizeof(err))) {
			admin_err(-1, "%s", err);
			goto out;
		}
		snprintf(env->account_id, sizeof(env->account_id), "%s", ac.id);
		log_info("dev: bootstrapped account=%s zone=%s domain=%s "
		         "token=%s",
		         ac.id, DEV_ZONE, DEV_ZONE, t.id);
	} else if (access(path, F_OK) == -1) {
		use = &v[0];
		for (i = 0; i < n; i++)
			if (v[i].name && strcmp(v[i].name, "dev") == 0) {
				use = &v[i];
				break;
			}
		if (tenant_token_new(s, use->id, "dev",
		                     PERM_SEND | PERM_READ | PERM_MANAGE, 0,
		                     NULL, &t, secret, err, sizeof(err)) != 0) {
			admin_err(-1, "%s", err);
			goto out;
		}
		snprintf(env->account_id, sizeof(env->account_id), "%s",
		         use->id);
		char lp[LOG_VALUE_LEN(1024)];

		log_info("dev: %s was missing: new token=%s for account=%s",
		         log_value(path, lp, sizeof(lp)), t.id, use->id);
	}
	rc = 0;
out:
	token_clear(&t);
	domain_clear(&d);
	zone_clear(&z);
	account_clear(&ac);
	account_list_free(v, n);
	return rc;
}

/* Writes dev.env (new) or its URL line (existing), and the SMTP
 * certificate clients trust (ca, or NULL). 0 or -1. */
static int
dev_env_apply(const struct config *cfg, struct dev_env *env, const char *ca)
{
	char url[320];
	int rc;

	base_url(cfg, url, sizeof(url));
	rc = env->secret[0] != '\0'
	         ? env_write(env->path, url, env->secret, env->account_id)
	         : env_set(env->path, BASE_URL_KEY, url);
	explicit_bzero(env->secret, sizeof(env->secret));
	if (rc == 0 && ca != NULL)
		rc = env_set(env->path, SMTP_CA_KEY, ca);
	return rc;
}

/*
 * The SMTP server's certificate: tls_cert/tls_key when set; in dev mode
 * otherwise the one made in state_dir on first start (its absolute path
 * in ca, for dev.env). 0 with cert and key set (NULL: none), or -1.
 */
static int
smtp_cert(const struct config *cfg, char cert[PATH_MAX], char key[PATH_MAX],
          char ca[PATH_MAX], const char **c, const char **k)
{
	char err[512], lp[LOG_VALUE_LEN(1024)];
	int rc;

	*c = *k = NULL;
	ca[0] = '\0';
	if (cfg->tls_cert[0] != '\0') {
		*c = cfg->tls_cert;
		*k = cfg->tls_key;
		return 0;
	}
	if (!cfg->dev)
		return 0;
	if ((rc = cert_dev(cfg->state_dir, cfg->hostname, cert, key, err,
	                   sizeof(err))) == -1)
		return admin_err(-1, "%s", err);
	if (realpath(cert, ca) == NULL)
		return admin_err(-1, "%s: %s", cert, strerror(errno));
	if (rc == 1)
		log_info("dev: made a self-signed SMTP certificate");
	log_info("dev: SMTP certificate %s (PIGEON_SMTP_CA in dev.env: "
	         "clients trust it)",
	         log_value(ca, lp, sizeof(lp)));
	*c = cert;
	*k = key;
	return 0;
}

/*
 * One server per state_dir: two would deliver the same recipients. An
 * flock on state_dir/pigeon.lock, which holds the pid, for as long as the
 * process lives. The descriptor, or -1 after admin_err.
 */
static int
state_lock(const struct config *cfg)
{
	char path[4096], pid[32] = "";
	ssize_t n;
	int fd, saved;

	if (admin_mkdirs(cfg->state_dir) == -1)
		return admin_err(-1, "cannot create state_dir %s: %s",
		                 cfg->state_dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/" LOCK_FILE, cfg->state_dir);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return admin_err(-1, "cannot open %s: %s", path,
		                 strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		saved = errno;
		if ((n = pread(fd, pid, sizeof(pid) - 1, 0)) > 0)
			pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		if (saved != EWOULDBLOCK)
			return admin_err(-1, "cannot lock %s: %s", path,
			                 strerror(saved));
		return admin_err(-1,
		                 "state_dir %s is in use by another pigeon "
		                 "serve%s%s%s; stop it, or give this one a "
		                 "state_dir of its own",
		                 cfg->state_dir, pid[0] ? " (pid " : "", pid,
		                 pid[0] ? ")" : "");
	}
	if (ftruncate(fd, 0) == -1 ||
	    dprintf(fd, "%ld\n", (long)getpid()) < 0) {
		saved = errno;
		close(fd);
		return admin_err(-1, "cannot write %s: %s", path,
		                 strerror(saved));
	}
	return fd;
}

/* What an operator should know before the first request. */
static void
serve_warnings(const struct config *cfg)
{
	char h[LOG_VALUE_LEN(256)];

	if (cfg->dev)
		return;
	log_warnx("route=capture: mail is kept here and nothing leaves this "
	          "machine (MX and relay delivery are not built yet)");
	if (strchr(cfg->hostname, '.') == NULL)
		log_warnx("hostname '%s' is not a full domain name; pigeon "
		          "domain dns cannot name it in SPF and MX records and "
		          "leaves them out (set hostname in the config)",
		          log_escape(cfg->hostname, h, sizeof(h)));
}

int
admin_serve(struct admin *a)
{
	struct store *s = NULL;
	struct queue *q = NULL;
	struct tenant *tenant = NULL;
	struct submit *submit = NULL;
	struct api *api = NULL;
	struct smtpd *smtpd = NULL;
	struct inbound *inbound = NULL;
	struct limits *lim = NULL;
	struct webhookd *webhookd = NULL;
	struct smtpd_inbound hooks;
	struct dev_env env;
	char cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	const char *use_cert, *use_key;
	int sfd[SMTPD_NLISTENERS] = {-1, -1, -1};
	enum log_level lvl = LOG_LVL_INFO;
	char err[512], url[320], sd[LOG_VALUE_LEN(1024)];
	const char *sdv;
	sigset_t set;
	int sig = 0, status = ADMIN_FAIL, lock = -1, lfd = -1, held = 0;

	if (log_level_parse(a->cfg.log_level, &lvl) == -1)
		return admin_err(ADMIN_FAIL,
		                 "log_level '%s': use error, "
		                 "warn, info or debug",
		                 a->cfg.log_level);
	log_init(lvl);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1); /* pigeon queue retry|drop|resume */
	sigaddset(&set, SIGHUP);  /* tls_cert and tls_key again */
	if ((errno = pthread_sigmask(SIG_BLOCK, &set, NULL)) != 0)
		return admin_err(ADMIN_FAIL, "pthread_sigmask: %s",
		                 strerror(errno));

	/* The state_dir and the port first: a start that cannot have them
	 * changes nothing and delivers nothing. */
	memset(&env, 0, sizeof(env));
	if ((lock = state_lock(&a->cfg)) == -1)
		goto fail;
	err[0] = '\0';
	if ((lfd = api_listen(&a->cfg, err, sizeof(err))) == -1) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	if (smtpd_listen(&a->cfg, sfd, err, sizeof(err)) == -1) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	if (smtp_cert(&a->cfg, cert, key, ca, &use_cert, &use_key) == -1)
		goto fail;
	if ((s = admin_store_open(a)) == NULL)
		goto fail;
	/* the port is ours: dev.env may point at it */
	if (a->cfg.dev &&
	    (dev_bootstrap(a, s, &env) == -1 ||
	     dev_env_apply(&a->cfg, &env, ca[0] ? ca : NULL) == -1))
		goto fail;
	/* SPEC §8.4: today's counts, as the last run left them */
	if ((lim = limits_new()) == NULL) {
		admin_err(ADMIN_FAIL, "out of memory");
		goto fail;
	}
	if (limits_load(lim, s, clock_now_ms()) == -1) {
		admin_err(ADMIN_FAIL,
		          "cannot read the daily sending counts: %s",
		          store_error(s));
		goto fail;
	}
	store_close(s);
	s = NULL;

	err[0] = '\0';
	if ((q = wire_queue(&a->cfg, err, sizeof(err))) == NULL) {
		admin_err(ADMIN_FAIL, "cannot start the queue: %s", err);
		goto fail;
	}
	err[0] = '\0';
	if ((tenant = tenant_new(&a->cfg, err, sizeof(err))) == NULL) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	if ((submit = submit_new(&a->cfg, q)) == NULL) {
		admin_err(ADMIN_FAIL, "out of memory");
		goto fail;
	}
	submit_set_limits(submit, lim);
	queue_set_limits(q, lim);
	api = api_start(&a->cfg, q, submit, tenant, lfd, err, sizeof(err));
	lfd = -1; /* api_start's now */
	if (api == NULL) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	if ((inbound = inbound_new(&a->cfg, q, err, sizeof(err))) == NULL) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	hooks.rcpt = inbound_rcpt;
	hooks.message = inbound_message;
	hooks.arg = inbound;
	smtpd = smtpd_start(&a->cfg, submit, tenant, &hooks, sfd, use_cert,
	                    use_key, err, sizeof(err));
	if (smtpd == NULL) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	/* SPEC §6.5: its own thread and store connection */
	if ((webhookd = webhookd_start(&a->cfg, err, sizeof(err))) == NULL) {
		admin_err(ADMIN_FAIL, "%s", err);
		goto fail;
	}
	serve_warnings(&a->cfg);
	base_url(&a->cfg, url, sizeof(url));
	log_info("listening http=%s:%d api=%s", a->cfg.http_listen,
	         a->cfg.http_port, url);
	sdv = log_value(a->cfg.state_dir, sd, sizeof(sd));
	if (a->cfg.dev)
		log_info("dev: credentials in %s/%s; try: set -a; . %s/%s; "
		         "curl -s \"$CLOUDFLARE_BASE_URL/accounts/"
		         "$CLOUDFLARE_ACCOUNT_ID/email/sending/send\" -H "
		         "\"Authorization: Bearer $CLOUDFLARE_API_TOKEN\" -H "
		         "'Content-Type: application/json' -d "
		         "'{\"from\":\"dev@example.com\",\"to\":"
		         "\"someone@example.net\",\"subject\":\"Hello\","
		         "\"text\":\"Hi from pigeon\"}'",
		         sdv, DEV_ENV, sdv, DEV_ENV);
	log_info("pigeon %s started pid=%ld state_dir=%s", PIGEON_VERSION,
	         (long)getpid(), sdv);

	for (;;) {
		if ((errno = sigwait(&set, &sig)) != 0) {
			if (errno == EINTR)
				continue;
			log_warn("sigwait");
			break;
		}
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGUSR1) /* the CLI wrote requests to the store */
			queue_reconcile(q);
		if (sig == SIGHUP) {
			err[0] = '\0';
			if (smtpd_reload(smtpd, err, sizeof(err)) == -1)
				log_warnx(
				    "SIGHUP: the SMTP certificate was not "
				    "reloaded, the old one stays: %s",
				    err);
			else
				log_info("SIGHUP: SMTP certificate reloaded");
		}
	}
	log_info("signal=%s draining", sig == SIGINT ? "INT" : "TERM");
	webhookd_stop(webhookd);
	webhookd = NULL;
	held = smtpd_stop(smtpd) == -1;
	smtpd = NULL;
	held |= api_stop(api) == -1;
	api = NULL;
	queue_stop(q);
	q = NULL;
	log_info("stopped");
	status = ADMIN_OK;
fail:
	webhookd_stop(webhookd);
	if (smtpd)
		held = smtpd_stop(smtpd) == -1;
	if (api)
		held |= api_stop(api) == -1;
	if (q)
		queue_stop(q);
	/* HTTP threads still running may use them until the exit */
	if (!held) {
		submit_free(submit);
		tenant_free(tenant);
		inbound_free(inbound);
		limits_free(lim);
	}
	store_close(s);
	explicit_bzero(env.secret, sizeof(env.secret));
	if (lfd != -1)
		close(lfd);
	for (int i = 0; i < SMTPD_NLISTENERS; i++)
		if (sfd[i] != -1)
			close(sfd[i]);
	if (lock != -1)
		close(lock);
	return status;
}
