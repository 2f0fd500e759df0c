/*-------------------------------------------------------------------------
 *
 * truncate.h
 *	  Giving a free tail of the index back to the file system at the end
 *	  of amvacuumcleanup (truncate.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_TRUNCATE_H
#define MEMKV_TRUNCATE_H

#include "storage/block.h"
#include "utils/relcache.h"

/* What one truncation attempt did (memkv_truncate_tail). */
typedef struct MemkvTruncateResult
{
	BlockNumber old_nblocks;	/* the relation's length before */
	BlockNumber new_nblocks;	/* and after (equal: nothing truncated) */
	BlockNumber free_tail;		/* free trailing pages seen before locking */
	bool		parallel;		/* not tried: VACUUM is in parallel mode */
	bool		tried;			/* the tail was long enough to try */
	bool		locked;			/* AccessExclusiveLock was had */
	bool		cut_short;		/* the re-check stopped for a lock waiter */
} MemkvTruncateResult;

extern void memkv_truncate_tail(Relation index, const bool *in_use,
								BlockNumber nwalked,
								MemkvTruncateResult *res);

#endif							/* MEMKV_TRUNCATE_H */
