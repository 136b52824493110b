/* fuzz-sources: src/ctmsg.c */
/*
 * fuzz_ctmsg.c: libFuzzer target for the conntrack message parser alone
 * (ctmsg.c), with no flow table behind it. The input is one datagram, an
 * exact-length heap copy so ASan sees any read past it; it is walked
 * message by message as conntrack.c walks what the sockets read, and each
 * message goes through ctmsg_parse (NEW, DESTROY) and ctmsg_parse_answer
 * (a GET's answer), or ctmsg_error (NLMSG_ERROR). Every flow that parses is built back into the GET that
 * polls it, which must fit CT_GET_MAX and name the flow's family.
 * Build: scripts/fuzz fuzz_ctmsg [SECONDS]
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>

#include "ctmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fuzz_sum;

/* A parsed flow's GET: what ct_poll_send would put on the wire for it. */
static void fuzz_get(const struct ct_flow *f, uint32_t seq)
{
	uint8_t get[CT_GET_MAX];
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)get;
	const struct nfgenmsg *nfg;
	size_t len;

	if (!ctmsg_can_get(f))
		return;
	len = ctmsg_build_get(get, f, seq);
	nfg = mnl_nlmsg_get_payload(nlh);
	if (len > CT_GET_MAX || len != nlh->nlmsg_len || nlh->nlmsg_seq != seq ||
	    nfg->nfgen_family != f->family)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	const struct nlmsghdr *nlh;
	int rest = size > INT32_MAX ? INT32_MAX : (int)size;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	for (nlh = (const struct nlmsghdr *)copy; ctmsg_ok(nlh, rest);
	     nlh = mnl_nlmsg_next(nlh, &rest)) {
		struct ct_msg m;
		int err;

		if (nlh->nlmsg_type == NLMSG_ERROR) {
			if (ctmsg_error(nlh, &err) == 0)
				fuzz_sum += (uint32_t)err;
			continue;
		}
		/* A GET's answer: the same message, its reply tuple skipped. */
		if (ctmsg_parse_answer(nlh, (size_t)rest, &m) == 0)
			fuzz_sum += m.flow.id + m.counters.reply_bytes + (uint64_t)m.tcp_state;
		if (ctmsg_parse(nlh, (size_t)rest, &m) < 0)
			continue;
		fuzz_sum += m.flow.id + m.flow.orig.sport + m.reply.dport + m.counters.orig_bytes +
			    (uint64_t)m.tcp_state + ctmsg_is_final(&m);
		fuzz_get(&m.flow, nlh->nlmsg_seq);
	}
	free(copy);
	return 0;
}
