/*-------------------------------------------------------------------------
 *
 * art_int.h
 *	  Node and leaf layout of the Adaptive Radix Tree and the accessors that
 *	  art.c (lookups, walks), art_write.c (insert, delete) and art_check.c
 *	  (check, free) all use.  Internal to art*.c; the interface is art.h.
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
 * Concurrency (src/README "The concurrent tree").  A tree has one writer
 * at a time and any number of readers that take no lock; the caller keeps
 * whatever a reader may still reach from being reused (the retire callback
 * of ArtAllocator, epoch-based reclamation in memkv).  What changes under
 * a reader, and how:
 *
 *	word							writer				reader
 *	tree->root, a visible slot		release store		acquire load, once
 *	sorted node count (byte 1)		release store		acquire load, once
 *	node48 index byte				release store		acquire load, once
 *	T_LEAFN ntids (offset 4)		release store		acquire load, once
 *
 * (A slot not visible yet -- a sorted node's position count, a free node48
 * slot -- is written plainly before the count or index byte that shows it.)
 *
 * Everything else in a node or leaf -- its type byte, prefix, a sorted
 * node's keys and a T_LEAFN's capacity and suffix, TIDs below the count --
 * is written before the node is published and never again while the tree
 * has readers.  The steps that change a published node in place are the
 * ones a reader sees wholly or not at all, because the word that makes
 * the new entry visible is stored last, with release:
 *
 *	- node256: a null child slot set to a complete child;
 *	- node48: a child written into a free slot, then its index byte set
 *	  (readers go through the index byte, never the count);
 *	- T_LEAFN with spare capacity: the TID written past the count, then
 *	  the count raised;
 *	- sorted node with spare capacity, new byte greater than every byte it
 *	  holds: key and child written at position count, then the count
 *	  raised.  A reader that loaded the old count reads positions below it
 *	  only, and those never change (nothing shifts: the new entry goes
 *	  after them); one that loaded the new count sees the entry complete.
 *	  Keys that arrive in ascending order (serial numbers, timestamps,
 *	  appended paths) take this step.
 *
 * Every other change -- a byte added in the middle of a sorted node (the
 * entries after it shift), a node grown to a bigger kind, a compressed
 * prefix split, a leaf split, a one-TID leaf turned into a T_LEAFN, a full
 * T_LEAFN grown -- builds the replacement off to the side, publishes it
 * with one release store into the parent's slot (or the root) and retires
 * the old block, which no one writes again.  A reader that reached the old
 * block sees it as it was at its replacement, a superset of what the tree
 * held when the reader started (while readers run nothing is deleted:
 * art_delete_tids is single-threaded).
 *
 * Readers load each of the words in the table once, read a node only
 * through the handle they loaded, and derive every size and offset from
 * the type byte and the immutable fields (a T_LEAFN's suffix is found
 * through its capacity, never its count).
 *
 * Recursion (walk, delete, check, free) is bounded by the key length: each
 * inner node on a path consumes at least one key byte, so a tree is at most
 * (longest key + 1) nodes deep.  Frames are 64..160 bytes (gcc -O2), so
 * only pathological key sets (thousands of keys each a prefix of the next)
 * need much stack; the caller bounds it by bounding the key length.  On
 * 1M Debian file paths the average leaf is 17 nodes deep, the deepest 42.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_ART_INT_H
#define MEMKV_ART_INT_H

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

#define IS_LEAF(n)	((n)[0] <= T_LEAFN || (n)[0] >= T_LEAF1S)
#define IS_LEAF1S(n)	((n)[0] >= T_LEAF1S)
#define IS_NS(n)	((n)[0] > T_NS && (n)[0] <= T_NS + NS_MAX)
#define NS_CAP(n)	((size_t) ((n)[0] - T_NS))

/*
 * The atomic accesses of the table above (compiler builtins: the plain-C
 * cores include no PostgreSQL header).  On x86-64 each is a plain move.
 */
static inline ArenaPtr
load_handle(const ArenaPtr *slot)
{
	return __atomic_load_n(slot, __ATOMIC_ACQUIRE);
}

static inline void
publish_handle(ArenaPtr *slot, ArenaPtr p)
{
	__atomic_store_n(slot, p, __ATOMIC_RELEASE);
}

