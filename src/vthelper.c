/*
 * vthelper.c: the VirusTotal HTTPS client, the helper half of vt.h.
 *
 * The daemon's vt thread forks and execs our own executable as
 * `auditsnitch-vt vt-helper UID GID PARENT` (privsep_exec: empty
 * environment, only its socket on fd 3). The helper drops root for good
 * to UID/GID (an unprivileged system user, "nobody" by default), proves it
 * cannot be regained, and only then loads libcurl: the code that speaks
 * TLS to a server and parses its JSON holds no privilege, no capability
 * and nothing of the daemon's memory. The API key arrives over the socket
 * (VT_REQ_CONFIG), never in argv or the environment.
 *
 * One request at a time, blocking (curl with timeouts): the daemon side
 * never waits on it on its event loop. Every request gets exactly one
 * reply. Uploads read a read-only descriptor the daemon passes along
 * (SCM_RIGHTS), check its size and that its sha256 is still the one asked
 * for, then POST it.
 *
 * libcurl is not linked: dlopen'ed here, so the daemon never maps libcurl
 * and what it pulls in (TLS, HTTP/2, LDAP, SSH libraries), and a machine
 * without it only loses the lookups, with a reason in the log.
 */
#include <errno.h>
#include <fcntl.h>
#include <nettle/sha2.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef HAVE_CURL
/* We set CURLOPT_PROTOCOLS only where the library lacks CURLOPT_PROTOCOLS_STR. */
#define CURL_DISABLE_DEPRECATION 1
#include <curl/curl.h>
#include <dlfcn.h>
#endif

#include "privsep.h"
#include "util.h"
#include "vt.h"
#include "vtproto.h"

#ifdef HAVE_CURL

#define VTH_CONNECT_TIMEOUT_S 15
#define VTH_LOOKUP_TIMEOUT_S 60
#define VTH_UPLOAD_TIMEOUT_S 600

/* The libcurl functions we use, found with dlsym. */
static struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
	CURLcode (*easy_perform)(CURL *curl);
	CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *curl);
	const char *(*easy_strerror)(CURLcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
	/* Since 7.56; without them, no uploads. */
	curl_mime *(*mime_init)(CURL *curl);
	curl_mimepart *(*mime_addpart)(curl_mime *mime);
	CURLcode (*mime_name)(curl_mimepart *part, const char *name);
	CURLcode (*mime_filename)(curl_mimepart *part, const char *name);
	CURLcode (*mime_data)(curl_mimepart *part, const char *data, size_t size);
	void (*mime_free)(curl_mime *mime);
} curl;

/* The helper's state: the configuration the daemon sent. */
struct vth {
	int sock;
	bool configured;
	char key_header[VT_KEY_MAX + 16]; /* "x-apikey: KEY" */
	char url[VT_URL_MAX + 1];         /* without a trailing slash */
	char ca[VT_PATH_MAX + 1];         /* empty: the system store */
};

/* A response body, kept up to VT_RESPONSE_MAX. */
struct vth_body {
	char *buf;
	size_t len;
	bool over;
};

/* Loads libcurl; 0, or -ENOENT with why filled. */
static int vth_load_curl(char *why, size_t whysz)
{
	void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(why, whysz, "cannot load libcurl.so.4: %s", dlerror());
		return -ENOENT;
	}
#define VTH_SYM(field, name) \
	do { \
		*(void **)&curl.field = dlsym(h, name); \
		if (!curl.field) { \
			snprintf(why, whysz, "libcurl.so.4 lacks %s", name); \
			return -ENOENT; \
		} \
	} while (0)
	VTH_SYM(global_init, "curl_global_init");
	VTH_SYM(easy_init, "curl_easy_init");
	VTH_SYM(easy_setopt, "curl_easy_setopt");
	VTH_SYM(easy_perform, "curl_easy_perform");
	VTH_SYM(easy_getinfo, "curl_easy_getinfo");
	VTH_SYM(easy_cleanup, "curl_easy_cleanup");
	VTH_SYM(easy_strerror, "curl_easy_strerror");
	VTH_SYM(slist_append, "curl_slist_append");
	VTH_SYM(slist_free_all, "curl_slist_free_all");
