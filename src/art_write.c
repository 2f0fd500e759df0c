/*-------------------------------------------------------------------------
 *
 * art.c
 *	  Adaptive Radix Tree over byte-string keys with TID lists, stored in an
 *	  arena through 32-bit handles.
 *
 * Layout.  Every node and leaf is one arena allocation whose first byte is
 * its type.  Sizes are chosen to be small, and each is a function of the
 * object's own header, so the exact size passed to alloc can be recomputed
 * for free.
 *
 *	inner node header (4 bytes): type, count, prefix length (uint16)
 *	  sorted node, cap 1..NS_MAX = 32 (type = T_NS + cap):
 *		header, children[cap] (ArenaPtr), keys[cap] (uint8), prefix
 *	  node48: header, index[256] (slot+1, 0 = none), children[48], prefix
 *	  node256: header (count unused), children[256], prefix
 *	leaf with one TID, suffix shorter than LEAF1S_MAXLEN bytes:
 *		type byte T_LEAF1S + suffix length, TID (unaligned), suffix
 *	leaf with one TID, longer suffix (T_LEAF1L):
 *		type, pad, suffix length (uint16), TID, suffix
 *	leaf with a TID array (T_LEAFN):
 *		type, pad, suffix length (uint16), ntids (uint32), cap (uint32),
 *		TIDs[cap], suffix
 *
 * Path compression: an inner node stores its whole compressed prefix
 * inline.  Lazy expansion: a leaf hangs where its key first differs from
 * every other key and stores the rest of the key (its suffix).
 *
 * Keys contain no zero byte, so a key is treated as if it ended with a 0
 * byte: a key that ends at an inner node is the child under byte 0 of that
 * node, a leaf with an empty suffix.  Since 0 is the smallest byte, a key
 * sorts before its extensions, and the empty key and keys that are prefixes
 * of other keys need no special case.
 *
 * Every handle that leads to a node lives in a "slot": the tree's root or
 * an entry of a parent's children array.  Changing a node's size means
 * allocating the replacement, copying, storing it in the slot and freeing
 * the original.  Inserts allocate everything they need before changing
 * anything, so a failed allocation leaves the tree as it was.
 *
 * Recursion (walk, delete, check, free) is bounded by the key length: each
 * inner node on a path consumes at least one key byte, so a tree is at most
 * (longest key + 1) nodes deep.  Frames are 64..160 bytes (gcc -O2), so
 * only pathological key sets (thousands of keys each a prefix of the next)
 * need much stack; the caller bounds it by bounding the key length.  On
 * 1M Debian file paths the average leaf is 17 nodes deep, the deepest 42.
 *
 * The walk rebuilds keys in a stack buffer of WALK_STACK_KEY bytes and
 * borrows a ART_MAX_KEY_LEN + 1 byte buffer from the allocator only when it
 * meets a longer key; if that allocation fails the walk ends early.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "art.h"

/* Type bytes. */
#define T_LEAF1L	2
#define T_LEAFN		3
#define T_N48		4
#define T_N256		5
#define T_NS		16			/* sorted node: type = T_NS + cap */
#define T_LEAF1S	64			/* short leaf: type = T_LEAF1S + suffix length */
#define LEAF1S_MAXLEN (256 - T_LEAF1S)
#define NS_MAX		32

#define NODE_HDR	4
#define N48_INDEX	NODE_HDR
#define N48_KIDS	(NODE_HDR + 256)
#define N48_PREFIX	(N48_KIDS + 48 * 4)
#define N256_PREFIX (NODE_HDR + 256 * 4)

#define LEAF1S_HDR	7
#define LEAF1L_HDR	10
#define LEAFN_HDR	12

/* A walk keeps keys up to this length in a stack buffer. */
#define WALK_STACK_KEY	8192

#define IS_LEAF(n)	((n)[0] <= T_LEAFN || (n)[0] >= T_LEAF1S)
#define IS_LEAF1S(n)	((n)[0] >= T_LEAF1S)
#define IS_NS(n)	((n)[0] > T_NS && (n)[0] <= T_NS + NS_MAX)
#define NS_CAP(n)	((size_t) ((n)[0] - T_NS))

/*
 * A byte string given in up to three parts: a, then the single byte mid if
 * mid >= 0, then b.  Used to build prefixes and suffixes without a buffer.
 */
typedef struct Parts
{
	const uint8_t *a;
	size_t		alen;
	int			mid;
	const uint8_t *b;
	size_t		blen;
} Parts;

/* Resolve a handle. */
static inline uint8_t *
addr(const ArtAllocator *a, ArenaPtr p)
{
	return (uint8_t *) ARENA_ADDR(a->base, p);
}

/* Total length of parts. */
static inline size_t
parts_len(const Parts *p)
{
	return p->alen + (p->mid >= 0 ? 1 : 0) + p->blen;
}

/* Copy parts to dst. */
static void
parts_copy(uint8_t *dst, const Parts *p)
{
	if (p->alen > 0)
		memcpy(dst, p->a, p->alen);
	dst += p->alen;
	if (p->mid >= 0)
		*dst++ = (uint8_t) p->mid;
	if (p->blen > 0)
		memcpy(dst, p->b, p->blen);
}

/* Parts holding one plain string. */
static inline Parts
parts1(const uint8_t *s, size_t len)
{
	Parts		p;

	p.a = s;
	p.alen = len;
	p.mid = -1;
	p.b = NULL;
	p.blen = 0;
	return p;
}

