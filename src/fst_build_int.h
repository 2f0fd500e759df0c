/*-------------------------------------------------------------------------
 *
 * fst_build_int.h
 *	  The FST builder's state and the output helpers that both the builder
 *	  (fst_build.c) and its suffix registry (fst_registry.c) use.  Internal
 *	  to those two files; the interface is fst.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_FST_BUILD_INT_H
#define MEMKV_FST_BUILD_INT_H

#include "fst.h"
#include "fst_bytes.h"
#include "fst_node.h"

#define CHUNK			65536	/* bytes handed to the sink at a time */
#define DESC_MAX		(3 + 256 * 11)
#define REG_WAYS		4		/* entries per bucket */

#if defined(__GNUC__) || defined(__clang__)
#define FST_PREFETCH(p) __builtin_prefetch(p)
#define FST_NOINLINE __attribute__((noinline))
#else
#define FST_PREFETCH(p) ((void) 0)
#define FST_NOINLINE
#endif

/* A transition of an unfinished node. */
typedef struct UTrans
{
	uint64_t	target;			/* address; unset (0) for the last one */
	uint64_t	start;			/* ordinal of the first key under it */
	uint64_t	hash;			/* structural hash of the target */
	uint8_t		label;
} UTrans;

/* A node on the unfinished stack. */
typedef struct UNode
{
	bool		final;
	uint32_t	n;				/* transitions */
	uint32_t	cap;
	uint64_t	first;			/* ordinal of the first key through here */
	uint64_t	hash;			/* structural hash, once the node is closed */
	UTrans	   *t;
} UNode;

/*
 * A top node held back until fst_builder_finish (FstBuildOptions.unit_bytes):
 * its transitions are ntrans entries of the builder's top_t from trans on.
 * Its parent names it by TOP_REF | its index in the builder's top[].
 */
typedef struct TopNode
{
	bool		final;
	uint32_t	n;
	uint64_t	first;			/* as UNode.first */
	uint64_t	trans;			/* index of its first transition in top_t */
} TopNode;

#define TOP_REF			(UINT64_C(1) << 63)

/*
 * An entry of the table of single-transition non-final nodes: the node's
 * identity, target << 8 | label (never 0: targets are beyond the
 * preamble), and its address, with above bit 40 what is right after it:
 * label + 1 if that is a single-transition node whose "next" leads to
 * this one, else 0.  key 0 marks an empty entry.
 */
typedef struct SingleEntry
{
	uint64_t	key;
	uint64_t	addr;
} SingleEntry;

#define ENTRY_ADDR(e)	((e)->addr & FST_ADDR_MASK)
#define ENTRY_AFTER(e)	((e)->addr >> 40)

/*
 * An entry of the table of other nodes: where the node was written, 12
 * bits of its structural hash and the length of its description (less
 * than 4096; 0: empty entry), packed as addr << 24 | tag << 12 | len, and
 * where the description is in the description ring.
 */
typedef struct MultiEntry
{
	uint64_t	word;
	uint64_t	poolpos;		/* absolute position in the description ring */
} MultiEntry;

struct FstBuilder
{
	FstAllocator a;
	FstSinkFn	sink;
	void	   *sink_arg;

	/*
	 * The unfinished path is the previous key's.  Only the nodes at the
	 * depths listed in real[0..nreal) (ascending; always the root) are
	 * UNodes in stack[]; the node at any other depth j is implicit: the
	 * final leaf at the key's end, else a single transition labelled
	 * prev[j].
	 *
	 * The ordinal of the first key through depth j of the path is that of
	 * the last key added whose own new depths began at or above j: the
	 * keys are kept in born[0..nborn) with the first depth they added
	 * (born_depth, ascending), so that a key can be found and dropped
	 * once a later key's new depths begin at or above its own.
	 */
	UNode	   *stack;
	uint32_t	stack_cap;		/* entries of stack, prev, born* and real */
	uint32_t	depth;			/* length of the previous key */
	uint8_t    *prev;			/* the previous key */
	uint64_t   *born;
	uint32_t   *born_depth;
	uint64_t   *born_written;	/* bytes written when that key came */
	uint32_t	nborn;
	uint32_t   *real;
	uint32_t	nreal;

	uint64_t	nkeys;
	uint64_t	written;		/* bytes emitted so far (logical) */
	uint32_t	max_key_len;
	uint64_t	nodes;
	uint64_t	hits;
	bool		failed;
	bool		finished;

	uint8_t		preamble[FST_PREAMBLE_SIZE];
	uint8_t		code_of[256];	/* label -> common code (0: none) */

	uint64_t	leaf;			/* address of the final leaf, or 0 */

	/*
	 * The single-transition node last entered in the table and its entry
	 * (valid while that node is the last one written); the node last found
	 * there and what its entry says is right after it.
	 */
	uint64_t	entered;
	SingleEntry *entered_entry;
	uint64_t	found;
	uint64_t	found_after;

