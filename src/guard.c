/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  Guard slots: one 64-byte slot per PGPROC in shared memory, laid out as
 *	  ebr.h's EbrSlot (its first 8 bytes are the reclaim epoch ebr.c
 *	  manages), the reclaim epoch's domain, and the vacuum cycle; and with
 *	  them the interlock that keeps VACUUM from letting the heap reuse a TID
 *	  an index-only scan (or a scan with a non-MVCC snapshot) still holds
 *	  in a batch.
 *
 * memkv's batches copy TIDs out of the index and hold no pin, so without
 * this an index-only scan could return, after VACUUM removed a dead TID
 * and set its heap page all-visible, the key of a deleted row (src/README,
 * "Index-only scans and VACUUM").  Instead such a scan announces, in its
 * backend's slot, (the index, the vacuum cycle it read) before it collects
 * a batch, and clears that when it is done with the batch; VACUUM, once
 * the index no longer holds the dead TIDs, advances the cycle to c and
 * waits until no slot names the index with a cycle below c.
 *
 * Only the owning backend writes its slot (its exit callback included);
 * VACUUM only reads the others'.  A slot has room for MEMKV_GUARD_PAIRS
 * announcements; a backend with more such scans open at once announces
 * the rest with a wildcard that every VACUUM waits for.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relscan.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "common/hashfn.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "ebr.h"
#include "guard.h"
#include "memkv.h"

/* Announcements a slot holds besides its wildcard. */
#define MEMKV_GUARD_PAIRS	4

/*
 * One backend's slot, as the glue lays out ebr.h's EbrSlot.  A pair is in
 * use while its cycle is not 0 (cycles start at 1); its key is written
 * before its cycle, so whoever reads a cycle and then (after a read
 * barrier) the key reads that announcement's key or a later one's.
 */
typedef struct MemkvGuardSlot
{
	uint64		epoch;			/* EbrSlot.epoch: ebr.c's, not ours */
	pg_atomic_uint64 cycle[MEMKV_GUARD_PAIRS];	/* 0: pair unused */
	pg_atomic_uint32 key[MEMKV_GUARD_PAIRS];	/* memkv_guard_key() */
	pg_atomic_uint64 wildcard;	/* 0, or a cycle that names every index */
} MemkvGuardSlot;

StaticAssertDecl(sizeof(MemkvGuardSlot) == EBR_SLOT_SIZE,
				 "a guard slot is one EbrSlot");
StaticAssertDecl(offsetof(MemkvGuardSlot, epoch) == offsetof(EbrSlot, epoch),
				 "ebr.c's epoch is a guard slot's first word");

/* The segment: the domain, the vacuum cycle, then the slots. */
typedef struct MemkvGuardShared
{
	EbrDomain	domain;			/* the reclaim epoch (the lead's, later) */
	pg_atomic_uint64 vacuum_cycle;	/* >= 1; VACUUM advances it */
	uint32		nslots;
} MemkvGuardShared;

#define MEMKV_GUARD_HEADER	TYPEALIGN(EBR_SLOT_SIZE, sizeof(MemkvGuardShared))

/* Where an announcement of a scan is: a pair, the wildcard, or nowhere. */
#define MEMKV_GUARD_NONE		(-2)
#define MEMKV_GUARD_WILDCARD	(-1)

struct MemkvGuardUse
{
	MemoryContextCallback callback; /* releases on error (context reset) */
	uint32		key;			/* of the scan's index */
	int			pair;			/* 0.., MEMKV_GUARD_WILDCARD or _NONE */
	uint64		cycle;			/* announced; for the wildcard's minimum */
	dlist_node	node;			/* in wildcard_users while on the wildcard */
	Buffer		metabuf;		/* standby: the metapage, pinned while
								 * announced; InvalidBuffer otherwise */
};

static MemkvGuardShared *guard_shared = NULL;
static MemkvGuardSlot *guard_slots = NULL;

/* This backend's slot and who uses it (set up at its first announcement). */
static MemkvGuardSlot *my_slot = NULL;
static MemkvGuardUse *pair_owner[MEMKV_GUARD_PAIRS];
static dlist_head wildcard_users = DLIST_STATIC_INIT(wildcard_users);

/* Slots: every PGPROC a scan or VACUUM can run in. */
static uint32
memkv_guard_nslots(void)
{
	return (uint32) (MaxBackends + NUM_AUXILIARY_PROCS);
}

static Size
memkv_guard_size(void)
{
	return add_size(MEMKV_GUARD_HEADER,
					mul_size(memkv_guard_nslots(), sizeof(MemkvGuardSlot)));
}

/*
 * Called from shmem_request_hook (MaxBackends is known there): reserve the
 * slots, with a cache line to spare for aligning them.
 */
