/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The registry that maps an index (its RelFileNode) to its stripes'
 *	  trees, its run copy and its LWLocks, in memkv's shared memory
 *	  (shmem.c).
 *
 * The registry is a fixed array of memkv.max_indexes entries, each with
 * MEMKV_MAX_STRIPES LWLocks of which its index uses the first nstripes.
 * An entry is found under the registry lock and then used under one
 * stripe's LWLock (an insert, a point lookup) or all of them, taken in
 * stripe order (range scans, freezes, VACUUM, eviction); when
 * the registry or the arena is full, the least recently used tree that
 * nobody holds is evicted (a full registry whose every slot is busy is
 * waited for).  Eviction is always safe: a tree only caches the index's
 * delta log and is rebuilt from it on next use (delta.c).  A dropped
 * index's entry is freed at once (memkv_entry_forget), and so is the entry
 * of an index's previous relfilenode when its new one gets an entry (after
 * a REINDEX, TRUNCATE, VACUUM FULL or CLUSTER: memkv_entry_forget_replaced).
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

/*
 * The LWLocks of registry slot `idx`: stripe `stripe`'s, or, for stripe
 * MEMKV_RUNS_LOCK, the slot's runs lock (see src/README, "Locking").
 */
static inline LWLock *
memkv_slot_lock(int idx, int stripe)
{
	if (stripe == MEMKV_RUNS_LOCK)
		return &memkv_shared->runs_locks[idx].lock;
	return &memkv_shared->stripe_locks[idx * MEMKV_MAX_STRIPES + stripe].lock;
}

LWLock *
memkv_stripe_lock(MemkvEntry *entry, int stripe)
{
	return memkv_slot_lock(entry - memkv_shared->entries, stripe);
}

/*
 * The entry's runs lock: held shared by a scan batch from before it reads
 * the directory until it has read the runs, and exclusively by whatever
 * takes every stripe lock exclusively (it is taken first), so by every
 * change of the runs, of the run copy and of the entry's identity, and by
 * the freeing of run and log pages.  Inserts never take it, so a scan's
 * reading of runs never holds an insert up.
 */
LWLock *
memkv_runs_lock(MemkvEntry *entry)
{
	return memkv_slot_lock(entry - memkv_shared->entries, MEMKV_RUNS_LOCK);
}

/*
 * Does this backend hold every stripe lock of `entry` in `mode`, and, for
 * LW_EXCLUSIVE, the runs lock too?
 */
bool
memkv_entry_holds_all(MemkvEntry *entry, LWLockMode mode)
{
	int			s;

	if (mode == LW_EXCLUSIVE &&
		!LWLockHeldByMeInMode(memkv_runs_lock(entry), LW_EXCLUSIVE))
		return false;
	for (s = 0; s < entry->nstripes; s++)
		if (!LWLockHeldByMeInMode(memkv_stripe_lock(entry, s), mode))
			return false;
	return true;
}

/*
 * Take the runs lock and the first `n` stripe locks of slot `idx`
 * exclusively without waiting, in lock order, skipping stripe `except`
 * (which the caller holds).  Returns false, holding none of them, if one
 * was busy.
 */
static bool
memkv_slot_try_lock(int idx, int n, int except)
{
	int			s;

	if (!LWLockConditionalAcquire(memkv_slot_lock(idx, MEMKV_RUNS_LOCK),
								  LW_EXCLUSIVE))
		return false;
	for (s = 0; s < n; s++)
	{
		if (s == except)
			continue;
		if (!LWLockConditionalAcquire(memkv_slot_lock(idx, s), LW_EXCLUSIVE))
		{
			while (--s >= 0)
				if (s != except)
					LWLockRelease(memkv_slot_lock(idx, s));
			LWLockRelease(memkv_slot_lock(idx, MEMKV_RUNS_LOCK));
			return false;
		}
	}
	return true;
}

/* Release the first `n` stripe locks of slot `idx`, but `except`, and
 * its runs lock. */
static void
memkv_slot_unlock(int idx, int n, int except)
{
	int			s;

	for (s = n - 1; s >= 0; s--)
		if (s != except)
			LWLockRelease(memkv_slot_lock(idx, s));
	LWLockRelease(memkv_slot_lock(idx, MEMKV_RUNS_LOCK));
}

/* Arena bytes an entry's trees and copies hold; all its locks held. */
static Size
memkv_entry_bytes(MemkvEntry *entry)
{
	uint64		ntids;
	uint64		trees;

	memkv_entry_delta_size(entry, &ntids, &trees);
	return entry->run_copy_bytes + entry->run_kb_bytes + trees;
}

