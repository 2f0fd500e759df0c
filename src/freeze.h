/*-------------------------------------------------------------------------
 *
 * freeze.h
 *	  Rewriting the delta and runs of an index into a new run (freeze.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_FREEZE_H
#define MEMKV_FREEZE_H

#include "memkv.h"
#include "page.h"

/*
 * Picks the runs a merge rewrites, under the merge lock: sets *first and
 * *count (runs[first .. first + count) of meta) and *run_id (an id it
 * reserved for the output, below the generation and never used before)
 * and returns true, or returns false if none is due.
 */
typedef bool (*MemkvPickRuns) (Relation index, const MemkvMetaPageData *meta,
							   int *first, int *count, uint64 *run_id);

extern bool memkv_rewrite(Relation index, bool with_delta, int first,
						  int ninputs, MemkvPickRuns pick,
						  IndexBulkDeleteCallback dead, void *dead_state,
						  IndexBulkDeleteResult *stats,
						  MemkvFreezeTrigger trigger);

extern void memkv_debug_pause(int key);

#endif							/* MEMKV_FREEZE_H */
