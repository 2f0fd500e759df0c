/*-------------------------------------------------------------------------
 *
 * art.c
 *	  Adaptive Radix Tree, the read side: exact lookup and ordered range
 *	  walks.  The layout is described in art_int.h; inserts and deletes are
 *	  in art_write.c, the checks and art_free_all in art_check.c.
 *
 * The walk rebuilds keys in a stack buffer of WALK_STACK_KEY bytes and
 * borrows a ART_MAX_KEY_LEN + 1 byte buffer from the allocator only when it
 * meets a longer key; if that allocation fails the walk ends early.
 *
 * Both may run while the tree's writer inserts (art_int.h, "Concurrency"):
 * they load the root, each child handle, a sorted node's count, a node48
 * index byte and a T_LEAFN's count once each (node_child, node_lookup,
 * node_npos, leaf_ntids), read a node only through the handle they loaded,
 * and take sizes from type bytes and fields that never change.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "art_int.h"
#include "fst_bytes.h"

/* A walk keeps keys up to this length in a stack buffer. */
#define WALK_STACK_KEY	8192

/* ---------------------------------------------------------------- lookup */

/* Exact lookup: number of TIDs of key and their array in *tids. */
uint32_t
art_lookup(const ArtTree *tree, const ArtAllocator *a,
		   const uint8_t *key, size_t keylen, const ArtTid **tids)
{
	ArenaPtr	h = load_handle(&tree->root);
	size_t		depth = 0;

	*tids = NULL;
	if (keylen == 0)
		key = (const uint8_t *) "";
	while (h != ARENA_NULL)
	{
		uint8_t    *n = addr(a, h);
		size_t		plen;
		uint8_t		c;

		if (IS_LEAF(n))
		{
			size_t		slen = leaf_suffix_len(n);

			if (slen != keylen - depth ||
				memcmp(leaf_suffix(n), key + depth, slen) != 0)
				return 0;
			*tids = (const ArtTid *) leaf_tids(n);
			return leaf_ntids(n);
		}
		plen = node_plen(n);
		if (keylen - depth < plen ||
			memcmp(node_prefix(n), key + depth, plen) != 0)
			return 0;
		depth += plen;
		c = depth < keylen ? key[depth] : 0;
		if (c == 0 && depth < keylen)
			return 0;
		h = node_lookup(n, c);
		if (c != 0)
			depth++;
	}
	return 0;
}

/* ------------------------------------------------------------------ walk */

typedef struct WalkState
{
	const ArtAllocator *a;
	const ArtBound *lo;
	const ArtBound *hi;
	bool		backward;
	ArtVisitFn	visit;
	void	   *arg;
	uint8_t    *buf;			/* key bytes of the current path */
	size_t		cap;
	ArenaPtr	bigbuf;			/* arena buffer once keys outgrow the stack */
	bool		stop;
} WalkState;

#define WALK_BIG_SIZE	(ART_MAX_KEY_LEN + 1)

/*
 * Make room for `need` key bytes.  Past the stack buffer, switch to an
 * arena buffer of ART_MAX_KEY_LEN + 1 bytes; false if that cannot be had.
 */
static bool
walk_reserve(WalkState *w, size_t need)
{
	uint8_t    *big;

	if (need <= w->cap)
		return true;
	if (w->bigbuf != ARENA_NULL || need > WALK_BIG_SIZE)
		return false;
	w->bigbuf = w->a->alloc(w->a->arg, WALK_BIG_SIZE);
	if (w->bigbuf == ARENA_NULL)
		return false;
	big = addr(w->a, w->bigbuf);
	memcpy(big, w->buf, w->cap);
	w->buf = big;
	w->cap = WALK_BIG_SIZE;
	return true;
}

/* Compare key with bound bytes the usual way (memcmp, shorter first). */
static int
key_cmp(const uint8_t *k, size_t klen, const ArtBound *b)
{
	size_t		m = klen < b->len ? klen : b->len;
	int			r = m > 0 ? memcmp(k, b->key, m) : 0;

	if (r != 0)
		return r;
	return klen < b->len ? -1 : (klen > b->len ? 1 : 0);
}

/* The bound's byte at position d, 0 past its end (the implicit terminator). */
static inline int
bound_byte(const ArtBound *b, size_t d)
{
	return d < b->len ? b->key[d] : 0;
}

