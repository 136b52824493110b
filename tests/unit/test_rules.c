/*
 * test_rules.c: the audit rules text (auditsrc_rules_text) that `auditsnitch
 * rules` prints: auditctl syntax, our key on every rule, the b32 socketcall
 * rule with a0=3, saddr_fam limited to AF_INET/AF_INET6, socket() only
 * with a0=17 (AF_PACKET) on each ABI, and the shipped
 * data/auditsnitch.rules equal to what the code loads on x86_64.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "audit.h"
#include "tap.h"
#include "util.h"

static int count_lines(const char *text, const char *needle)
{
	int n = 0;
	const char *line = text;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *copy = xstrndup(line, len);
		if (!needle || strstr(copy, needle))
			n++;
		free(copy);
		line = end ? end + 1 : NULL;
	}
	return n;
}

int main(void)
{
	struct utsname u;
	char *text, *plain, *pid, *nosend, *file = NULL, *path;
	const char *top = getenv("top_srcdir");
	int dfd;

	uname(&u);
	text = auditsrc_rules_text(true, true, 0);
	plain = auditsrc_rules_text(false, true, 0);
	pid = auditsrc_rules_text(true, true, 4242);
	nosend = auditsrc_rules_text(true, false, 0);
	ok(count_lines(text, NULL) > 0, "some rules");
	is_int(count_lines(text, " -F key=auditsnitch"), count_lines(text, NULL), "every rule has our key");
	is_int(count_lines(text, "-a always,exit "), count_lines(text, NULL), "every rule is always,exit");
	is_int(count_lines(pid, "-F pid!=4242"), count_lines(pid, NULL), "pid filter on every rule");
	is_int(count_lines(text, "pid!="), 0, "no pid filter when pid is 0");
	is_int(count_lines(plain, "saddr_fam"), 0, "no saddr_fam without kernel support");
	is_int(count_lines(plain, "send"), 0, "no send rules without saddr_fam (unix datagrams)");
	is_int(count_lines(nosend, "send"), 0, "no send rules when turned off");
	if (strcmp(u.machine, "x86_64") == 0) {
		is_int(count_lines(text, "-F arch=b64 -S connect -F saddr_fam=2 "), 1, "b64 connect AF_INET");
		is_int(count_lines(text, "-F arch=b64 -S connect -F saddr_fam=10 "), 1, "b64 connect AF_INET6");
		is_int(count_lines(text, "-F arch=b64 -S execve -S execveat "), 1, "b64 execve");
		is_int(count_lines(text, "-F arch=b32 -S connect "), 2, "b32 connect");
		is_int(count_lines(text, "-F arch=b32 -S socketcall -F a0=3 "), 2, "b32 socketcall a0=3");
		is_int(count_lines(text, "-F arch=b32 -S execve -S execveat "), 1, "b32 execve");
		is_int(count_lines(text, "-F arch=b64 -S sendto -S sendmsg -S sendmmsg -F saddr_fam=2 "), 1,
		       "b64 sends AF_INET");
		is_int(count_lines(text, "-F arch=b64 -S sendto -S sendmsg -S sendmmsg -F saddr_fam=10 "),
		       1, "b64 sends AF_INET6");
		is_int(count_lines(text, "-F arch=b32 -S sendto -S sendmsg -S sendmmsg -F saddr_fam="), 2,
		       "b32 sends");
		is_int(count_lines(text, "-F arch=b64 -S socket -F a0=17 "), 1, "b64 packet sockets");
		is_int(count_lines(text, "-F arch=b32 -S socket -F a0=17 "), 1, "b32 packet sockets");
		is_int(count_lines(plain, "-S socket -F a0=17 "), 2, "packet sockets without saddr_fam too");
		is_int(count_lines(nosend, "-S socket -F a0=17 "), 2, "packet sockets without sends too");
		is_int(count_lines(text, "-S socketcall -F a0=1 "), 0,
		       "no b32 socketcall(SYS_SOCKET): its domain cannot be filtered");
		is_int(count_lines(text, NULL), 14, "14 rules with saddr_fam and sends");
		is_int(count_lines(nosend, NULL), 10, "10 rules without sends");
		is_int(count_lines(plain, NULL), 7, "7 rules without saddr_fam");
		/* The shipped rules file holds exactly these rules (after its comments). */
		path = xasprintf("%s/data", top ? top : ".");
		dfd = open(path, O_RDONLY | O_DIRECTORY);
		ok(dfd >= 0 && util_read_file(dfd, "auditsnitch.rules", 65536, &file, NULL) == 0,
		   "read data/auditsnitch.rules");
		if (file) {
			char *body = file;
			while (body[0] == '#') {
				char *nl = strchr(body, '\n');
				if (!nl)
					break;
				body = nl + 1;
			}
			is_str(body, text, "data/auditsnitch.rules matches the rules the daemon loads");
		}
		if (dfd >= 0)
			close(dfd);
		free(path);
		free(file);
	} else {
		tap_skip("rule layout checked on x86_64 only");
	}
	free(text);
	free(plain);
	free(pid);
	free(nosend);
	return tap_done();
}
