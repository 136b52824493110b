/*
 * auparse.h: the pure audit record parser. Bytes in, typed events out: no
 * I/O, no logging, no globals. audit.c feeds every record it reads from the
 * audit netlink socket (numeric type + text as the kernel sent it);
 * auparse reassembles the records of one event by their serial number
 * (`audit(SEC.MS:SERIAL)`), completes the event on EOE (or after a timeout,
 * or when the in-flight bound is reached) and hands an exec, connect,
 * config-change or "other" event to the callback given at creation.
 *
 * Order of calls (all on the event loop thread; the parser has no locks):
 *   auparse_new()  once;
 *   auparse_feed() for every record read, with the monotonic time in ms;
 *   auparse_tick() from a timer (every 250-1000 ms) so events whose EOE
 *                  never comes are still emitted;
 *   auparse_stats() whenever status or loss accounting wants the counters;
 *   auparse_flush() at shutdown (emits what is in flight), auparse_free().
 *
 * Serial gaps: audit serials are global to the kernel (every audit record
 * of every rule and user message takes one), so a serial we never saw is a
 * record the kernel produced but we did not receive. In multicast mode
 * (AUDIT_NLGRP_READLOG) and as the registered audit daemon every record is
 * delivered to us, so gaps mean loss; they are counted when a newer serial
 * arrives, and un-counted when a late serial arrives within a window of
 * 4096. An administrator's `never,exclude` msgtype rule also creates gaps.
 */
#ifndef AUDITSNITCH_AUPARSE_H
#define AUDITSNITCH_AUPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct auparse;

/* Record types auparse understands (linux/audit.h). */
enum {
	AUPARSE_T_SYSCALL = 1300,
	AUPARSE_T_PATH = 1302,
	AUPARSE_T_SOCKETCALL = 1304,
	AUPARSE_T_CONFIG_CHANGE = 1305,
	AUPARSE_T_SOCKADDR = 1306,
	AUPARSE_T_CWD = 1307,
	AUPARSE_T_EXECVE = 1309,
	AUPARSE_T_EOE = 1320,
	AUPARSE_T_BPRM_FCAPS = 1321,
	AUPARSE_T_PROCTITLE = 1327,
};

/* Audit arch values (AUDIT_ARCH_*) the syscall classification knows. */
#define AUPARSE_ARCH_X86_64 0xc000003eu
#define AUPARSE_ARCH_I386 0x40000003u
#define AUPARSE_ARCH_AARCH64 0xc00000b7u
#define AUPARSE_ARCH_ARM 0x40000028u
#define AUPARSE_ARCH_RISCV64 0xc00000f3u

/* Bounds; a zero field means "the default" (in brackets). */
struct auparse_limits {
	size_t max_events;      /* events in flight [4096]; oldest emitted early */
	size_t max_argv_bytes;  /* decoded EXECVE argument bytes per event [1 MiB] */
	size_t max_args;        /* argv entries kept per event [32768] */
	size_t max_string;      /* any other decoded string (exe, cwd, name) [8192] */
	size_t max_total_bytes; /* all in-flight event memory [32 MiB] */
	uint64_t timeout_ms;    /* event without EOE emitted after this [2000] */
	uint64_t no_eoe_timeout_ms; /* ... when EOE records are excluded [50] */
	const char *key;        /* our audit key [AUPARSE_KEY]; copied */
	bool foreign;           /* also emit "other" events whose key is not ours
				   (exec and connect events are emitted whatever their key) */
};

#define AUPARSE_KEY "auditsnitch"
#define AUPARSE_MAX_PATHS 8

/*
 * Bytes decoded from the record. ptr is NULL when the field was absent or
 * "(null)"; otherwise ptr[len] is a NUL, but the bytes may themselves
 * contain NULs or newlines (hex-encoded values are decoded byte-exact), so
 * use len.
 */
struct auparse_bytes {
	const char *ptr;
	size_t len;
};

enum auparse_kind {
	AUPARSE_EXEC = 1,    /* execve/execveat (success or not) */
	AUPARSE_CONNECT,     /* connect to an IPv4/IPv6 address */
	AUPARSE_CONFIG,      /* CONFIG_CHANGE record (rule added/removed, ...) */
	AUPARSE_OTHER,       /* any other syscall event: the daemon ignores it */
	AUPARSE_PACKET,      /* socket(AF_PACKET, ...): a packet socket; exit is its fd,
				a1 the type, a2 the Ethernet protocol (network order) */
};

