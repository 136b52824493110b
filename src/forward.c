/*
 * forward.c: SIEM targets (forward.h). The caller's thread only copies a
 * message into each target's queue; a thread per target owns its socket
 * or file, formats with its own fwdfmt (so formatting costs no loop time),
 * frames and writes in batches, and reconnects with backoff. Counters are
 * under the queue's mutex so forward_stats reads them consistently.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <pwd.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "forward.h"
#include "json.h"
#include "storeread.h"
#include "tlslib.h"
#include "util.h"

/* ---- targets from the config (pure) ---- */

static const char *const forward_facilities[24] = {
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
	"uucp", "cron", "authpriv", "ftp", "ntp", "audit", "alert", "clock",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
};

void forward_targets_free(struct forward_target *t, size_t n)
{
	size_t i;

	for (i = 0; t && i < n; i++) {
		free(t[i].url);
		free(t[i].host);
		free(t[i].port);
		free(t[i].path);
		free(t[i].ca_file);
		free(t[i].cert_file);
		free(t[i].key_file);
	}
	free(t);
}

/* Splits "HOST:PORT" or "[V6]:PORT"; false when malformed. */
static bool forward_hostport(const char *s, char **host, char **port)
{
	const char *colon, *h = s, *he;
	long long p;

	if (*s == '[') {
		he = strchr(s, ']');
		if (!he || he[1] != ':')
			return false;
		h = s + 1;
		colon = he + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return false;
		he = colon;
	}
	if (he == h || util_parse_ll(colon + 1, 1, 65535, &p) < 0)
		return false;
	if (strchr(colon + 1, '/'))
		return false;
	*host = xstrndup(h, (size_t)(he - h));
	*port = xstrdup(colon + 1);
	return true;
}

/* A string option of a target object; NULL when absent, "" set in *bad when not a string. */
static const char *forward_opt_str(const cJSON *obj, const char *key, bool *bad)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!v)
		return NULL;
	if (!cJSON_IsString(v) || strlen(v->valuestring) > 4096) {
		*bad = true;
		return NULL;
	}
	return v->valuestring;
}

/* Parses one target object into t; a malloc'd problem text or NULL. */
static char *forward_target_parse(const cJSON *obj, struct forward_target *t)
{
	static const char *const known[] = { "to", "format", "facility", "ca file", "cert file",
					     "key file", "exec events", "queue size" };
	const cJSON *item, *v;
	const char *url, *s;
	char esc[300];
	bool bad = false;
	size_t i;

	cJSON_ArrayForEach(item, obj) {
		for (i = 0; i < ARRAY_SIZE(known); i++)
			if (item->string && strcmp(item->string, known[i]) == 0)
				break;
		if (i == ARRAY_SIZE(known)) {
			util_escape(esc, sizeof(esc), item->string ? item->string : "",
				    item->string ? strlen(item->string) : 0);
			return xasprintf("unknown option \"%s\" (expected \"to\", \"format\", "
					 "\"facility\", \"ca file\", \"cert file\", \"key file\", "
					 "\"exec events\", \"queue size\")", esc);
		}
	}
	url = forward_opt_str(obj, "to", &bad);
	if (bad || !url)
		return xstrdup("\"to\": expected a URL string (unix:///dev/log, udp://HOST:PORT, "
			       "tcp://HOST:PORT, tls://HOST:PORT or file:///PATH)");
	util_escape(esc, sizeof(esc), url, strlen(url));
	t->url = xstrdup(url);
	if (strncmp(url, "unix://", 7) == 0 || strncmp(url, "file://", 7) == 0) {
		t->scheme = url[0] == 'u' ? FORWARD_UNIX : FORWARD_FILE;
		if (url[7] != '/' || strlen(url + 7) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
		    strstr(url + 7, "/../"))
			return xasprintf("\"to\": expected an absolute path after %.7s (as in "
					 "%.7s/var/log/x), got \"%s\"", url, url, esc);
		t->path = xstrdup(url + 7);
	} else if (strncmp(url, "udp://", 6) == 0 || strncmp(url, "tcp://", 6) == 0 ||
		   strncmp(url, "tls://", 6) == 0) {
		t->scheme = url[1] == 'd' ? FORWARD_UDP : url[1] == 'c' ? FORWARD_TCP : FORWARD_TLS;
		if (!forward_hostport(url + 6, &t->host, &t->port))
			return xasprintf("\"to\": expected %.6sHOST:PORT (port 1-65535; an IPv6 "
					 "address in brackets), got \"%s\"", url, esc);
	} else {
		return xasprintf("\"to\": expected a URL starting with unix://, udp://, tcp://, "
				 "tls:// or file://, got \"%s\"", esc);
	}
	s = forward_opt_str(obj, "format", &bad);
	if (bad || (s && strcmp(s, "rfc5424") != 0 && strcmp(s, "json") != 0))
		return xstrdup("\"format\": expected \"rfc5424\" or \"json\"");
	t->json = s && strcmp(s, "json") == 0;
	t->facility = FORWARD_DEFAULT_FACILITY;
	v = cJSON_GetObjectItemCaseSensitive(obj, "facility");
	if (v) {
		bool found = false;

		if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 23 &&
		    v->valuedouble == (int)v->valuedouble) {
			t->facility = (int)v->valuedouble;
			found = true;
		}
		for (i = 0; cJSON_IsString(v) && i < ARRAY_SIZE(forward_facilities); i++) {
			if (strcmp(v->valuestring, forward_facilities[i]) == 0) {
				t->facility = (int)i;
				found = true;
			}
		}
		if (!found)
			return xstrdup("\"facility\": expected a syslog facility name (\"local0\" ... "
				       "\"local7\", \"daemon\", \"auth\", \"audit\", ...) or a number "
				       "0-23");
	}
	s = forward_opt_str(obj, "ca file", &bad);
	t->ca_file = xstrdup(s ? s : "");
	s = forward_opt_str(obj, "cert file", &bad);
	t->cert_file = xstrdup(s ? s : "");
	s = forward_opt_str(obj, "key file", &bad);
	t->key_file = xstrdup(s ? s : "");
	if (bad)
		return xstrdup("\"ca file\", \"cert file\" and \"key file\" must be path strings");
	if ((t->ca_file[0] || t->cert_file[0] || t->key_file[0]) && t->scheme != FORWARD_TLS)
		return xstrdup("\"ca file\", \"cert file\" and \"key file\" are for tls:// targets");
	if (!t->cert_file[0] != !t->key_file[0])
		return xstrdup("\"cert file\" and \"key file\" go together: give both or neither");
	if ((t->ca_file[0] && t->ca_file[0] != '/') || (t->cert_file[0] && t->cert_file[0] != '/') ||
	    (t->key_file[0] && t->key_file[0] != '/'))
		return xstrdup("\"ca file\", \"cert file\" and \"key file\" must be absolute paths");
	v = cJSON_GetObjectItemCaseSensitive(obj, "exec events");
	if (v && !cJSON_IsBool(v))
		return xstrdup("\"exec events\": expected true or false");
	t->exec_events = v && cJSON_IsTrue(v);
	t->queue_max = FORWARD_DEFAULT_QUEUE;
	v = cJSON_GetObjectItemCaseSensitive(obj, "queue size");
	if (v) {
		if (!cJSON_IsNumber(v) || v->valuedouble < 1 || v->valuedouble > FORWARD_MAX_QUEUE ||
		    v->valuedouble != (double)(long long)v->valuedouble)
			return xasprintf("\"queue size\": expected an integer from 1 to %d",
					 FORWARD_MAX_QUEUE);
		t->queue_max = (size_t)v->valuedouble;
	}
	return NULL;
}