void
memkv_guard_shmem_request(void)
{
	RequestAddinShmemSpace(add_size(memkv_guard_size(), EBR_SLOT_SIZE));
}

/* Called from shmem_startup_hook: create or attach the segment. */
void
memkv_guard_shmem_startup(void)
{
	bool		found;
	char	   *base;
	uint32		i;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	base = ShmemInitStruct("memkv guard",
						   add_size(memkv_guard_size(), EBR_SLOT_SIZE), &found);
	base = (char *) TYPEALIGN(EBR_SLOT_SIZE, base);
	guard_shared = (MemkvGuardShared *) base;
	guard_slots = (MemkvGuardSlot *) (base + MEMKV_GUARD_HEADER);
	if (!found)
	{
		memset(base, 0, memkv_guard_size());
		guard_shared->nslots = memkv_guard_nslots();
		ebr_init(&guard_shared->domain, (EbrSlot *) guard_slots,
				 guard_shared->nslots);
		pg_atomic_init_u64(&guard_shared->vacuum_cycle, 1);
		for (i = 0; i < guard_shared->nslots; i++)
		{
			int			p;

			for (p = 0; p < MEMKV_GUARD_PAIRS; p++)
			{
				pg_atomic_init_u64(&guard_slots[i].cycle[p], 0);
				pg_atomic_init_u32(&guard_slots[i].key[p], 0);
			}
			pg_atomic_init_u64(&guard_slots[i].wildcard, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * What a slot records of an index: a hash of its RelFileNode.  Two indexes
 * with the same hash only make a VACUUM of one wait for scans of the
 * other, never miss one.
 */
static uint32
memkv_guard_key(Relation index)
{
	RelFileNode node = MEMKV_REL_FILE(index);

	return hash_bytes((const unsigned char *) &node, sizeof(node));
}

/*
 * Clear every announcement of this backend (its uses forget theirs, and
 * their metapage pins: the resource owner releases those).
 */
static void
memkv_guard_clear_mine(void)
{
	int			p;

	if (my_slot == NULL)
		return;
	/* a tree guard left entered by an error in a batch */
	memkv_guard_tree_exit();
	pg_memory_barrier();
	for (p = 0; p < MEMKV_GUARD_PAIRS; p++)
	{
		if (pair_owner[p])
		{
			pair_owner[p]->pair = MEMKV_GUARD_NONE;
			pair_owner[p]->metabuf = InvalidBuffer;
		}
		pair_owner[p] = NULL;
		pg_atomic_write_u64(&my_slot->cycle[p], 0);
	}
	while (!dlist_is_empty(&wildcard_users))
	{
		MemkvGuardUse *use = dlist_container(MemkvGuardUse, node,
											 dlist_pop_head_node(&wildcard_users));

		use->pair = MEMKV_GUARD_NONE;
		use->metabuf = InvalidBuffer;
	}
	pg_atomic_write_u64(&my_slot->wildcard, 0);
}

/* before_shmem_exit: the slot is left empty for the next owner. */
static void
memkv_guard_exit(int code, Datum arg)
{
	memkv_guard_clear_mine();
	if (my_slot)
		ebr_clear((EbrSlot *) my_slot);
	my_slot = NULL;
}

/*
 * At the end of a transaction no scan is open any more (a holdable cursor
 * was run to completion before the commit): whatever is still announced
 * was left by an error whose memory context reset has not come yet, or
 * would never come.  Clearing it here is only a backstop.
 */
static void
memkv_guard_xact(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			memkv_guard_clear_mine();
			break;
		default:
			break;
	}
}

/*
 * A subtransaction that aborts may have caught an error raised inside a
 * batch's tree guard (a PL/pgSQL exception block): leave the guard, or
 * every tree writer would soon wait for it.
 */
static void
memkv_guard_subxact(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		memkv_guard_tree_exit();
}

/*
 * This backend's slot, set up (emptied, exit and transaction callbacks
 * registered) at its first use.
 */
static MemkvGuardSlot *
memkv_guard_my_slot(void)
{
	uint32		n = MEMKV_MY_PROC_NUMBER;
	int			p;

	if (my_slot)
		return my_slot;
	if (guard_shared == NULL || MyProc == NULL || n >= guard_shared->nslots)
		elog(ERROR, "memkv: no guard slot for process number %u", n);
	my_slot = &guard_slots[n];
	for (p = 0; p < MEMKV_GUARD_PAIRS; p++)
		pg_atomic_write_u64(&my_slot->cycle[p], 0);
	pg_atomic_write_u64(&my_slot->wildcard, 0);
	before_shmem_exit(memkv_guard_exit, (Datum) 0);
	RegisterXactCallback(memkv_guard_xact, NULL);
	RegisterSubXactCallback(memkv_guard_subxact, NULL);
	return my_slot;
}

/*
 * The reclaim epoch's domain (ebr.h), for limbo.c: what tree writers
 * retire is freed once no guard entered before the retirement is left.
 */
EbrDomain *
memkv_guard_domain(void)
{
	if (guard_shared == NULL)
		elog(ERROR, "memkv: guard slots are not set up");
	return &guard_shared->domain;
}

/*
 * Enter this backend's guard before reading a delta tree without its
 * stripe lock (src/README, "The concurrent tree"): until
 * memkv_guard_tree_exit, no node this backend can reach is freed.  Takes
 * no lock; costs a store and a full barrier.  Not nested: a guard still
 * entered was left by an error in an earlier batch, and is left first.
 */
void
memkv_guard_tree_enter(void)
{
	EbrSlot    *slot = (EbrSlot *) memkv_guard_my_slot();

	memkv_guard_tree_exit();
	if (ebr_enter(&guard_shared->domain, slot) != EBR_OK)
		elog(ERROR, "memkv: could not enter the tree guard");
}

/* Leave the guard memkv_guard_tree_enter entered. */
void
memkv_guard_tree_exit(void)
{
	if (my_slot && ebr_entered((EbrSlot *) my_slot))
		(void) ebr_exit((EbrSlot *) my_slot);
}

/* The smallest cycle the wildcard's users announced, 0 if none. */
static uint64
memkv_guard_wildcard_min(void)
{
	dlist_iter	it;
	uint64		min = 0;

	dlist_foreach(it, &wildcard_users)
	{
		MemkvGuardUse *use = dlist_container(MemkvGuardUse, node, it.cur);

		if (min == 0 || use->cycle < min)
			min = use->cycle;
	}
	return min;
}

static bool memkv_guard_release_pin(MemkvGuardUse *use, bool unpin);

/*
 * Memory context reset callback: the scan went away without endscan, so
 * by an error.  Its metapage pin, if any, is not released here: the
 * resource owner released it already, or will.
 */
static void
memkv_guard_use_gone(void *arg)
{
	memkv_guard_release_pin((MemkvGuardUse *) arg, false);
}

/*
 * A scan's handle on the interlock, announcing nothing yet, made by its
 * first batch that must announce: most scans (plain MVCC and bitmap
 * scans) never do, and a point lookup would pay for it at every
 * beginscan.  It lives in the memory context that holds the scan
 * descriptor -- the executor's, the one the scan was begun in, not
 * whatever context is current at the batch -- and is freed with that
 * context only: its reset callback, which may run after endscan, still
 * reads it.
 */
static MemkvGuardUse *
memkv_guard_scan_create(IndexScanDesc scan)
{
	MemoryContext cxt = GetMemoryChunkContext(scan);
	MemkvGuardUse *use = MemoryContextAllocZero(cxt, sizeof(MemkvGuardUse));

	use->key = memkv_guard_key(scan->indexRelation);
	use->pair = MEMKV_GUARD_NONE;
	use->metabuf = InvalidBuffer;
	use->callback.func = memkv_guard_use_gone;
	use->callback.arg = use;
	MemoryContextRegisterResetCallback(cxt, &use->callback);
	return use;
}

/*
 * Before a scan collects a batch: if it is an index-only scan or its
 * snapshot is not MVCC, announce (its index, the current vacuum cycle) in
 * this backend's slot -- replacing its announcement for the previous
 * batch, whose TIDs the executor is done with once it asks for more.
 * *usep is the scan's handle, NULL until its first announcement makes it
 * (memkv_guard_scan_create).  Other scans (plain MVCC scans, bitmap
 * scans) recheck the heap tuple themselves, announce nothing and leave
 * *usep NULL.  Takes no lock.
 *
 * On a standby, where no VACUUM runs but its switch is replayed, the scan
 * also holds a pin on the metapage from here until the release, dropped
 * and taken again between batches: the redo of a switch that removes
 * TIDs takes a cleanup lock on the metapage (wal.c), so it waits for the
 * batch, or after max_standby_streaming_delay cancels the query.
 *
 * Ordering: the cycle is read, the announcement stored, then a full
 * barrier before the batch reads the index.  VACUUM removes TIDs, then
 * advances the cycle (a full barrier) and reads the slots.  So either
 * VACUUM sees the announcement, or this scan reads the index after the
 * removal; and a scan that read the advanced cycle reads the index after
 * the removal too.
 */
void
memkv_guard_batch(MemkvGuardUse **usep, IndexScanDesc scan)
{
	MemkvGuardUse *use;
	MemkvGuardSlot *slot;
	uint64		cycle;
	int			p;

	if (!scan->xs_want_itup && scan->xs_snapshot != InvalidSnapshot &&
		IsMVCCSnapshot(scan->xs_snapshot))
		return;
	slot = memkv_guard_my_slot();
	if (*usep == NULL)
		*usep = memkv_guard_scan_create(scan);
	use = *usep;
	if (BufferIsValid(use->metabuf))
	{
		ReleaseBuffer(use->metabuf);
		use->metabuf = InvalidBuffer;
	}
	if (RecoveryInProgress())
		use->metabuf = ReadBuffer(scan->indexRelation, 0);	/* the metapage */
	cycle = pg_atomic_read_u64(&guard_shared->vacuum_cycle);
	use->cycle = cycle;

	if (use->pair == MEMKV_GUARD_NONE)
	{
		for (p = 0; p < MEMKV_GUARD_PAIRS; p++)
			if (pair_owner[p] == NULL)
				break;
		if (p < MEMKV_GUARD_PAIRS)
		{
			pair_owner[p] = use;
			use->pair = p;
			pg_atomic_write_u32(&slot->key[p], use->key);
			pg_write_barrier();
		}
		else
		{
			use->pair = MEMKV_GUARD_WILDCARD;
			dlist_push_tail(&wildcard_users, &use->node);
		}
	}
	if (use->pair >= 0)
		pg_atomic_write_u64(&slot->cycle[use->pair], cycle);
	else
		pg_atomic_write_u64(&slot->wildcard, memkv_guard_wildcard_min());
	pg_memory_barrier();
}

/*
 * The scan is done with its batch (it ran off its range, was rescanned or
 * ended, or its memory context is going away): clear its announcement.
 * Returns true if there was one -- the caller must then not return the
 * batch's TIDs again, since VACUUM may have gone on.  Safe to call any
 * number of times, and with NULL (a scan that never announced).
 */
bool
memkv_guard_release(MemkvGuardUse *use)
{
	return memkv_guard_release_pin(use, true);
}

/* memkv_guard_release, unpinning the standby's metapage if `unpin`. */
static bool
memkv_guard_release_pin(MemkvGuardUse *use, bool unpin)
{
	if (use == NULL || use->pair == MEMKV_GUARD_NONE)
		return false;
	if (BufferIsValid(use->metabuf) && unpin)
		ReleaseBuffer(use->metabuf);
	use->metabuf = InvalidBuffer;

	/* what the scan read of the heap for the batch comes before this */
	pg_memory_barrier();
	if (use->pair >= 0)
	{
		pg_atomic_write_u64(&my_slot->cycle[use->pair], 0);
		pair_owner[use->pair] = NULL;
	}
	else
	{
		dlist_delete(&use->node);
		pg_atomic_write_u64(&my_slot->wildcard, memkv_guard_wildcard_min());
	}
	use->pair = MEMKV_GUARD_NONE;
	return true;
}

/*
 * Does any other backend's slot announce a batch of the index with key
 * `key` (or the wildcard) collected at a cycle below `cycle`?
 */
static bool
memkv_guard_any_below(uint32 key, uint64 cycle)
{
	uint32		mine = MyProc ? MEMKV_MY_PROC_NUMBER : PG_UINT32_MAX;
	uint32		i;

	for (i = 0; i < guard_shared->nslots; i++)
	{
		MemkvGuardSlot *slot = &guard_slots[i];
		uint64		w;
		int			p;

		/* VACUUM runs outside any transaction block: no scan of ours */
		if (i == mine)
			continue;
		w = pg_atomic_read_u64(&slot->wildcard);
		if (w != 0 && w < cycle)
			return true;
		for (p = 0; p < MEMKV_GUARD_PAIRS; p++)
		{
			uint64		c = pg_atomic_read_u64(&slot->cycle[p]);

			if (c == 0 || c >= cycle)
				continue;
			pg_read_barrier();
			if (pg_atomic_read_u32(&slot->key[p]) == key)
				return true;
		}
	}
	return false;
}

/*
 * VACUUM, once `index` no longer gives scans the TIDs it removed: advance
 * the vacuum cycle to c and wait until no scan announces a batch of this
 * index collected before (a cycle below c), so that the heap may reuse
 * those TIDs.  Scans that start a batch meanwhile announce c or later and
 * do not delay it.  Sleeps on the latch in 10 ms steps (wait event
 * Extension), answering interrupts; call it holding no lock a scan could
 * wait for.
 */
void
memkv_guard_wait_for_scans(Relation index)
{
	uint32		key = memkv_guard_key(index);
	uint64		cycle;

	if (guard_shared == NULL)
		return;
	cycle = pg_atomic_add_fetch_u64(&guard_shared->vacuum_cycle, 1);
	while (memkv_guard_any_below(key, cycle))
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}
