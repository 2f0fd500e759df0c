/*-------------------------------------------------------------------------
 *
 * fst_unit.c
 *	  Decoding a whole subtree of an FST at once -- a leaf unit of a
 *	  version-3 image, typically -- into a block of front-coded keys.
 *
 * The ordered cursor (fst_cursor.c) finds each next key by climbing to the
 * deepest node with a further transition and descending from there, node
 * by node, re-reading every node on the way.  A range scan that wants all
 * the keys of a unit can instead walk the unit depth first once: each
 * node is decoded once per visit, its transitions kept on a stack while
 * its subtrees are walked, and each key is written as it is reached, as
 * the length it shares with the key before it and the bytes that follow
 * (front coding).  The block is then read by fst_key_block_next, a copy
 * per key.
 *
 * The walk checks what the cursor checks: node addresses (fst_node_read),
 * key lengths against the trailer's maximum, and ordinals: every key's
 * ordinal (the sum of outputs on its path) must follow the previous one
 * by exactly one, so a damaged image gives an error, and at most
 * nkeys keys are emitted, so a walk of a damaged image ends.
 *
 *-------------------------------------------------------------------------
 */
#include "fst.h"
#include "fst_bytes.h"
#include "fst_node.h"

#include <string.h>

/* A node with several transitions (or final) on the walk's stack. */
typedef struct UnitFrame
{
	uint64_t	ord;			/* ordinal of the first key through it */
	uint32_t	depth;			/* key length at the node */
	uint32_t	n;				/* transitions */
	uint32_t	next;			/* transitions taken so far */
	uint64_t	toff;			/* its transitions in the walker's arrays */
	bool		final;
	bool		own_done;		/* its own key emitted */
} UnitFrame;

struct FstUnitWalker
{
	FstAllocator a;
	FstReader  *r;
	FstWindow	win;
	UnitFrame  *frames;
	uint32_t	nframes;
	uint32_t	frames_cap;
	/* transitions of the frames, as a stack */
	uint8_t    *labels;
	uint64_t   *targets;
	uint64_t   *outs;
	uint64_t	ntrans;
	uint64_t	trans_cap;
	uint8_t    *key;			/* the current path, max_key_len + 1 bytes */
	uint32_t	keylen;
	uint32_t	low;			/* bytes shared with the key emitted last */
	FstKeyBlock block;
	uint64_t	block_cap;
	uint64_t	expect;			/* ordinal of the next key to emit */
	uint8_t		buf[FST_MAX_NODE_BYTES];
	char		errmsg[FST_ERRMSG_LEN];
};

/* Resize an allocation; ptr may be NULL (then oldsize is 0). */
static void *
unit_grow(FstUnitWalker *w, void *ptr, size_t oldsize, size_t newsize)
{
	if (ptr == NULL)
		return w->a.alloc(w->a.arg, newsize);
	return w->a.realloc(w->a.arg, ptr, oldsize, newsize);
}

/* Create a walker over the keys of r; see fst.h. */
FstUnitWalker *
fst_unit_walker_create(FstReader *r, const FstAllocator *alloc)
{
	FstUnitWalker *w = alloc->alloc(alloc->arg, sizeof(FstUnitWalker));

	memset(w, 0, sizeof(FstUnitWalker));
	w->a = *alloc;
	w->r = r;
	w->key = alloc->alloc(alloc->arg, (size_t) r->max_key_len + 1);
	return w;
}

/* Free a walker and its block. */
void
fst_unit_walker_destroy(FstUnitWalker *w)
{
	if (w == NULL)
		return;
	if (w->frames)
		w->a.free(w->a.arg, w->frames);
	if (w->labels)
	{
		w->a.free(w->a.arg, w->labels);
		w->a.free(w->a.arg, w->targets);
		w->a.free(w->a.arg, w->outs);
	}
	if (w->block.data)
		w->a.free(w->a.arg, w->block.data);
	w->a.free(w->a.arg, w->key);
	w->a.free(w->a.arg, w);
}

/* The message of the walker's last error. */
const char *
fst_unit_walker_error(const FstUnitWalker *w)
{
	return w->errmsg;
}

