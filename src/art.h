/*-------------------------------------------------------------------------
 *
 * art.h
 *	  Adaptive Radix Tree over byte-string keys, each key holding a list of
 *	  6-byte tuple identifiers.
 *
 * This is the in-memory delta layer of memkv.  The tree is stored in an
 * arena (arena.h) through ArenaPtr handles, so the same tree can be reached
 * from every backend when the arena is in shared memory.  It is plain C with
 * no PostgreSQL dependency; the caller provides the allocator and the
 * locking.
 *
 * Concurrency: one writer (art_insert) at a time, which the caller
 * serializes, and any number of readers (art_lookup, art_walk) at the same
 * moment, which take no lock.  A reader sees every key and TID that was
 * in the tree when it started, and possibly some added since; never a
 * half-made change.  For that the caller must keep every block the writer
 * retires (ArtAllocator.retire) unreused until no reader that started
 * before its retirement is still running (memkv: epoch-based reclamation,
 * ebr.h).  art_delete_tids, art_free_all and art_check are not part of
 * that protocol: they need the tree to themselves (no reader, no writer).
 * The rules are in art_int.h and src/README, "The concurrent tree".
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
 *
 * retire (optional) receives the blocks art_insert unlinks from the tree
 * (replaced by a copy), with the size passed to alloc: the caller frees
 * each once no reader can still hold it.  It must not fail (it may wait
 * for readers).  NULL frees them at once, which is right only when no
 * reader runs beside the writer; leave it NULL by zero-initializing the
 * struct.  art_delete_tids and art_free_all always free at once (see
 * above).
 */
typedef struct ArtAllocator
{
	void	   *base;
	ArenaPtr	(*alloc) (void *arg, size_t size);
	void		(*free) (void *arg, ArenaPtr p, size_t size);
	void	   *arg;
	void		(*retire) (void *arg, ArenaPtr p, size_t size);
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
 * *tids to an unaligned array of them.  The array stays valid until the
 * tree is next modified, or, with readers beside a writer, as long as the
 * blocks retired meanwhile are kept (its first count entries never
 * change).
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
 * Single-threaded: it edits nodes in place and frees what it unlinks at
 * once (never through retire), so no reader may run meanwhile (memkv 2's
 * VACUUM does not edit trees; 1.x's holds the tree's lock exclusively).
 * Returns the number of TIDs removed.  Never allocates more than it frees
 * (it may allocate a smaller node before freeing a bigger one); if such an
 * allocation fails the tree stays valid, only less compact.
 */
extern uint64_t art_delete_tids(ArtTree *tree, const ArtAllocator *alloc,
								bool (*is_dead) (const ArtTid *tid, void *arg),
								void *arg);

/*
 * Free every node and leaf at once; the tree becomes empty.  No reader may
 * still reach the tree (a tree retired whole is freed with this once the
 * readers that could see it are gone).
 */
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