/* Outcome of connect(); a non-blocking connect is AUPARSE_CONN_INPROGRESS. */
enum auparse_conn_result {
	AUPARSE_CONN_OK = 0,         /* exit=0 */
	AUPARSE_CONN_INPROGRESS,     /* exit=-115 (EINPROGRESS) */
	AUPARSE_CONN_REFUSED,        /* exit=-111 (ECONNREFUSED) */
	AUPARSE_CONN_ERROR,          /* any other failure; err holds the errno */
};

/* The process that made the syscall (SYSCALL record). -1 / UINT32_MAX when absent. */
struct auparse_proc {
	int32_t pid, ppid;
	uint32_t uid, gid, euid, egid, auid, ses;  /* auid/ses 4294967295 = unset */
	struct auparse_bytes comm;
	struct auparse_bytes exe;       /* the running binary: the interpreter for a script */
	struct auparse_bytes proctitle; /* PROCTITLE: argv joined by NULs, kernel-truncated;
					   exec events only */
};

/* One PATH record. */
struct auparse_path {
	int item;                   /* item=N */
	struct auparse_bytes name;
	bool have_inode;            /* inode= and dev= were present */
	uint32_t dev_major, dev_minor;
	uint64_t inode;
	uint32_t mode;              /* mode= (octal), 0 when absent */
};

struct auparse_exec {
	long argc;                  /* argc= as the kernel reported it (-1 absent) */
	size_t argv_n;              /* entries in argv (may be < argc when truncated) */
	const struct auparse_bytes *argv;
	bool argv_truncated;        /* bounds hit, or arguments missing */
	struct auparse_bytes cwd;
	/* PATH item 0: the file execve() named (the script for "#!"; exe above
	 * is then the interpreter). path0 is NULL when there was no item 0. */
	const struct auparse_path *path0;
	size_t paths_n;             /* all PATH records, in arrival order */
	const struct auparse_path *paths;
};

struct auparse_connect {
	int fd;                     /* a0 (socketcall: the SOCKETCALL record's a0); -1 unknown */
	int family;                 /* AF_INET or AF_INET6; IPv4-mapped IPv6 is AF_INET */
	bool v4mapped;              /* the program used ::ffff:a.b.c.d */
	char addr[48];              /* textual address */
	uint8_t addr_raw[16];       /* network order; 4 bytes used for AF_INET */
	uint16_t port;              /* host order */
	uint32_t scope_id;          /* IPv6 scope, 0 otherwise */
	enum auparse_conn_result result;
	int err;                    /* positive errno for AUPARSE_CONN_ERROR (and the others) */
	bool send;                  /* sendto/sendmsg/sendmmsg with an address (unconnected
				       UDP, raw, ping), not connect; result OK when exit >= 0 */
};

struct auparse_config_change {
	struct auparse_bytes op;    /* "add_rule", "remove_rule", "set", ... */
	long list;                  /* list= (4 = exit), -1 absent */
	int res;                    /* res=, -1 absent */
};

/* AF_PACKET (linux/socket.h): the domain of socket() that makes a packet socket. */
#define AUPARSE_AF_PACKET 17

/*
 * One event. Everything it points to belongs to the parser and is valid
 * only during the callback: copy what you keep.
 */
struct auparse_event {
	enum auparse_kind kind;
	bool ours;                  /* key matched ours; exec and connect events come whatever
				       their key (another rule may have matched first) */
	bool complete;              /* EOE seen; false when emitted on timeout/eviction/flush */
	uint64_t time_s;            /* audit(SEC.MS:...) */
	uint32_t time_ms;
	uint32_t serial;
	uint32_t arch;              /* AUDIT_ARCH_*; 0 for AUPARSE_CONFIG */
	int syscall;                /* -1 for AUPARSE_CONFIG */
	bool success;               /* success=yes */
	int64_t exit;               /* exit= */
	uint64_t a[4];              /* a0..a3 (hex in the record) */
	struct auparse_bytes key;   /* decoded key= (several keys are joined by 0x01) */
	struct auparse_proc proc;   /* for CONFIG only auid and ses are set */
	union {
		struct auparse_exec exec;
		struct auparse_connect conn;
		struct auparse_config_change config;
	} u;
};

/*
 * Called synchronously from auparse_feed/tick/flush. It must not call
 * auparse_feed/tick/flush/free on the same parser.
 */