#undef VTH_SYM
	*(void **)&curl.mime_init = dlsym(h, "curl_mime_init");
	*(void **)&curl.mime_addpart = dlsym(h, "curl_mime_addpart");
	*(void **)&curl.mime_name = dlsym(h, "curl_mime_name");
	*(void **)&curl.mime_filename = dlsym(h, "curl_mime_filename");
	*(void **)&curl.mime_data = dlsym(h, "curl_mime_data");
	*(void **)&curl.mime_free = dlsym(h, "curl_mime_free");
	if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(why, whysz, "curl_global_init failed");
		return -ENOENT;
	}
	return 0;
}

/* Sends one reply (blocking: the daemon's thread always reads). */
static void vth_reply(struct vth *h, uint32_t id, enum vt_outcome outcome, long http,
		      const struct vt_report *rep, const char *text)
{
	char buf[sizeof(struct vt_reply) + VT_TEXT_MAX];
	struct vt_reply w = { .outcome = (uint16_t)outcome, .id = id };
	size_t l = text ? strlen(text) : 0;

	if (l > VT_TEXT_MAX)
		l = VT_TEXT_MAX;
	w.http = http >= 0 && http <= 999 ? (int32_t)http : 0;
	if (rep) {
		w.malicious = rep->malicious;
		w.suspicious = rep->suspicious;
		w.harmless = rep->harmless;
		w.undetected = rep->undetected;
		w.analysis_date = rep->analysis_date;
	}
	w.text_len = (uint16_t)l;
	w.len = (uint32_t)(sizeof(w) + l);
	memcpy(buf, &w, sizeof(w));
	if (l)
		memcpy(buf + sizeof(w), text, l);
	while (send(h->sock, buf, w.len, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

static size_t vth_write_cb(char *ptr, size_t size, size_t nmemb, void *data)
{
	struct vth_body *b = data;
	size_t n = size * nmemb;

	if (n > VT_RESPONSE_MAX - b->len) {
		b->over = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	b->buf = xrealloc(b->buf, b->len + n + 1);
	memcpy(b->buf + b->len, ptr, n);
	b->len += n;
	return n;
}

/*
 * One HTTPS request to url (POST of mime when not NULL). Maps what came
 * back to an outcome; for a 200 the body is left in body for the caller.
 * err gets curl's explanation when there was no answer.
 */
static enum vt_outcome vth_perform(struct vth *h, const char *url, curl_mime *mime,
				   long timeout_s, long *http, struct vth_body *body,
				   char *err, size_t errsz)
{
	struct curl_slist *headers = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	enum vt_outcome out;
	CURLcode rc;
	CURL *c;

	*http = 0;
	c = curl.easy_init();
	if (!c) {
		snprintf(err, errsz, "curl_easy_init failed");
		return VT_OUT_ERROR;
	}
	headers = curl.slist_append(headers, h->key_header);
	headers = curl.slist_append(headers, "Accept: application/json");
	curl.easy_setopt(c, CURLOPT_URL, url);
	curl.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl.easy_setopt(c, CURLOPT_USERAGENT, "auditsnitch/" PACKAGE_VERSION);
	curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)VTH_CONNECT_TIMEOUT_S);
	curl.easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl.easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, vth_write_cb);
	curl.easy_setopt(c, CURLOPT_WRITEDATA, body);
	/* The key travels in a header: HTTPS only, whatever the URL says. */
#ifdef CURLOPT_PROTOCOLS_STR
	if (curl.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https") != CURLE_OK)
#endif
		curl.easy_setopt(c, CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
	if (h->ca[0])
		curl.easy_setopt(c, CURLOPT_CAINFO, h->ca);
	if (mime)
		curl.easy_setopt(c, CURLOPT_MIMEPOST, mime);
	rc = curl.easy_perform(c);
	if (rc == CURLE_OK) {
		curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
		if (*http == 200)
			out = VT_OUT_FOUND;
		else if (*http == 404)
			out = VT_OUT_NOT_FOUND;
		else if (*http == 401 || *http == 403)
			out = VT_OUT_AUTH;
		else if (*http == 429)
			out = VT_OUT_RATE;
		else
			out = VT_OUT_SERVER;
	} else if (rc == CURLE_WRITE_ERROR && body->over) {
		curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, http);
		out = VT_OUT_OVERSIZED;
	} else {
		snprintf(err, errsz, "%s%s%s", curl.easy_strerror(rc), errbuf[0] ? ": " : "",
			 errbuf);
		out = VT_OUT_NETWORK;
	}
	curl.easy_cleanup(c);
	curl.slist_free_all(headers);
	return out;
}

/* GET URL/files/SHA256 and its report. */
static void vth_lookup(struct vth *h, const struct vt_req_view *req)
{
	struct vth_body body = { 0 };
	struct vt_report rep;
	char *url = xasprintf("%s/files/%s", h->url, req->sha256);
	char err[CURL_ERROR_SIZE + 128] = "";
	long http;
	enum vt_outcome out = vth_perform(h, url, NULL, VTH_LOOKUP_TIMEOUT_S, &http, &body, err,
					  sizeof(err));
	int r;

	if (out == VT_OUT_FOUND) {
		r = vt_parse_report(body.buf ? body.buf : "", body.len, &rep);
		if (r == 0)
			vth_reply(h, req->id, VT_OUT_FOUND, http, &rep, NULL);
		else
			vth_reply(h, req->id, r == -E2BIG ? VT_OUT_OVERSIZED : VT_OUT_MALFORMED, http,
				  NULL, NULL);
	} else {
		vth_reply(h, req->id, out, http, NULL, err);
	}
	free(body.buf);
	free(url);
}

/* Reads all of fd (a regular file of size bytes) into a new buffer; 0 or -errno. */
static int vth_read_file(int fd, size_t size, char **ret)
{
	char *buf = xmalloc(size ? size : 1);
	size_t off = 0;

	while (off < size) {
		ssize_t n = pread(fd, buf + off, size - off, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return n < 0 ? -errno : -EIO;
		}
		off += (size_t)n;
	}
	*ret = buf;
	return 0;
}

/* POST URL/files with the file on fd, after checking it is still sha256. */
static void vth_upload(struct vth *h, const struct vt_req_view *req, int fd)
{
	uint8_t digest[SHA256_DIGEST_SIZE];
	char hex[VT_SHA256_LEN + 1], err[CURL_ERROR_SIZE + 128] = "";
	struct vth_body body = { 0 };
	struct sha256_ctx ctx;
	curl_mime *mime = NULL;
	curl_mimepart *part;
	char *buf = NULL, *url = NULL;
	struct stat st;
	enum vt_outcome out;
	long http = 0;
	int r;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		vth_reply(h, req->id, VT_OUT_ERROR, 0, NULL, "no regular file was passed");
		goto out;
	}
	if (st.st_size > (off_t)VT_UPLOAD_MAX) {
		vth_reply(h, req->id, VT_OUT_TOO_LARGE, 0, NULL, NULL);
		goto out;
	}
	if (!curl.mime_init || !curl.mime_addpart || !curl.mime_name || !curl.mime_filename ||
	    !curl.mime_data || !curl.mime_free) {
		vth_reply(h, req->id, VT_OUT_ERROR, 0, NULL, "libcurl older than 7.56: no uploads");
		goto out;
	}
	r = vth_read_file(fd, (size_t)st.st_size, &buf);
	if (r < 0) {
		snprintf(err, sizeof(err), "cannot read the file: %s", strerror(-r));
		vth_reply(h, req->id, VT_OUT_ERROR, 0, NULL, err);
		goto out;
	}
	sha256_init(&ctx);
	sha256_update(&ctx, (size_t)st.st_size, (const uint8_t *)buf);
	sha256_digest(&ctx, sizeof(digest), digest);
	for (size_t i = 0; i < sizeof(digest); i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	if (memcmp(hex, req->sha256, VT_SHA256_LEN) != 0) {
		vth_reply(h, req->id, VT_OUT_CHANGED, 0, NULL, NULL);
		goto out;
	}
	url = xasprintf("%s/files", h->url);
	mime = curl.mime_init(NULL);
	part = mime ? curl.mime_addpart(mime) : NULL;
	if (!part || curl.mime_name(part, "file") != CURLE_OK ||
	    curl.mime_filename(part, req->sha256) != CURLE_OK ||
	    curl.mime_data(part, buf, (size_t)st.st_size) != CURLE_OK) {
		vth_reply(h, req->id, VT_OUT_ERROR, 0, NULL, "cannot build the upload");
		goto out;
	}
	out = vth_perform(h, url, mime, VTH_UPLOAD_TIMEOUT_S, &http, &body, err, sizeof(err));
	/* A 200 to an upload is an analysis id: nothing in it we need. */
	vth_reply(h, req->id, out == VT_OUT_FOUND ? VT_OUT_UPLOADED : out, http, NULL, err);
out:
	if (mime)
		curl.mime_free(mime);
	free(body.buf);
	free(buf);
	free(url);
}

/* Takes the key, URL and CA file; checks what can be checked here. */
static void vth_configure(struct vth *h, const struct vt_req_view *req)
{
	size_t ul = req->url_len;

	while (ul > 0 && req->url[ul - 1] == '/')
		ul--;
	if (ul < 9 || strncmp(req->url, "https://", 8) != 0) {
		vth_reply(h, req->id, VT_OUT_ERROR, 0, NULL, "\"VT API URL\" must start with https://");
		return;
	}
	snprintf(h->key_header, sizeof(h->key_header), "x-apikey: %.*s", (int)req->key_len,
		 req->key);
	snprintf(h->url, sizeof(h->url), "%.*s", (int)ul, req->url);
	snprintf(h->ca, sizeof(h->ca), "%.*s", (int)req->ca_len, req->ca);
	if (h->ca[0] && access(h->ca, R_OK) < 0) {
		char *t = xasprintf("\"VT CA file\" %s is not readable by the helper's user: %s",
				    h->ca, strerror(errno));

		vth_reply(h, req->id, VT_OUT_ERROR, 0, NULL, t);
		free(t);
		return;
	}
	h->configured = true;
	vth_reply(h, req->id, VT_OUT_READY, 0, NULL, NULL);
}

/* Receives one request and any descriptor with it; the packet length, 0 at EOF, or -1. */
static ssize_t vth_recv(int sock, char *buf, size_t size, int *fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			      .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *cm;
	ssize_t n;

	*fd = -1;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)) && *fd < 0)
			memcpy(fd, CMSG_DATA(cm), sizeof(int));
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -2;
	}
	return n;
}

