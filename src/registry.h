/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  The shared segment (registry.c): the arena every delta tree lives in,
 *	  and the registry of entries that map an index to its stripes (trees
 *	  and LWLock each), with LRU eviction; MemkvEntry, MemkvStripe and
 *	  MemkvShared, the registry's types.
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
 * One stripe of an entry: the delta trees of the keys that hash to it and
 * the position in its own log chain they mirror.  Everything here is
 * protected by the stripe's LWLock (see src/README, "Stripes and
 * inserts"); the set-aside trees and the boundary are written only while
 * every stripe lock of the entry is held exclusively (a freeze's seal and
 * switch).
 */
typedef struct MemkvStripe
{
	bool		valid;			/* trees mirror the log up to resume_* */

	/*
	 * The trees hold every entry of the log up to resume_* (and perhaps
	 * the key of an insert under way, or of one that failed after adding
	 * it): what a scan without the stripe lock relies on, where `valid`,
	 * which an insert clears while it works, would make it wait.  Set and
	 * cleared only with the entry's runs lock held exclusively, which
	 * such a scan holds shared (src/README, "The concurrent tree").
	 */
	bool		loaded;
	bool		synced_in_recovery;	/* last synced while replay appended */
	uint64		instance_id;	/* of the log the trees mirror */
	uint32		epoch;
	BlockNumber resume_blkno;	/* next log position not yet in the trees */
	OffsetNumber resume_offset;
	ArtTree		keys;			/* non-NULL keys */
	ArtTree		nulls;			/* NULL keys, under the empty key */

	/*
	 * While a freeze runs, the trees it is freezing are set aside here,
	 * read-only, and keys/nulls mirror only the log from freeze_blkno /
	 * freeze_offset on.  See src/README, "Freezing".
	 */
	ArtTree		imm_keys;
	ArtTree		imm_nulls;
	BlockNumber freeze_blkno;
	OffsetNumber freeze_offset;

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
} MemkvStripe;

/*
 * A registry slot's LWLocks: one per stripe, and the runs lock (held
 * shared by scans while they read runs, which inserts never take).
 */
#define MEMKV_RUNS_LOCK		MEMKV_MAX_STRIPES
#define MEMKV_SLOT_LOCKS	(MEMKV_MAX_STRIPES + 1)

/*
 * Shared-memory registry entry: the delta of one index, in nstripes
 * stripes.  The identity fields change only under the registry lock AND
 * every lock of the slot held exclusively (the runs lock and all
 * MEMKV_MAX_STRIPES stripe locks), so any one of them keeps them still.
 * The entry-wide state below is written under all of the entry's locks
 * held exclusively and may be read under any one of them; each stripe's
 * own state is under its lock (see src/README, "Locking").
 */
typedef struct MemkvEntry
{
	/* identity: registry lock and every stripe lock */
	bool		in_use;
	RelFileNode node;
	BackendId	backend;		/* InvalidBackendId unless a temp index */
	Oid			relid;			/* the index's OID, which outlives a new
								 * relfilenode (memkv_entry_forget_replaced) */
	int			nstripes;		/* the directory's; fixed per relfilenode */
	uint64		last_used;		/* registry clock value, for LRU eviction */

	/* entry-wide state: every stripe lock to write, any one to read */
	bool		freezing;		/* a freeze set the trees aside */
	bool		freeze_direct;	/* the frozen-aside delta is in no tree:
								 * users wait for the freeze (delta.c) */

	/*
	 * A copy of the largest run (instance, start, epoch) in the arena, so
	 * scans read it without the buffer manager (runcopy.c).  Built and
	 * freed under all the entry's locks held exclusively; read under any
	 * one (scans: the runs lock).
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
	 * Set and cleared atomically under any stripe lock in any mode.
	 */
	pg_atomic_uint32 run_kb_building;
	/*
	 * When a range scan last asked a background worker to build them
	 * (seconds, GetCurrentTimestamp's; 0 = never): scans ask again only
	 * MEMKV_KB_ASK_SECS later (runcopy.c, memkv_run_kb_ask).  Atomic.
	 */
	pg_atomic_uint32 run_kb_asked;

	MemkvStripe stripes[MEMKV_MAX_STRIPES];
} MemkvEntry;

typedef struct MemkvShared
{
	slock_t		arena_lock;		/* serializes arena_alloc/arena_free */
	int			max_entries;
	pg_atomic_uint64 clock;
	Size		arena_size;
	LWLock	   *registry_lock;
	LWLockPadded *stripe_locks; /* MEMKV_MAX_STRIPES per entry */
	LWLockPadded *runs_locks;	/* one per entry */
	MemkvEntry	entries[FLEXIBLE_ARRAY_MEMBER];
} MemkvShared;

extern MemkvShared *memkv_shared;
extern bool memkv_preloaded;
extern void memkv_check_loaded(void);
extern void memkv_shmem_request(void);
extern void memkv_shmem_startup(void);
extern void memkv_set_tree_retire(void (*retire) (void *arg, ArenaPtr p,
												  size_t size));
extern MemkvEntry *memkv_entry_lookup(Relation index, int nstripes,
									 LWLockMode mode, int64 hash,
									 int *stripe, bool runs_only);
extern void memkv_entry_forget(RelFileNode node, BackendId backend);
extern void memkv_entry_forget_replaced(int idx);
extern void memkv_entry_release(MemkvEntry *entry);
extern void memkv_entry_release_stripes(MemkvEntry *entry);
extern void memkv_entry_lock_all(MemkvEntry *entry);
extern LWLock *memkv_stripe_lock(MemkvEntry *entry, int stripe);
extern LWLock *memkv_runs_lock(MemkvEntry *entry);
extern bool memkv_entry_holds_all(MemkvEntry *entry, LWLockMode mode);
extern const ArtAllocator *memkv_allocator(void);
extern bool memkv_entry_try_free_run_copy(MemkvEntry *entry, int stripe);
extern bool memkv_evict_one(MemkvEntry *self);
extern void memkv_entry_delta_size(MemkvEntry *entry, uint64 *ntids,
								   uint64 *bytes);
extern Size memkv_arena_bytes_used(void);
extern ArenaPtr memkv_arena_alloc_big(Size size);
extern void memkv_arena_free_big(ArenaPtr p, Size size);
extern void memkv_entry_free_run_copy(MemkvEntry *entry);

#endif							/* MEMKV_REGISTRY_H */