/*
 * Compare a node's compressed prefix p[0..plen), which starts at key
 * position depth, with the bound's bytes from there (the path so far
 * equals the bound's first depth bytes): negative if the prefix sorts
 * before them, positive if after -- a prefix that goes on past the
 * bound's end is after it, as key bytes are never 0 -- and 0 if the bound
 * holds the same plen bytes there.  One memcmp instead of a test per byte
 * and bound: a seek in a tree of file paths meets prefixes of tens of
 * bytes.
 */
static inline int
prefix_cmp(const uint8_t *p, size_t plen, const ArtBound *b, size_t depth)
{
	size_t		rest = depth < b->len ? b->len - depth : 0;
	size_t		m = plen < rest ? plen : rest;
	int			r = m > 0 ? memcmp(p, b->key + depth, m) : 0;

	if (r != 0)
		return r;
	return plen > m ? 1 : 0;
}

/*
 * Visit the leaf at n whose path is buf[0..depth), if its key is inside
 * the bounds still to be compared (lo_eq, hi_eq as for walk_rec).
 */
static void
walk_leaf(WalkState *w, uint8_t *n, size_t depth, bool lo_eq, bool hi_eq)
{
	size_t		slen = leaf_suffix_len(n);
	size_t		klen = depth + slen;

	if (!walk_reserve(w, klen))
	{
		w->stop = true;
		return;
	}
	memcpy(w->buf + depth, leaf_suffix(n), slen);
	if (lo_eq)
	{
		int			r = key_cmp(w->buf, klen, w->lo);

		if (r < 0 || (r == 0 && !w->lo->inclusive))
			return;
	}
	if (hi_eq)
	{
		int			r = key_cmp(w->buf, klen, w->hi);

		if (r > 0 || (r == 0 && !w->hi->inclusive))
			return;
	}
	if (!w->visit(w->buf, klen, (const ArtTid *) leaf_tids(n),
				  leaf_ntids(n), w->arg))
		w->stop = true;
}

/*
 * Visit the subtree h whose path is buf[0..depth).  lo_eq (hi_eq): the path
 * equals the lower (upper) bound so far, so it still has to be compared;
 * otherwise the whole subtree is inside that bound.
 *
 * The seek is a loop, not a recursion, for as long as one child alone can
 * hold keys in range (both bounds have the same byte at the node: the
 * common prefix of a short range, the whole path of an equality): a
 * lookup of that byte, no scan of the node's positions.  A range batch
 * seeks once in each stripe's tree, mostly to find nothing there.
 */
static void
walk_rec(WalkState *w, ArenaPtr h, size_t depth, bool lo_eq, bool hi_eq)
{
	uint8_t    *n;
	size_t		plen;
	int			from,
				to,
				pos,
				npos,
				step;

	for (;;)
	{
		const uint8_t *prefix;

		n = addr(w->a, h);
		if (IS_LEAF(n))
		{
			walk_leaf(w, n, depth, lo_eq, hi_eq);
			return;
		}

		plen = node_plen(n);
		prefix = node_prefix(n);
		if (lo_eq)
		{
			int			r = prefix_cmp(prefix, plen, w->lo, depth);

			if (r < 0)
				return;
			if (r > 0)
				lo_eq = false;
		}
		if (hi_eq)
		{
			int			r = prefix_cmp(prefix, plen, w->hi, depth);

			if (r > 0)
				return;
			if (r < 0)
				hi_eq = false;
		}
		if (!walk_reserve(w, depth + plen + 1))
		{
			w->stop = true;
			return;
		}
		memcpy(w->buf + depth, prefix, plen);
		depth += plen;

		from = lo_eq ? bound_byte(w->lo, depth) : 0;
		to = hi_eq ? bound_byte(w->hi, depth) : 255;
		if (from > to)
			return;
		if (from != to)
			break;

		/* one byte in range: descend to its child, bounds as they are */
		h = node_lookup(n, (uint8_t) from);
		if (h == ARENA_NULL)
			return;
		if (from != 0)
			w->buf[depth++] = (uint8_t) from;
	}

	/*
	 * Positions to scan: a sorted node's from the first byte in range (its
	 * key bytes are read without loading a child), the others' by byte.
	 */
	npos = node_npos(n);
	if (IS_NS(n))
	{
		const uint8_t *keys = n + NODE_HDR + 4 * NS_CAP(n);

		if (w->backward)
		{
			pos = npos - 1;
			while (pos >= 0 && keys[pos] > to)
				pos--;
		}
		else
		{
			pos = 0;
			while (pos < npos && keys[pos] < from)
				pos++;
		}
	}
	else
		pos = w->backward ? to : from;
	step = w->backward ? -1 : 1;

	for (; pos >= 0 && pos < npos; pos += step)
	{
		uint8_t		c;
		ArenaPtr	child = node_child(n, pos, &c);

		if (child == ARENA_NULL)
			continue;
		if (c < from)
		{
			if (w->backward)
				break;
			continue;
		}
		if (c > to)
		{
			if (w->backward)
				continue;
			break;
		}
		if (c != 0)
			w->buf[depth] = c;
		walk_rec(w, child, depth + (c != 0 ? 1 : 0),
				 lo_eq && c == from, hi_eq && c == to);
		if (w->stop)
			return;
	}
}

