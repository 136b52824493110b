#!/usr/bin/env python3
# cost_stages.py: the per-stage table of tests/bench/cost_profile.sh.
# Reads one `perf record` file of the daemon (cpu-clock samples, whose
# period is in ns), takes each sample's own frame (self time, no children)
# and puts it in a stage by DSO and symbol: the daemon's own functions by
# the source file DWARF names for them (nm -l), so a static helper counts
# where it lives, with a name prefix as the fallback when the binary has no
# debug information. Prints self time per stage with sub-lines (kernel and
# libc by kind, the top kernel symbols), then per thread.
# Usage: cost_stages.py [--binary auditsnitch] [--connects N] PERF_DATA
import argparse
import collections
import os
import re
import subprocess
import sys

# Source file (basename without .c) of our binary -> stage.
FILE_STAGE = {
    "audit": "audit", "auparse": "audit", "rulecheck": "audit",
    "conntrack": "conntrack", "ctmsg": "conntrack", "ctsetup": "conntrack",
    "correlate": "correlation", "corrsys": "correlation", "proctab": "correlation",
    "procfs": "correlation", "sockdiag": "correlation", "sockindex": "correlation",
    "netproc": "correlation", "exe": "correlation", "conn": "correlation",
    "filter": "correlation", "netaddr": "correlation",
    "dns": "dns", "dnsmsg": "dns", "dnsmap": "dns", "packetsock": "dns",
    "records": "output", "output": "output", "json": "output", "fwdfmt": "output",
    "forward": "output", "notify": "output", "vt": "output", "vtproto": "output",
    "writer": "writer", "store": "writer", "storeread": "writer", "sqlite3": "writer",
    "hash": "hashing",
    "loop": "loop", "pipeline": "loop", "daemon": "loop", "control": "loop",
    "log": "loop", "util": "loop", "main": "loop", "config": "loop", "paths": "loop",
    "caps": "loop", "privsep": "loop", "cli": "loop",
}
STAGES = [
    ("kernel", "kernel"),
    ("libc", "libc"),
    ("audit", "audit receive + auparse"),
    ("conntrack", "conntrack (conntrack/ctmsg, libmnl/libnfct)"),
    ("correlation", "correlation (correlate/corrsys/proctab/procfs/sockdiag/exe)"),
    ("output", "records/output/json (records, output, json, fwdfmt)"),
    ("writer", "writer + SQLite"),
    ("hashing", "hashing (hash.c, nettle)"),
    ("dns", "dns"),
    ("loop", "loop/pipeline/util"),
    ("other", "other"),
]

# Kernel symbols by kind: first match wins.
KERNEL_KINDS = [
    ("irq enable / scheduler (samples land where irqs come back on)",
     r"(_irqrestore|_unlock_irq|irq_enable|^finish_task_switch|^__schedule|^schedule|"
     r"^try_to_wake_up|^__do_softirq|^__softirqentry|^do_softirq|^__local_bh_enable|"
     r"^_raw_spin_unlock_bh|^native_safe_halt|^__lock_text_start)"),
    ("netlink + ctnetlink (dump, get, events)",
     r"^(__)?(netlink|nlmsg|nla_|ctnetlink|nfnetlink|nf_conntrack|__nf_conntrack|nf_ct_|"
     r"____nf_conntrack|ctnl_|genl|audit_receive|audit_send|kauditd)"),
    ("copies (user <-> kernel, memcpy/memset)",
     r"(copy_user|copy_to_iter|copy_from_iter|copyout|copyin|rep_movs|rep_stos|^memcpy|"
     r"^__memcpy|^memset|^__memset|^memmove|clear_user|strncpy_from_user|^_copy_|"
     r"^skb_copy|csum_partial_copy)"),
    ("socket buffers (skb alloc/free)",
     r"(^__?alloc_skb|^kfree_skb|^consume_skb|^skb_|^__skb|^sock_rfree|^sock_def_readable|"
     r"kmalloc_reserve|^__kfree_skb|^skb_release)"),
    ("sock_diag / inet_diag",
     r"(inet_diag|sock_diag|inet_sk_diag|tcp_diag|udp_diag|__inet_lookup|inet_lookup)"),
    ("syscall entry/exit",
     r"(^entry_SYSCALL|^syscall_|^do_syscall|exit_to_user_mode|^__x64_sys_|^__sys_|"
     r"^syscall_exit|^__audit_syscall|^audit_filter|^__audit_)"),
    ("epoll / poll / timers",
     r"(^ep_|epoll|^do_sys_poll|^__x64_sys_poll|timerfd|hrtimer|signalfd)"),
    ("memory (slab, pages, faults)",
     r"(^kmem_cache|^__kmalloc|^kmalloc|^kfree|slab|^__slab|page|_fault|^clear_page|"
     r"^alloc_pages|^__alloc_pages|^free_unref|^rmqueue|^handle_mm|^mm_|^vma_|^unmap|^zap_|"
     r"^__mod_|^mod_|^memcg|^obj_cgroup|^refill_obj)"),
    ("files and /proc (open, read, path walk)",
     r"(^proc_|^seq_|^d_path|^path_|^link_path_walk|^do_sys_open|^do_filp_open|^vfs_|"
     r"^ext4_|^filemap_|^lookup|^dput|^mntput|^__d_lookup|^d_alloc|^walk_component|"
     r"^do_dentry_open|^fput|^__fput|^generic_file|^pid_|^tid_|^proc_pid|^readlink|"
     r"^do_readlinkat|^kernfs|^sysfs|^inode|^iput|^may_open|^security_|^apparmor|"
     r"^step_into|^getname|^putname|^lockref|^task_|^get_pid|^__task_pid)"),
]
LIBC_KINDS = [
    ("malloc/free", r"(malloc|^free$|^cfree|^__libc_free|^__libc_calloc|calloc|realloc|"
                    r"^_int_|^tcache|^unlink_chunk|^arena_|^sysmalloc|^__GI___libc_free|"
                    r"^__default_morecore|^_dl_deallocate)"),
    ("recv/recvmsg/read", r"(recv|^read$|^__libc_read|^__read|^pread)"),
    ("poll/epoll", r"(poll|epoll)"),
    ("printf family (snprintf, vfprintf)",
     r"(printf|^__printf_fp|^_itoa|^_IO_|^__strchrnul|^__find_specmb|^_i18n|^__mpn_|"
     r"^hack_digit|^__parse_one_spec|^outstring|^__GI___printf_fp)"),
    ("string/memory (memcpy, strlen, ...)",
     r"(^__?mem|^mem|^__?str|^str|^wmem|^__nss|^__strlen|^__memchr|^__rawmemchr)"),
    ("send/write", r"(send|^write$|^__libc_write|^__write|^writev|^pwrite)"),
    ("threads/locks", r"(pthread|mutex|lll_|futex|^__GI___lll|cond_)"),
]

