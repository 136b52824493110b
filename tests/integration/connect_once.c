/*
 * connect_once.c: the short-lived test program of the identity tests.
 * Usage: connect_once PORT [DELAY_MS]. Waits DELAY_MS (default 0), makes
 * one TCP connect to 127.0.0.1:PORT (refused is fine: the connect syscall
 * is what audit reports) and exits 0. Exit 2 on bad usage.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	long port, delay_ms = 0;
	int fd;

	if (argc < 2 || argc > 3)
		return 2;
	port = strtol(argv[1], NULL, 10);
	if (port <= 0 || port > 65535)
		return 2;
	if (argc == 3)
		delay_ms = strtol(argv[2], NULL, 10);
	if (delay_ms > 0 && delay_ms < 60000) {
		struct timespec ts = { delay_ms / 1000, (delay_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		(void)connect(fd, (struct sockaddr *)&sin, sizeof(sin));
		close(fd);
	}
	return 0;
}
