/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  The shared segment (registry.c): the arena every delta tree lives in,
 *	  and the registry of entries that map an index to its trees and its
 *	  entry LWLock, with LRU eviction; MemkvEntry and MemkvShared, the
 *	  registry's types.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_REGISTRY_H
#define MEMKV_REGISTRY_H

#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/spin.h"

#include "memkv.h"

/*
 * Shared-memory registry entry: the delta tree of one index.  Identity
 * fields are protected by the registry lock; everything else by the
 * entry's own LWLock (see src/README, "Locking").
 */
typedef struct MemkvEntry
{
	/* identity: registry lock */
	bool		in_use;
	RelFileNode node;
	BackendId	backend;		/* InvalidBackendId unless a temp index */
	uint64		last_used;		/* registry clock value, for LRU eviction */

	/* state: entry lock */
	bool		valid;			/* trees mirror the log up to resume_* */
	bool		synced_in_recovery;	/* last synced while replay appended */
	uint64		instance_id;
	uint32		epoch;			/* of the log the trees mirror */
	BlockNumber resume_blkno;	/* next log position not yet in the trees */
	OffsetNumber resume_offset;
	ArtTree		keys;			/* non-NULL keys */
	ArtTree		nulls;			/* NULL keys, under the empty key */

	/*
	 * While a freeze runs, the trees it is freezing are set aside here,
	 * read-only, and keys/nulls mirror only the log from freeze_blkno /
	 * freeze_offset on.  See src/README, "Freezing".
	 */
	bool		freezing;
	bool		freeze_direct;	/* the frozen-aside delta is in no tree:
								 * users wait for the freeze (delta.c) */
	ArtTree		imm_keys;
	ArtTree		imm_nulls;
	BlockNumber freeze_blkno;
	OffsetNumber freeze_offset;

	/*
	 * A copy of the frozen run (instance, start, epoch) in the arena, so
	 * scans read it without the buffer manager (runcopy.c).  Built and
	 * freed under the entry lock held exclusively; read under it shared.
	 */
	ArenaPtr	run_copy;
	Size		run_copy_bytes;	/* bytes allocated */
	uint64		run_copy_instance;
	BlockNumber run_copy_start;
	uint32		run_copy_epoch;
	bool		run_copy_failed;	/* no room for this run: don't retry */
	/* the same run's keys front-coded (keyblocks.h), for range scans */
	ArenaPtr	run_kb;
	Size		run_kb_bytes;
	bool		run_kb_failed;	/* no room for them: don't retry */
	/*
	 * 1 while one backend builds them (runcopy.c, memkv_run_kb_claim): the
	 * other range scans go on without, instead of each building its own.
	 * Set and cleared atomically under the entry lock in any mode.
	 */
	pg_atomic_uint32 run_kb_building;

	/*
	 * The last sync of this log (instance, epoch) found no room for it even
	 * after evicting what it could, when nomem_free bytes of the arena were
	 * free: syncs of that log fail at once until the arena has more room
	 * (delta.c), so that readers of an index too big for shared memory do
	 * not evict every other index's tree at each batch.
	 */
	bool		nomem;
	uint64		nomem_instance;
	uint32		nomem_epoch;
	Size		nomem_free;

	/* a background freeze was asked for (request.c) */
	bool		freeze_requested;
	TimestampTz freeze_requested_at;
} MemkvEntry;

typedef struct MemkvShared
{
	slock_t		arena_lock;		/* serializes arena_alloc/arena_free */
	int			max_entries;
	pg_atomic_uint64 clock;
	Size		arena_size;
	LWLock	   *registry_lock;
	LWLockPadded *entry_locks;	/* max_entries of them */
	MemkvEntry	entries[FLEXIBLE_ARRAY_MEMBER];
} MemkvShared;

extern MemkvShared *memkv_shared;
extern bool memkv_preloaded;
extern void memkv_check_loaded(void);
extern void memkv_shmem_request(void);
extern void memkv_shmem_startup(void);
extern MemkvEntry *memkv_entry_acquire(Relation index, LWLockMode mode);
extern void memkv_entry_forget(RelFileNode node, BackendId backend);
extern void memkv_entry_release(MemkvEntry *entry);
extern LWLock *memkv_entry_lock(MemkvEntry *entry);
extern const ArtAllocator *memkv_allocator(void);
extern bool memkv_art_try_insert(MemkvEntry *entry, bool isnull,
								 const uint8 *key, Size keylen,
								 ItemPointer tid);
extern Size memkv_arena_bytes_used(void);
extern ArenaPtr memkv_arena_alloc_big(Size size);
extern void memkv_arena_free_big(ArenaPtr p, Size size);
extern void memkv_entry_free_run_copy(MemkvEntry *entry);

#endif							/* MEMKV_REGISTRY_H */
