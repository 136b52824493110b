/*
 * config.h: the daemon's configuration, a JSON object with picosnitch's key
 * names. Every key is one line of CONFIG_KEYS below (id, name, type,
 * default, range, one-line doc): adding a key means adding a line there and
 * its entry in man/auditsnitch.conf.5. Values are read with the typed
 * accessors; a loaded config is immutable, and a reload builds a new one.
 */
#ifndef AUDITSNITCH_CONFIG_H
#define AUDITSNITCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Largest config file accepted; a bigger one is an error, never read. */
#define CONFIG_MAX_FILE (1024 * 1024)

enum config_type {
	CONFIG_BOOL,
	CONFIG_INT,         /* integer in [min, max] */
	CONFIG_INT_OR_NULL, /* null or an integer in [min, max] */
	CONFIG_STRING,
	CONFIG_ENUM,        /* one of the '|'-separated words in choices */
	CONFIG_STRLIST,     /* array of strings */
	CONFIG_OBJLIST,     /* array of at most max objects, kept as JSON text; the
			       module that owns the key validates the members */
};

/*
 * X(id, "JSON key", type, default, min, max, choices, "doc")
 * default: BOOL 0/1, INT the number, INT_OR_NULL null; STRING: the text in
 * the choices column; ENUM: the first of its '|'-separated choices.
 */
#define CONFIG_KEYS(X) \
	X(DB_RETENTION_DAYS, "DB retention (days)", CONFIG_INT, 365, 1, 36500, NULL, \
	  "days connection rows are kept in the database") \
	X(DB_SQL_LOG, "DB sql log", CONFIG_BOOL, 1, 0, 1, NULL, \
	  "write connections to the SQLite database") \
	X(DB_TEXT_LOG, "DB text log", CONFIG_BOOL, 0, 0, 1, NULL, \
	  "also write connections to conn.log as CSV") \
	X(DB_WRITE_LIMIT, "DB write limit (seconds)", CONFIG_INT, 1, 1, 3600, NULL, \
	  "length of a write window; one transaction per window") \
	X(DESKTOP_NOTIFICATIONS, "Desktop notifications", CONFIG_BOOL, 1, 0, 1, NULL, \
	  "send desktop notifications over D-Bus") \
	X(EVERY_EXE, "Every exe (not just conns)", CONFIG_BOOL, 0, 0, 1, NULL, \
	  "record every program start, not only programs that connect") \
	X(LOG_ADDRESSES, "Log addresses", CONFIG_BOOL, 1, 0, 1, NULL, \
	  "store remote addresses and domain names") \
	X(LOG_COMMANDS, "Log commands", CONFIG_BOOL, 1, 0, 1, NULL, \
	  "store command lines") \
	X(LOG_IGNORE, "Log ignore", CONFIG_STRLIST, 0, 0, 0, NULL, \
	  "sha256 values, domain prefixes, ports, IP addresses or CIDRs not to log") \
	X(SET_RLIMIT_NOFILE, "Set RLIMIT_NOFILE", CONFIG_INT_OR_NULL, 0, 64, 1048576, NULL, \
	  "open file limit to set at start (null: keep the inherited one)") \
	X(VT_API_KEY, "VT API key", CONFIG_STRING, 0, 0, 0, "", \
	  "VirusTotal API key (empty: no lookups)") \
	X(VT_FILE_UPLOAD, "VT file upload", CONFIG_BOOL, 0, 0, 1, NULL, \
	  "upload unknown executables to VirusTotal") \
	X(VT_REQUEST_LIMIT, "VT request limit (seconds)", CONFIG_INT, 15, 1, 86400, NULL, \
	  "minimum seconds between VirusTotal requests") \
	X(VT_API_URL, "VT API URL", CONFIG_STRING, 0, 0, 0, "https://www.virustotal.com/api/v3", \
	  "VirusTotal v3 API base URL (https:// only; a mirror or a test server)") \
	X(VT_CA_FILE, "VT CA file", CONFIG_STRING, 0, 0, 0, "", \
	  "CA certificates to trust for \"VT API URL\" (empty: the system store)") \
	X(AUDIT_MODE, "Audit mode", CONFIG_ENUM, 0, 0, 0, "auto|multicast|daemon", \
	  "how audit records are read: auto, multicast or daemon") \
	X(AUDIT_BACKLOG_LIMIT, "Audit backlog limit", CONFIG_INT, 8192, 64, 4194304, NULL, \
	  "kernel audit backlog limit to raise to (never lowered)") \
	X(DESKTOP_USER, "Desktop user", CONFIG_STRING, 0, 0, 0, "", \
	  "user to notify (empty: the owner of the graphical session)") \
	X(DESKTOP_BUS_ADDRESS, "Desktop bus address", CONFIG_STRING, 0, 0, 0, "", \
	  "session bus address to notify on (empty: /run/user/UID/bus)") \
	X(LOG_PORTS, "Log ports", CONFIG_BOOL, 1, 0, 1, NULL, \
	  "store local and remote ports") \
	X(CONNTRACK_SETUP, "Conntrack setup", CONFIG_ENUM, 0, 0, 0, "auto|never", \
	  "load the auditsnitch nft table when conntrack tracks nothing") \
	X(CONNTRACK_NFT_FILE, "Conntrack nft file", CONFIG_STRING, 0, 0, 0, "", \
	  "nft ruleset loaded by \"Conntrack setup\" auto (empty: the installed auditsnitch.nft)") \
	X(CONNTRACK_RCVBUF, "Conntrack receive buffer (bytes)", CONFIG_INT_OR_NULL, 0, 4096, \
	  1073741824, NULL, "first receive buffer of the conntrack event socket (null: 32 MiB)") \
	X(SYSLOG, "Syslog", CONFIG_BOOL, 1, 0, 1, NULL, \
	  "send messages and detections to syslog") \
	X(LOG_LEVEL, "Log level", CONFIG_ENUM, 0, 0, 0, "info|notice|warning|error|debug", \
	  "most verbose level written to error.log, syslog and stderr") \
	X(AUDIT_SENDS, "Audit unconnected sends", CONFIG_BOOL, 1, 0, 1, NULL, \
	  "audit sendto/sendmsg with an address, so senders that exit at once are named") \
	X(AUDIT_RULES, "Audit rules", CONFIG_ENUM, 0, 0, 0, "add|existing", \
	  "add our audit rules, or use only the rules already loaded") \
	X(LOG_GROUP, "Log group", CONFIG_STRING, 0, 0, 0, "", \
	  "group that may read the database, exe.log, conn.log and error.log (empty: root only)") \
	X(HASH_SIZE_LIMIT, "Hash size limit (MiB)", CONFIG_INT, 1024, 1, 1048576, NULL, \
	  "executables larger than this are not hashed (reported as too large)") \
	X(HASH_TIME_LIMIT, "Hash time limit (seconds)", CONFIG_INT, 60, 1, 86400, NULL, \
	  "an executable still being hashed after this is reported as too slow") \
	X(DB_SIZE_LIMIT, "DB size limit (MiB)", CONFIG_INT, 4096, 0, 1048576, NULL, \
	  "past this size the oldest connection rows are deleted (0: no limit)") \
	X(DNS_CAPTURE, "DNS capture", CONFIG_BOOL, 1, 0, 1, NULL, \
	  "name flows by the DNS answers their programs received (a packet socket)") \
	X(FORWARD, "Forward", CONFIG_OBJLIST, 0, 0, 16, NULL, \
	  "SIEM targets records and detections are forwarded to (syslog, TLS, file)") \
	X(SCHED_SLICE_MS, "Scheduler slice (ms)", CONFIG_INT, 6, 0, 100, NULL, \
	  "time slice asked of the scheduler (Linux 6.12+; 0: the kernel's default)")

