/*-------------------------------------------------------------------------
 *
 * deadlist.h
 *	  Plain C (no PostgreSQL headers): a run's dead list -- the (ordinal,
 *	  TID) pairs VACUUM found dead in the run and no rewrite has dropped
 *	  yet -- built, encoded into DEAD-page chunks, validated, walked by a
 *	  cursor alongside a scan's ordinals, and probed by point lookups.
 *
 * A pair is (ordinal, TID): the key's ordinal in the run (the NULL key
 * counts as ordinal nkeys) and a heap TID (block u32, offset u16 >= 1).
 * Pairs sort by ordinal, then block, then offset; a list holds distinct
 * pairs in that order.
 *
 * BYTE FORMAT (version 1).  A list is nhead head chunks followed by ndata
 * data chunks, all of one capacity cap (DEADLIST_MIN_CHUNK .. 65535).
 *
 *	Head: one byte stream over the head chunks, every one of them full but
 *	the last (little-endian integers):
 *		u32 magic DEADLIST_MAGIC ("MKDL"), u16 version (1), u16 0
 *		u32 head bytes (the head stream's own length)
 *		u32 ndata
 *		u64 npairs
 *		index: ndata x (u64 ordinal, u32 block, u16 offset), the first
 *		pair of each data chunk
 *	so head bytes = 24 + 14 * ndata and nhead = ceil(head bytes / cap).
 *
 *	Data chunk: 1..cap bytes, holding whole pairs only.  Its first pair is
 *	absolute: varint ordinal, varint block, varint offset.  Each further
 *	pair is coded against the one before it: varint (ordinal - previous);
 *	if that is 0 (same key), varint (block - previous block), then, if
 *	that is 0 too, varint (offset - previous offset), else varint offset;
 *	if the ordinal grew, varint block and varint offset.  Varints are
 *	LEB128 in their shortest form.  The encoder packs greedily: a chunk
 *	ends only where the next pair, coded against its last one, would not
 *	fit, so a list has exactly one encoding per capacity.
 *
 * The index lets a point lookup binary search for its chunk and decode
 * only that one, and lets a cursor jump ahead without decoding what it
 * skips.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_DEADLIST_H
#define MEMKV_DEADLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fst.h"

#define DEADLIST_MAGIC		0x4c444b4du	/* "MKDL" */
#define DEADLIST_VERSION	1
#define DEADLIST_HEAD_FIXED 24
#define DEADLIST_INDEX_BYTES 14
#define DEADLIST_MAX_PAIR	18		/* an absolute pair's varints, at most */
#define DEADLIST_MIN_CHUNK	DEADLIST_MAX_PAIR
#define DEADLIST_MAX_CHUNK	65535

typedef struct DeadPair
{
	uint64_t	ordinal;
	uint32_t	block;
	uint16_t	offset;
} DeadPair;

/* A decoded list: its index in memory, its data chunks the caller's. */
typedef struct DeadList
{
	uint64_t	npairs;
	uint32_t	ndata;
	const DeadPair *index;		/* ndata first pairs */
	const uint8_t *const *data; /* ndata data chunks (not owned) */
	const size_t *lens;			/* their lengths */
} DeadList;

/*
 * A cursor: the first pair not yet passed (cur, unless past the end) and
 * a bound on the pairs before it, which tells whether a query may move
 * forward from here or must search the index.
 */
typedef struct DeadCursor
{
	const DeadList *list;
	bool		valid;			/* false: past the last pair */
	DeadPair	cur;
	uint32_t	chunk;			/* data chunk of cur */
	size_t		next_off;		/* offset after cur in that chunk */
	bool		at_start;		/* no pair before cur */
	bool		before_strict;	/* pairs before cur are < before (else <=) */
	DeadPair	before;
} DeadCursor;

/* What deadlist_decode and deadlist_encode report; 0 is success. */
typedef enum DeadlistError
{
	DEADLIST_OK = 0,
	DEADLIST_ERR_ARGS,			/* capacity out of range, no chunks, bad pairs */
	DEADLIST_ERR_TRUNCATED,		/* the head ends inside a field */
	DEADLIST_ERR_MAGIC,
	DEADLIST_ERR_VERSION,		/* version or reserved field */
	DEADLIST_ERR_LENGTH,		/* head bytes, chunk count or lengths */
	DEADLIST_ERR_COUNTS,		/* npairs vs the data present */
	DEADLIST_ERR_INDEX,			/* entry is not its chunk's first pair */
	DEADLIST_ERR_ORDER,			/* pairs not ascending, offset 0, ordinal
								 * past the run's last */
	DEADLIST_ERR_ENCODING,		/* bad varint, value too wide, pair split */
	DEADLIST_ERR_PACKING,		/* a chunk ends before it is full */
	DEADLIST_ERR_NOMEM,
	DEADLIST_NERRORS
} DeadlistError;