static inline uint8_t
load_byte(const uint8_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void
publish_byte(uint8_t *p, uint8_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* A T_LEAFN's count: offset 4 of an 8-byte aligned block, so aligned. */
static inline uint32_t
load_leafn_count(const uint8_t *l)
{
	return __atomic_load_n((const uint32_t *) (l + 4), __ATOMIC_ACQUIRE);
}

static inline void
publish_leafn_count(uint8_t *l, uint32_t v)
{
	__atomic_store_n((uint32_t *) (l + 4), v, __ATOMIC_RELEASE);
}

/* Resolve a handle. */
static inline uint8_t *
addr(const ArtAllocator *a, ArenaPtr p)
{
	return (uint8_t *) ARENA_ADDR(a->base, p);
}

static inline uint16_t
rd16(const uint8_t *p)
{
	uint16_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t
rd32(const uint8_t *p)
{
	uint32_t	v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * Free an allocation of `size` bytes made by tree_alloc, at once.  Only
 * for blocks no reader can reach: never published, or the tree has no
 * concurrent readers (art_delete_tids, art_free_all).
 */
static inline void
tree_free(ArtTree *tree, const ArtAllocator *a, ArenaPtr p, size_t size)
{
	a->free(a->arg, p, size);
	tree->bytes -= arena_class_size(size);
}

/*
 * A published block the writer has just unlinked (its replacement is
 * published): hand it to the allocator's retire callback, or free it at
 * once when there is none.  The tree stops counting it either way.
 */
static inline void
tree_retire(ArtTree *tree, const ArtAllocator *a, ArenaPtr p, size_t size)
{
	if (a->retire != NULL)
		a->retire(a->arg, p, size);
	else
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

/* Number of TIDs of a leaf (an acquire load for a T_LEAFN: call once). */
static inline uint32_t
leaf_ntids(const uint8_t *l)
{
	return l[0] == T_LEAFN ? load_leafn_count(l) : 1;
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
static inline size_t
leaf_size(const uint8_t *l)
{
	if (IS_LEAF1S(l))
		return LEAF1S_HDR + (size_t) (l[0] - T_LEAF1S);
	if (l[0] == T_LEAF1L)
		return LEAF1L_HDR + (size_t) rd16(l + 2);
	return LEAFN_HDR + (size_t) 6 * rd32(l + 8) + rd16(l + 2);
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

/*
 * Number of child positions of a node (sorted: count, an acquire load, so
 * call once per visit of the node; others: 256).
 */
static inline int
node_npos(const uint8_t *n)
{
	return IS_NS(n) ? load_byte(n + 1) : 256;
}

/*
 * The slot of the child at position pos (0 <= pos < node_npos) and its byte
 * in *c; NULL if that position is empty.  Positions ascend with the byte.
 * For the writer and the single-threaded paths (it may read a slot twice);
 * readers use node_child.
 */
static inline ArenaPtr *
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

/*
 * The slot of the child under byte c, NULL if none.  For the writer;
 * readers use node_lookup.
 */
static inline ArenaPtr *
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

/* ------------------------------------------------- reader accessors */

/*
 * The child at position pos (0 <= pos < the npos the caller loaded once)
 * and its byte in *c; ARENA_NULL if that position is empty.  Each word is
 * loaded once, with acquire where the writer changes it in place.
 */
static inline ArenaPtr
node_child(const uint8_t *n, int pos, uint8_t *c)
{
	const ArenaPtr *kids = (const ArenaPtr *) (n + NODE_HDR);

	if (IS_NS(n))
	{
		*c = n[NODE_HDR + 4 * NS_CAP(n) + pos];
		return load_handle(&kids[pos]);
	}
	*c = (uint8_t) pos;
	if (n[0] == T_N48)
	{
		uint8_t		idx = load_byte(n + N48_INDEX + pos);

		kids = (const ArenaPtr *) (n + N48_KIDS);
		return idx ? load_handle(&kids[idx - 1]) : ARENA_NULL;
	}
	return load_handle(&kids[pos]);
}

/*
 * The child under byte c, ARENA_NULL if none: node_find for readers.  (The
 * children array is located per kind, not once up front: that select cost
 * art_lookup 2% of its instructions.)
 */
static inline ArenaPtr
node_lookup(const uint8_t *n, uint8_t c)
{
	if (IS_NS(n))
	{
		const uint8_t *keys = n + NODE_HDR + 4 * NS_CAP(n);
		int			i,
					cnt = load_byte(n + 1);

		for (i = 0; i < cnt; i++)
		{
			if (keys[i] == c)
				return load_handle((const ArenaPtr *) (n + NODE_HDR) + i);
			if (keys[i] > c)
				break;
		}
		return ARENA_NULL;
	}
	if (n[0] == T_N48)
	{
		uint8_t		idx = load_byte(n + N48_INDEX + c);

		return idx ? load_handle((const ArenaPtr *) (n + N48_KIDS) + idx - 1)
			: ARENA_NULL;
	}
	return load_handle((const ArenaPtr *) (n + NODE_HDR) + c);
}

#endif							/* MEMKV_ART_INT_H */