/*
 * The delta's size over every stripe's trees (not those a freeze set
 * aside): TIDs, and arena bytes if `bytes` is not NULL.  Exact under every
 * stripe lock; under fewer, a moment's estimate (each count is one word
 * its stripe's writer stores), which is all a threshold needs.
 */
void
memkv_entry_delta_size(MemkvEntry *entry, uint64 *ntids, uint64 *bytes)
{
	int			s;

	*ntids = 0;
	if (bytes)
		*bytes = 0;
	for (s = 0; s < entry->nstripes; s++)
	{
		volatile MemkvStripe *st = &entry->stripes[s];

		*ntids += st->keys.ntids + st->nulls.ntids;
		if (bytes)
			*bytes += st->keys.bytes + st->nulls.bytes;
	}
}

/*
 * Free the trees of every stripe of an entry and its run copy; caller
 * holds its runs lock and all its stripe locks exclusively, and no freeze
 * runs.
 */
static void
memkv_entry_clear(MemkvEntry *entry)
{
	int			s;

	for (s = 0; s < MEMKV_MAX_STRIPES; s++)
	{
		MemkvStripe *st = &entry->stripes[s];

		art_free_all(&st->keys, memkv_allocator());
		art_free_all(&st->nulls, memkv_allocator());
		st->valid = false;
		st->loaded = false;
	}
	memkv_entry_free_run_copy(entry);
	entry->run_copy_failed = false;
}

/*
 * Free the entry's copy of a frozen run and its key blocks (runcopy.c
 * builds them), leaving the entry with none.  Every stripe lock held
 * exclusively.
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
	/* the next run's blocks may be asked for at once */
	pg_atomic_write_u32(&entry->run_kb_asked, 0);
	entry->run_copy = ARENA_NULL;
	entry->run_copy_bytes = 0;
	entry->run_copy_instance = 0;
	entry->run_copy_epoch = 0;
	entry->run_copy_start = InvalidBlockNumber;
	entry->run_copy_failed = false;
}

/*
 * Is slot `e` the registry entry of (node, backend)?  Registry lock or
 * one of the slot's stripe locks held.
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
 * recently used one whose stripe locks (all MEMKV_MAX_STRIPES) can be
 * taken without waiting and that no freeze holds.  Returns the slot index,
 * or -1 if every slot is busy; then *mine is the number of slots of which
 * this backend holds a stripe lock itself (waiting for those would never
 * end).
 */