/* A static message for an error code ("valid" for DEADLIST_OK). */
extern const char *deadlist_strerror(int code);

/* -1, 0, 1 as a sorts before, with or after b. */
extern int	deadlist_pair_cmp(const DeadPair *a, const DeadPair *b);

/*
 * Sort pairs[0..n) and drop duplicates in place; returns how many remain.
 * O(n log n), no allocation.
 */
extern size_t deadlist_sort(DeadPair *pairs, size_t n);

/*
 * Merge two sorted, duplicate-free arrays into out (room for na + nb),
 * dropping pairs present in both; returns the count (a VACUUM adding to
 * an existing list: deadlist_collect the old one, then merge).
 */
extern size_t deadlist_merge(const DeadPair *a, size_t na,
							 const DeadPair *b, size_t nb, DeadPair *out);

/*
 * The chunks needed to encode pairs[0..n) (sorted, distinct, offsets >= 1)
 * at capacity cap: *nhead head chunks and *ndata data chunks.  Returns
 * DEADLIST_OK, or DEADLIST_ERR_ARGS for a bad capacity or pairs.
 */
extern int	deadlist_chunks_needed(const DeadPair *pairs, size_t n, size_t cap,
								   uint32_t *nhead, uint32_t *ndata);

/*
 * Encode pairs[0..n) into nchunks = nhead + ndata chunks of capacity cap
 * (the counts deadlist_chunks_needed gave); chunks[i] receives lens[i]
 * bytes.  Returns DEADLIST_OK or DEADLIST_ERR_ARGS.
 */
extern int	deadlist_encode(const DeadPair *pairs, size_t n, size_t cap,
							uint8_t *const *chunks, uint32_t nchunks,
							size_t *lens);

/*
 * Decode and validate a list from its nchunks chunks of capacity cap, for
 * a run whose largest ordinal is max_ordinal (its nkeys: the NULL key's).
 * Checks every pair of every chunk.  On success *out is one allocation
 * from alloc (free it with alloc->free); it points into the caller's
 * chunks, which must stay in place while it is used.  Otherwise *out is
 * NULL and the code says what is wrong.  Never reads outside the chunks.
 */
extern int	deadlist_decode(const uint8_t *const *chunks, const size_t *lens,
							uint32_t nchunks, size_t cap, uint64_t max_ordinal,
							const FstAllocator *alloc, DeadList **out);

/* Write all of list's pairs to out (room for list->npairs). */
extern void deadlist_collect(const DeadList *list, DeadPair *out);

/*
 * Is (ordinal, block, offset) in the list?  Binary search of the index,
 * then one chunk decoded.
 */
extern bool deadlist_contains(const DeadList *list, uint64_t ordinal,
							  uint32_t block, uint16_t offset);

/* Position a cursor on the list's first pair. */
extern void deadlist_cursor_init(DeadCursor *c, const DeadList *list);

/*
 * Move the cursor to the first pair whose ordinal is >= ordinal (in
 * either direction).  Forward within the current chunk it steps; farther
 * away it binary searches the index, so a walk over increasing ordinals
 * costs O(1) amortized per pair passed.  Returns c->valid.
 */
extern bool deadlist_cursor_seek(DeadCursor *c, uint64_t ordinal);

/*
 * Pass the cursor's pair (c->cur, if c->valid) and move to the next one.
 * With deadlist_cursor_seek this reads the pairs of an ordinal range in
 * order, e.g. for a backward scan's batch: seek to the batch's lowest
 * ordinal, collect the pairs up to its highest, test against those.
 * Returns c->valid.
 */
extern bool deadlist_cursor_next(DeadCursor *c);

/*
 * Is (ordinal, block, offset) dead?  Moves the cursor to the first pair
 * at or after the query.  Queries in ascending (ordinal, TID) order -- a
 * forward scan's ordinals, each key's postings in TID order -- cost O(1)
 * amortized; a query below the cursor searches the index again, so any
 * order is answered correctly, only more slowly.
 */
extern bool deadlist_cursor_is_dead(DeadCursor *c, uint64_t ordinal,
									uint32_t block, uint16_t offset);

#endif							/* MEMKV_DEADLIST_H */
