/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  memkv's shared memory: the arena that holds every delta tree, and the
 *	  registry that maps an index (its RelFileNode) to its tree and LWLock
 *	  (1.x's shmem.c).
 *
 * The registry is a fixed array of memkv.max_indexes entries.  An entry is
 * found under the registry lock and then used under its own LWLock; when
 * the registry or the arena is full, the least recently used tree that
 * nobody holds is evicted (a full registry whose every slot is busy is
 * waited for).  Eviction is always safe: a tree only caches the index's
 * delta log and is rebuilt from it on next use (delta.c).  A dropped
 * index's entry is freed at once (memkv_entry_forget).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/rel.h"

#include "memkv.h"
#include "memkv_guc.h"
#include "registry.h"

MemkvShared *memkv_shared = NULL;

/* True once _PG_init (memkv.c) ran from shared_preload_libraries. */
bool		memkv_preloaded = false;

/* Local copies of what every backend needs to reach the shared state. */
static void *arena_base = NULL;
static ArtAllocator arena_allocator;

#define MEMKV_TRANCHE "memkv"

static Size
memkv_registry_size(void)
{
	return MAXALIGN(add_size(offsetof(MemkvShared, entries),
							 mul_size(sizeof(MemkvEntry), memkv_max_indexes)));
}

static Size
memkv_arena_size(void)
{
	return mul_size((Size) memkv_shared_memory_mb, 1024 * 1024);
}

/* Called from shmem_request_hook: reserve the registry, arena and locks. */
void
memkv_shmem_request(void)
{
	RequestAddinShmemSpace(add_size(memkv_registry_size(), memkv_arena_size()));
	RequestNamedLWLockTranche(MEMKV_TRANCHE, memkv_max_indexes + 1);
}

static ArenaPtr
memkv_arena_alloc(void *arg, size_t size)
{
	ArenaPtr	p;

	SpinLockAcquire(&memkv_shared->arena_lock);
	p = arena_alloc(arena_base, size);
	SpinLockRelease(&memkv_shared->arena_lock);
	return p;
}

static void
memkv_arena_free(void *arg, ArenaPtr p, size_t size)
{
	SpinLockAcquire(&memkv_shared->arena_lock);
	arena_free(arena_base, p, size);
	SpinLockRelease(&memkv_shared->arena_lock);
}

/*
 * Called from shmem_startup_hook in the postmaster (and in every backend
 * under EXEC_BACKEND): create or attach the shared state.
 */
void
memkv_shmem_startup(void)
{
	bool		found;
	Size		regsize = memkv_registry_size();
	LWLockPadded *locks;
	char	   *base;
	int			i;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	base = ShmemInitStruct("memkv", add_size(regsize, memkv_arena_size()),
						   &found);
	memkv_shared = (MemkvShared *) base;
	arena_base = base + regsize;
	if (!found)
	{
		memset(memkv_shared, 0, regsize);
		SpinLockInit(&memkv_shared->arena_lock);
		memkv_shared->max_entries = memkv_max_indexes;
		pg_atomic_init_u64(&memkv_shared->clock, 1);
		memkv_shared->arena_size = memkv_arena_size();
		arena_init(arena_base, memkv_shared->arena_size);
		for (i = 0; i < memkv_shared->max_entries; i++)
			pg_atomic_init_u32(&memkv_shared->entries[i].run_kb_building, 0);
	}
	locks = GetNamedLWLockTranche(MEMKV_TRANCHE);
	memkv_shared->registry_lock = &locks[0].lock;
	memkv_shared->entry_locks = &locks[1];
	LWLockRelease(AddinShmemInitLock);

	arena_allocator.base = arena_base;
	arena_allocator.alloc = memkv_arena_alloc;
	arena_allocator.free = memkv_arena_free;
	arena_allocator.arg = NULL;
}

/*
 * Raise the user-facing error for a server that did not preload memkv.
 * Called first by every callback that touches an index.
 */
void
memkv_check_loaded(void)
{
	if (!memkv_preloaded || memkv_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("memkv must be loaded via shared_preload_libraries"),
				 errhint("Add memkv to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/* The allocator delta trees use: the shared arena. */
const ArtAllocator *
memkv_allocator(void)
{
	return &arena_allocator;
}

/* Bytes of the arena currently allocated, over all trees. */
Size
memkv_arena_bytes_used(void)
{
	Size		used;

	SpinLockAcquire(&memkv_shared->arena_lock);
	used = arena_bytes_used(arena_base);
	SpinLockRelease(&memkv_shared->arena_lock);
	return used;
}

LWLock *
memkv_entry_lock(MemkvEntry *entry)
{
	int			idx = entry - memkv_shared->entries;

	return &memkv_shared->entry_locks[idx].lock;
}

/* Free both trees of an entry; caller holds its lock exclusively. */
static void
memkv_entry_clear(MemkvEntry *entry)
{
	art_free_all(&entry->keys, &arena_allocator);
	art_free_all(&entry->nulls, &arena_allocator);
	memkv_entry_free_run_copy(entry);
	entry->run_copy_failed = false;
	entry->valid = false;
}

/* Allocate `size` bytes of the arena outside any tree; ARENA_NULL if full. */
ArenaPtr
memkv_arena_alloc_big(Size size)
{
	if (size > ARENA_MAX_ALLOC)
		return ARENA_NULL;
	return memkv_arena_alloc(NULL, size);
}

void
memkv_arena_free_big(ArenaPtr p, Size size)
{
	memkv_arena_free(NULL, p, size);
}

/*
 * Free the entry's copy of a frozen run and its key blocks (runcopy.c
 * builds them), leaving the entry with none.  Entry lock held exclusively.
 */
void
memkv_entry_free_run_copy(MemkvEntry *entry)
{
	if (entry->run_copy != ARENA_NULL)
		memkv_arena_free_big(entry->run_copy, entry->run_copy_bytes);
	if (entry->run_kb != ARENA_NULL)
		memkv_arena_free_big(entry->run_kb, entry->run_kb_bytes);
	entry->run_kb = ARENA_NULL;
	entry->run_kb_bytes = 0;
	entry->run_kb_failed = false;
	/* a builder still at work for the old run is not waited for */
	pg_atomic_write_u32(&entry->run_kb_building, 0);
	entry->run_copy = ARENA_NULL;
	entry->run_copy_bytes = 0;
	entry->run_copy_instance = 0;
	entry->run_copy_epoch = 0;
	entry->run_copy_start = InvalidBlockNumber;
	entry->run_copy_failed = false;
}

/*
 * Is slot `e` the registry entry of (node, backend)?  Registry lock or
 * entry lock held.
 */
static inline bool
memkv_entry_is(MemkvEntry *e, RelFileNode node, BackendId backend)
{
	return e->in_use && e->backend == backend && RelFileNodeEquals(e->node, node);
}

static int
memkv_registry_find(RelFileNode node, BackendId backend)
{
	int			i;

	for (i = 0; i < memkv_shared->max_entries; i++)
		if (memkv_entry_is(&memkv_shared->entries[i], node, backend))
			return i;
	return -1;
}

static int
memkv_lru_cmp(const void *a, const void *b)
{
	const MemkvEntry *ea = &memkv_shared->entries[*(const int *) a];
	const MemkvEntry *eb = &memkv_shared->entries[*(const int *) b];
	uint64		ua = ea->in_use ? ea->last_used : 0;
	uint64		ub = eb->in_use ? eb->last_used : 0;

	return (ua > ub) - (ua < ub);
}

/*
 * Fill `order` with registry slot numbers, free slots first and then the
 * least recently used.  Caller holds the registry lock exclusively.
 */
static void
memkv_lru_order(int *order)
{
	int			i;

	for (i = 0; i < memkv_shared->max_entries; i++)
		order[i] = i;
	qsort(order, memkv_shared->max_entries, sizeof(int), memkv_lru_cmp);
}

/*
 * Try once to give `node` a registry slot: a free one, or the least
 * recently used one whose lock can be taken without waiting and that no
 * freeze holds.  Returns the slot index, or -1 if every slot is busy; then
 * *mine is the number of slots whose entry lock this backend holds itself
 * (waiting for those would never end).
 */
static int
memkv_registry_try_assign(RelFileNode node, BackendId backend, int *order,
						  int *mine)
{
	int			idx;

	*mine = 0;
	LWLockAcquire(memkv_shared->registry_lock, LW_EXCLUSIVE);
	idx = memkv_registry_find(node, backend);
	if (idx < 0)
	{
		int			i;

		memkv_lru_order(order);
		for (i = 0; i < memkv_shared->max_entries; i++)
		{
			MemkvEntry *e = &memkv_shared->entries[order[i]];
			LWLock	   *lock = &memkv_shared->entry_locks[order[i]].lock;

			if (LWLockHeldByMe(lock))
			{
				(*mine)++;
				continue;
			}
			if (!LWLockConditionalAcquire(lock, LW_EXCLUSIVE))
				continue;
			if (e->in_use && e->freezing)
			{
				LWLockRelease(lock);
				continue;
			}
			memkv_entry_clear(e);
			e->in_use = true;
			e->node = node;
			e->backend = backend;
			e->last_used = pg_atomic_fetch_add_u64(&memkv_shared->clock, 1);
			e->instance_id = 0;
			e->epoch = 0;
			e->freeze_requested = false;
			e->nomem = false;
			LWLockRelease(lock);
			idx = order[i];
			break;
		}
	}
	LWLockRelease(memkv_shared->registry_lock);
	return idx;
}

/*
 * Give `node` a registry slot and return its index.  When every slot is
 * busy -- its entry lock held for an insert, a scan's batch or a sync, or
 * its index being frozen -- wait until one is free: each of those ends
 * soon (a freeze within its merge).  Only if this backend holds every slot
 * itself, so that waiting could not end, is that an error.
 */
static int
memkv_registry_assign(RelFileNode node, BackendId backend)
{
	int		   *order = palloc(sizeof(int) * memkv_shared->max_entries);
	long		sleep_ms = 1;
	int			idx;

	for (;;)
	{
		int			mine;

		idx = memkv_registry_try_assign(node, backend, order, &mine);
		if (idx >= 0)
			break;
		if (mine >= memkv_shared->max_entries)
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("this statement needs more memkv indexes at once than memkv.max_indexes (%d)",
							memkv_shared->max_entries),
					 errhint("Increase memkv.max_indexes and restart the server.")));

		/* other backends hold every slot for a moment: wait, then retry */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		sleep_ms = Min(sleep_ms * 2, 10);
	}
	pfree(order);
	return idx;
}

/*
 * Where this backend last found each index in the registry (direct-mapped
 * by relfilenode): a hit skips the registry lock and the search.  A hint
 * is only a guess, checked under the entry's lock like any lookup result
 * (a slot changes hands only under its lock held exclusively).
 */
#define MEMKV_SLOT_HINTS 64

typedef struct MemkvSlotHint
{
	bool		valid;
	RelFileNode node;
	BackendId	backend;
	int			idx;
} MemkvSlotHint;

static MemkvSlotHint slot_hints[MEMKV_SLOT_HINTS];

/*
 * Mark entry `e` as just used, for the eviction order.  The shared clock is
 * only advanced when another entry was used since `e` last was, so that
 * scans of one busy index do not all write the same cache lines.
 */
static inline void
memkv_entry_touch(MemkvEntry *e)
{
	if (e->last_used + 1 != pg_atomic_read_u64(&memkv_shared->clock))
		e->last_used = pg_atomic_fetch_add_u64(&memkv_shared->clock, 1);
}

/*
 * Find (or create) the registry entry of `index` and return it with its
 * LWLock held in `mode`.  The entry's trees may be stale or empty: callers
 * that need them current use memkv_open_synced() (delta.c).
 */
MemkvEntry *
memkv_entry_acquire(Relation index, LWLockMode mode)
{
	RelFileNode node = MEMKV_REL_FILE(index);
	BackendId	backend = RelationUsesLocalBuffers(index) ?
	index->rd_backend : InvalidBackendId;
	MemkvSlotHint *hint = &slot_hints[MEMKV_FILE_NUMBER(node) % MEMKV_SLOT_HINTS];
	int			idx = -1;

	memkv_check_loaded();

	/* try where this backend found the index last time first */
	if (hint->valid && hint->backend == backend &&
		RelFileNodeEquals(hint->node, node))
		idx = hint->idx;

	for (;;)
	{
		MemkvEntry *e;

		if (idx < 0)
		{
			LWLockAcquire(memkv_shared->registry_lock, LW_SHARED);
			idx = memkv_registry_find(node, backend);
			LWLockRelease(memkv_shared->registry_lock);
			if (idx < 0)
				idx = memkv_registry_assign(node, backend);
		}

		e = &memkv_shared->entries[idx];
		LWLockAcquire(&memkv_shared->entry_locks[idx].lock, mode);
		/* the slot may have been given to another index meanwhile */
		if (memkv_entry_is(e, node, backend))
		{
			memkv_entry_touch(e);
			hint->valid = true;
			hint->node = node;
			hint->backend = backend;
			hint->idx = idx;
			return e;
		}
		LWLockRelease(&memkv_shared->entry_locks[idx].lock);
		idx = -1;
		CHECK_FOR_INTERRUPTS();
	}
}

void
memkv_entry_release(MemkvEntry *entry)
{
	LWLockRelease(memkv_entry_lock(entry));
}

/*
 * Free the trees of the least recently used entry other than `self` that
 * holds memory and is not in use.  Returns false if there was none.
 */
static bool
memkv_evict_one(MemkvEntry *self)
{
	bool		evicted = false;
	int		   *order = palloc(sizeof(int) * memkv_shared->max_entries);
	int			i;

	LWLockAcquire(memkv_shared->registry_lock, LW_EXCLUSIVE);
	memkv_lru_order(order);
	for (i = 0; i < memkv_shared->max_entries && !evicted; i++)
	{
		MemkvEntry *e = &memkv_shared->entries[order[i]];
		LWLock	   *lock = &memkv_shared->entry_locks[order[i]].lock;

		if (e == self || !e->in_use || e->freezing ||
			e->keys.bytes + e->nulls.bytes + e->run_copy_bytes == 0)
			continue;
		if (!LWLockConditionalAcquire(lock, LW_EXCLUSIVE))
			continue;
		if (e->freezing)
		{
			LWLockRelease(lock);
			continue;
		}
		memkv_entry_clear(e);
		LWLockRelease(lock);
		evicted = true;
	}
	LWLockRelease(memkv_shared->registry_lock);
	pfree(order);
	return evicted;
}

/*
 * Add one (key, TID) to an entry's trees, making room if the arena is
 * full: first by freeing the entry's own copy of its frozen run (a scan
 * accelerator, rebuilt by a later scan if there is room), then by evicting
 * other indexes' trees and copies.  Caller holds the entry lock
 * exclusively.  Returns false, with the trees unchanged, if there is
 * still no room.
 */
bool
memkv_art_try_insert(MemkvEntry *entry, bool isnull, const uint8 *key,
					 Size keylen, ItemPointer tid)
{
	ArtTree    *tree = isnull ? &entry->nulls : &entry->keys;
	ArtTid		atid;

	StaticAssertStmt(sizeof(ArtTid) == sizeof(ItemPointerData),
					 "ArtTid must match ItemPointerData");
	memcpy(&atid, tid, sizeof(atid));
	if (isnull)
		keylen = 0;

	for (;;)
	{
		ArtResult	r = art_insert(tree, &arena_allocator, key, keylen, &atid);

		if (r == ART_OK)
			return true;
		if (r == ART_BAD_KEY)
			elog(ERROR, "memkv: key of %zu bytes rejected by the delta tree",
				 keylen);

		/*
		 * A freeze of this index reads the copy without the entry lock:
		 * only its own switch may free it then.
		 */
		if (!entry->freezing &&
			(entry->run_copy != ARENA_NULL || entry->run_kb != ARENA_NULL))
		{
			memkv_entry_free_run_copy(entry);
			continue;
		}
		if (!memkv_evict_one(entry))
			return false;
	}
}

/*
 * Give back the registry slot of (node, backend), trees and copies
 * included, if it has one: the relation is being dropped.  Called from
 * the object-access hook (memkv.c) by the dropping backend, which holds
 * the index's AccessExclusiveLock, so no one else is using the entry;
 * should the drop roll back, the next user rebuilds it from the log.
 */
void
memkv_entry_forget(RelFileNode node, BackendId backend)
{
	int			idx;
	LWLock	   *lock;
	MemkvEntry *e;

	if (memkv_shared == NULL)
		return;
	LWLockAcquire(memkv_shared->registry_lock, LW_SHARED);
	idx = memkv_registry_find(node, backend);
	LWLockRelease(memkv_shared->registry_lock);
	if (idx < 0)
		return;

	e = &memkv_shared->entries[idx];
	lock = &memkv_shared->entry_locks[idx].lock;
	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (memkv_entry_is(e, node, backend) && !e->freezing)
	{
		memkv_entry_clear(e);
		e->nomem = false;
		LWLockAcquire(memkv_shared->registry_lock, LW_EXCLUSIVE);
		e->in_use = false;
		e->last_used = 0;
		LWLockRelease(memkv_shared->registry_lock);
	}
	LWLockRelease(lock);
}
