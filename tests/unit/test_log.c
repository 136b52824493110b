/*
 * test_log.c: where log.c writes. Under systemd (JOURNAL_STREAM naming
 * stderr's device and inode) stderr lines carry sd-daemon priority prefixes
 * and syslog(3) is left alone, so journald gets each message once; any
 * other stderr, or a JOURNAL_STREAM that does not match it, keeps the plain
 * "auditsnitch: level: message" lines.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"
#include "util.h"

static char tmpl[] = "/tmp/asn-test-log.XXXXXX";

/* Everything written to the captured stderr since the last call. */
static char *take_stderr(int fd)
{
	char *text = NULL;
	off_t end;

	fflush(stderr);
	end = lseek(fd, 0, SEEK_END);
	text = xcalloc(1, (size_t)end + 1);
	if (pread(fd, text, (size_t)end, 0) != end)
		text[0] = '\0';
	if (ftruncate(fd, 0) < 0)
		text[0] = '\0';
	lseek(fd, 0, SEEK_SET);
	return text;
}

/* Sets JOURNAL_STREAM to the device and inode of fd. */
static void set_journal_stream(int fd)
{
	struct stat st;
	char buf[64];

	if (fstat(fd, &st) < 0)
		return;
	snprintf(buf, sizeof(buf), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", buf, 1);
}

int main(void)
{
	int fd = mkstemp(tmpl), saved = dup(STDERR_FILENO);
	char *out, bad[64];
	struct stat st;

	ok(fd >= 0 && saved >= 0, "temporary stderr");
	if (fd < 0 || saved < 0)
		return tap_done();
	unlink(tmpl);
	dup2(fd, STDERR_FILENO);

	/* systemd's journal stream: priority prefixes, nothing else. */
	set_journal_stream(STDERR_FILENO);
	log_setup(true, true, LOG_INFO);
	ok(log_journal(), "stderr matching JOURNAL_STREAM is the journal");
	log_error("disk %s", "full");
	log_warn("slow");
	log_notice("new program");
	log_info("started");
	log_debug("not written at info");
	out = take_stderr(fd);
	is_str(out, "<3>disk full\n<4>slow\n<5>new program\n<6>started\n",
	       "journal lines carry sd-daemon priorities and no name");
	free(out);

	/* Not in the foreground: stderr is not used, so not the journal either. */
	log_setup(false, false, LOG_INFO);
	ok(!log_journal(), "no journal without stderr");
	log_error("quiet");
	out = take_stderr(fd);
	is_str(out, "", "nothing on stderr in the background");
	free(out);

	/* A JOURNAL_STREAM for another file (stderr redirected by a child). */
	if (fstat(STDERR_FILENO, &st) == 0) {
		snprintf(bad, sizeof(bad), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino + 1);
		setenv("JOURNAL_STREAM", bad, 1);
	}
	log_setup(true, false, LOG_INFO);
	ok(!log_journal(), "JOURNAL_STREAM of another inode is not the journal");
	log_error("disk full");
	log_info("started");
	out = take_stderr(fd);
	is_str(out, "auditsnitch: error: disk full\nauditsnitch: started\n",
	       "plain lines outside the journal");
	free(out);

	/* Malformed values are not the journal. */
	setenv("JOURNAL_STREAM", "12:", 1);
	log_setup(true, false, LOG_INFO);
	ok(!log_journal(), "\"12:\" is not a journal stream");
	setenv("JOURNAL_STREAM", "x:y", 1);
	log_setup(true, false, LOG_INFO);
	ok(!log_journal(), "\"x:y\" is not a journal stream");
	set_journal_stream(STDERR_FILENO);
	setenv("JOURNAL_STREAM", strcat(strcpy(bad, getenv("JOURNAL_STREAM")), "x"), 1);
	log_setup(true, false, LOG_INFO);
	ok(!log_journal(), "trailing garbage is not a journal stream");
	unsetenv("JOURNAL_STREAM");
	log_setup(true, false, LOG_INFO);
	ok(!log_journal(), "no JOURNAL_STREAM, no journal");

	log_close();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd);
	return tap_done();
}