static int
memkv_registry_try_assign(RelFileNode node, BackendId backend, Oid relid,
						  int nstripes, int *order, int *mine)
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
			bool		held = false;
			int			s;

			for (s = 0; s < MEMKV_SLOT_LOCKS && !held; s++)
				held = LWLockHeldByMe(memkv_slot_lock(order[i], s));
			if (held)
			{
				(*mine)++;
				continue;
			}
			if (!memkv_slot_try_lock(order[i], MEMKV_MAX_STRIPES, -1))
				continue;
			if (e->in_use && e->freezing)
			{
				memkv_slot_unlock(order[i], MEMKV_MAX_STRIPES, -1);
				continue;
			}
			memkv_entry_clear(e);
			e->in_use = true;
			e->node = node;
			e->backend = backend;
			e->relid = relid;
			e->nstripes = nstripes;
			e->last_used = pg_atomic_fetch_add_u64(&memkv_shared->clock, 1);
			for (s = 0; s < MEMKV_MAX_STRIPES; s++)
			{
				e->stripes[s].instance_id = 0;
				e->stripes[s].epoch = 0;
				e->stripes[s].nomem = false;
			}
			memkv_slot_unlock(order[i], MEMKV_MAX_STRIPES, -1);
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
memkv_registry_assign(RelFileNode node, BackendId backend, Oid relid,
					  int nstripes)
{
	int		   *order = palloc(sizeof(int) * memkv_shared->max_entries);
	long		sleep_ms = 1;
	int			idx;

	for (;;)
	{
		int			mine;

		idx = memkv_registry_try_assign(node, backend, relid, nstripes,
										order, &mine);
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
 * Find the registry entry of `index` -- or, if it has none and `nstripes`
 * is not 0, give it one for that many stripes (the directory's count,
 * which the caller reads: this layer reads no page) -- and take, in
 * `mode`, every stripe lock of it (hash < 0) or the lock of stripe hash
 * mod nstripes (returned in *stripe) -- or, with `runs_only`, only the
 * runs lock (a scan batch that reads the trees without the stripe locks;
 * a change of the run copy, which inserts need not wait for).  Returns NULL if the index has no entry and `nstripes` is
 * 0.  The entry's trees may be stale or empty:
 * callers use memkv_entry_acquire or memkv_open_synced() (stripe.c).
 */
MemkvEntry *
memkv_entry_lookup(Relation index, int nstripes, LWLockMode mode,
				   int64 hash, int *stripe, bool runs_only)
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
		int			n;
		int			first;
		int			count;
		int			s;

		if (idx < 0)
		{
			LWLockAcquire(memkv_shared->registry_lock, LW_SHARED);
			idx = memkv_registry_find(node, backend);
			LWLockRelease(memkv_shared->registry_lock);
			if (idx < 0)
			{
				if (nstripes < 1 || nstripes > MEMKV_MAX_STRIPES)
					return NULL;
				idx = memkv_registry_assign(node, backend,
											RelationGetRelid(index), nstripes);
				memkv_entry_forget_replaced(idx);
			}
		}

		/*
		 * An unlocked read of the stripe count, confirmed with the identity
		 * once a stripe lock or the runs lock is held (both change only
		 * under all of them).
		 */
		e = &memkv_shared->entries[idx];
		n = ((volatile MemkvEntry *) e)->nstripes;
		if (n < 1 || n > MEMKV_MAX_STRIPES)
			n = 1;
		if (hash < 0)
		{
			first = 0;
			count = n;
		}
		else
		{
			first = (int) ((uint64) hash % (uint64) n);
			count = 1;
		}
		/* inserts (one stripe, exclusive) alone go without the runs lock */
		if (runs_only)
			count = 0;
		if (hash < 0 || mode == LW_SHARED || runs_only)
			LWLockAcquire(memkv_slot_lock(idx, MEMKV_RUNS_LOCK), mode);
		for (s = first; s < first + count; s++)
			LWLockAcquire(memkv_slot_lock(idx, s), mode);
		/* the slot may have been given to another index meanwhile */
		if (memkv_entry_is(e, node, backend) && e->nstripes == n)
		{
			memkv_entry_touch(e);
			hint->valid = true;
			hint->node = node;
			hint->backend = backend;
			hint->idx = idx;
			if (stripe)
				*stripe = first;
			return e;
		}
		for (s = first + count - 1; s >= first; s--)
			LWLockRelease(memkv_slot_lock(idx, s));
		if (hash < 0 || mode == LW_SHARED || runs_only)
			LWLockRelease(memkv_slot_lock(idx, MEMKV_RUNS_LOCK));
		idx = -1;
		CHECK_FOR_INTERRUPTS();
	}
}

/* Release every lock of `entry` this backend holds. */
void
memkv_entry_release(MemkvEntry *entry)
{
	memkv_entry_release_stripes(entry);
	if (LWLockHeldByMe(memkv_runs_lock(entry)))
		LWLockRelease(memkv_runs_lock(entry));
}

/*
 * Release the stripe locks of `entry` this backend holds, keeping its
 * runs lock: a scan batch has read the trees and goes on to the runs.
 */
void
memkv_entry_release_stripes(MemkvEntry *entry)
{
	int			s;

	for (s = entry->nstripes - 1; s >= 0; s--)
	{
		LWLock	   *lock = memkv_stripe_lock(entry, s);

		if (LWLockHeldByMe(lock))
			LWLockRelease(lock);
	}
}

/*
 * Take the runs lock and every stripe lock of `entry` exclusively, in
 * lock order; the caller holds none of them.  For a caller that already
 * knows its entry and that it cannot change hands (a freeze's clean-up).
 */
void
memkv_entry_lock_all(MemkvEntry *entry)
{
	int			s;

	LWLockAcquire(memkv_runs_lock(entry), LW_EXCLUSIVE);
	for (s = 0; s < entry->nstripes; s++)
		LWLockAcquire(memkv_stripe_lock(entry, s), LW_EXCLUSIVE);
}

/*
 * Free the trees of the least recently used entry other than `self` that
 * holds memory and is not in use.  Returns false if there was none.
 */
bool
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

		/* the registry lock keeps nstripes still */
		if (e == self || !e->in_use || e->freezing)
			continue;
		if (!memkv_slot_try_lock(order[i], e->nstripes, -1))
			continue;
		if (!e->freezing && memkv_entry_bytes(e) > 0)
		{
			memkv_entry_clear(e);
			evicted = true;
		}
		memkv_slot_unlock(order[i], e->nstripes, -1);
	}
	LWLockRelease(memkv_shared->registry_lock);
	pfree(order);
	return evicted;
}

