/*-------------------------------------------------------------------------
 *
 * merge.h
 *	  Freezing an index and merging its runs by the policy (merge.c).
 *	  The merge lock's page tag is in request.h.
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
extern uint64 memkv_reserve_run_id(Relation index);
extern void memkv_merge_if_due(Relation index, MemkvFreezeTrigger trigger);
extern int	memkv_merge_runs(Relation index, MemkvFreezeTrigger trigger,
							 bool wait);

#endif							/* MEMKV_MERGE_H */