/* Append the current path as the next key of the block. */
static int
emit_key(FstUnitWalker *w, uint64_t ord)
{
	FstKeyBlock *b = &w->block;
	uint32_t	lcp = b->nkeys == 0 ? 0 : w->low;
	uint64_t	need = b->len + 10 + (w->keylen - lcp);

	if (ord != w->expect)
		return set_error(w->errmsg, "fst ordinals out of sequence");
	if (b->nkeys >= w->r->nkeys)
		return set_error(w->errmsg, "fst subtree has too many keys");
	if (need > w->block_cap)
	{
		uint64_t	cap = w->block_cap ? w->block_cap * 2 : 65536;

		while (cap < need)
			cap *= 2;
		b->data = unit_grow(w, b->data, w->block_cap, cap);
		w->block_cap = cap;
	}
	b->len += put_varint(b->data + b->len, lcp);
	b->len += put_varint(b->data + b->len, w->keylen - lcp);
	memcpy(b->data + b->len, w->key + lcp, w->keylen - lcp);
	b->len += w->keylen - lcp;
	b->nkeys++;
	w->low = w->keylen;
	w->expect += b->backward ? (uint64_t) -1 : 1;
	return 0;
}

/* Append a byte to the current path. */
static inline int
path_push(FstUnitWalker *w, uint8_t label)
{
	if (w->keylen >= w->r->max_key_len)
		return set_error(w->errmsg, "fst key longer than the max key length");
	w->key[w->keylen++] = label;
	return 0;
}

/*
 * If addr is a plain single-transition node lying well inside the walk's
 * window (15 bytes or more of it at and below addr, as fst_node_read
 * wants before it reuses a window), decode it here: push its label, set
 * *addr to its target and return 1.  Return 0 for any other node (a
 * chain, a multi node, a virtual address, one near the window's edge):
 * fst_node_read decodes it.  -1 if it is damaged, with fst_node_read's
 * message.
 *
 * Most nodes a walk meets are such nodes: a shared suffix stops a chain at
 * every node something else points to (on the Debian paths, eight in ten
 * node reads of the walk), and a call of fst_node_read filling a Node
 * costs several times the decoding itself.
 */
static inline int
read_single_fast(FstUnitWalker *w, uint64_t *addr)
{
	const FstReader *r = w->r;
	uint64_t	a = *addr;
	const uint8_t *e;
	uint8_t		label;
	uint64_t	delta;
	uint64_t	start;
	uint32_t	len;

	if (w->win.p == NULL || (a & ~FST_ADDR_MASK) != 0 || a < w->win.lo ||
		a >= w->win.hi || a - w->win.lo < 15)
		return 0;
	e = w->win.p + (a - w->win.lo);
	if (!(e[0] & 0x80) || (r->packed && (e[0] & 0x3f) >= FST_CHAIN_CODE0))
		return 0;
	if (!fst_decode_single(e, a - w->win.lo + 1, r->common, r->packed,
						   &label, &delta, &len))
		return set_error(w->errmsg, "fst node truncated or bad varint");
	start = a - len + 1;
	if (!target_below(start, delta, addr))
		return set_error(w->errmsg, "fst transition target out of range");
	if (path_push(w, label) != 0)
		return -1;
	return 1;
}

/*
 * Walk down from addr (the path so far in w->key, ordinal ord) through
 * single-transition nodes and chains to the next node that branches or is
 * final, and push it as a frame.  Returns 0 or -1.
 */