/* The helper's life: one request, one reply, until the daemon closes the socket. */
static void vth_run(int sock)
{
	static char buf[VT_MSG_MAX];
	struct vth h = { .sock = sock };
	char why[256];
	bool loaded = vth_load_curl(why, sizeof(why)) == 0;

	for (;;) {
		struct vt_req_view req;
		int fd;
		ssize_t n = vth_recv(sock, buf, sizeof(buf), &fd);

		if (n == 0 || n == -1)
			return;
		if (n < 0 || vt_parse_req(buf, (size_t)n, &req) < 0) {
			struct vt_req w = { 0 };

			if (n > 0)
				memcpy(&w, buf, (size_t)n < sizeof(w) ? (size_t)n : sizeof(w));
			vth_reply(&h, w.id, VT_OUT_ERROR, 0, NULL, "malformed request");
		} else if (!loaded) {
			vth_reply(&h, req.id, VT_OUT_ERROR, 0, NULL, why);
		} else if (req.type == VT_REQ_CONFIG) {
			vth_configure(&h, &req);
		} else if (!h.configured) {
			vth_reply(&h, req.id, VT_OUT_ERROR, 0, NULL, "not configured");
		} else if (req.type == VT_REQ_LOOKUP) {
			vth_lookup(&h, &req);
		} else {
			vth_upload(&h, &req, fd);
		}
		if (fd >= 0)
			close(fd);
	}
}