static inline uint16_t
rd16(const uint8_t *p)
{
	uint16_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void
wr16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline uint32_t
rd32(const uint8_t *p)
{
	uint32_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void
wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* Allocate `size` bytes for the tree, keeping tree->bytes current. */
static ArenaPtr
tree_alloc(ArtTree *tree, const ArtAllocator *a, size_t size)
{
	ArenaPtr	p;

	if (size > ARENA_MAX_ALLOC)
		return ARENA_NULL;
	p = a->alloc(a->arg, size);
	if (p != ARENA_NULL)
		tree->bytes += arena_class_size(size);
	return p;
}

/* Free an allocation of `size` bytes made by tree_alloc. */
static void
tree_free(ArtTree *tree, const ArtAllocator *a, ArenaPtr p, size_t size)
{
	a->free(a->arg, p, size);
	tree->bytes -= arena_class_size(size);
}

/* ---------------------------------------------------------------- leaves */

/* Length of a leaf's key suffix. */
static inline size_t
leaf_suffix_len(const uint8_t *l)
{
	return IS_LEAF1S(l) ? (size_t) (l[0] - T_LEAF1S) : rd16(l + 2);
}

/* A leaf's key suffix. */
static inline const uint8_t *
leaf_suffix(const uint8_t *l)
{
	if (IS_LEAF1S(l))
		return l + LEAF1S_HDR;
	if (l[0] == T_LEAF1L)
		return l + LEAF1L_HDR;
	return l + LEAFN_HDR + (size_t) 6 * rd32(l + 8);
}

/* Number of TIDs of a leaf. */
static inline uint32_t
leaf_ntids(const uint8_t *l)
{
	return l[0] == T_LEAFN ? rd32(l + 4) : 1;
}

/* A leaf's TID array (unaligned in a short leaf). */
static inline uint8_t *
leaf_tids(uint8_t *l)
{
	if (IS_LEAF1S(l))
		return l + 1;
	if (l[0] == T_LEAF1L)
		return l + 4;
	return l + LEAFN_HDR;
}

/* Size of a leaf as passed to alloc. */
static size_t
leaf_size(const uint8_t *l)
{
	if (IS_LEAF1S(l))
		return LEAF1S_HDR + (size_t) (l[0] - T_LEAF1S);
	if (l[0] == T_LEAF1L)
		return LEAF1L_HDR + (size_t) rd16(l + 2);
	return LEAFN_HDR + (size_t) 6 * rd32(l + 8) + rd16(l + 2);
}

/*
 * TID capacity of a T_LEAFN for at least `want` TIDs and a suffix of slen
 * bytes: as many as fit in the size class, which makes growth geometric
 * once the leaf is past the small classes.  0 if it cannot be allocated.
 */
static uint32_t
leafn_cap(size_t want, size_t slen)
{
	size_t		size = LEAFN_HDR + slen + 6 * want;
	size_t		cls;

	if (size > ARENA_MAX_ALLOC)
		return 0;
	cls = arena_class_size(size);
	return (uint32_t) ((cls - LEAFN_HDR - slen) / 6);
}

/* Size a leaf for ntids TIDs (capacity at least mincap) would be allocated with. */
static size_t
leaf_size_for(size_t slen, uint32_t ntids, uint32_t mincap, uint32_t *cap)
{
	uint32_t	want = ntids > mincap ? ntids : mincap;

	if (want <= 1)
	{
		*cap = 1;
		return (slen < LEAF1S_MAXLEN ? LEAF1S_HDR : LEAF1L_HDR) + slen;
	}
	*cap = leafn_cap(want, slen);
	if (*cap < want)
		return ARENA_MAX_ALLOC + 1;
	return LEAFN_HDR + slen + (size_t) 6 * *cap;
}

/*
 * Allocate and fill a leaf with the given suffix and TIDs: ntids from
 * `tids` (unaligned), then `extra` if not NULL.  Capacity is at least
 * mincap.  ARENA_NULL on allocation failure.
 */
static ArenaPtr
leaf_make(ArtTree *tree, const ArtAllocator *a, const Parts *suffix,
		  const uint8_t *tids, uint32_t ntids, const ArtTid *extra,
		  uint32_t mincap)
{
	size_t		slen = parts_len(suffix);
	uint32_t	total = ntids + (extra ? 1 : 0);
	uint32_t	cap;
	size_t		size = leaf_size_for(slen, total, mincap, &cap);
	ArenaPtr	p;
	uint8_t    *l;
	uint8_t    *t;

	p = tree_alloc(tree, a, size);
	if (p == ARENA_NULL)
		return ARENA_NULL;
	l = addr(a, p);
	if (cap == 1)
	{
		if (slen < LEAF1S_MAXLEN)
			l[0] = (uint8_t) (T_LEAF1S + slen);
		else
		{
			l[0] = T_LEAF1L;
			l[1] = 0;
			wr16(l + 2, (uint16_t) slen);
		}
	}
	else
	{
		l[0] = T_LEAFN;
		l[1] = 0;
		wr16(l + 2, (uint16_t) slen);
		wr32(l + 4, total);
		wr32(l + 8, cap);
	}
	t = leaf_tids(l);
	if (ntids > 0)
		memcpy(t, tids, (size_t) 6 * ntids);
	if (extra)
		memcpy(t + (size_t) 6 * ntids, extra, 6);
	parts_copy((uint8_t *) leaf_suffix(l), suffix);
	return p;
}

/* ----------------------------------------------------------- inner nodes */

/* Offset of the prefix in an inner node of the given type. */
static inline size_t
prefix_off(uint8_t type)
{
	if (type > T_NS)
		return NODE_HDR + (size_t) 5 * (type - T_NS);
	return type == T_N48 ? N48_PREFIX : N256_PREFIX;
}

static inline size_t
node_plen(const uint8_t *n)
{
	return rd16(n + 2);
}

static inline const uint8_t *
node_prefix(const uint8_t *n)
{
	return n + prefix_off(n[0]);
}

/* Size of an inner node as passed to alloc. */
static inline size_t
node_size(const uint8_t *n)
{
	return prefix_off(n[0]) + node_plen(n);
}

/* The children array of an inner node. */
static inline ArenaPtr *
node_kids(uint8_t *n)
{
	return (ArenaPtr *) (n + (n[0] == T_N48 ? N48_KIDS : NODE_HDR));
}

/* Keys array of a sorted node. */
static inline uint8_t *
ns_keys(uint8_t *n)
{
	return n + NODE_HDR + 4 * NS_CAP(n);
}

/* Capacity of a sorted node for at least `want` children (fills the class). */
static size_t
ns_cap(size_t want, size_t plen)
{
	size_t		cls = arena_class_size(NODE_HDR + 5 * want + plen);
	size_t		cap = (cls - NODE_HDR - plen) / 5;

	return cap > NS_MAX ? NS_MAX : cap;
}

/* Number of children of an inner node. */
static int
node_count(const uint8_t *n)
{
	if (n[0] == T_N256)
	{
		const ArenaPtr *kids = (const ArenaPtr *) (n + NODE_HDR);
		int			i,
					cnt = 0;

		for (i = 0; i < 256; i++)
			cnt += kids[i] != ARENA_NULL;
		return cnt;
	}
	return n[1];
}

/* Number of child positions of a node (sorted: count; others: 256). */
static inline int
node_npos(const uint8_t *n)
{
	return IS_NS(n) ? n[1] : 256;
}

/*
 * The slot of the child at position pos (0 <= pos < node_npos) and its byte
 * in *c; NULL if that position is empty.  Positions ascend with the byte.
 */
static ArenaPtr *
node_slot(uint8_t *n, int pos, uint8_t *c)
{
	if (IS_NS(n))
	{
		*c = ns_keys(n)[pos];
		return &node_kids(n)[pos];
	}
	*c = (uint8_t) pos;
	if (n[0] == T_N48)
	{
		uint8_t		idx = n[N48_INDEX + pos];

		return idx ? &node_kids(n)[idx - 1] : NULL;
	}
	return node_kids(n)[pos] ? &node_kids(n)[pos] : NULL;
}

/* The slot of the child under byte c, NULL if none. */
static ArenaPtr *
node_find(uint8_t *n, uint8_t c)
{
	if (IS_NS(n))
	{
		const uint8_t *keys = ns_keys(n);
		int			i,
					cnt = n[1];

		for (i = 0; i < cnt; i++)
		{
			if (keys[i] == c)
				return &node_kids(n)[i];
			if (keys[i] > c)
				break;
		}
		return NULL;
	}
	return node_slot(n, c, &c);
}

/* Whether a child can be added without growing the node. */
static inline bool
node_full(const uint8_t *n)
{
	if (IS_NS(n))
		return n[1] >= NS_CAP(n);
	if (n[0] == T_N48)
		return n[1] >= 48;
	return false;
}

/* Add child under byte c (absent, node not full). */
static void
node_add(uint8_t *n, uint8_t c, ArenaPtr child)
{
	ArenaPtr   *kids = node_kids(n);

	if (IS_NS(n))
	{
		uint8_t    *keys = ns_keys(n);
		int			i = n[1];

		while (i > 0 && keys[i - 1] > c)
		{
			keys[i] = keys[i - 1];
			kids[i] = kids[i - 1];
			i--;
		}
		keys[i] = c;
		kids[i] = child;
		n[1]++;
	}
	else if (n[0] == T_N48)
	{
		int			k = 0;

		while (kids[k] != ARENA_NULL)
			k++;
		kids[k] = child;
		n[N48_INDEX + c] = (uint8_t) (k + 1);
		n[1]++;
	}
	else
		kids[c] = child;
}

/*
 * Allocate an inner node of `type` with the given prefix and copy into it
 * the children of `src` (NULL for none), which must fit.  ARENA_NULL on
 * allocation failure.
 */
static ArenaPtr
node_make(ArtTree *tree, const ArtAllocator *a, uint8_t type,
		  const Parts *prefix, uint8_t *src)
{
	size_t		plen = parts_len(prefix);
	size_t		off = prefix_off(type);
	ArenaPtr	p;
	uint8_t    *n;

	p = tree_alloc(tree, a, off + plen);
	if (p == ARENA_NULL)
		return ARENA_NULL;
	n = addr(a, p);
	memset(n, 0, off);
	n[0] = type;
	wr16(n + 2, (uint16_t) plen);
	parts_copy(n + off, prefix);
	if (src)
	{
		int			pos,
					npos = node_npos(src);

		for (pos = 0; pos < npos; pos++)
		{
			uint8_t		c;
			ArenaPtr   *slot = node_slot(src, pos, &c);

			if (slot && *slot != ARENA_NULL)
				node_add(n, c, *slot);
		}
	}
	return p;
}

/* A sorted node with prefix and the two children (c1 != c2). */
static ArenaPtr
node_make2(ArtTree *tree, const ArtAllocator *a, const Parts *prefix,
		   uint8_t c1, ArenaPtr k1, uint8_t c2, ArenaPtr k2)
{
	uint8_t		type = (uint8_t) (T_NS + ns_cap(2, parts_len(prefix)));
	ArenaPtr	p = node_make(tree, a, type, prefix, NULL);
	uint8_t    *n;

	if (p == ARENA_NULL)
		return ARENA_NULL;
	n = addr(a, p);
	node_add(n, c1, k1);
	node_add(n, c2, k2);
	return p;
}

/* Parts holding the prefix of node n from offset `from` on. */
static inline Parts
prefix_from(const uint8_t *n, size_t from)
{
	return parts1(node_prefix(n) + from, node_plen(n) - from);
}

/* ---------------------------------------------------------------- insert */

/* Add tid to the leaf in *ref, reallocating it if it is full. */
static ArtResult
leaf_append(ArtTree *tree, const ArtAllocator *a, ArenaPtr *ref,
			const ArtTid *tid)
{
	uint8_t    *l = addr(a, *ref);
	uint32_t	ntids = leaf_ntids(l);
	ArenaPtr	p;
	Parts		suf;

	if (l[0] == T_LEAFN && ntids < rd32(l + 8))
	{
		memcpy(l + LEAFN_HDR + (size_t) 6 * ntids, tid, 6);
		wr32(l + 4, ntids + 1);
	}
	else
	{
		suf = parts1(leaf_suffix(l), leaf_suffix_len(l));
		p = leaf_make(tree, a, &suf, leaf_tids(l), ntids, tid, ntids + 1);
		if (p == ARENA_NULL)
			return ART_OUT_OF_MEMORY;
		tree_free(tree, a, *ref, leaf_size(l));
		*ref = p;
	}
	tree->ntids++;
	return ART_OK;
}

/* Add a TID to a key, creating the key if needed; all or nothing. */
ArtResult
art_insert(ArtTree *tree, const ArtAllocator *a,
		   const uint8_t *key, size_t keylen, const ArtTid *tid)
{
	ArenaPtr   *ref = &tree->root;
	size_t		depth = 0;

	if (keylen > ART_MAX_KEY_LEN ||
		(keylen > 0 && memchr(key, 0, keylen) != NULL))
		return ART_BAD_KEY;
	if (keylen == 0)
		key = (const uint8_t *) "";	/* the empty key may come as NULL */

	for (;;)
	{
		uint8_t    *n;
		size_t		plen,
					i;
		uint8_t		c;
		ArenaPtr   *slot;
		ArenaPtr	leaf,
					node;
		Parts		parts;

		if (*ref == ARENA_NULL)
		{
			/* only the root of an empty tree */
			parts = parts1(key + depth, keylen - depth);
			leaf = leaf_make(tree, a, &parts, NULL, 0, tid, 1);
			if (leaf == ARENA_NULL)
				return ART_OUT_OF_MEMORY;
			*ref = leaf;
			tree->nkeys++;
			tree->ntids++;
			return ART_OK;
		}

		n = addr(a, *ref);
		if (IS_LEAF(n))
		{
			const uint8_t *suf = leaf_suffix(n);
			size_t		slen = leaf_suffix_len(n);
			const uint8_t *rest = key + depth;
			size_t		rlen = keylen - depth;
			uint8_t		c_old,
						c_new;
			ArenaPtr	old2;

			if (slen == rlen && memcmp(suf, rest, slen) == 0)
				return leaf_append(tree, a, ref, tid);

			/* split: a node for the common part, two leaves below it */
			i = 0;
			while (i < slen && i < rlen && suf[i] == rest[i])
				i++;
			c_old = i < slen ? suf[i] : 0;
			c_new = i < rlen ? rest[i] : 0;

			parts = parts1(rest + i + (c_new ? 1 : 0), rlen - i - (c_new ? 1 : 0));
			leaf = leaf_make(tree, a, &parts, NULL, 0, tid, 1);
			if (leaf == ARENA_NULL)
				return ART_OUT_OF_MEMORY;
			parts = parts1(suf + i + (c_old ? 1 : 0), slen - i - (c_old ? 1 : 0));
			old2 = leaf_make(tree, a, &parts, leaf_tids(n), leaf_ntids(n),
							 NULL, 1);
			if (old2 == ARENA_NULL)
			{
				tree_free(tree, a, leaf, leaf_size(addr(a, leaf)));
				return ART_OUT_OF_MEMORY;
			}
			parts = parts1(rest, i);
			node = node_make2(tree, a, &parts, c_old, old2, c_new, leaf);
			if (node == ARENA_NULL)
			{
				tree_free(tree, a, leaf, leaf_size(addr(a, leaf)));
				tree_free(tree, a, old2, leaf_size(addr(a, old2)));
				return ART_OUT_OF_MEMORY;
			}
			tree_free(tree, a, *ref, leaf_size(n));
			*ref = node;
			tree->nkeys++;
			tree->ntids++;
			return ART_OK;
		}

		/* inner node: match the prefix */
		plen = node_plen(n);
		{
			const uint8_t *prefix = node_prefix(n);

			i = 0;
			while (i < plen && depth + i < keylen && prefix[i] == key[depth + i])
				i++;
			if (i < plen)
			{
				/* the key leaves the prefix at i: split the prefix there */
				uint8_t		c_new = depth + i < keylen ? key[depth + i] : 0;
				size_t		after = depth + i + (c_new ? 1 : 0);
				ArenaPtr	shorter;

				parts = parts1(key + after, keylen - after);
				leaf = leaf_make(tree, a, &parts, NULL, 0, tid, 1);
				if (leaf == ARENA_NULL)
					return ART_OUT_OF_MEMORY;
				parts = prefix_from(n, i + 1);
				shorter = node_make(tree, a, n[0], &parts, n);
				if (shorter == ARENA_NULL)
				{
					tree_free(tree, a, leaf, leaf_size(addr(a, leaf)));
					return ART_OUT_OF_MEMORY;
				}
				parts = parts1(prefix, i);
				node = node_make2(tree, a, &parts, prefix[i], shorter, c_new, leaf);
				if (node == ARENA_NULL)
				{
					tree_free(tree, a, leaf, leaf_size(addr(a, leaf)));
					tree_free(tree, a, shorter, node_size(addr(a, shorter)));
					return ART_OUT_OF_MEMORY;
				}
				tree_free(tree, a, *ref, node_size(n));
				*ref = node;
				tree->nkeys++;
				tree->ntids++;
				return ART_OK;
			}
		}
		depth += plen;
		c = depth < keylen ? key[depth] : 0;
		slot = node_find(n, c);
		if (slot != NULL)
		{
			ref = slot;
			if (c != 0)
				depth++;
			continue;
		}

		/* no child under c: add a leaf, growing the node if needed */
		parts = parts1(key + depth + (c ? 1 : 0), keylen - depth - (c ? 1 : 0));
		leaf = leaf_make(tree, a, &parts, NULL, 0, tid, 1);
		if (leaf == ARENA_NULL)
			return ART_OUT_OF_MEMORY;
		if (!node_full(n))
			node_add(n, c, leaf);
		else
		{
			uint8_t		type;

			if (IS_NS(n) && NS_CAP(n) < NS_MAX)
				type = (uint8_t) (T_NS + ns_cap(NS_CAP(n) + 1, plen));
			else if (IS_NS(n))
				type = T_N48;
			else
				type = T_N256;
			parts = prefix_from(n, 0);
			node = node_make(tree, a, type, &parts, n);
			if (node == ARENA_NULL)
			{
				tree_free(tree, a, leaf, leaf_size(addr(a, leaf)));
				return ART_OUT_OF_MEMORY;
			}
			node_add(addr(a, node), c, leaf);
			tree_free(tree, a, *ref, node_size(n));
			*ref = node;
		}
		tree->nkeys++;
		tree->ntids++;
		return ART_OK;
	}
}

/* ---------------------------------------------------------------- lookup */

/* Exact lookup: number of TIDs of key and their array in *tids. */
uint32_t
art_lookup(const ArtTree *tree, const ArtAllocator *a,
		   const uint8_t *key, size_t keylen, const ArtTid **tids)
{
	ArenaPtr	h = tree->root;
	size_t		depth = 0;

	*tids = NULL;
	if (keylen == 0)
		key = (const uint8_t *) "";
	while (h != ARENA_NULL)
	{
		uint8_t    *n = addr(a, h);
		size_t		plen;
		uint8_t		c;
		ArenaPtr   *slot;

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
		slot = node_find(n, c);
		if (slot == NULL)
			return 0;
		h = *slot;
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
 * Visit the subtree h whose path is buf[0..depth).  lo_eq (hi_eq): the path
 * equals the lower (upper) bound so far, so it still has to be compared;
 * otherwise the whole subtree is inside that bound.
 */
static void
walk_rec(WalkState *w, ArenaPtr h, size_t depth, bool lo_eq, bool hi_eq)
{
	uint8_t    *n = addr(w->a, h);
	size_t		plen,
				i;
	int			from,
				to,
				pos,
				npos,
				step;

	if (IS_LEAF(n))
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
		return;
	}

	plen = node_plen(n);
	{
		const uint8_t *prefix = node_prefix(n);

		for (i = 0; i < plen && (lo_eq || hi_eq); i++)
		{
			if (lo_eq)
			{
				int			lb = bound_byte(w->lo, depth + i);

				if (prefix[i] < lb)
					return;
				if (prefix[i] > lb)
					lo_eq = false;
			}
			if (hi_eq)
			{
				int			hb = bound_byte(w->hi, depth + i);

				if (prefix[i] > hb)
					return;
				if (prefix[i] < hb)
					hi_eq = false;
			}
		}
		if (!walk_reserve(w, depth + plen + 1))
		{
			w->stop = true;
			return;
		}
		memcpy(w->buf + depth, prefix, plen);
	}
	depth += plen;

	from = lo_eq ? bound_byte(w->lo, depth) : 0;
	to = hi_eq ? bound_byte(w->hi, depth) : 255;
	if (from > to)
		return;

	/* positions to scan: sorted nodes by index, the others by byte */
	npos = node_npos(n);
	if (IS_NS(n))
		pos = w->backward ? npos - 1 : 0;
	else
		pos = w->backward ? to : from;
	step = w->backward ? -1 : 1;

	for (; pos >= 0 && pos < npos; pos += step)
	{
		uint8_t		c;
		ArenaPtr   *slot = node_slot(n, pos, &c);

		if (slot == NULL || *slot == ARENA_NULL)
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
		walk_rec(w, *slot, depth + (c != 0 ? 1 : 0),
				 lo_eq && c == from, hi_eq && c == to);
		if (w->stop)
			return;
	}
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

	if (tree->root == ARENA_NULL)
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
	walk_rec(&w, tree->root, 0, lower != NULL, upper != NULL);
	if (w.bigbuf != ARENA_NULL)
		a->free(a->arg, w.bigbuf, WALK_BIG_SIZE);
}

/* ---------------------------------------------------------------- delete */

typedef struct DeleteState
{
	ArtTree    *tree;
	const ArtAllocator *a;
	bool		(*is_dead) (const ArtTid *tid, void *arg);
	void	   *arg;
	uint64_t	removed;
} DeleteState;

/* Filter the TIDs of the leaf in *ref; free it if none are left. */
static void
delete_leaf(DeleteState *d, ArenaPtr *ref)
{
	uint8_t    *l = addr(d->a, *ref);
	uint32_t	ntids = leaf_ntids(l);
	uint8_t    *tids = leaf_tids(l);
	uint32_t	i,
				kept = 0;
	uint32_t	cap;
	size_t		want;

	for (i = 0; i < ntids; i++)
	{
		ArtTid		tid;

		memcpy(&tid, tids + (size_t) 6 * i, sizeof(tid));
		if (d->is_dead(&tid, d->arg))
			continue;
		if (kept != i)
			memmove(tids + (size_t) 6 * kept, tids + (size_t) 6 * i, 6);
		kept++;
	}
	if (kept == ntids)
		return;
	d->removed += ntids - kept;
	d->tree->ntids -= ntids - kept;
	if (kept == 0)
	{
		tree_free(d->tree, d->a, *ref, leaf_size(l));
		*ref = ARENA_NULL;
		d->tree->nkeys--;
		return;
	}
	wr32(l + 4, kept);			/* only T_LEAFN can keep some and lose some */

	/* move to a smaller leaf if that saves a size class */
	want = leaf_size_for(leaf_suffix_len(l), kept, 1, &cap);
	if (arena_class_size(want) < arena_class_size(leaf_size(l)))
	{
		Parts		suf = parts1(leaf_suffix(l), leaf_suffix_len(l));
		ArenaPtr	p = leaf_make(d->tree, d->a, &suf, tids, kept, NULL, 1);

		if (p != ARENA_NULL)
		{
			tree_free(d->tree, d->a, *ref, leaf_size(l));
			*ref = p;
		}
	}
}

/*
 * Node in *ref has exactly one child: fold the node into it, joining the
 * prefixes.  Leaves the node alone if the allocation fails.
 */
static void
delete_merge(DeleteState *d, ArenaPtr *ref)
{
	uint8_t    *n = addr(d->a, *ref);
	int			pos,
				npos = node_npos(n);
	uint8_t		c = 0;
	ArenaPtr   *slot = NULL;
	uint8_t    *child;
	Parts		parts;
	ArenaPtr	p;

	for (pos = 0; pos < npos; pos++)
	{
		slot = node_slot(n, pos, &c);
		if (slot != NULL && *slot != ARENA_NULL)
			break;
	}
	if (pos >= npos)
		return;
	child = addr(d->a, *slot);

	parts.a = node_prefix(n);
	parts.alen = node_plen(n);
	parts.mid = c != 0 ? c : -1;
	if (IS_LEAF(child))
	{
		parts.b = leaf_suffix(child);
		parts.blen = leaf_suffix_len(child);
		p = leaf_make(d->tree, d->a, &parts, leaf_tids(child),
					  leaf_ntids(child), NULL, 1);
		if (p == ARENA_NULL)
			return;
		tree_free(d->tree, d->a, *slot, leaf_size(child));
	}
	else
	{
		parts.b = node_prefix(child);
		parts.blen = node_plen(child);
		p = node_make(d->tree, d->a, child[0], &parts, child);
		if (p == ARENA_NULL)
			return;
		tree_free(d->tree, d->a, *slot, node_size(child));
	}
	tree_free(d->tree, d->a, *ref, node_size(n));
	*ref = p;
}

/* Remove dead TIDs below the node in *ref, then shrink or merge it. */
static void
delete_rec(DeleteState *d, ArenaPtr *ref)
{
	uint8_t    *n = addr(d->a, *ref);
	int			pos,
				npos,
				cnt;
	uint8_t		type = 0;

	if (IS_LEAF(n))
	{
		delete_leaf(d, ref);
		return;
	}

	npos = node_npos(n);
	for (pos = 0; pos < npos; pos++)
	{
		uint8_t		c;
		ArenaPtr   *slot = node_slot(n, pos, &c);

		if (slot != NULL && *slot != ARENA_NULL)
			delete_rec(d, slot);
	}

	/* drop the children that went away */
	if (IS_NS(n))
	{
		ArenaPtr   *kids = node_kids(n);
		uint8_t    *keys = ns_keys(n);
		int			k = 0;

		for (pos = 0; pos < npos; pos++)
		{
			if (kids[pos] == ARENA_NULL)
				continue;
			kids[k] = kids[pos];
			keys[k] = keys[pos];
			k++;
		}
		n[1] = (uint8_t) k;
	}
	else if (n[0] == T_N48)
	{
		ArenaPtr   *kids = node_kids(n);
		int			k = 0;

		for (pos = 0; pos < 256; pos++)
		{
			uint8_t		idx = n[N48_INDEX + pos];

			if (idx == 0)
				continue;
			if (kids[idx - 1] == ARENA_NULL)
				n[N48_INDEX + pos] = 0;
			else
				k++;
		}
		n[1] = (uint8_t) k;
	}

	cnt = node_count(n);
	if (cnt == 0)
	{
		tree_free(d->tree, d->a, *ref, node_size(n));
		*ref = ARENA_NULL;
		return;
	}
	if (cnt == 1)
	{
		delete_merge(d, ref);
		return;
	}

	/* shrink to a smaller kind or capacity if that saves memory */
	if (IS_NS(n))
	{
		size_t		cap = ns_cap((size_t) cnt, node_plen(n));

		if (cap < NS_CAP(n))
			type = (uint8_t) (T_NS + cap);
	}
	else if (n[0] == T_N48 && cnt <= NS_MAX - 8)
		type = (uint8_t) (T_NS + ns_cap((size_t) cnt, node_plen(n)));
	else if (n[0] == T_N256 && cnt <= 40)
		type = T_N48;
	if (type != 0)
	{
		Parts		parts = prefix_from(n, 0);
		ArenaPtr	p = node_make(d->tree, d->a, type, &parts, n);

		if (p != ARENA_NULL)
		{
			tree_free(d->tree, d->a, *ref, node_size(n));
			*ref = p;
		}
	}
}

/* Remove the TIDs is_dead picks; returns how many were removed. */
uint64_t
art_delete_tids(ArtTree *tree, const ArtAllocator *a,
				bool (*is_dead) (const ArtTid *tid, void *arg), void *arg)
{
	DeleteState d;

	if (tree->root == ARENA_NULL)
		return 0;
	d.tree = tree;
	d.a = a;
	d.is_dead = is_dead;
	d.arg = arg;
	d.removed = 0;
	delete_rec(&d, &tree->root);
	return d.removed;
}

/* ------------------------------------------------------------------ free */

/* Free the subtree h. */
static void
free_rec(ArtTree *tree, const ArtAllocator *a, ArenaPtr h)
{
	uint8_t    *n = addr(a, h);
	int			pos,
				npos;

	if (IS_LEAF(n))
	{
		tree_free(tree, a, h, leaf_size(n));
		return;
	}
	npos = node_npos(n);
	for (pos = 0; pos < npos; pos++)
	{
		uint8_t		c;
		ArenaPtr   *slot = node_slot(n, pos, &c);

		if (slot != NULL && *slot != ARENA_NULL)
			free_rec(tree, a, *slot);
	}
	tree_free(tree, a, h, node_size(n));
}

/* Free every node and leaf; the tree is empty afterwards. */
void
art_free_all(ArtTree *tree, const ArtAllocator *a)
{
	if (tree->root != ARENA_NULL)
		free_rec(tree, a, tree->root);
	tree->root = ARENA_NULL;
	tree->nkeys = 0;
	tree->ntids = 0;
	tree->bytes = 0;
}

/* ----------------------------------------------------------------- check */

typedef struct CheckState
{
	const ArtAllocator *a;
	size_t		arena_units;
	uint64_t	nkeys;
	uint64_t	ntids;
	uint64_t	bytes;
	char	   *errbuf;
	size_t		errlen;
	bool		failed;
} CheckState;

/* Record the first problem found: msg followed by the handle. */
static void
check_fail(CheckState *cs, const char *msg, ArenaPtr h)
{
	char		num[16];
	int			nd = 0;
	size_t		len = 0;
	uint32_t	v = h;

	if (cs->failed)
		return;
	cs->failed = true;
	if (cs->errbuf == NULL || cs->errlen == 0)
		return;
	do
	{
		num[nd++] = (char) ('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (*msg && len + 1 < cs->errlen)
		cs->errbuf[len++] = *msg++;
	msg = " at handle ";
	while (*msg && len + 1 < cs->errlen)
		cs->errbuf[len++] = *msg++;
	while (nd > 0 && len + 1 < cs->errlen)
		cs->errbuf[len++] = num[--nd];
	cs->errbuf[len] = '\0';
}

/* Whether [h, h + size) lies inside the arena. */
static bool
check_range(CheckState *cs, ArenaPtr h, size_t size)
{
	if (h == ARENA_NULL || (size_t) h >= cs->arena_units ||
		size > (cs->arena_units - h) * ARENA_UNIT)
	{
		check_fail(cs, "handle or object outside the arena", h);
		return false;
	}
	return true;
}

/*
 * Check the subtree h reached with `depth` key bytes consumed.  If
 * terminal, h hangs under byte 0 and must be a leaf with an empty suffix.
 */
static void
check_rec(CheckState *cs, ArenaPtr h, size_t depth, bool terminal)
{
	uint8_t    *n;
	size_t		plen,
				size;
	int			pos,
				npos,
				cnt = 0,
				prev = -1;

	if (!check_range(cs, h, NODE_HDR))
		return;
	n = addr(cs->a, h);
	if (IS_LEAF(n))
	{
		size_t		slen;

		if (n[0] == 0 || n[0] == 1)
		{
			check_fail(cs, "bad type byte", h);
			return;
		}
		if (!check_range(cs, h, IS_LEAF1S(n) ? LEAF1S_HDR :
						 n[0] == T_LEAF1L ? LEAF1L_HDR : LEAFN_HDR))
			return;
		slen = leaf_suffix_len(n);
		if (n[0] == T_LEAFN && (rd32(n + 4) == 0 || rd32(n + 4) > rd32(n + 8)))
		{
			check_fail(cs, "leaf TID count 0 or above capacity", h);
			return;
		}
		if (n[0] == T_LEAF1L && slen < LEAF1S_MAXLEN)
		{
			check_fail(cs, "long-suffix leaf with a short suffix", h);
			return;
		}
		size = leaf_size(n);
		if (!check_range(cs, h, size))
			return;
		if (terminal && slen != 0)
		{
			check_fail(cs, "leaf under byte 0 with a non-empty suffix", h);
			return;
		}
		if (depth + slen > ART_MAX_KEY_LEN)
		{
			check_fail(cs, "key longer than ART_MAX_KEY_LEN", h);
			return;
		}
		if (slen > 0 && memchr(leaf_suffix(n), 0, slen) != NULL)
		{
			check_fail(cs, "zero byte in a leaf suffix", h);
			return;
		}
		cs->nkeys++;
		cs->ntids += leaf_ntids(n);
		cs->bytes += arena_class_size(size);
		return;
	}

	if (terminal)
	{
		check_fail(cs, "inner node under byte 0", h);
		return;
	}
	if (n[0] != T_N48 && n[0] != T_N256 && !(n[0] > T_NS && n[0] <= T_NS + NS_MAX))
	{
		check_fail(cs, "bad type byte", h);
		return;
	}
	size = node_size(n);
	if (!check_range(cs, h, size))
		return;
	plen = node_plen(n);
	if (depth + plen > ART_MAX_KEY_LEN)
	{
		check_fail(cs, "path longer than ART_MAX_KEY_LEN", h);
		return;
	}
	if (plen > 0 && memchr(node_prefix(n), 0, plen) != NULL)
	{
		check_fail(cs, "zero byte in a node prefix", h);
		return;
	}
	if (IS_NS(n) && n[1] > NS_CAP(n))
	{
		check_fail(cs, "sorted node count above capacity", h);
		return;
	}
	if (n[0] == T_N48)
	{
		bool		used[48];
		int			k,
					refs = 0;

		memset(used, 0, sizeof(used));
		for (pos = 0; pos < 256; pos++)
		{
			uint8_t		idx = n[N48_INDEX + pos];

			if (idx == 0)
				continue;
			if (idx > 48 || used[idx - 1] || node_kids(n)[idx - 1] == ARENA_NULL)
			{
				check_fail(cs, "node48 index entry bad, shared or empty", h);
				return;
			}
			used[idx - 1] = true;
			refs++;
		}
		for (k = 0; k < 48; k++)
			if (!used[k] && node_kids(n)[k] != ARENA_NULL)
			{
				check_fail(cs, "node48 child not in the index", h);
				return;
			}
		if (refs != n[1])
		{
			check_fail(cs, "node48 count wrong", h);
			return;
		}
	}
	cs->bytes += arena_class_size(size);

	npos = node_npos(n);
	for (pos = 0; pos < npos && !cs->failed; pos++)
	{
		uint8_t		c;
		ArenaPtr   *slot = node_slot(n, pos, &c);

		if (slot == NULL)
			continue;
		if (*slot == ARENA_NULL)
		{
			check_fail(cs, "empty child slot in a sorted node", h);
			return;
		}
		if ((int) c <= prev)
		{
			check_fail(cs, "children not in strictly ascending order", h);
			return;
		}
		prev = c;
		cnt++;
		check_rec(cs, *slot, depth + plen + (c != 0 ? 1 : 0), c == 0);
	}
	if (cnt == 0)
		check_fail(cs, "inner node without children", h);
}

/*
 * Verify the tree's invariants.  Keys are in strictly ascending order when
 * every node's children are strictly ascending by byte, the only child
 * under byte 0 is a leaf with an empty suffix and no prefix or suffix holds
 * a zero byte; those are what is checked.
 */
bool
art_check(const ArtTree *tree, const ArtAllocator *a, size_t arena_size,
		  char *errbuf, size_t errlen)
{
	CheckState	cs;

	cs.a = a;
	cs.arena_units = arena_size / ARENA_UNIT;
	cs.nkeys = 0;
	cs.ntids = 0;
	cs.bytes = 0;
	cs.errbuf = errbuf;
	cs.errlen = errlen;
	cs.failed = false;
	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';

	if (tree->root != ARENA_NULL)
		check_rec(&cs, tree->root, 0, false);
	if (cs.failed)
		return false;
	if (cs.nkeys != tree->nkeys)
		check_fail(&cs, "nkeys differs from the keys in the tree", tree->root);
	else if (cs.ntids != tree->ntids)
		check_fail(&cs, "ntids differs from the TIDs in the tree", tree->root);
	else if (cs.bytes != tree->bytes)
		check_fail(&cs, "bytes differs from the memory the tree holds", tree->root);
	return !cs.failed;
}
