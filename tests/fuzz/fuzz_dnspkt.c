/* fuzz-sources: src/dnspkt.c src/dnsmsg.c src/util.c */
/*
 * fuzz_dnspkt.c: libFuzzer target for what the capture does with a packet
 * before the DNS parser: dnspkt_parse's IPv4/IPv6 and UDP/TCP headers, and
 * dnspkt_tcp's reassembly of DNS over TCP across segments, whose messages
 * go on to dnsmsg_parse as in dns.c. The input is a run of packets, each
 * after a two-byte big-endian length, each fed from an exact-length heap
 * copy (a read past a packet is an ASan report), 1 ms apart, so one input
 * drives a stream through split messages, retransmits, gaps, evictions
 * and timeouts. Every delivered payload and message is read whole.
 * Seeds: the DNS fixtures as IPv4 and IPv6 UDP datagrams and as TCP
 * segments split at several places, with a retransmit and a gap
 * (tests/fuzz/corpus/fuzz_dnspkt, made by tests/fuzz/dnspkt_seeds.py).
 * Build: scripts/fuzz fuzz_dnspkt [SECONDS]
 */

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnsmsg.h"
#include "dnspkt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the delivered bytes add up to, kept so reading them is not optimised away. */
static volatile size_t fuzz_dnspkt_sink;

struct fuzz_dnspkt {
	struct dnsmsg *parser;
	size_t sum;
};

static void fuzz_dnspkt_answer(const struct dnsmsg_answer *ans, void *data)
{
	struct fuzz_dnspkt *f = data;

	f->sum += strlen(ans->name) + strlen(ans->owner) + ans->addr[0];
}

static void fuzz_dnspkt_message(const uint8_t *msg, size_t len, void *data)
{
	struct fuzz_dnspkt *f = data;
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		return;
	memcpy(copy, msg, len);
	(void)dnsmsg_parse(f->parser, copy, len, fuzz_dnspkt_answer, f);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dnsmsg *parser;
	struct dnspkt_tcp *tcp = dnspkt_tcp_new();
	struct fuzz_dnspkt f;
	int64_t now_ms = 1700000000000LL;
	size_t pos = 0;

	if (!parser)
		parser = dnsmsg_new();
	f.parser = parser;
	f.sum = 0;
	while (size - pos >= 2) {
		size_t len = (size_t)data[pos] << 8 | data[pos + 1];
		struct dnspkt p;
		uint8_t *pkt;

		pos += 2;
		if (len > size - pos)
			len = size - pos;
		pkt = malloc(len ? len : 1);
		if (!pkt)
			break;
		memcpy(pkt, data + pos, len);
		pos += len;
		now_ms += 1;
		if (dnspkt_parse(pkt, len, &p) == 0) {
			for (size_t i = 0; i < p.payload_len; i++)
				f.sum += p.payload[i];
			if (p.protocol == IPPROTO_TCP)
				(void)dnspkt_tcp_feed(tcp, &p, now_ms, fuzz_dnspkt_message, &f);
			else
				fuzz_dnspkt_message(p.payload, p.payload_len, &f);
		}
		free(pkt);
		/* Now and then, time passes: part messages time out. */
		if (len && data[pos - 1] == 0xff)
			now_ms += DNSPKT_TCP_IDLE_MS;
		(void)dnspkt_tcp_expire(tcp, now_ms);
	}
	dnspkt_tcp_free(tcp);
	fuzz_dnspkt_sink = f.sum;
	return 0;
}
