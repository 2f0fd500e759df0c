/*-------------------------------------------------------------------------
 *
 * deadpages.h
 *	  A run's dead list in DEAD pages (deadpages.c): writing a list,
 *	  reading it back validated, listing its blocks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_DEADPAGES_H
#define MEMKV_DEADPAGES_H

#include "storage/block.h"
#include "utils/relcache.h"

#include "deadlist.h"
#include "page.h"

/* A dead list read from its pages: the decoded list and its bytes. */
typedef struct MemkvDeadPages
{
	DeadList   *list;			/* points into chunks */
	uint32		nchunks;
	uint8	  **chunks;
	size_t	   *lens;
	BlockNumber *blocks;		/* the pages, in chain order */
} MemkvDeadPages;

extern BlockNumber memkv_dead_write(Relation index, const DeadPair *pairs,
									uint64 npairs, uint32 tag,
									uint32 *npages);
extern MemkvDeadPages *memkv_dead_read(Relation index,
									   const MemkvRunDesc *run,
									   MemoryContext cxt);
extern void memkv_dead_free(MemkvDeadPages *dp);
extern BlockNumber *memkv_dead_blocks(Relation index, const MemkvRunDesc *run,
									  uint32 *n);

#endif							/* MEMKV_DEADPAGES_H */
