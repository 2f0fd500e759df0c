/*-------------------------------------------------------------------------
 *
 * request.h
 *	  Asking for background work (request.c): the threshold, starting a
 *	  "memkv freeze" worker, ending its request, and the error for a
 *	  delta that does not fit in shared memory, which asks for one;
 *	  starting a "memkv merge" worker; the request marks of both.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_REQUEST_H
#define MEMKV_REQUEST_H

#include "memkv.h"
#include "registry.h"

/*
 * The merge lock: the heavyweight lock on this page tag of the index (a
 * lock tag only; block 1's contents have nothing to do with it), held by
 * a merge and by VACUUM (src/README, "Merges").  The freeze lock is page
 * tag MEMKV_METAPAGE_BLKNO (0).
 */
#define MEMKV_MERGE_LOCK_PAGE	1

/* What a "memkv freeze" or "memkv merge" worker is told, in bgw_extra. */
typedef struct MemkvWorkerArgs
{
	Oid			dboid;
	RelFileNode node;			/* the index's registry key at request time */
	bool		key_blocks;		/* merge worker: build key blocks, not merge */
} MemkvWorkerArgs;

extern void memkv_request_shmem_request(void);
extern void memkv_request_shmem_startup(void);
extern int64 memkv_threshold(Relation index);
extern bool memkv_freeze_wanted(Relation index, MemkvEntry *entry);
extern bool memkv_maybe_request_freeze(Relation index, MemkvEntry *entry);
extern void memkv_request_freeze(Relation index, MemkvEntry *entry,
								 bool force);
extern void memkv_request_merge(Relation index);
extern bool memkv_request_key_blocks(Relation index);
extern bool memkv_merge_lock_held(Relation index);
extern void memkv_worker_end_request(const RelFileNode *node, bool success);
extern void memkv_merge_worker_started(const RelFileNode *node);
extern void memkv_report_exhausted(Relation index, MemkvEntry *entry) pg_attribute_noreturn();

#endif							/* MEMKV_REQUEST_H */
