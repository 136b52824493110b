/*
 * fwdfmt.h: the messages sent to a SIEM (issue 17), pure formatting with no
 * I/O: one connection record, detection or health event becomes one RFC
 * 5424 syslog message (fields as STRUCTURED-DATA under the private SD-ID
 * FWDFMT_SDID, a short MSG) or one Elastic Common Schema JSON object (bare,
 * for files, or as the MSG of an RFC 5424 header, for syslog transports).
 *
 * A formatter owns one output buffer that keeps its size between messages,
 * so formatting a record allocates nothing once the buffer has grown to the
 * largest message seen: the cost is the copy of the record's text with its
 * escapes. The message returned stays valid until the next call on the same
 * formatter. One formatter per thread.
 *
 * Text from outside (paths, names, command lines, domains) follows
 * util_text_next's rule in both formats: controls, bidi controls and
 * invalid UTF-8 never pass raw. In STRUCTURED-DATA values `"`, `\` and `]`
 * are escaped with a backslash as RFC 5424 section 6.3.3 requires, and a
 * byte that may not pass is written as \xNN (a multi-byte control as
 * \uNNNN); since a literal backslash is always doubled, `\x` on the wire
 * is always such an escape. The MSG text uses the same notation. JSON uses
 * the project's encoder (jsonbuf_*).
 */
#ifndef AUDITSNITCH_FWDFMT_H
#define AUDITSNITCH_FWDFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "records.h"

/*
 * The SD-ID of our STRUCTURED-DATA element. 32473 is the Private Enterprise
 * Number RFC 5612 reserves for documentation and examples: auditsnitch has
 * no PEN of its own, and a name@number form is what RFC 5424 7.2.2 asks of
 * a private SD-ID.
 */
#define FWDFMT_SDID "auditsnitch@32473"

enum fwdfmt_format {
	FWDFMT_RFC5424,      /* RFC 5424, fields in STRUCTURED-DATA */
	FWDFMT_JSON_SYSLOG,  /* RFC 5424 header, ECS JSON object as the MSG */
	FWDFMT_JSON_LINE,    /* the ECS JSON object alone (file://) */
};

/* What a message is about; its RFC 5424 MSGID. */
enum fwdfmt_kind {
	FWDFMT_CONN,       /* "CONN": a connection record */
	FWDFMT_EXEC,       /* "EXEC": a program start ("Every exe") */
	FWDFMT_NEWEXE,     /* "NEWEXE": a first connection or a new executable for a name */
	FWDFMT_NEWNAME,    /* "NEWNAME": a new name for a known executable */
	FWDFMT_CHANGEDEXE, /* "CHANGEDEXE": a known executable with a new sha256 */
	FWDFMT_NOHASH,     /* "NOHASH": an executable that could not be hashed */
	FWDFMT_HEALTH,     /* "HEALTH": the daemon's own state (losses, mode changes) */
	FWDFMT_VTDETECT,   /* "VTDETECT": VirusTotal engines call an executable malicious */
};

/* A VirusTotal verdict as sent (vt.c's result, without its thread's strings). */
struct fwdfmt_vt {
	const char *sha256;    /* 64 hex digits */
	const char *exe;       /* a path of the executable; "" when unknown */
	int64_t malicious, suspicious, harmless, undetected;
	int64_t analysis_date; /* unix seconds; 0 unknown */
};

struct fwdfmt_options {
	enum fwdfmt_format format;
	int facility;        /* syslog facility 0..23 */
	const char *hostname;/* this host's name (copied; unsafe bytes replaced) */
	int pid;             /* PROCID */
	bool log_commands;   /* "Log commands": command lines sent only when true */
};

struct fwdfmt;

/* A formatter; never NULL. */
struct fwdfmt *fwdfmt_new(const struct fwdfmt_options *opts);
void fwdfmt_free(struct fwdfmt *f);

/*
 * A connection record (FWDFMT_CONN) or, for direction CONN_EXEC, a program
 * start (FWDFMT_EXEC). user: the name of rec->uid, or NULL when unknown.
 * time_us: the event's time in microseconds since the epoch. Sets *len and
 * returns the message (no newline, no framing), valid until the next call.
 */
const char *fwdfmt_record(struct fwdfmt *f, const struct conn_record *rec, const char *user,
			  int64_t time_us, size_t *len);
/* A detection about rec (the connection that caused it); d->text is its MSG. */
const char *fwdfmt_detection(struct fwdfmt *f, const struct records_detection *d,
			     const struct conn_record *rec, const char *user, int64_t time_us,
			     size_t *len);
/*
 * A health event: what is a short word naming it ("audit_lost",
 * "audit_mode", "rules_missing", ...), text a sentence, value a counter or
 * 0.
 */
const char *fwdfmt_health(struct fwdfmt *f, const char *what, const char *text, int64_t value,
			  int64_t time_us, size_t *len);

/*
 * A VirusTotal detection (FWDFMT_VTDETECT): the verdict's counts, the hash
 * and the executable's path; text is its MSG.
 */
const char *fwdfmt_vt(struct fwdfmt *f, const struct fwdfmt_vt *v, const char *text,
		      int64_t time_us, size_t *len);

/* The kind of a detection; its MSGID is fwdfmt_msgid(kind). */
enum fwdfmt_kind fwdfmt_detection_kind(enum records_kind kind);
const char *fwdfmt_msgid(enum fwdfmt_kind kind);

/*
 * Writes the RFC 3339 UTC form of time_us ("2026-12-05T23:45:53.123456Z",
 * 27 bytes) to out (at least FWDFMT_TIME_LEN + 1 bytes). Exposed for tests.
 */
#define FWDFMT_TIME_LEN 27
void fwdfmt_time(int64_t time_us, char *out);

#endif
