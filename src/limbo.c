/*-------------------------------------------------------------------------
 *
 * limbo.c
 *	  Node limbo: when a delta-tree writer (an insert, or a sync replaying
 *	  a log) replaces a node by a copy, the old block is unlinked but a
 *	  scan that reads the tree without the stripe lock may still be on it.
 *	  The writer hands it here (ArtAllocator.retire) with the reclaim
 *	  epoch of the moment after the unlink; it goes back to the arena once
 *	  the horizon -- the smallest epoch any backend's guard was entered at
 *	  -- has passed that epoch, so that no scan that could have loaded a
 *	  handle to it is still inside its guard.  ebr.c decides; this file
 *	  keeps each backend's list and says when to drain it.  See src/README,
 *	  "The concurrent tree".
 *
 * The list is a fixed ring in this backend's static memory (nothing to
 * allocate, so retiring never fails).  It is drained every
 * MEMKV_LIMBO_DRAIN_EVERY retirements; a full ring waits for the horizon,
 * which guards hold for one batch's reading of the trees at most.  At
 * exit the backend waits for the horizon to pass everything it holds.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"

#include "art.h"
#include "ebr.h"
#include "guard.h"
#include "limbo.h"
#include "registry.h"

/* Blocks a backend may hold in limbo (24 bytes each, static memory). */
#define MEMKV_LIMBO_CAPACITY	4096

/* Retirements between two drains. */
#define MEMKV_LIMBO_DRAIN_EVERY 64

/* How long an exiting backend waits for the horizon, in milliseconds. */
#define MEMKV_LIMBO_EXIT_WAIT_MS 10000

static EbrLimboItem limbo_items[MEMKV_LIMBO_CAPACITY];
static EbrLimbo limbo;
static bool limbo_ready = false;
static uint32 limbo_since_drain = 0;

/* ebr_reclaim's callback: a block goes back to the arena. */
static void
memkv_limbo_free(void *arg, uint64 obj, uint64 size)
{
	const ArtAllocator *a = memkv_allocator();

	a->free(a->arg, (ArenaPtr) obj, (size_t) size);
}

/*
 * Advance the reclaim epoch (what was retired at the current one can
 * become free only then) and free every block the horizon has passed.
 * Returns the number freed.
 */
static uint32
memkv_limbo_drain(void)
{
	EbrDomain  *dom = memkv_guard_domain();

	(void) ebr_advance(dom);
	return ebr_reclaim(&limbo, ebr_horizon(dom), memkv_limbo_free, NULL);
}

/*
 * Drain until the ring is empty (`all`) or has room, waiting for the
 * scans inside their guards to leave.  This backend is reading no tree
 * when it gets here: a guard of its own still entered was left by an
 * error, and is left now, or it would wait for itself.
 */
static bool
memkv_limbo_wait(bool all, long max_ms)
{
	long		waited_us = 0;

	memkv_guard_tree_exit();
	for (;;)
	{
		(void) memkv_limbo_drain();
		if (all ? ebr_limbo_count(&limbo) == 0 : !ebr_limbo_full(&limbo))
			return true;
		if (max_ms >= 0 && waited_us >= max_ms * 1000L)
			return false;
		pg_usleep(100L);
		waited_us += 100;
	}
}

/* before_shmem_exit: give back what this backend still holds. */
static void
memkv_limbo_exit(int code, Datum arg)
{
	if (!memkv_limbo_wait(true, MEMKV_LIMBO_EXIT_WAIT_MS))
		elog(WARNING,
			 "memkv: %u retired tree nodes stay allocated: a scan's guard did not end within %d ms",
			 ebr_limbo_count(&limbo), MEMKV_LIMBO_EXIT_WAIT_MS);
}

/*
 * Give back now whatever of this backend's limbo no guard can see, without
 * waiting: for a caller that has just freed whole trees (a sync that ran
 * out of room, memkv_entry_make_room), whose replaced nodes would
 * otherwise stay allocated until this backend's next 64 retirements or
 * its exit -- and the arena starts afresh, without its fragments, only
 * once it is empty.
 */
void
memkv_limbo_flush(void)
{
	if (limbo_ready && ebr_limbo_count(&limbo) > 0)
		(void) memkv_limbo_drain();
}

/*
 * ArtAllocator.retire for the shared arena: block `p` of `size` bytes was
 * unlinked from a tree by this backend, the holder of its stripe's lock.
 * Never fails; may wait (no lock of its own) while the ring is full.
 */
void
memkv_limbo_retire(void *arg, ArenaPtr p, size_t size)
{
	EbrDomain  *dom = memkv_guard_domain();
	uint64		epoch;

	if (!limbo_ready)
	{
		ebr_limbo_init(&limbo, limbo_items, MEMKV_LIMBO_CAPACITY);
		before_shmem_exit(memkv_limbo_exit, (Datum) 0);
		limbo_ready = true;
	}
	epoch = ebr_retire_epoch(dom);
	while (ebr_retire(&limbo, (uint64) p, (uint64) size, epoch) == EBR_FULL)
		(void) memkv_limbo_wait(false, -1);
	if (++limbo_since_drain >= MEMKV_LIMBO_DRAIN_EVERY)
	{
		limbo_since_drain = 0;
		(void) memkv_limbo_drain();
	}
}