int forward_targets_parse(const char *json, struct forward_target **ret, size_t *n_ret,
			  char **err)
{
	cJSON *root = cJSON_Parse(json);
	struct forward_target *t = NULL;
	const cJSON *obj;
	size_t n = 0;
	int r = -EINVAL;

	*err = NULL;
	if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) > FORWARD_MAX_TARGETS) {
		*err = xasprintf("expected an array of at most %d target objects",
				 FORWARD_MAX_TARGETS);
		goto out;
	}
	t = xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(*t));
	cJSON_ArrayForEach(obj, root) {
		char *problem;

		if (!cJSON_IsObject(obj)) {
			*err = xasprintf("target %zu: expected an object", n + 1);
			n++;
			goto out;
		}
		problem = forward_target_parse(obj, &t[n]);
		n++;
		if (problem) {
			*err = xasprintf("target %zu: %s", n, problem);
			free(problem);
			goto out;
		}
	}
	*ret = t;
	*n_ret = n;
	t = NULL;
	r = 0;
out:
	forward_targets_free(t, n);
	cJSON_Delete(root);
	return r;
}

char *forward_validate(const struct config *cfg, enum config_key key)
{
	struct forward_target *t = NULL;
	size_t n = 0;
	char *err = NULL;

	if (forward_targets_parse(config_json(cfg, key), &t, &n, &err) == 0)
		forward_targets_free(t, n);
	return err;
}

/* ---- the queue and the thread of a target ---- */

/* ITEM_MARK: every row committed up to contime is queued before it (never sent). */
enum forward_item_kind { ITEM_RECORD, ITEM_DETECTION, ITEM_HEALTH, ITEM_VT, ITEM_MARK };

struct forward_item {
	struct forward_item *next;
	enum forward_item_kind kind;
	int64_t time_us;
	int64_t contime;             /* RECORD, MARK: the row's write window */
	struct conn_record *rec;     /* RECORD, DETECTION (shared strings) */
	enum records_kind dkind;     /* DETECTION */
	int64_t value;               /* HEALTH */
	char *text;                  /* DETECTION, HEALTH, VT */
	char *what;                  /* HEALTH; VT: the executable's path */
	struct fwdfmt_vt vt;         /* VT (sha256 and exe point into sha256 and what) */
	char sha256[65];             /* VT */
};

/* Messages written at once (stream transports and files). */
#define FORWARD_BATCH_ITEMS 512

/* How long a TLS 1.3 connection waits for a refusal after its handshake. */
#define FORWARD_TLS_SETTLE_MS 500

/* A uid -> user name cache, direct-mapped: getpwuid_r may ask NSS (LDAP). */
#define FORWARD_USER_SLOTS 64
struct forward_user {
	bool set, found;
	uint32_t uid;
	char name[64];
};

struct forward_target_rt {
	struct forward *fw;
	struct forward_target cfg;
	pthread_t thread;
	bool started;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct forward_item *head, *tail;
	size_t n_queued;
	bool stop;
	atomic_bool reopen;
	struct forward_stats st;     /* under lock; url points to cfg.url */

	/* The thread's own. */
	int fd;
	gnutls_session_t tls;
	gnutls_certificate_credentials_t cred;
	bool ever_connected;
	struct fwdfmt *fmt;
	char *out;                   /* the batch being written */
	size_t out_len, out_cap;
	struct forward_user users[FORWARD_USER_SLOTS];

	/* The cursor and the resend (thread side; gap, gap_hi, committed under lock). */
	char cursor_name[128];       /* file in fw->cursor_dirfd; "" without cursors */
	int64_t cursor_disk;         /* contime written (or read at start); 0 none */
	int64_t cursor_sent;         /* newest mark sent */
	int64_t gap;                 /* oldest window of a dropped row; INT64_MAX none */
	int64_t gap_hi;              /* newest window of a row dropped since */
	int64_t committed;           /* newest window forward_committed announced */
	uint64_t resend_after_ms;    /* no resend before (the database failed the last one) */
	uint64_t cursor_write_ms;
	bool resending;              /* rows from resend_pos to resend_hi to resend (written under lock) */
	struct storeread_pos resend_pos;
	int64_t resend_hi;
};

struct forward {
	struct forward_options opts;
	char *hostname;
	char *db_path;
	int cursor_dirfd;
	struct forward_target_rt *t;
	size_t n;
};

static void forward_item_free(struct forward_item *it)
{
	if (!it)
		return;
	conn_record_free(it->rec);
	free(it->text);
	free(it->what);
	free(it);
}

static int64_t forward_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Records the last error (thread side). */
static void forward_error(struct forward_target_rt *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void forward_error(struct forward_target_rt *t, const char *fmt, ...)
{
	va_list ap;
	char msg[sizeof(t->st.last_error)];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&t->lock);
	memcpy(t->st.last_error, msg, sizeof(msg));
	t->st.connected = false;
	pthread_mutex_unlock(&t->lock);
}