/*
 * Free the entry's copy of its largest run and its key blocks (a scan
 * accelerator, rebuilt by a later scan if there is room) to make room for
 * stripe `stripe`'s trees, whose lock the caller holds exclusively: that
 * needs the runs lock and the other stripes' locks, taken only if free at
 * once.  Not while a freeze of the index runs (it reads the copy without
 * the entry's locks; only its own switch may free it then).  Returns true
 * if there was a copy and it was freed.
 */
bool
memkv_entry_try_free_run_copy(MemkvEntry *entry, int stripe)
{
	int			idx = entry - memkv_shared->entries;
	bool		all;

	if (entry->freezing ||
		(entry->run_copy == ARENA_NULL && entry->run_kb == ARENA_NULL))
		return false;
	all = memkv_entry_holds_all(entry, LW_EXCLUSIVE);
	if (!all && !memkv_slot_try_lock(idx, entry->nstripes, stripe))
		return false;
	memkv_entry_free_run_copy(entry);
	if (!all)
		memkv_slot_unlock(idx, entry->nstripes, stripe);
	return true;
}

/*
 * Free everything entry `e` holds in the arena and forget that a stripe
 * did not fit, before its slot is marked free (the caller then clears
 * in_use and last_used under the registry lock held exclusively).  Every
 * lock of the slot held exclusively, and no freeze of its index runs.
 */
static void
memkv_entry_empty(MemkvEntry *e)
{
	int			s;

	memkv_entry_clear(e);
	for (s = 0; s < MEMKV_MAX_STRIPES; s++)
		e->stripes[s].nomem = false;
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
	int			s;
	MemkvEntry *e;

	if (memkv_shared == NULL)
		return;
	LWLockAcquire(memkv_shared->registry_lock, LW_SHARED);
	idx = memkv_registry_find(node, backend);
	LWLockRelease(memkv_shared->registry_lock);
	if (idx < 0)
		return;

	e = &memkv_shared->entries[idx];
	LWLockAcquire(memkv_slot_lock(idx, MEMKV_RUNS_LOCK), LW_EXCLUSIVE);
	for (s = 0; s < MEMKV_MAX_STRIPES; s++)
		LWLockAcquire(memkv_slot_lock(idx, s), LW_EXCLUSIVE);
	if (memkv_entry_is(e, node, backend) && !e->freezing)
	{
		memkv_entry_empty(e);
		LWLockAcquire(memkv_shared->registry_lock, LW_EXCLUSIVE);
		e->in_use = false;
		e->last_used = 0;
		LWLockRelease(memkv_shared->registry_lock);
	}
	memkv_slot_unlock(idx, MEMKV_MAX_STRIPES, -1);
}

/*
 * Give back the slots of the index of new entry `idx` that are keyed by
 * another of its relfilenodes (same database, backend and index OID): a
 * REINDEX, TRUNCATE, VACUUM FULL or CLUSTER gave the index a new
 * relfilenode, and the old one's trees and run copy would otherwise hold
 * the arena until evicted, leaving the new run's copy no room (src/README
 * Q8).  The old relfilenode is unused from then on, except if the
 * transaction that replaced it rolls back; its entry is only a cache, which
 * its next user rebuilds from the log.  A slot busy at that moment (its
 * locks held, its index being frozen) is left to eviction.  Takes the
 * registry lock exclusively and the old slots' locks without waiting;
 * the caller holds none of entry `idx`'s locks.
 */
void
memkv_entry_forget_replaced(int idx)
{
	MemkvEntry *self = &memkv_shared->entries[idx];
	int			i;

	LWLockAcquire(memkv_shared->registry_lock, LW_EXCLUSIVE);
	/* self's identity cannot change under the registry lock */
	for (i = 0; i < memkv_shared->max_entries && self->in_use; i++)
	{
		MemkvEntry *e = &memkv_shared->entries[i];

		if (i == idx || !e->in_use ||
			e->relid != self->relid || e->backend != self->backend ||
			MEMKV_FILE_DB(e->node) != MEMKV_FILE_DB(self->node) ||
			RelFileNodeEquals(e->node, self->node) || e->freezing)
			continue;
		if (!memkv_slot_try_lock(i, MEMKV_MAX_STRIPES, -1))
			continue;
		if (!e->freezing)
		{
			memkv_entry_empty(e);
			e->in_use = false;
			e->last_used = 0;
		}
		memkv_slot_unlock(i, MEMKV_MAX_STRIPES, -1);
	}
	LWLockRelease(memkv_shared->registry_lock);
}
