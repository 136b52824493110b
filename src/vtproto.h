/*
 * vtproto.h: pure code shared by the VirusTotal client's two halves (vt.c
 * in the daemon, vthelper.c in the unprivileged helper): the packets on
 * their SOCK_SEQPACKET socket, and the bounded parser of a VirusTotal v3
 * file report. No I/O, no logging: unit-tested and fuzzed on bytes.
 */
#ifndef AUDITSNITCH_VTPROTO_H
#define AUDITSNITCH_VTPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VT_SHA256_LEN 64
#define VT_KEY_MAX 256          /* an API key (VirusTotal's are 64 hex digits) */
#define VT_URL_MAX 1024         /* "VT API URL" */
#define VT_PATH_MAX 4096        /* "VT CA file" */
#define VT_RESPONSE_MAX (4u << 20) /* a larger response is counted as oversized */
#define VT_UPLOAD_MAX (32u << 20)  /* POST /files takes files up to 32 MB */
#define VT_TEXT_MAX 512         /* the helper's explanation in a reply */
#define VT_COUNT_MAX 100000     /* engines per verdict: more is malformed */
#define VT_MSG_MAX (sizeof(struct vt_req) + VT_KEY_MAX + VT_URL_MAX + VT_PATH_MAX)

/* Daemon -> helper. */
enum vt_req_type {
	VT_REQ_CONFIG = 1, /* key, URL and CA file; answered with VT_OUT_READY or VT_OUT_ERROR */
	VT_REQ_LOOKUP = 2, /* GET URL/files/SHA256 */
	VT_REQ_UPLOAD = 3, /* POST URL/files with the file passed along (SCM_RIGHTS) */
};

/* Helper -> daemon: what one request came to. */
enum vt_outcome {
	VT_OUT_READY = 1,   /* configuration accepted */
	VT_OUT_FOUND,       /* 200 and a valid report: the counts are set */
	VT_OUT_NOT_FOUND,   /* 404: VirusTotal does not know the hash */
	VT_OUT_UPLOADED,    /* the upload was accepted */
	VT_OUT_AUTH,        /* 401 or 403: the key is wrong or lacks the right */
	VT_OUT_RATE,        /* 429: over the quota */
	VT_OUT_SERVER,      /* 5xx or another unexpected status */
	VT_OUT_NETWORK,     /* no answer: DNS, connect, TLS, timeout (text says which) */
	VT_OUT_MALFORMED,   /* 200 with a body that is not a file report */
	VT_OUT_OVERSIZED,   /* a body larger than VT_RESPONSE_MAX */
	VT_OUT_TOO_LARGE,   /* upload: the file is larger than VT_UPLOAD_MAX */
	VT_OUT_CHANGED,     /* upload: the file no longer has that sha256 */
	VT_OUT_ERROR,       /* the helper could not do it (text says why) */
	VT_OUT_MAX_ = VT_OUT_ERROR
};

struct vt_req {
	uint32_t len; /* whole packet */
	uint16_t type;
	uint16_t key_len, url_len, ca_len; /* CONFIG: the texts after the header, in this order */
	uint32_t id;
	char sha256[VT_SHA256_LEN]; /* LOOKUP and UPLOAD */
};

struct vt_reply {
	uint32_t len; /* whole packet */
	uint16_t outcome;
	uint16_t text_len; /* text after the header */
	uint32_t id;
	int32_t http; /* HTTP status, 0 without an answer */
	int64_t malicious, suspicious, harmless, undetected;
	int64_t analysis_date; /* unix seconds, 0 when the report has none */
};

/* The counts of a file report's last_analysis_stats, and its date. */
struct vt_report {
	int64_t malicious, suspicious, harmless, undetected;
	int64_t analysis_date;
};

/* True for 64 lowercase hex digits (what hash.c writes). */
bool vt_sha256_valid(const char *s, size_t len);
/* True for 1..VT_KEY_MAX printable ASCII bytes without space: safe in an HTTP header. */
bool vt_key_valid(const char *s, size_t len);

/*
 * Parses a v3 file report ({"data": {"attributes": {"last_analysis_stats":
 * {...}, "last_analysis_date": N}}}). The four counts must be integers in
 * 0..VT_COUNT_MAX; a missing or invalid date is 0. Returns 0, -E2BIG
 * (longer than VT_RESPONSE_MAX) or -EINVAL; *out written only on success.
 */
int vt_parse_report(const char *buf, size_t len, struct vt_report *out);

/*
 * Checks a request packet: lengths add up, a valid sha256 for LOOKUP and
 * UPLOAD, for CONFIG a valid key, a URL and a CA path without NUL. The
 * texts point into buf. 0 or -EINVAL; outputs written only on success.
 */
struct vt_req_view {
	uint16_t type;
	uint32_t id;
	char sha256[VT_SHA256_LEN + 1];
	const char *key, *url, *ca;
	size_t key_len, url_len, ca_len;
};
int vt_parse_req(const char *buf, size_t len, struct vt_req_view *out);

/*
 * Checks a reply packet: lengths add up, a known outcome, counts in
 * 0..VT_COUNT_MAX, a date in 0..2^40. text points into buf. 0 or -EINVAL.
 */
int vt_parse_reply(const char *buf, size_t len, struct vt_reply *out, const char **text);

/* A short word for an outcome ("found", "not found", ...). */
const char *vt_outcome_name(unsigned outcome);

#endif
