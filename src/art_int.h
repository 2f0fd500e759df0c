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

/* Free an allocation of `size` bytes made by tree_alloc. */
static inline void
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

/* The slot of the child under byte c, NULL if none. */
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

#endif							/* MEMKV_ART_INT_H */