/*
 * The seek of a walk whose bounds share their first `common` bytes
 * (key[0..common), common > 0): every key in range starts with them, so
 * follow them down as a lookup does -- one byte's child per node, a
 * node's prefix compared once -- to the first node whose prefix reaches
 * the common bytes' end, or a leaf; walk_rec takes over there, with the
 * path's depth in *depthp.  ARENA_NULL if no key of the tree starts with
 * them.  Cheaper per node than walk_rec, which compares both bounds and
 * copies the path as it goes: in a range batch, each stripe's tree is
 * sought, mostly to find nothing in the range.
 */
static ArenaPtr
walk_seek(const ArtAllocator *a, ArenaPtr h, const uint8_t *key,
		  size_t common, size_t *depthp)
{
	size_t		depth = 0;

	for (;;)
	{
		const uint8_t *n = addr(a, h);
		size_t		plen;

		if (IS_LEAF(n))
			break;
		plen = node_plen(n);
		if (depth + plen >= common)
			break;
		/* a prefix off the common bytes: its keys are below or above both */
		if (plen > 0 && memcmp(node_prefix(n), key + depth, plen) != 0)
			return ARENA_NULL;
		depth += plen;
		h = node_lookup(n, key[depth]);
		if (h == ARENA_NULL)
			return ARENA_NULL;
		depth++;
	}
	*depthp = depth;
	return h;
}

/*
 * Ordered range walk.  Keys are rebuilt in a stack buffer of
 * WALK_STACK_KEY bytes; a longer key makes the walk borrow a buffer of
 * ART_MAX_KEY_LEN + 1 bytes from the allocator for the rest of the walk.
 * If that allocation fails the walk stops early (only possible with keys
 * longer than WALK_STACK_KEY).
 */
void
art_walk(const ArtTree *tree, const ArtAllocator *a,
		 const ArtBound *lower, const ArtBound *upper,
		 bool backward, ArtVisitFn visit, void *arg)
{
	uint8_t		stackbuf[WALK_STACK_KEY];
	WalkState	w;
	ArenaPtr	root = load_handle(&tree->root);
	size_t		depth = 0;

	if (root == ARENA_NULL)
		return;
	w.a = a;
	w.lo = lower;
	w.hi = upper;
	w.backward = backward;
	w.visit = visit;
	w.arg = arg;
	w.buf = stackbuf;
	w.cap = sizeof(stackbuf);
	w.bigbuf = ARENA_NULL;
	w.stop = false;
	if (lower && upper)
	{
		size_t		m = lower->len < upper->len ? lower->len : upper->len;
		size_t		common = common_prefix_len(lower->key, upper->key, m);

		if (common > 0)
		{
			root = walk_seek(a, root, lower->key, common, &depth);
			if (root == ARENA_NULL)
				return;
			if (!walk_reserve(&w, depth))
				return;
			memcpy(w.buf, lower->key, depth);
		}
	}
	walk_rec(&w, root, depth, lower != NULL, upper != NULL);
	if (w.bigbuf != ARENA_NULL)
		a->free(a->arg, w.bigbuf, WALK_BIG_SIZE);
}