PREFIX_STAGE = [
    (r"^(audit|auparse|rulecheck)_", "audit"),
    (r"^(ct|ctmsg|conntrack|ctsetup)_", "conntrack"),
    (r"^(correlate|corrsys|proctab|procfs|sockdiag|sockindex|netproc|exe|conn|filter|netaddr)_",
     "correlation"),
    (r"^(dns|dnsmsg|dnsmap|packetsock)_", "dns"),
    (r"^(records|output|json|fwdfmt|forward|notify|vt)_", "output"),
    (r"^(writer|store|storeread|sqlite3)", "writer"),
    (r"^hash_", "hashing"),
    (r"^(loop|pipeline|daemon|control|log|util|x[a-z]+|config|paths)_?", "loop"),
]


def symbol_files(binary):
    """Function name -> source basename from DWARF (nm -l); empty if none."""
    files = {}
    try:
        out = subprocess.run(["nm", "-l", "--defined-only", binary], capture_output=True,
                             text=True, check=False).stdout
    except OSError:
        return files
    for line in out.splitlines():
        parts = line.split("\t")
        head = parts[0].split()
        if len(head) < 3 or head[1] not in "tTwW" or len(parts) < 2:
            continue
        src = os.path.basename(parts[1].rsplit(":", 1)[0])
        if src.endswith(".c"):
            files[head[2]] = src[:-2]
    return files


def classify(sym, dso, ip, ours, files):
    """(stage, kind) of one sample's own frame."""
    base = os.path.basename(dso)
    kernel = dso.startswith("[") and dso not in ("[unknown]", "[vdso]")
    if dso == "[unknown]" and ip >= 0xffff800000000000:
        kernel = True
    if kernel:
        for kind, rx in KERNEL_KINDS:
            if re.search(rx, sym):
                return "kernel", kind
        return "kernel", "other kernel"
    if base.startswith("libc.so") or base.startswith("libc-"):
        for kind, rx in LIBC_KINDS:
            if re.search(rx, sym):
                return "libc", kind
        return "libc", "other libc"
    if "sqlite" in base:
        return "writer", "libsqlite3"
    if "nettle" in base or "hogweed" in base:
        return "hashing", "libnettle"
    if re.match(r"lib(mnl|netfilter_conntrack|nfnetlink)", base):
        return "conntrack", base.split(".so")[0]
    if base.startswith("libaudit") or base.startswith("libauparse"):
        return "audit", base.split(".so")[0]
    if base == ours:
        clean = sym.split(".")[0]  # .isra.0, .constprop.0, .part.0, .cold
        src = files.get(clean) or files.get(sym)
        if clean.startswith("sqlite3"):
            return "writer", "sqlite3 (linked in)"
        if src in FILE_STAGE:
            return FILE_STAGE[src], src + ".c"
        for rx, stage in PREFIX_STAGE:
            if re.match(rx, clean):
                return stage, "by name"
        return "other", "auditsnitch " + (src + ".c" if src else "unresolved")
    return "other", base or dso