static int
descend(FstUnitWalker *w, uint64_t addr, uint64_t ord)
{
	FstReader  *r = w->r;
	UnitFrame  *f;
	Node		nd;
	uint32_t	i;

	for (;;)
	{
		int			rc = read_single_fast(w, &addr);

		if (rc < 0)
			return -1;
		if (rc > 0)
			continue;
		if (fst_node_read(r, &w->win, addr, &nd, w->buf, w->errmsg) != 0)
			return -1;
		if (nd.chain)
		{
			for (i = 0; i < nd.chain_n; i++)
				if (path_push(w, nd.chain_labels[i]) != 0)
					return -1;
			addr = nd.chain_next[nd.chain_n - 1];
			continue;
		}
		if (nd.single)
		{
			if (path_push(w, nd.label) != 0)
				return -1;
			addr = nd.target;
			continue;
		}
		break;
	}
	if (w->nframes == w->frames_cap)
	{
		uint32_t	cap = w->frames_cap ? w->frames_cap * 2 : 64;

		w->frames = unit_grow(w, w->frames, sizeof(UnitFrame) * w->frames_cap,
							  sizeof(UnitFrame) * cap);
		w->frames_cap = cap;
	}
	if (w->ntrans + nd.n > w->trans_cap)
	{
		uint64_t	cap = w->trans_cap ? w->trans_cap * 2 : 1024;

		while (cap < w->ntrans + nd.n)
			cap *= 2;
		w->labels = unit_grow(w, w->labels, w->trans_cap, cap);
		w->targets = unit_grow(w, w->targets, 8 * w->trans_cap, 8 * cap);
		w->outs = unit_grow(w, w->outs, 8 * w->trans_cap, 8 * cap);
		w->trans_cap = cap;
	}
	f = &w->frames[w->nframes++];
	f->ord = ord;
	f->depth = w->keylen;
	f->n = nd.n;
	f->next = 0;
	f->toff = w->ntrans;
	f->final = nd.final;
	f->own_done = false;
	for (i = 0; i < nd.n; i++)
	{
		uint64_t	out;

		w->labels[w->ntrans + i] = fst_node_label(&nd, i);
		if (fst_node_trans(&nd, i, &w->targets[w->ntrans + i], &out,
						   w->errmsg) != 0)
			return -1;
		if (out > r->nkeys)
			return set_error(w->errmsg, "fst output out of range");
		w->outs[w->ntrans + i] = out;
	}
	w->ntrans += nd.n;
	return 0;
}

/*
 * Decode every key under node addr; see fst.h.  The walk keeps a frame per
 * branching node on the current path; each step either takes the frame's
 * next transition (in the walk's direction) and descends, or emits the
 * frame's own key, or pops the frame.  Outputs are cumulative within a
 * node, so transition i leads to ordinal frame ord + out[i].
 */
int
fst_unit_decode(FstUnitWalker *w, uint64_t addr, uint64_t ord,
				const uint8_t *prefix, uint32_t plen, bool backward,
				const FstKeyBlock **block)
{
	FstReader  *r = w->r;
	FstKeyBlock *b = &w->block;

	w->errmsg[0] = '\0';
	b->len = 0;
	b->nkeys = 0;
	b->backward = backward;
	w->nframes = 0;
	w->ntrans = 0;
	window_start(r, &w->win);
	if (plen > r->max_key_len || ord >= r->nkeys)
		return set_error(w->errmsg,
						 "fst subtree prefix or ordinal out of range");
	if (plen > 0)
		memcpy(w->key, prefix, plen);
	w->keylen = plen;
	w->low = 0;
	if (descend(w, addr, ord) != 0)
		return -1;
	/* the ordinal of the last key is known only at the end: see below */
	w->expect = backward ? UINT64_MAX : ord;
	while (w->nframes > 0)
	{
		UnitFrame  *f = &w->frames[w->nframes - 1];
		uint64_t	t;

		if (w->keylen > f->depth)
		{
			w->keylen = f->depth;
			if (w->low > f->depth)
				w->low = f->depth;
		}
		if (f->final && !f->own_done && (!backward || f->next == f->n))
		{
			/* forward: before the subtrees; backward: after them */
			f->own_done = true;
			if (backward && w->expect == UINT64_MAX)
				w->expect = f->ord;
			if (emit_key(w, f->ord) != 0)
				return -1;
			continue;
		}
		if (f->next == f->n)
		{
			w->ntrans = f->toff;
			w->nframes--;
			continue;
		}
		t = f->toff + (backward ? f->n - 1 - f->next : f->next);
		f->next++;
		if (path_push(w, w->labels[t]) != 0)
			return -1;
		if (w->outs[t] > r->nkeys - f->ord)
			return set_error(w->errmsg, "fst output out of range");
		if (descend(w, w->targets[t], f->ord + w->outs[t]) != 0)
			return -1;
	}
	if (b->nkeys == 0)
		return set_error(w->errmsg, "fst subtree has no keys");
	b->first_ordinal = backward ? w->expect + 1 : ord;
	if (backward && b->first_ordinal != ord)
		return set_error(w->errmsg, "fst ordinals out of sequence");
	*block = b;
	return 0;
}
