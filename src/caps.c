/*
 * caps.c: capability sets with raw capget/capset and prctl (caps.h says
 * which the daemon keeps and why). The kernel's 64-bit sets are two
 * 32-bit words in _LINUX_CAPABILITY_VERSION_3.
 */
#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "caps.h"

static int caps_raw_get(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };

	return syscall(SYS_capget, &hdr, data) < 0 ? -errno : 0;
}

int caps_get(uint64_t *effective, uint64_t *permitted)
{
	struct __user_cap_data_struct data[2];
	int r = caps_raw_get(data);

	if (r < 0)
		return r;
	*effective = (uint64_t)data[1].effective << 32 | data[0].effective;
	*permitted = (uint64_t)data[1].permitted << 32 | data[0].permitted;
	return 0;
}

int caps_limit(uint64_t permitted, uint64_t effective, int bounding)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	uint64_t have_eff, have_perm;
	int r = caps_get(&have_eff, &have_perm);

	if (r < 0)
		return r;
	/* Never ask for more than we have: capset would refuse it all. */
	permitted &= have_perm;
	effective &= permitted;
	if (bounding) {
		for (int cap = 0; cap < 64; cap++) {
			if (permitted & CAPS_BIT(cap))
				continue;
			/* EINVAL: past the kernel's last capability. */
			if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
				return -errno;
		}
	}
	data[0].effective = (uint32_t)effective;
	data[1].effective = (uint32_t)(effective >> 32);
	data[0].permitted = (uint32_t)permitted;
	data[1].permitted = (uint32_t)(permitted >> 32);
	data[0].inheritable = data[1].inheritable = 0;
	return syscall(SYS_capset, &hdr, data) < 0 ? -errno : 0;
}

struct caps_call {
	int (*fn)(void *);
	void *arg;
	int result;
};

static void *caps_call_main(void *p)
{
	struct caps_call *c = p;

	c->result = caps_limit(0, 0, 0);
	if (c->result == 0)
		c->result = c->fn(c->arg);
	return NULL;
}

int caps_call_unprivileged(int (*fn)(void *), void *arg)
{
	struct caps_call c = { .fn = fn, .arg = arg };
	pthread_t t;
	int r = pthread_create(&t, NULL, caps_call_main, &c);

	if (r != 0)
		return -r;
	pthread_join(t, NULL);
	return c.result;
}