# The live feed's entry points: a sample under one of them is the feed's
# cost (formatting, queueing, the writes), whatever its own frame.
FEED_FUNCS = {"output_event", "output_record", "output_line", "output_flush", "output_after",
              "output_on_writable", "output_format_event", "output_format_record"}


def perf_samples(text):
    """(comm, period, [(ip, sym, dso), ...] leaf first) from perf script text.

    A sample is a header "comm tid period" with its frames on the lines
    below it (recorded with a call graph), or one line "comm tid period
    ip sym (dso)" without one; comm may hold spaces.
    """
    head_rx = re.compile(r"^(\S.*?)\s+(\d+)\s+(\d+)\s*$")
    line_rx = re.compile(r"^(\S.*?)\s+(\d+)\s+(\d+)\s+([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")
    frame_rx = re.compile(r"^\s+([0-9a-f]+)\s+(.*?)\s+\((.*)\)\s*$")
    comm, period, frames = None, 0, []
    for line in text.splitlines():
        m = frame_rx.match(line)
        if m and comm is not None:
            frames.append((int(m.group(1), 16), re.sub(r"\+0x[0-9a-f]+$", "", m.group(2)),
                           m.group(3)))
            continue
        if comm is not None and frames:
            yield comm, period, frames
        comm, frames = None, []
        m = line_rx.match(line)
        if m:
            yield m.group(1), int(m.group(3)), [(int(m.group(4), 16),
                                                 re.sub(r"\+0x[0-9a-f]+$", "", m.group(5)),
                                                 m.group(6))]
            continue
        m = head_rx.match(line)
        if m:
            comm, period = m.group(1), int(m.group(3))
    if comm is not None and frames:
        yield comm, period, frames


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="")
    ap.add_argument("--connects", type=int, default=0)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("data")
    a = ap.parse_args()
    ours = os.path.basename(a.binary) if a.binary else "auditsnitch"
    files = symbol_files(a.binary) if a.binary else {}
    proc = subprocess.run(
        ["perf", "script", "-i", a.data, "--no-inline", "-F", "comm,tid,period,ip,sym,dso"],
        capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        return 1
    stage_ns = collections.Counter()
    kind_ns = collections.Counter()
    ksym_ns = collections.Counter()
    thread_ns = collections.Counter()
    thread_stage = collections.defaultdict(collections.Counter)
    feed_ns = 0
    chains = 0
    samples = 0
    for comm, period, frames in perf_samples(proc.stdout):
        ip, sym, dso = frames[0]
        stage, kind = classify(sym, dso, ip, ours, files)
        if len(frames) > 1:
            chains += 1
        if any(f[1].split(".")[0] in FEED_FUNCS for f in frames):
            feed_ns += period
        samples += 1
        stage_ns[stage] += period
        kind_ns[(stage, kind)] += period
        if stage == "kernel":
            ksym_ns[sym] += period
        thread_ns[comm] += period
        thread_stage[comm][stage] += period
    total = sum(stage_ns.values())
    if not total:
        print("cost_stages: no samples in %s" % a.data)
        return 1

    def row(name, ns, indent=0):
        per = "%8.2f" % (ns / 1e3 / a.connects) if a.connects else "%8s" % "-"
        print("%-*s%-*s %9.1f %6.1f%% %s" % (indent, "", 62 - indent, name[:62 - indent],
                                            ns / 1e6, 100.0 * ns / total, per))

    print("%-62s %9s %7s %8s" % ("stage (self time, cpu-clock samples)", "ms", "share",
                                 "us/conn"))
    for key, title in STAGES:
        if not stage_ns[key]:
            continue
        row(title, stage_ns[key])
        kinds = sorted(((ns, k) for (s, k), ns in kind_ns.items() if s == key), reverse=True)
        if key in ("kernel", "libc") or len(kinds) > 1:
            for ns, k in kinds:
                if ns * 200 >= total or key in ("kernel", "libc"):
                    row(k, ns, 4)
        if key == "kernel":
            print("    top kernel symbols:")
            for s, ns in ksym_ns.most_common(a.top):
                row(s, ns, 6)
    row("total", total)
    if chains:
        row("live feed, inclusive (under output_event/_record/_flush)", feed_ns)
    print()
    print("%-62s %9s %7s  %s" % ("thread", "ms", "share", "stages over 5% of the thread"))
    for comm, ns in thread_ns.most_common():
        parts = ["%s %.0f%%" % (s, 100.0 * v / ns) for s, v in thread_stage[comm].most_common()
                 if v * 20 >= ns]
        print("%-62s %9.1f %6.1f%%  %s" % (comm, ns / 1e6, 100.0 * ns / total, ", ".join(parts)))
    print("samples: %d (%d with a call chain); us/conn: per connect of the load (%d)"
          % (samples, chains, a.connects))
    return 0


if __name__ == "__main__":
    sys.exit(main())