enum config_key {
#define CONFIG_ENUM_ID(id, name, type, def, min, max, choices, doc) CONFIG_##id,
	CONFIG_KEYS(CONFIG_ENUM_ID)
#undef CONFIG_ENUM_ID
	CONFIG_NKEYS
};

struct config;

/* A config with every default. Never NULL. */
struct config *config_new_default(void);
void config_free(struct config *cfg);

/* Most problems listed in one error message. */
#define CONFIG_MAX_PROBLEMS 50

/*
 * Loads a config file from text. On type or value errors returns -EINVAL
 * and *errmsg (malloc'd) lists every problem of the file, one per line,
 * each naming the key, what was expected and what was found (a file that
 * is not JSON at all is one problem; TOML gets the JSON keys to use).
 * Unknown keys call warn(message, data) and are otherwise ignored.
 */
typedef void (*config_warn_cb)(const char *message, void *data);
int config_parse(const char *text, size_t len, config_warn_cb warn, void *data,
		 struct config **ret, char **errmsg);

/*
 * Loads dirfd/name; when the file does not exist, writes the defaults there
 * first (0640, atomically) and sets *created (not for a .toml name). Returns 0, -EINVAL with
 * *errmsg as above, or another -errno with *errmsg saying what failed.
 */
int config_load(int dirfd, const char *name, config_warn_cb warn, void *data,
		struct config **ret, bool *created, char **errmsg);

/*
 * Whether a config file name ends in ".toml" (picosnitch 2.x's format):
 * config_load then does not write the defaults there when it is missing,
 * and says why (config_toml_missing, malloc'd).
 */
bool config_name_is_toml(const char *name);
char *config_toml_missing(void);

/* The defaults as pretty-printed JSON (malloc'd). */
char *config_default_json(void);
/* cfg as pretty-printed JSON (malloc'd). */
char *config_to_json(const struct config *cfg);

/* Typed accessors; asking for the wrong type aborts (a programming error). */
bool config_bool(const struct config *cfg, enum config_key key);
long long config_int(const struct config *cfg, enum config_key key);
/* For CONFIG_INT_OR_NULL: false when the value is null. */
bool config_int_set(const struct config *cfg, enum config_key key, long long *ret);
const char *config_string(const struct config *cfg, enum config_key key);
size_t config_strlist_len(const struct config *cfg, enum config_key key);
const char *config_strlist_at(const struct config *cfg, enum config_key key, size_t i);

/* For CONFIG_OBJLIST: the array as compact JSON text ("[]" by default). */
const char *config_json(const struct config *cfg, enum config_key key);

/* The JSON name of a key. */
const char *config_key_name(enum config_key key);
/* The one-line documentation of a key. */
const char *config_key_doc(enum config_key key);

/*
 * Calls changed(key, old_text, new_text, data) for every key whose value
 * differs between a and b (values rendered as JSON text).
 */
typedef void (*config_change_cb)(const char *key, const char *old_value,
				 const char *new_value, void *data);
void config_diff(const struct config *a, const struct config *b, config_change_cb changed,
		 void *data);

/*
 * Extra validation for a key's value, registered by the module that owns
 * its meaning (the filter validates "Log ignore"). Returns NULL when fine,
 * else a malloc'd description of the problem.
 */
typedef char *(*config_validator)(const struct config *cfg, enum config_key key);
void config_set_validator(enum config_key key, config_validator validate);

#endif