/* Appends it to t's queue, or drops it when full (counted). */
static void forward_push(struct forward_target_rt *t, struct forward_item *it)
{
	pthread_mutex_lock(&t->lock);
	if (it->kind == ITEM_MARK && it->contime > t->committed)
		t->committed = it->contime;
	if (t->n_queued >= t->cfg.queue_max || t->stop) {
		if (it->kind != ITEM_MARK)
			t->st.dropped++;
		/*
		 * A row lost here is in the database already (the writer hands
		 * rows over after the commit): resent once the queue has drained,
		 * or after the next start. Other messages are not stored: lost.
		 */
		if (it->kind == ITEM_RECORD && t->fw->db_path) {
			if (it->contime < t->gap)
				t->gap = it->contime;
			if (it->contime > t->gap_hi)
				t->gap_hi = it->contime;
		} else if (it->kind != ITEM_MARK) {
			t->st.lost++;
		}
		pthread_mutex_unlock(&t->lock);
		forward_item_free(it);
		return;
	}
	if (t->tail)
		t->tail->next = it;
	else
		t->head = it;
	t->tail = it;
	t->n_queued++;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static void forward_close(struct forward_target_rt *t)
{
	if (t->tls) {
		tlslib.deinit(t->tls);
		t->tls = NULL;
	}
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

/* A socket connected to host:port (stream or datagram); -errno and the error set. */
static int forward_connect_inet(struct forward_target_rt *t, int type)
{
	struct addrinfo hints = { .ai_socktype = type, .ai_flags = AI_ADDRCONFIG };
	struct addrinfo *res = NULL, *ai;
	struct timeval tv = { .tv_sec = 5 };
	int fd = -1, rc, err = ECONNREFUSED;

	rc = getaddrinfo(t->cfg.host, t->cfg.port, &hints, &res);
	if (rc != 0) {
		forward_error(t, "cannot resolve %s: %s", t->cfg.host, gai_strerror(rc));
		return -EHOSTUNREACH;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		/* SO_SNDTIMEO bounds connect(2) too, so a black-holed collector costs 5 s. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			if (!util_connected_to_self(fd))
				break;
			errno = ECONNREFUSED;
		}
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		forward_error(t, "cannot connect to %s:%s: %s", t->cfg.host, t->cfg.port,
			      strerror(err));
		return -err;
	}
	return fd;
}

/*
 * TLS 1.3: the client's handshake ends before the server has checked the
 * client's certificate, and a server that refuses it says so with an
 * alert after that. Wait a moment for one, so a refused target fails
 * here, before any message counts as sent and its cursor moves past it.
 * Session tickets the server sends meanwhile are taken in by gnutls.
 */
static int forward_tls_settle(struct forward_target_rt *t)
{
	char buf[256];
	ssize_t n;

	tlslib.record_set_timeout(t->tls, FORWARD_TLS_SETTLE_MS);
	n = tlslib.record_recv(t->tls, buf, sizeof(buf));
	tlslib.record_set_timeout(t->tls, 0);
	if (n > 0 || n == GNUTLS_E_TIMEDOUT || n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
		return 0; /* nothing to say, or data a collector should not send: kept quiet */
	if (n == 0) {
		forward_error(t, "TLS with %s:%s: the collector closed the connection after the "
			      "handshake (is a client certificate required?)", t->cfg.host, t->cfg.port);
		return -ECONNRESET;
	}
	if (n == GNUTLS_E_FATAL_ALERT_RECEIVED) {
		const char *alert = tlslib.alert_get_name(tlslib.alert_get(t->tls));

		forward_error(t, "TLS with %s:%s: refused by the collector: %s", t->cfg.host,
			      t->cfg.port, alert ? alert : "fatal alert");
		return -EACCES;
	}
	if (!tlslib.error_is_fatal((int)n))
		return 0;
	forward_error(t, "TLS with %s:%s: %s", t->cfg.host, t->cfg.port, tlslib.strerror((int)n));
	return -EPROTO;
}

/* The TLS handshake on t->fd, the server certificate verified for host. */
static int forward_tls_start(struct forward_target_rt *t)
{
	char load_err[256];
	int rc;

	if (tlslib_load(load_err, sizeof(load_err)) < 0) {
		forward_error(t, "TLS with %s:%s: cannot load the TLS library: %s", t->cfg.host,
			      t->cfg.port, load_err);
		return -ENOENT;
	}
	if (!t->cred) {
		rc = tlslib.certificate_allocate_credentials(&t->cred);
		if (rc < 0)
			goto fail;
		if (t->cfg.ca_file[0])
			rc = tlslib.certificate_set_x509_trust_file(t->cred, t->cfg.ca_file,
								    GNUTLS_X509_FMT_PEM);
		else
			rc = tlslib.certificate_set_x509_system_trust(t->cred);
		if (rc <= 0) {
			forward_error(t, "no CA certificate loaded from %s%s%s",
				      t->cfg.ca_file[0] ? t->cfg.ca_file : "the system trust store",
				      rc < 0 ? ": " : "", rc < 0 ? tlslib.strerror(rc) : "");
			tlslib.certificate_free_credentials(t->cred);
			t->cred = NULL;
			return -EINVAL;
		}
		if (t->cfg.cert_file[0]) {
			rc = tlslib.certificate_set_x509_key_file(t->cred, t->cfg.cert_file,
								  t->cfg.key_file,
								  GNUTLS_X509_FMT_PEM);
			if (rc < 0) {
				forward_error(t, "cannot load the client certificate %s / key %s: %s",
					      t->cfg.cert_file, t->cfg.key_file, tlslib.strerror(rc));
				tlslib.certificate_free_credentials(t->cred);
				t->cred = NULL;
				return -EINVAL;
			}
		}
	}
	rc = tlslib.init(&t->tls, GNUTLS_CLIENT);
	if (rc < 0)
		goto fail;
	rc = tlslib.set_default_priority(t->tls);
	if (rc >= 0)
		rc = tlslib.credentials_set(t->tls, GNUTLS_CRD_CERTIFICATE, t->cred);
	if (rc < 0)
		goto fail;
	/* SNI only for names: RFC 6066 forbids IP literals there. */
	if (!strchr(t->cfg.host, ':') && strspn(t->cfg.host, "0123456789.") != strlen(t->cfg.host))
		tlslib.server_name_set(t->tls, GNUTLS_NAME_DNS, t->cfg.host, strlen(t->cfg.host));
	tlslib.session_set_verify_cert(t->tls, t->cfg.host, 0);
	tlslib.transport_set_int2(t->tls, t->fd, t->fd);
	tlslib.handshake_set_timeout(t->tls, 10000);
	do {
		rc = tlslib.handshake(t->tls);
	} while (rc < 0 && !tlslib.error_is_fatal(rc));
	if (rc == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR) {
		gnutls_datum_t why = { 0 };
		unsigned status = tlslib.session_get_verify_cert_status(t->tls);

		tlslib.certificate_verification_status_print(status, GNUTLS_CRT_X509, &why, 0);
		forward_error(t, "TLS: the certificate of %s:%s is not trusted: %s", t->cfg.host,
			      t->cfg.port, why.data ? (char *)why.data : "verification failed");
		tlslib.free(why.data);
		return -EPERM;
	}
	if (rc < 0)
		goto fail;
	if (tlslib.protocol_get_version(t->tls) == GNUTLS_TLS1_3)
		return forward_tls_settle(t);
	return 0;
fail:
	forward_error(t, "TLS with %s:%s: %s", t->cfg.host, t->cfg.port, tlslib.strerror(rc));
	return -EPROTO;
}

/* Opens t's transport; 0 or -errno (the error recorded). */
static int forward_open(struct forward_target_rt *t)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, r;

	switch (t->cfg.scheme) {
	case FORWARD_FILE:
		fd = open(t->cfg.path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
				       O_NOCTTY, 0640);
		if (fd < 0) {
			forward_error(t, "cannot open %s: %s", t->cfg.path, strerror(errno));
			return -errno;
		}
		t->fd = fd;
		break;
	case FORWARD_UNIX:
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			forward_error(t, "socket: %s", strerror(errno));
			return -errno;
		}
		memcpy(sun.sun_path, t->cfg.path, strlen(t->cfg.path));
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			r = -errno;
			forward_error(t, "cannot connect to %s: %s", t->cfg.path, strerror(errno));
			close(fd);
			return r;
		}
		t->fd = fd;
		break;
	case FORWARD_UDP:
	case FORWARD_TCP:
	case FORWARD_TLS:
		fd = forward_connect_inet(t, t->cfg.scheme == FORWARD_UDP ? SOCK_DGRAM : SOCK_STREAM);
		if (fd < 0)
			return fd;
		t->fd = fd;
		if (t->cfg.scheme == FORWARD_TLS) {
			r = forward_tls_start(t);
			if (r < 0) {
				forward_close(t);
				return r;
			}
		}
		break;
	}
	pthread_mutex_lock(&t->lock);
	if (t->ever_connected)
		t->st.reconnects++;
	t->st.connected = true;
	pthread_mutex_unlock(&t->lock);
	t->ever_connected = true;
	return 0;
}

/*
 * Whether a stream collector closed its end: a FIN (or RST) we have not
 * read yet. Checked before each batch, so a restarted collector costs a
 * reconnect instead of a batch written into a dead connection.
 */
static bool forward_peer_closed(struct forward_target_rt *t)
{
	struct pollfd p = { .fd = t->fd, .events = POLLIN | POLLRDHUP };
	char c;

	if (t->cfg.scheme != FORWARD_TCP && t->cfg.scheme != FORWARD_TLS)
		return false;
	if (poll(&p, 1, 0) <= 0)
		return false;
	if (p.revents & (POLLRDHUP | POLLHUP | POLLERR))
		return true;
	/* Collectors send nothing; data means a TLS alert or close_notify. */
	return t->cfg.scheme == FORWARD_TCP && recv(t->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static void forward_out_put(struct forward_target_rt *t, const char *s, size_t n)
{
	if (t->out_len + n > t->out_cap) {
		t->out_cap = (t->out_len + n) * 2;
		t->out = xrealloc(t->out, t->out_cap);
	}
	memcpy(t->out + t->out_len, s, n);
	t->out_len += n;
}

/* The name of uid, cached; NULL when it has none. */
static const char *forward_user(struct forward_target_rt *t, uint32_t uid)
{
	struct forward_user *u = &t->users[uid % FORWARD_USER_SLOTS];
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (!u->set || u->uid != uid) {
		u->set = true;
		u->uid = uid;
		u->found = getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res &&
			   strlen(res->pw_name) < sizeof(u->name);
		if (u->found)
			memcpy(u->name, res->pw_name, strlen(res->pw_name) + 1);
	}
	return u->found ? u->name : NULL;
}

/* Formats it and appends it, framed for the transport, to the batch. */
static void forward_frame(struct forward_target_rt *t, const struct forward_item *it)
{
	const char *msg;
	size_t len;
	char num[24];

	switch (it->kind) {
	case ITEM_RECORD:
		msg = fwdfmt_record(t->fmt, it->rec, forward_user(t, it->rec->uid), it->time_us,
				    &len);
		break;
	case ITEM_DETECTION: {
		struct records_detection d = { .kind = it->dkind, .text = it->text };

		msg = fwdfmt_detection(t->fmt, &d, it->rec, forward_user(t, it->rec->uid),
				       it->time_us, &len);
		break;
	}
	case ITEM_HEALTH:
		msg = fwdfmt_health(t->fmt, it->what, it->text, it->value, it->time_us, &len);
		break;
	case ITEM_VT:
		msg = fwdfmt_vt(t->fmt, &it->vt, it->text, it->time_us, &len);
		break;
	default:
		return;
	}
	switch (t->cfg.scheme) {
	case FORWARD_TCP:
	case FORWARD_TLS:
		/* RFC 6587 3.4.1 octet counting: "LEN SP MSG". */
		snprintf(num, sizeof(num), "%zu ", len);
		forward_out_put(t, num, strlen(num));
		forward_out_put(t, msg, len);
		break;
	case FORWARD_FILE:
		forward_out_put(t, msg, len);
		forward_out_put(t, "\n", 1);
		break;
	case FORWARD_UDP:
		if (len > FORWARD_UDP_MAX) {
			/* Cut on a character boundary (our text is valid UTF-8). */
			len = FORWARD_UDP_MAX;
			while (len > 0 && ((unsigned char)msg[len] & 0xc0) == 0x80)
				len--;
			pthread_mutex_lock(&t->lock);
			t->st.truncated++;
			pthread_mutex_unlock(&t->lock);
		}
		/* fall through */
	case FORWARD_UNIX:
		/* One datagram per message: the batch holds one. */
		forward_out_put(t, msg, len);
		break;
	}
}

/* Writes the batch; 0 or -errno (the connection is then closed). */
static int forward_write(struct forward_target_rt *t)
{
	size_t off = 0;

	while (off < t->out_len) {
		ssize_t n;

		if (t->tls) {
			n = tlslib.record_send(t->tls, t->out + off, t->out_len - off);
			if (n == GNUTLS_E_AGAIN || n == GNUTLS_E_INTERRUPTED)
				continue;
			if (n < 0) {
				forward_error(t, "TLS write to %s:%s: %s", t->cfg.host, t->cfg.port,
					      tlslib.strerror((int)n));
				forward_close(t);
				return -EIO;
			}
		} else if (t->cfg.scheme == FORWARD_FILE) {
			n = write(t->fd, t->out + off, t->out_len - off);
		} else {
			n = send(t->fd, t->out + off, t->out_len - off, MSG_NOSIGNAL);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = errno;

			forward_error(t, "write to %s: %s", t->cfg.url, strerror(err));
			if (!(err == ECONNREFUSED && t->cfg.scheme == FORWARD_UDP))
				forward_close(t);
			return -err;
		}
		off += (size_t)n;
	}
	return 0;
}

/* Writes the cursor when it moved (at most once a second unless forced). */
static void forward_cursor_save(struct forward_target_rt *t, bool force)
{
	int64_t c, gap;
	char buf[32];
	int r;

	if (!t->cursor_name[0] || t->fw->cursor_dirfd < 0)
		return;
	pthread_mutex_lock(&t->lock);
	gap = t->gap;
	pthread_mutex_unlock(&t->lock);
	c = t->cursor_sent < gap ? t->cursor_sent : gap;
	if (t->resending && t->resend_pos.contime < c)
		c = t->resend_pos.contime;
	if (c <= t->cursor_disk || (!force && util_now_ms() < t->cursor_write_ms + 1000))
		return;
	snprintf(buf, sizeof(buf), "%lld\n", (long long)c);
	r = util_write_atomic(t->fw->cursor_dirfd, t->cursor_name, buf, strlen(buf), 0640);
	t->cursor_write_ms = util_now_ms();
	if (r < 0) {
		forward_error(t, "cannot write the cursor %s: %s", t->cursor_name, strerror(-r));
		return;
	}
	t->cursor_disk = c;
	pthread_mutex_lock(&t->lock);
	t->st.cursor = c;
	pthread_mutex_unlock(&t->lock);
}

static const char *forward_col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s ? (const char *)s : "";
}

/* rec from a row of storeread_resend. */
static void forward_row_record(sqlite3_stmt *st, struct conn_record *rec)
{
	rec->time = sqlite3_column_int64(st, STOREREAD_RESEND_CONTIME);
	conn_set(&rec->proc.exe, forward_col(st, STOREREAD_RESEND_EXE));
	conn_set(&rec->proc.name, forward_col(st, STOREREAD_RESEND_NAME));
	conn_set(&rec->proc.cmdline, forward_col(st, STOREREAD_RESEND_CMDLINE));
	conn_set(&rec->proc.sha256, forward_col(st, STOREREAD_RESEND_SHA256));
	conn_set(&rec->parent.exe, forward_col(st, STOREREAD_RESEND_PEXE));
	conn_set(&rec->parent.name, forward_col(st, STOREREAD_RESEND_PNAME));
	conn_set(&rec->parent.cmdline, forward_col(st, STOREREAD_RESEND_PCMDLINE));
	conn_set(&rec->parent.sha256, forward_col(st, STOREREAD_RESEND_PSHA256));
	rec->uid = (uint32_t)sqlite3_column_int64(st, STOREREAD_RESEND_UID);
	rec->family = sqlite3_column_int(st, STOREREAD_RESEND_FAMILY);
	rec->protocol = sqlite3_column_int(st, STOREREAD_RESEND_PROTOCOL);
	rec->direction = sqlite3_column_int(st, STOREREAD_RESEND_DIRECTION);
	rec->lport = sqlite3_column_int(st, STOREREAD_RESEND_LPORT);
	rec->rport = sqlite3_column_int(st, STOREREAD_RESEND_RPORT);
	/* The store keeps addresses as text; a packet socket's is its interface. */
	rec->ifname[0] = '\0';
	if (conn_addr_parse(&rec->laddr, forward_col(st, STOREREAD_RESEND_LADDR)) < 0) {
		memset(&rec->laddr, 0, sizeof(rec->laddr));
		snprintf(rec->ifname, sizeof(rec->ifname), "%s",
			 forward_col(st, STOREREAD_RESEND_LADDR));
	}
	if (conn_addr_parse(&rec->raddr, forward_col(st, STOREREAD_RESEND_RADDR)) < 0)
		memset(&rec->raddr, 0, sizeof(rec->raddr));
	conn_set(&rec->domain, forward_col(st, STOREREAD_RESEND_DOMAIN));
	rec->conns = (uint64_t)sqlite3_column_int64(st, STOREREAD_RESEND_CONNS);
	rec->send = (uint64_t)sqlite3_column_int64(st, STOREREAD_RESEND_SEND);
	rec->recv = (uint64_t)sqlite3_column_int64(st, STOREREAD_RESEND_RECV);
}

/*
 * Resends the database's rows from resend_pos up to window resend_hi on
 * the open connection, a page (FORWARD_BATCH_ITEMS rows, one short read
 * on the thread's own read-only connection) at a time, moving resend_pos
 * after each page written. 0 when done; -errno otherwise: the connection
 * lost (then closed: the resend goes on after the reconnect), stopping
 * (-ECANCELED: the cursor holds the rest for the next start), the
 * database unreadable (-EIO, said in the error), or none to read from
 * (-ENOENT: missing, empty or of another schema).
 */
static int forward_resend(struct forward_target_rt *t)
{
	bool datagram = t->cfg.scheme == FORWARD_UDP || t->cfg.scheme == FORWARD_UNIX;
	struct conn_record *rec = conn_record_new();
	struct forward_item it = { .kind = ITEM_RECORD, .rec = rec };
	struct storeread *sr = NULL;
	sqlite3_stmt *st = NULL;
	char *msg = NULL;
	int rc, r;

	r = storeread_open(t->fw->db_path, 0, &sr, &msg);
	if (r < 0) {
		/* No database, or one of another schema: nothing to resend from, ever. */
		bool gone = r == -ENOENT || r == -ENODATA || r == -EPROTO;

		forward_error(t, "cannot read %s to resend from the cursor%s: %s", t->fw->db_path,
			      gone ? " (given up)" : "", msg ? msg : strerror(-r));
		r = gone ? -ENOENT : -EIO;
		goto out;
	}
	sqlite3_busy_timeout(storeread_db(sr), 5000);
	for (;;) {
		struct storeread_pos next = t->resend_pos;
		uint64_t rows = 0, n = 0;
		bool stop;

		pthread_mutex_lock(&t->lock);
		stop = t->stop;
		pthread_mutex_unlock(&t->lock);
		if (stop) {
			r = -ECANCELED;
			goto out;
		}
		r = storeread_resend(sr, &t->resend_pos, t->resend_hi, FORWARD_BATCH_ITEMS, &st);
		if (r < 0) {
			forward_error(t, "cannot read %s to resend from the cursor: %s",
				      t->fw->db_path, sqlite3_errmsg(storeread_db(sr)));
			r = -EIO;
			goto out;
		}
		t->out_len = 0;
		r = 0;
		while (r == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			rows++;
			storeread_resend_pos(st, &next);
			forward_row_record(st, rec);
			if (rec->direction == CONN_EXEC && !t->cfg.exec_events)
				continue;
			it.time_us = rec->time * 1000000;
			forward_frame(t, &it);
			n++;
			/* One datagram per message. */
			if (datagram) {
				r = forward_write(t);
				t->out_len = 0;
			}
		}
		if (r == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW) {
			forward_error(t, "reading %s to resend from the cursor: %s", t->fw->db_path,
				      sqlite3_errmsg(storeread_db(sr)));
			r = -EIO;
		}
		/* The page's read ends here, before the (maybe slow) write. */
		sqlite3_finalize(st);
		st = NULL;
		if (r == 0 && t->out_len)
			r = forward_write(t);
		t->out_len = 0;
		if (r < 0)
			goto out;
		t->resend_pos = next;
		pthread_mutex_lock(&t->lock);
		t->st.resent += n;
		t->st.sent += n;
		pthread_mutex_unlock(&t->lock);
		forward_cursor_save(t, false);
		if (rows < FORWARD_BATCH_ITEMS)
			break;
	}
	pthread_mutex_lock(&t->lock);
	t->resending = false;
	pthread_mutex_unlock(&t->lock);
out:
	sqlite3_finalize(st);
	storeread_free(sr);
	free(msg);
	conn_record_free(rec);
	return r;
}

/*
 * Waits ms, or until stop; true when stopping. New messages do not cut
 * the wait short: the backoff holds however busy the daemon is.
 */
static bool forward_sleep(struct forward_target_rt *t, unsigned ms)
{
	struct timespec ts;
	bool stop;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&t->lock);
	while (!t->stop && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&t->cond, &t->lock, &ts);
	stop = t->stop;
	pthread_mutex_unlock(&t->lock);
	return stop;
}

static void *forward_thread(void *arg)
{
	struct forward_target_rt *t = arg;
	unsigned backoff_ms = 1000;
	uint64_t stop_deadline = 0;
	bool datagram = t->cfg.scheme == FORWARD_UDP || t->cfg.scheme == FORWARD_UNIX;

	for (;;) {
		struct forward_item *batch = NULL, **tailp = &batch, *it;
		size_t n = 0;
		bool stopping;
		int r;

		pthread_mutex_lock(&t->lock);
		/*
		 * Rows dropped from the full queue are resent once it has drained,
		 * before anything newer (which waits in the queue meanwhile): from
		 * the oldest dropped row's window to the newest window committed
		 * (every dropped row is in the database by then). Not when
		 * stopping: the cursor holds them for the next start.
		 */
		if (!t->head && !t->stop && !t->resending && t->gap != INT64_MAX &&
		    util_now_ms() >= t->resend_after_ms) {
			t->resending = true;
			t->resend_pos = storeread_pos_at(t->gap);
			t->resend_hi = t->gap_hi > t->committed ? t->gap_hi : t->committed;
			t->gap = INT64_MAX;
			t->gap_hi = INT64_MIN;
		}
		/* A resend waits for nothing new. */
		while (!t->head && !t->stop && !t->resending)
			pthread_cond_wait(&t->cond, &t->lock);
		stopping = t->stop;
		if (stopping && !stop_deadline)
			stop_deadline = util_now_ms() + 2000;
		if ((!t->head && !(t->resending && !stopping)) ||
		    (stopping && util_now_ms() > stop_deadline)) {
			pthread_mutex_unlock(&t->lock);
			break;
		}
		pthread_mutex_unlock(&t->lock);

		if (atomic_exchange(&t->reopen, false) && t->cfg.scheme == FORWARD_FILE)
			forward_close(t);
		if (t->fd >= 0 && forward_peer_closed(t)) {
			forward_error(t, "%s closed the connection", t->cfg.url);
			forward_close(t);
		}
		if (t->fd < 0 && forward_open(t) < 0) {
			/* Stopping with the collector unreachable: what waits is dropped (counted). */
			if (stopping)
				break;
			forward_sleep(t, backoff_ms);
			backoff_ms = backoff_ms * 2 > 60000 ? 60000 : backoff_ms * 2;
			continue;
		}
		backoff_ms = 1000;
		if (t->resending && !stopping) {
			r = forward_resend(t);
			if (r == -ECANCELED)
				continue;
			if (r < 0 && t->fd < 0)
				continue;
			if (r == -ENOENT) {
				pthread_mutex_lock(&t->lock);
				t->resending = false;
				pthread_mutex_unlock(&t->lock);
			} else if (r == -EIO) {
				/*
				 * The database cannot be read (said in the status): what is
				 * left waits as a gap, holding the cursor, and is tried
				 * again after 30 s once the queue has drained; the new
				 * messages go on meanwhile.
				 */
				pthread_mutex_lock(&t->lock);
				if (t->resend_pos.contime < t->gap)
					t->gap = t->resend_pos.contime;
				if (t->resend_hi > t->gap_hi)
					t->gap_hi = t->resend_hi;
				t->resending = false;
				pthread_mutex_unlock(&t->lock);
				t->resend_after_ms = util_now_ms() + 30000;
			} else if (r < 0) {
				/* A UDP collector that refuses: again after a wait, from where it stopped. */
				forward_sleep(t, backoff_ms);
				backoff_ms = backoff_ms * 2 > 60000 ? 60000 : backoff_ms * 2;
				continue;
			}
		}

		/* Take a batch; it goes back to the head of the queue if writing fails. */
		pthread_mutex_lock(&t->lock);
		while (t->head && n < (datagram ? 1 : FORWARD_BATCH_ITEMS)) {
			it = t->head;
			t->head = it->next;
			if (!t->head)
				t->tail = NULL;
			it->next = NULL;
			*tailp = it;
			tailp = &it->next;
			n++;
		}
		t->n_queued -= n;
		pthread_mutex_unlock(&t->lock);

		t->out_len = 0;
		for (it = batch; it; it = it->next)
			forward_frame(t, it);
		r = forward_write(t);
		if (r == -ECONNREFUSED && t->cfg.scheme == FORWARD_UDP) {
			/*
			 * An ICMP port unreachable from an earlier datagram: UDP has no
			 * delivery to wait for, so this one counts as lost, not retried.
			 */
			pthread_mutex_lock(&t->lock);
			t->st.dropped += n;
			t->st.lost += n;
			pthread_mutex_unlock(&t->lock);
			while (batch) {
				it = batch->next;
				forward_item_free(batch);
				batch = it;
			}
			continue;
		}
		if (r < 0) {
			/* Put the batch back in front: sent again after the reconnect. */
			size_t back = 0;

			for (tailp = &batch; *tailp; tailp = &(*tailp)->next)
				back++;
			pthread_mutex_lock(&t->lock);
			*tailp = t->head;
			if (!t->head) {
				struct forward_item *last = batch;

				while (last && last->next)
					last = last->next;
				t->tail = last;
			}
			t->head = batch;
			t->n_queued += back;
			pthread_mutex_unlock(&t->lock);
			continue;
		}
		pthread_mutex_lock(&t->lock);
		t->st.connected = true;
		pthread_mutex_unlock(&t->lock);
		while (batch) {
			it = batch->next;
			if (batch->kind == ITEM_MARK) {
				if (batch->contime > t->cursor_sent)
					t->cursor_sent = batch->contime;
				n--;
			}
			forward_item_free(batch);
			batch = it;
		}
		pthread_mutex_lock(&t->lock);
		t->st.sent += n;
		pthread_mutex_unlock(&t->lock);
		forward_cursor_save(t, false);
	}
	forward_cursor_save(t, true);
	if (t->tls && t->fd >= 0)
		tlslib.bye(t->tls, GNUTLS_SHUT_WR);
	forward_close(t);
	return NULL;
}

/*
 * The target's cursor file name (its URL, made a file name) and the value
 * in it: a target with one resends from the database first.
 */
static void forward_cursor_load(struct forward_target_rt *t)
{
	char *text = NULL;
	long long v;
	size_t i, n = 0, len = 0;

	if (t->fw->cursor_dirfd < 0)
		return;
	n = (size_t)snprintf(t->cursor_name, sizeof(t->cursor_name), "forward-");
	for (i = 0; t->cfg.url[i] && n < sizeof(t->cursor_name) - 8; i++) {
		char c = t->cfg.url[i];

		t->cursor_name[n++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
				      (c >= '0' && c <= '9') || c == '.' || c == '-' ? c : '_';
	}
	memcpy(t->cursor_name + n, ".cursor", 8);
	if (util_read_file(t->fw->cursor_dirfd, t->cursor_name, 64, &text, &len) < 0)
		return;
	if (len && text[len - 1] == '\n')
		text[len - 1] = '\0';
	if (util_parse_ll(text, 1, INT64_MAX, &v) == 0) {
		t->cursor_disk = t->cursor_sent = v;
		t->st.cursor = v;
		/* Resent before anything new, up to the start. */
		if (t->fw->db_path) {
			t->resending = true;
			t->resend_pos = storeread_pos_at(v);
			t->resend_hi = util_wall_s();
		}
	}
	free(text);
}

/* ---- the API ---- */

int forward_new(const struct config *cfg, const struct forward_options *opts,
		struct forward **ret, char **err)
{
	struct forward_target *targets = NULL;
	struct forward *fw = NULL;
	size_t n = 0, i;
	int r;

	*ret = NULL;
	*err = NULL;
	r = forward_targets_parse(config_json(cfg, CONFIG_FORWARD), &targets, &n, err);
	if (r < 0)
		return r;
	if (n == 0) {
		free(targets);
		return 0;
	}
	fw = xcalloc(1, sizeof(*fw));
	fw->opts = *opts;
	fw->hostname = xstrdup(opts->hostname ? opts->hostname : "");
	fw->opts.hostname = fw->hostname;
	fw->t = xcalloc(n, sizeof(*fw->t));
	fw->n = n;
	fw->db_path = opts->db_path ? xstrdup(opts->db_path) : NULL;
	fw->cursor_dirfd = opts->cursor_dirfd >= 0 ? fcntl(opts->cursor_dirfd, F_DUPFD_CLOEXEC, 3) : -1;
	for (i = 0; i < n; i++) {
		struct forward_target_rt *t = &fw->t[i];
		struct fwdfmt_options fo = {
			.format = !targets[i].json ? FWDFMT_RFC5424
				  : targets[i].scheme == FORWARD_FILE ? FWDFMT_JSON_LINE
				  : FWDFMT_JSON_SYSLOG,
			.facility = targets[i].facility,
			.hostname = fw->hostname,
			.pid = opts->pid,
			.log_commands = opts->log_commands,
		};

		t->fw = fw;
		t->cfg = targets[i];
		t->fd = -1;
		t->gap = INT64_MAX;
		t->gap_hi = INT64_MIN;
		t->committed = INT64_MIN;
		forward_cursor_load(t);
		t->st.url = t->cfg.url;
		t->fmt = fwdfmt_new(&fo);
		pthread_mutex_init(&t->lock, NULL);
		pthread_cond_init(&t->cond, NULL);
		atomic_init(&t->reopen, false);
	}
	/* The strings now belong to the targets. */
	free(targets);
	for (i = 0; i < n; i++) {
		r = -pthread_create(&fw->t[i].thread, NULL, forward_thread, &fw->t[i]);
		if (r < 0) {
			*err = xasprintf("cannot start the forwarding thread for %s: %s",
					 fw->t[i].cfg.url, strerror(-r));
			forward_free(fw);
			return r;
		}
		fw->t[i].started = true;
	}
	*ret = fw;
	return 0;
}

void forward_free(struct forward *fw)
{
	size_t i;

	if (!fw)
		return;
	for (i = 0; i < fw->n; i++) {
		struct forward_target_rt *t = &fw->t[i];

		pthread_mutex_lock(&t->lock);
		t->stop = true;
		pthread_cond_broadcast(&t->cond);
		pthread_mutex_unlock(&t->lock);
	}
	for (i = 0; i < fw->n; i++) {
		struct forward_target_rt *t = &fw->t[i];
		struct forward_item *it;

		if (t->started)
			pthread_join(t->thread, NULL);
		/* What could not be sent within the grace time is lost: counted. */
		while ((it = t->head)) {
			t->head = it->next;
			/* Rows come again after the next start (the cursor is before them). */
			if (it->kind != ITEM_MARK)
				t->st.dropped++;
			if (it->kind != ITEM_MARK && !(it->kind == ITEM_RECORD && fw->db_path))
				t->st.lost++;
			forward_item_free(it);
		}
		if (t->cred)
			tlslib.certificate_free_credentials(t->cred);
		fwdfmt_free(t->fmt);
		free(t->out);
		free(t->cfg.url);
		free(t->cfg.host);
		free(t->cfg.port);
		free(t->cfg.path);
		free(t->cfg.ca_file);
		free(t->cfg.cert_file);
		free(t->cfg.key_file);
		pthread_mutex_destroy(&t->lock);
		pthread_cond_destroy(&t->cond);
	}
	free(fw->t);
	free(fw->hostname);
	free(fw->db_path);
	if (fw->cursor_dirfd >= 0)
		close(fw->cursor_dirfd);
	free(fw);
}

void forward_record(struct forward *fw, const struct conn_record *rec, int64_t contime)
{
	int64_t now;
	size_t i;

	/* Called for every row written: no clock read when nothing is forwarded. */
	if (!fw || !fw->n)
		return;
	now = forward_now_us();
	for (i = 0; i < fw->n; i++) {
		struct forward_item *it;

		if (rec->direction == CONN_EXEC && !fw->t[i].cfg.exec_events)
			continue;
		it = xcalloc(1, sizeof(*it));
		it->kind = ITEM_RECORD;
		it->contime = contime;
		/* The record's own second, with the fraction of now: the order stays readable. */
		it->time_us = rec->time > 0 ? rec->time * 1000000 + now % 1000000 : now;
		it->rec = conn_record_dup(rec);
		forward_push(&fw->t[i], it);
	}
}

void forward_committed(struct forward *fw, int64_t contime)
{
	size_t i;

	for (i = 0; fw && i < fw->n; i++) {
		struct forward_item *it = xcalloc(1, sizeof(*it));

		it->kind = ITEM_MARK;
		it->contime = contime;
		forward_push(&fw->t[i], it);
	}
}

void forward_detection(struct forward *fw, const struct records_detection *d,
		       const struct conn_record *rec)
{
	int64_t now = forward_now_us();
	size_t i;

	for (i = 0; fw && i < fw->n; i++) {
		struct forward_item *it = xcalloc(1, sizeof(*it));

		it->kind = ITEM_DETECTION;
		it->time_us = now;
		it->rec = conn_record_dup(rec);
		it->dkind = d->kind;
		it->text = xstrdup(d->text ? d->text : "");
		forward_push(&fw->t[i], it);
	}
}

void forward_health(struct forward *fw, const char *what, const char *text, int64_t value)
{
	int64_t now = forward_now_us();
	size_t i;

	for (i = 0; fw && i < fw->n; i++) {
		struct forward_item *it = xcalloc(1, sizeof(*it));

		it->kind = ITEM_HEALTH;
		it->time_us = now;
		it->what = xstrdup(what);
		it->text = xstrdup(text ? text : "");
		it->value = value;
		forward_push(&fw->t[i], it);
	}
}

void forward_vt(struct forward *fw, const struct fwdfmt_vt *v, const char *text)
{
	int64_t now = forward_now_us();
	size_t i;

	for (i = 0; fw && i < fw->n; i++) {
		struct forward_item *it = xcalloc(1, sizeof(*it));

		it->kind = ITEM_VT;
		it->time_us = now;
		it->vt = *v;
		snprintf(it->sha256, sizeof(it->sha256), "%s", v->sha256 ? v->sha256 : "");
		it->what = xstrdup(v->exe ? v->exe : "");
		it->vt.sha256 = it->sha256;
		it->vt.exe = it->what;
		it->text = xstrdup(text ? text : "");
		forward_push(&fw->t[i], it);
	}
}

void forward_reopen(struct forward *fw)
{
	size_t i;

	for (i = 0; fw && i < fw->n; i++)
		atomic_store(&fw->t[i].reopen, true);
}

size_t forward_count(const struct forward *fw)
{
	return fw ? fw->n : 0;
}

void forward_stats(struct forward *fw, size_t i, struct forward_stats *st)
{
	struct forward_target_rt *t = &fw->t[i];

	pthread_mutex_lock(&t->lock);
	*st = t->st;
	st->queued = t->n_queued;
	st->resending = t->gap != INT64_MAX || t->resending;
	pthread_mutex_unlock(&t->lock);
}

void forward_stats_json(struct forward *fw, struct jsonbuf *b)
{
	size_t i;

	jsonbuf_arr_begin(b);
	for (i = 0; fw && i < fw->n; i++) {
		struct forward_stats fs;

		forward_stats(fw, i, &fs);
		jsonbuf_item(b);
		jsonbuf_begin(b);
		jsonbuf_kstr(b, "to", fs.url);
		jsonbuf_kbool(b, "connected", fs.connected);
		jsonbuf_kuint(b, "sent", fs.sent);
		jsonbuf_kuint(b, "queued", fs.queued);
		jsonbuf_kuint(b, "dropped", fs.dropped);
		jsonbuf_kuint(b, "truncated", fs.truncated);
		jsonbuf_kuint(b, "reconnects", fs.reconnects);
		jsonbuf_kuint(b, "resent", fs.resent);
		jsonbuf_kuint(b, "lost", fs.lost);
		jsonbuf_kbool(b, "resending", fs.resending);
		jsonbuf_kint(b, "cursor", fs.cursor);
		jsonbuf_kstr(b, "last_error", fs.last_error);
		jsonbuf_end(b);
	}
	jsonbuf_arr_end(b);
}