	void	   *single_mem;		/* allocation holding single_tab */
	SingleEntry *single_tab;	/* nsingle buckets of REG_WAYS, aligned */
	uint64_t	nsingle;
	void	   *multi_mem;		/* allocation holding multi_tab */
	MultiEntry *multi_tab;		/* nmulti buckets of REG_WAYS, aligned */
	uint64_t	nmulti;
	uint8_t    *pool;			/* the description ring, pool_cap bytes */
	uint64_t	pool_cap;
	uint64_t	pool_written;	/* bytes of descriptions written so far */

	/*
	 * The last ring_mask + 1 bytes of output (a power of two, a multiple of
	 * CHUNK): bytes [flushed, written) are still to be handed to the sink,
	 * the older ones are kept to find nodes in.  Bit p % ring size of ends
	 * is set when byte p is the last byte of a node (valid for all but the
	 * oldest 64 bytes; see ring_put).
	 */
	uint8_t    *ring;
	uint64_t   *ends;
	uint64_t	ring_mask;
	uint64_t	flushed;
	uint8_t		desc[DESC_MAX];
	uint8_t		node[FST_MAX_NODE_BYTES];
	char		errmsg[FST_ERRMSG_LEN];

	/* what fst_pack will need (FstBuildOptions.pack_map), or NULL */
	FstPackMap *map;

	/*
	 * The top region (FstBuildOptions.unit_bytes; 0: none): the top nodes
	 * held back so far, in the order they were compiled, and their
	 * transitions.
	 */
	uint64_t	unit_bytes;
	uint64_t	share_window;	/* FstBuildOptions.share_window, or 0 */
	TopNode    *top;
	uint64_t	ntop;
	uint64_t	top_cap;
	UTrans	   *top_t;
	uint64_t	ntop_t;
	uint64_t	top_t_cap;
	uint64_t	top_start;		/* set by fst_builder_finish */
};

/* fst_build.c */
extern int	fst_build_flush_out(FstBuilder *b, bool all);
extern void fst_build_map_grow(FstBuilder *b, uint64_t pos);
extern size_t fst_build_encode_node(const FstBuilder *b, const UNode *u,
									uint64_t start, uint8_t *L);
extern uint64_t fst_build_write_node(FstBuilder *b, const UNode *u);
extern bool fst_build_is_top(FstBuilder *b, const UNode *u, uint64_t birth);
extern uint64_t fst_build_hold_top(FstBuilder *b, const UNode *u);

/* fst_registry.c */
extern int	fst_registry_close_path(FstBuilder *b, uint32_t keep,
									uint64_t *addr_out, uint64_t *hash_out);

/*
 * Append one byte to the ring (not yet handed to the sink).  The word of
 * the ends bitmap a byte starts is cleared, so the bits of the ring's
 * previous round are gone for all bytes but the last 64 (see ring_match).
 */
static inline void
ring_put(FstBuilder *b, uint8_t byte)
{
	uint64_t	r = b->written & b->ring_mask;

	if ((r & 63) == 0)
		b->ends[r >> 6] = 0;
	b->ring[r] = byte;
	b->written++;
}

/* Make the pack map cover the image up to byte pos. */
static inline void
map_cover(FstBuilder *b, uint64_t pos)
{
	if ((pos >> 6) >= b->map->nwords)
		fst_build_map_grow(b, pos);
}

/*
 * Record in the pack map a single-transition node with this label and
 * target being written now (before its bytes).
 */
static inline void
map_single(FstBuilder *b, uint8_t label, uint64_t target)
{
	if (b->map)
	{
		pm_set(b->map, target == b->written - 1 ? PM_NEXT : PM_FAR, target);
		b->map->counts[label]++;
	}
}

/*
 * Mark the last byte written as the end of a node and count the node.
 * Returns the node's address, or 0 with b->failed set.
 */
static inline uint64_t
end_node(FstBuilder *b)
{
	uint64_t	p = b->written - 1;
	uint64_t	r = p & b->ring_mask;

	b->ends[r >> 6] |= (uint64_t) 1 << (r & 63);
	if (b->map)
	{
		map_cover(b, p);
		pm_set(b->map, PM_END, p);
	}
	b->nodes++;
	if (b->written - b->flushed >= CHUNK &&
		fst_build_flush_out(b, false) != 0)
		return 0;
	return p;
}

/*
 * Append the encoded node L[0..len) (logical order, len <= FST_MAX_NODE_BYTES)
 * to the output, last byte first.  Returns the node's address, or 0 with
 * b->failed set.
 */
static inline uint64_t
put_node(FstBuilder *b, const uint8_t *L, size_t len)
{
	size_t		i;

	for (i = len; i > 0; i--)
		ring_put(b, L[i - 1]);
	return end_node(b);
}

/*
 * Encode a single-transition non-final node with the given label and
 * target as if it started at `start` (> target) into L; returns the
 * length.
 */
static inline size_t
encode_single(const FstBuilder *b, uint8_t *L, uint8_t label, uint64_t target,
			  uint64_t start)
{
	return fst_encode_single(L, b->code_of[label], label, start - 1 - target);
}

#endif							/* MEMKV_FST_BUILD_INT_H */
