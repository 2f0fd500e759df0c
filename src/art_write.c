/*-------------------------------------------------------------------------
 *
 * art_write.c
 *	  Adaptive Radix Tree, the write side: insert, with node growth, and the
 *	  deletion of TIDs, with node shrinking and merging.  The layout is
 *	  described in art_int.h.
 *
 * Every handle that leads to a node lives in a "slot": the tree's root or
 * an entry of a parent's children array.  Changing a node's size means
 * allocating the replacement, copying, storing it in the slot and retiring
 * the original.  Inserts allocate everything they need before changing
 * anything, so a failed allocation leaves the tree as it was.
 *
 * Inserts keep the write rules of art_int.h ("Concurrency"): in place
 * only node_add_published and leaf_append's spare-capacity step, else a
 * copy published with publish_handle and the original retired.  Deletes
 * are single-threaded and edit in place.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "art_int.h"

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

static inline void
wr16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
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

/* ---------------------------------------------------------------- leaves */

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

/* Add child under c (absent, node not full) to a node no reader can reach. */
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
 * Add child under byte c (absent) to a published node in place if a reader
 * can see that whole (art_int.h): node256; node48 not full; a sorted node
 * not full with c above its bytes.  Else false, nothing changed.
 */
static bool
node_add_published(uint8_t *n, uint8_t c, ArenaPtr child)
{
	ArenaPtr   *kids = node_kids(n);

	if (IS_NS(n))
	{
		uint8_t    *keys = ns_keys(n);
		int			cnt = n[1];

		if ((size_t) cnt >= NS_CAP(n) || (cnt > 0 && keys[cnt - 1] > c))
			return false;
		keys[cnt] = c;
		kids[cnt] = child;
		publish_byte(n + 1, (uint8_t) (cnt + 1));
	}
	else if (n[0] == T_N48)
	{
		int			k = 0;

		if (n[1] >= 48)
			return false;
		while (kids[k] != ARENA_NULL)
			k++;
		kids[k] = child;
		publish_byte(n + N48_INDEX + c, (uint8_t) (k + 1));
		n[1]++;
	}
	else
		publish_handle(&kids[c], child);
	return true;
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

/*
 * Add tid to the leaf in *ref: in place into a T_LEAFN's spare capacity
 * (the TID past the count, then the count), otherwise into a bigger copy
 * that replaces it.
 */
static ArtResult
leaf_append(ArtTree *tree, const ArtAllocator *a, ArenaPtr *ref,
			const ArtTid *tid)
{
	ArenaPtr	old = *ref;
	uint8_t    *l = addr(a, old);
	uint32_t	ntids = leaf_ntids(l);
	ArenaPtr	p;
	Parts		suf;

	if (l[0] == T_LEAFN && ntids < rd32(l + 8))
	{
		memcpy(l + LEAFN_HDR + (size_t) 6 * ntids, tid, 6);
		publish_leafn_count(l, ntids + 1);
	}
	else
	{
		suf = parts1(leaf_suffix(l), leaf_suffix_len(l));
		p = leaf_make(tree, a, &suf, leaf_tids(l), ntids, tid, ntids + 1);
		if (p == ARENA_NULL)
			return ART_OUT_OF_MEMORY;
		publish_handle(ref, p);
		tree_retire(tree, a, old, leaf_size(l));
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
		ArenaPtr	here = *ref;	/* the node or leaf this step is at */
		uint8_t    *n;
		size_t		plen,
					i;
		uint8_t		c;
		ArenaPtr   *slot;
		ArenaPtr	leaf,
					node;
		Parts		parts;

		if (here == ARENA_NULL)
		{
			/* only the root of an empty tree */
			parts = parts1(key + depth, keylen - depth);
			leaf = leaf_make(tree, a, &parts, NULL, 0, tid, 1);
			if (leaf == ARENA_NULL)
				return ART_OUT_OF_MEMORY;
			publish_handle(ref, leaf);
			tree->nkeys++;
			tree->ntids++;
			return ART_OK;
		}

		n = addr(a, here);
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
			publish_handle(ref, node);
			tree_retire(tree, a, here, leaf_size(n));
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
				publish_handle(ref, node);
				tree_retire(tree, a, here, node_size(n));
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

		/* no child under c: add a leaf, in place or into a (grown) copy */
		parts = parts1(key + depth + (c ? 1 : 0), keylen - depth - (c ? 1 : 0));
		leaf = leaf_make(tree, a, &parts, NULL, 0, tid, 1);
		if (leaf == ARENA_NULL)
			return ART_OUT_OF_MEMORY;
		if (!node_add_published(n, c, leaf))
		{
			uint8_t		type;

			if (!node_full(n))
				type = n[0];	/* a sorted node: the byte goes mid-way */
			else if (IS_NS(n) && NS_CAP(n) < NS_MAX)
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
			publish_handle(ref, node);
			tree_retire(tree, a, here, node_size(n));
		}
		tree->nkeys++;
		tree->ntids++;
		return ART_OK;
	}
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