typedef void (*auparse_event_cb)(const struct auparse_event *ev, void *data);

/* Counters; everything dropped or cut is counted somewhere here. */
struct auparse_stats {
	uint64_t records;           /* records fed */
	uint64_t records_ours;      /* ... for which auparse_feed returned 1 */
	uint64_t malformed;         /* no valid audit(...) header: skipped */
	uint64_t orphans;           /* event records whose SYSCALL we never saw */
	uint64_t duplicate_syscall; /* a second SYSCALL for a serial in flight */
	uint64_t events_exec, events_connect, events_config, events_other;
	uint64_t events_send;       /* of events_connect, sends with an address */
	uint64_t events_packet;     /* packet sockets made (socket with AF_PACKET) */
	uint64_t events_foreign;    /* events whose key is not ours, used or not */
	uint64_t events_key_ours;   /* exec and connect events emitted, by their key: ours, */
	uint64_t events_key_other;  /* ... another rule's, */
	uint64_t events_key_none;   /* ... or none (a rule without a key) */
	uint64_t timed_out;         /* emitted without EOE after timeout_ms */
	uint64_t ended_without_eoe; /* emitted after no_eoe_timeout_ms (EOE excluded) */
	uint64_t evicted;           /* emitted early: max_events or max_total_bytes reached */
	uint64_t args_truncated;    /* exec events whose argv was cut or incomplete */
	uint64_t strings_truncated; /* strings cut at max_string; PATH records over AUPARSE_MAX_PATHS */
	uint64_t connect_unix;      /* connect events dropped: AF_UNIX */
	uint64_t connect_netlink;   /* ... AF_NETLINK */
	uint64_t connect_other_family; /* ... any other family (AF_UNSPEC, AF_PACKET, ...) */
	uint64_t connect_bad_addr;  /* ... saddr truncated or not hex */
	uint64_t connect_no_addr;   /* ... no SOCKADDR record */
	uint64_t serial_gaps;       /* serials never received (see top of file) */
	uint64_t in_flight;         /* events now in flight */
	uint64_t in_flight_bytes;   /* their memory */
};

/*
 * Creates a parser calling cb(ev, data) for every event. limits may be
 * NULL (all defaults). Returns 0 or -EINVAL (a bound too small, key longer
 * than 255 bytes).
 */
int auparse_new(const struct auparse_limits *limits, auparse_event_cb cb, void *data,
		struct auparse **ret);
/* Frees the parser without emitting what is in flight. NULL is fine. */
void auparse_free(struct auparse *p);

/*
 * Feeds one record: its numeric type and its text (len bytes, need not be
 * NUL-terminated; a NUL ends it early). now_ms is a monotonic clock; it ages
 * events for the timeout. May emit events (this record's, or expired ones).
 * Returns 1 when the record belongs to one of our events (key ours, or a
 * CONFIG_CHANGE record with our key), 0 otherwise: in "daemon" audit mode
 * the caller writes the records for which it returned 0 to syslog.
 * Any byte sequence is safe (text may be NULL when len is 0).
 */
int auparse_feed(struct auparse *p, int type, const char *text, size_t len, uint64_t now_ms);

/* Emits (incomplete) every event older than the timeout. */
void auparse_tick(struct auparse *p, uint64_t now_ms);

/*
 * Tells the parser whether EOE records arrive. An audit rule such as
 * `-a never,exclude -F msgtype=EOE` drops them; events then end after
 * limits.no_eoe_timeout_ms instead of waiting for timeout_ms. Default true.
 */
void auparse_expect_eoe(struct auparse *p, bool expect);

/* Emits every event in flight (incomplete); for shutdown. */
void auparse_flush(struct auparse *p);

/* Copies the counters. */
void auparse_stats(const struct auparse *p, struct auparse_stats *st);

/*
 * Classifies a syscall by audit arch and number: AUPARSE_EXEC,
 * AUPARSE_CONNECT (connect, and the sends that carry an address) or
 * AUPARSE_OTHER. a0 matters for i386 socketcall (connect is a0=3).
 * Exposed for audit.c's rule building and for tests.
 */
enum auparse_kind auparse_classify(uint32_t arch, int syscall, uint64_t a0);
/* Whether a syscall auparse_classify calls AUPARSE_CONNECT is a send. */
bool auparse_is_send(uint32_t arch, int syscall, uint64_t a0);

#endif
