/*-------------------------------------------------------------------------
 *
 * merge.h
 *	  Freezing an index and merging its runs by the policy (merge.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_MERGE_H
#define MEMKV_MERGE_H

#include "memkv.h"

extern void memkv_freeze_index(Relation index,
							   IndexBulkDeleteCallback dead,
							   void *dead_state,
							   IndexBulkDeleteResult *stats,
							   MemkvFreezeTrigger trigger);

#endif							/* MEMKV_MERGE_H */
