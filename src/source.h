/*-------------------------------------------------------------------------
 *
 * source.h
 *	  Sources (MemkvSource, in memkv.h): keys with their TIDs collected
 *	  from one layer for merging (source.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_SOURCE_H
#define MEMKV_SOURCE_H

#include "memkv.h"
#include "page.h"
#include "runread.h"

/*
 * One input of the merge: a layer read in chunks of keys, each chunk
 * re-seeking strictly after the last key of the previous one.
 */
typedef struct MemkvMergeInput
{
	const ArtTree *tree;		/* a delta tree, or NULL */
	MemkvFrozen *frozen;		/* the frozen layer, or NULL */
	MemkvSource	run;
	Size		pos;			/* next key of run */
	bool		exhausted;		/* no chunk will follow run */
	bytea	   *after;			/* last key of the previous chunk */
} MemkvMergeInput;

/*
 * The delta of an index as read from its log, for a scan whose delta does
 * not fit in shared memory (a standby with a small memkv.shared_memory,
 * or a primary before the freeze it asked for): every key from the log's
 * start with its TIDs, sorted, and the NULL key's TIDs, in the scan's
 * memory.  Read at the first batch that needs it and kept for the next
 * ones while the log starts at the same place: entries appended later
 * belong to transactions the scan's snapshot cannot see (the snapshot was
 * taken before the first batch read the log).  A freeze (a new epoch or
 * instance, or a boundary) makes the next batch read it again.
 */
typedef struct MemkvLogDelta
{
	MemoryContext cxt;			/* holds the runs */
	bool		loaded;
	uint64		instance_id;
	uint32		epoch;
	int			first;			/* stripes [first, first + count) */
	int			count;
	BlockNumber start_blkno[MEMKV_MAX_STRIPES];	/* where each log was */
	OffsetNumber start_offset[MEMKV_MAX_STRIPES];	/* read from */
	MemkvSource	keys;
	MemkvSource	nulls;
} MemkvLogDelta;

extern void memkv_source_init(MemkvSource *run);
extern void memkv_source_reset(MemkvSource *run);
extern void memkv_source_reserve_tids(MemkvSource *run, uint64 more);
extern void memkv_source_free(MemkvSource *run);
extern void memkv_source_add(MemkvSource *run, const uint8 *key, Size keylen,
							 const ItemPointerData *tids, uint64 ntids);
extern void memkv_source_collect_art(MemkvSource *run, const ArtTree *tree,
									 const ArtBound *lower,
									 const ArtBound *upper,
									 bool backward, int target);
extern void memkv_source_collect_run(MemkvSource *run, const MemkvSource *src,
									 const ArtBound *lower,
									 const ArtBound *upper,
									 bool backward, int target);
extern void memkv_frozen_collect(MemkvFrozen *frozen, MemkvSource *run,
								 const ArtBound *lower, const ArtBound *upper,
								 bool backward, int target);
extern uint64 memkv_frozen_nulls(MemkvFrozen *frozen, MemkvSource *run);
extern void memkv_read_log_run(Relation index, const MemkvMetaPageData *meta,
							   int first, int count,
							   MemkvSource *run, MemkvSource *nulls,
							   BlockNumber *end_blkno,
							   OffsetNumber *end_offset);
extern MemkvLogDelta *memkv_log_delta_load(MemkvLogDelta **ldp,
										   MemoryContext cxt, Relation index,
										   MemkvEntry *entry,
										   const MemkvMetaPageData *meta,
										   int first, int count);
extern void memkv_merge_input_init(MemkvMergeInput *in, const ArtTree *tree,
								   MemkvFrozen *frozen);
extern bool memkv_merge_input_ready(MemkvMergeInput *in);
extern void memkv_sort_tids(ItemPointerData *tids, uint64 *ntids);
extern uint64 memkv_filter_dead(ItemPointerData *tids, uint64 *ntids,
								IndexBulkDeleteCallback dead, void *dead_state);
extern bool memkv_merge_sources(MemkvBatch *batch, MemkvSource *runs,
								int nsrcs, bool backward);
extern void memkv_collect_delta_nulls(MemkvEntry *entry, int first,
									  int count, MemkvLogDelta *ld,
									  MemkvSource *out);
extern void memkv_fill_nulls(const MemkvSource *delta, MemkvFrozen **frozen,
							 int nfrozen, MemkvBatch *batch,
							 MemkvSource *scratch);

#endif							/* MEMKV_SOURCE_H */
