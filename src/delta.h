/*-------------------------------------------------------------------------
 *
 * delta.h
 *	  The delta logs (delta.c): their entries, appending to one, walking
 *	  one, freeing one.  Keeping the stripes' trees in step with them is
 *	  stripe.h's.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_DELTA_H
#define MEMKV_DELTA_H

#include "access/itup.h"
#include "storage/lwlock.h"
#include "utils/relcache.h"

#include "memkv.h"
#include "page.h"
#include "registry.h"

/*
 * A delta-log entry is an IndexTupleData header (t_tid is the heap TID,
 * INDEX_NULL_MASK marks a NULL key) followed directly by the key's bytes,
 * uncompressed and without a varlena header.  The key length is the
 * tuple's size less the header.
 */
#define MemkvLogTupleKey(itup)	((const uint8 *) (itup) + sizeof(IndexTupleData))
#define MemkvLogTupleKeyLen(itup) (IndexTupleSize(itup) - sizeof(IndexTupleData))
#define MemkvLogTupleIsNull(itup) (((itup)->t_info & INDEX_NULL_MASK) != 0)

extern IndexTuple memkv_log_entry(Relation index, Page page,
								  BlockNumber blkno, OffsetNumber off);
extern IndexTuple memkv_form_log_tuple(bool isnull, const uint8 *key,
									   Size keylen, ItemPointer tid);
extern BlockNumber memkv_delete_log(Relation index, BlockNumber head,
								   BlockNumber stop);
extern void memkv_log_append(Relation index, BlockNumber tail, uint32 epoch,
							 IndexTuple itup, BlockNumber *blkno,
							 OffsetNumber *offnum);

/* A walk along the delta log that can stop and go on (memkv_log_walk_pages) */
typedef struct MemkvLogWalk
{
	BlockNumber next;			/* page to read next; Invalid: chain ended */
	OffsetNumber next_offset;	/* first entry to read on it */
	uint32		epoch;			/* no page may carry a later tag */
	BlockNumber last;			/* page read last, or InvalidBlockNumber */
	OffsetNumber last_end;		/* one past the last entry read on it */
	BlockNumber visited;		/* pages read so far (bounds the walk) */
	uint64		count;			/* entries read so far */
	bool		track_pages;	/* mark pages in in_chain, refuse a cycle */
	bool	   *in_chain;		/* in_chain_len long */
	BlockNumber in_chain_len;
} MemkvLogWalk;

extern void memkv_log_walk_start(MemkvLogWalk *walk, BlockNumber head,
								 OffsetNumber head_offset, uint32 epoch,
								 bool track_pages);
extern bool memkv_log_walk_pages(Relation index, MemkvLogWalk *walk,
								 BlockNumber maxpages,
								 void (*visit) (IndexTuple itup, void *arg),
								 void *arg);
extern uint64 memkv_walk_log(Relation index, BlockNumber head,
							 OffsetNumber head_offset, uint32 epoch,
							 void (*visit) (IndexTuple itup, void *arg),
							 void *arg, bool *in_chain);
#endif							/* MEMKV_DELTA_H */
