/*-------------------------------------------------------------------------
 *
 * guard.h
 *	  Guard slots in shared memory (guard.c): one cache line per PGPROC,
 *	  laid out as ebr.h's EbrSlot, with the reclaim epoch's domain and the
 *	  vacuum cycle; the interlock between index-only scans (and scans with
 *	  non-MVCC snapshots) and VACUUM.  See src/README, "Index-only scans
 *	  and VACUUM".
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_GUARD_H
#define MEMKV_GUARD_H

#include "access/relscan.h"
#include "utils/rel.h"

#include "ebr.h"
#include "memkv.h"

/*
 * One scan's share of its backend's slot (opaque; made by the scan's first
 * announcing batch in the scan descriptor's memory context, and never
 * freed before that context: its reset callback clears the announcement
 * on error).  A scan keeps a pointer to it, NULL until then.
 */
typedef struct MemkvGuardUse MemkvGuardUse;

extern void memkv_guard_shmem_request(void);
extern void memkv_guard_shmem_startup(void);

extern void memkv_guard_batch(MemkvGuardUse **usep, IndexScanDesc scan);
extern bool memkv_guard_release(MemkvGuardUse *use);
extern void memkv_guard_wait_for_scans(Relation index);

extern EbrDomain *memkv_guard_domain(void);
extern void memkv_guard_tree_enter(void);
extern void memkv_guard_tree_exit(void);

#endif							/* MEMKV_GUARD_H */
