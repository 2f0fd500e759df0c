#!/usr/bin/env python3
"""Model of memkv 2's run layout (src/README, "memkv 2", "Run layout").

Builds a path-compressed trie over sorted keys, emitting nodes bottom up
as the FST builder does (every node after its subtree), with node sizes
from a rough byte model of the packed FST (2 bytes per node, 2.5 per
transition, 0.7 per chain label; a leaf 1 byte plus 0.7 per label).  It
has no suffix sharing, so it models where nodes lie, not how big the
image is.  Then it compares, for lookups of a sample of the keys:

  * bottom-up order (1.x): the distinct 8 kB pages a lookup touches;
  * the same nodes with every node whose subtree spans more than a page
    (a "top" node) moved to a region after all the others: the pages a
    lookup touches, in all and outside the top region, and the top
    region's size.

Usage:
  python3 bench/layout_sim.py KEYS_FILE            sorted keys, one a line
  python3 bench/layout_sim.py --urls PATHS_FILE    URL-like keys made from
        file paths: 16 host names, each followed by a seeded 40% sample
        of the paths (1,167,877 keys from the 182,582 paths the README
        quotes)

The figures in src/README came from find /usr /opt /etc /var/lib -xdev
(paths without the leading slash, LC_ALL=C sort -u) on the machine the
design was written on.
"""
import math
import random
import sys

PAGE = 8136     # bytes of a run's stream per page (BLCKSZ less headers)


def url_keys(paths):
    rnd = random.Random(7)
    hosts = ['www.%s.%s' % (a, b)
             for a in ('alpha', 'beta', 'gamma', 'delta', 'omega', 'kappa',
                       'sigma', 'theta')
             for b in ('com', 'org')]
    out = set()
    for h in hosts:
        for p in paths:
            if rnd.random() < 0.4:
                out.add(h + '/' + p)
    return sorted(out)


def main():
    args = sys.argv[1:]
    urls = args and args[0] == '--urls'
    if urls:
        args = args[1:]
    lines = [l.rstrip('\n') for l in open(args[0])]
    keys = url_keys(lines) if urls else lines
    # a terminator, so that no key is a prefix of another
    keys = [k + '\0' for k in keys]
    n = len(keys)

    size, start, addr, parent = [], [], [], []
    leaf_of = [0] * n
    pos = 0

    def new(sz, st):
        nonlocal pos
        size.append(sz)
        start.append(st)
        addr.append(pos)
        parent.append(-1)
        pos += sz
        return len(size) - 1

    def inner(d, ch, pd):
        nd = new(2 + int(2.5 * len(ch)) + int(0.7 * max(0, d - pd - 1)),
                 min(start[c] for c in ch))
        for c in ch:
            parent[c] = nd
        return nd

    stack = [[0, [], 0]]        # open inner nodes: depth, children, parent depth
    prev = ''
    for i, k in enumerate(keys):
        l = 0
        m = min(len(prev), len(k))
        while l < m and prev[l] == k[l]:
            l += 1
        while stack[-1][0] > l:
            d, ch, pd = stack.pop()
            stack[-1][1].append(inner(d, ch, pd))
        if stack[-1][0] < l:
            first = stack[-1][1].pop()
            stack.append([l, [first], stack[-1][0]])
        pd = stack[-1][0]
        lf = new(1 + int(math.ceil(0.7 * (len(k) - pd))), pos)
        stack[-1][1].append(lf)
        leaf_of[i] = lf
        prev = k
    while len(stack) > 1:
        d, ch, pd = stack.pop()
        stack[-1][1].append(inner(d, ch, pd))
    d, ch, pd = stack.pop()
    root = inner(0, ch, 0)
    assert root == len(size) - 1

    nodes = len(size)
    total = pos
    top = [(addr[x] + size[x] - start[x]) > PAGE for x in range(nodes)]
    naddr = [0] * nodes
    p = 0
    for x in range(nodes):
        if not top[x]:
            naddr[x] = p
            p += size[x]
    leafbytes = p
    for x in range(nodes):
        if top[x]:
            naddr[x] = p
            p += size[x]
    topbytes = p - leafbytes

    def pages(a, s):
        return range(a // PAGE, (a + s - 1) // PAGE + 1)

    sample = random.Random(1).sample(range(n), min(n, 200000))
    ta = tb = tbl = 0
    for i in sample:
        x = leaf_of[i]
        sa, sb, sbl = set(), set(), set()
        while x != -1:
            sa.update(pages(addr[x], size[x]))
            pb = pages(naddr[x], size[x])
            sb.update(pb)
            if not top[x]:
                sbl.update(pb)
            x = parent[x]
        ta += len(sa)
        tb += len(sb)
        tbl += len(sbl)
    s = len(sample)
    print(f"keys {n}, trie nodes {nodes}, modelled image {total / 1e6:.1f} MB")
    print(f"top nodes {sum(top)}: {topbytes / 1e3:.0f} kB, "
          f"{100 * topbytes / total:.2f}% of the image")
    print(f"pages per lookup: bottom-up order {ta / s:.1f}; with the top "
          f"region {tb / s:.1f}, of them outside it {tbl / s:.2f}")


if __name__ == "__main__":
    main()
