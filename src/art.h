/*-------------------------------------------------------------------------
 *
 * art.h
 *	  Adaptive Radix Tree over byte-string keys, each key holding a list of
 *	  6-byte tuple identifiers.
 *
 * This is the in-memory delta layer of memkv.  The tree is stored in an
 * arena (arena.h) through ArenaPtr handles, so the same tree can be reached
 * from every backend when the arena is in shared memory.  It is plain C with
 * no PostgreSQL dependency; the caller provides the allocator and does all
 * locking (one writer or many readers at a time).
 *
 * Keys are byte strings of 0..ART_MAX_KEY_LEN bytes that contain no zero
 * byte (PostgreSQL text never does); the empty key is a valid key.  Keys are
 * ordered by unsigned byte comparison, a proper prefix before its
 * extensions, which is the order of the C collation.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_ART_H
#define MEMKV_ART_H

#include "arena.h"

#define ART_MAX_KEY_LEN 65535

/* A heap tuple identifier, bit-compatible with PostgreSQL's ItemPointerData. */
typedef struct ArtTid
{
	uint16_t	bi_hi;
	uint16_t	bi_lo;
	uint16_t	offset;
} ArtTid;

/*
 * Where the tree finds its memory.  alloc returns ARENA_NULL on failure;
 * free receives the size that was passed to alloc.  base resolves handles.
 */
typedef struct ArtAllocator
{
	void	   *base;
	ArenaPtr	(*alloc) (void *arg, size_t size);
	void		(*free) (void *arg, ArenaPtr p, size_t size);
	void	   *arg;
} ArtAllocator;

/*
 * The root of a tree.  It is a plain struct the caller places wherever it
 * likes (memkv puts it in its shared registry entry); zero-filled is empty.
 */
typedef struct ArtTree
{
	ArenaPtr	root;
	uint64_t	nkeys;			/* distinct keys */
	uint64_t	ntids;			/* TIDs over all keys */
	uint64_t	bytes;			/* arena bytes held (class sizes) */
} ArtTree;

typedef enum ArtResult
{
	ART_OK = 0,
	ART_OUT_OF_MEMORY = -1,		/* allocation failed; tree is unchanged */
	ART_BAD_KEY = -2			/* too long or contains a zero byte */
} ArtResult;

/*
 * Add `tid` to the TID list of `key`, creating the key if needed.  A TID
 * already present for that key is added again (callers never do that).
 * On ART_OUT_OF_MEMORY the tree is exactly as before the call.
 */
extern ArtResult art_insert(ArtTree *tree, const ArtAllocator *alloc,
							const uint8_t *key, size_t keylen,
							const ArtTid *tid);

/*
 * Exact lookup.  Returns the number of TIDs of `key` (0 if absent) and sets
 * *tids to an unaligned array of them that stays valid until the tree is
 * next modified.
 */
extern uint32_t art_lookup(const ArtTree *tree, const ArtAllocator *alloc,
						   const uint8_t *key, size_t keylen,
						   const ArtTid **tids);

/* A bound of a range walk: key bytes, and whether the key itself is inside. */
typedef struct ArtBound
{
	const uint8_t *key;
	size_t		len;
	bool		inclusive;
} ArtBound;

/*
 * Called once per key in range, in order.  `tids` is unaligned and valid
 * only during the call.  Return false to stop the walk.
 */
typedef bool (*ArtVisitFn) (const uint8_t *key, size_t keylen,
							const ArtTid *tids, uint32_t ntids, void *arg);

/*
 * Visit every key k with lower <= k <= upper (each bound NULL for none,
 * strictness per ArtBound.inclusive) in ascending order, or descending when
 * `backward`.  Only the keys in range are touched: the walk descends
 * straight to the first key in range, so cost is O(depth + visited).
 */
extern void art_walk(const ArtTree *tree, const ArtAllocator *alloc,
					 const ArtBound *lower, const ArtBound *upper,
					 bool backward, ArtVisitFn visit, void *arg);

/*
 * Remove every TID for which is_dead returns true; keys left without TIDs
 * are removed and their memory freed, nodes shrink or merge as needed.
 * Returns the number of TIDs removed.  Never allocates more than it frees
 * (it may allocate a smaller node before freeing a bigger one); if such an
 * allocation fails the tree stays valid, only less compact.
 */
extern uint64_t art_delete_tids(ArtTree *tree, const ArtAllocator *alloc,
								bool (*is_dead) (const ArtTid *tid, void *arg),
								void *arg);

/* Free every node and leaf; the tree becomes empty. */
extern void art_free_all(ArtTree *tree, const ArtAllocator *alloc);

/*
 * Check structural invariants (node kinds and counts, children sorted,
 * keys in strictly ascending order, no zero bytes, nkeys/ntids/bytes equal
 * to what the nodes hold, every handle inside the arena).  Returns true if
 * all hold; otherwise writes a description of the first problem to errbuf.
 */
extern bool art_check(const ArtTree *tree, const ArtAllocator *alloc,
					  size_t arena_size, char *errbuf, size_t errlen);

#endif							/* MEMKV_ART_H */