int vt_helper_main(int argc, char **argv)
{
	long long uid, gid, parent;
	int r, sock = PRIVSEP_HELPER_FD;

	r = privsep_helper_begin(sock, argc == 5 && util_parse_ll(argv[2], 1, 0x7ffffffe, &uid) == 0 &&
				 util_parse_ll(argv[3], 1, 0x7ffffffe, &gid) == 0 &&
				 util_parse_ll(argv[4], 1, 0x7fffffff, &parent) == 0,
				 "vt-helper", "asn-vt");
	if (r)
		return r;
	r = privsep_drop((uid_t)uid, (gid_t)gid);
	if (r < 0) {
		struct vth h = { .sock = sock };
		char *t = xasprintf("cannot drop privileges to uid %lld gid %lld: %s", uid, gid,
				    strerror(-r));

		vth_reply(&h, 0, VT_OUT_ERROR, 0, NULL, t);
		_exit(125);
	}
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	/* Set after the uid change, which clears it; then close the race. */
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
	if (getppid() != (pid_t)parent)
		_exit(0);
	if (chdir("/") < 0)
		_exit(126);
	clearenv();
	vth_run(sock);
	_exit(0);
}

#else /* !HAVE_CURL */

int vt_helper_main(int argc, char **argv)
{
	static const char msg[] = "auditsnitch: built without libcurl: no vt-helper\n";

	(void)!write(STDERR_FILENO, msg, sizeof(msg) - 1);
	return 69;
}

#endif
