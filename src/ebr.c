/*-------------------------------------------------------------------------
 *
 * ebr.c
 *	  Plain C: epoch-based reclamation (contract in ebr.h).
 *
 * MEMORY ORDERING.  The scheme records, per guard, the epoch it entered
 * at (an interval scheme, as in Fraser's EBR but with a u64 epoch that
 * never wraps, so the epoch may advance at any time: there is no "all
 * guards caught up" condition to wait for).  It must guarantee: if a
 * reader can load a pointer to X, then its guard's epoch r is <= the
 * epoch e that X was retired with, and any horizon computation after
 * X's retirement sees that guard (so h <= r <= e and X is not freed).
 *
 * The four steps involved (S is the single total order of seq_cst
 * operations and fences):
 *
 *	enter:    r = load(epoch, seq_cst); store(slot, r, release); fence F1
 *	retire:   (unlink X); fence F2; e = load(epoch, seq_cst)
 *	horizon:  fence F3; load(epoch, seq_cst); load(slot, acquire) each
 *	advance:  fetch_add(epoch, 1, seq_cst)
 *
 * (a) The reader's guard is seen.  Between the reader's slot store and
 *	   its pointer loads stands F1; between the writer's unlink and the
 *	   freer's slot loads stands F3 (the freer is the writer, or follows
 *	   it in happens-before).  Either F1 precedes F3 in S, and then the
 *	   freer's slot load sees r (or a later value of the slot), or F3
 *	   precedes F1, and then the reader's pointer loads see the unlink and
 *	   cannot reach X.  This is the store-buffering (Dekker) pattern: a
 *	   seq_cst store alone would not do, because the reader's later loads
 *	   are plain or acquire, which C11 lets the store pass; the fence is
 *	   what orders them.  On x86 F1 is one MFENCE (or a locked
 *	   instruction) per enter: the price of readers that never write
 *	   anything shared but their own slot.
 *
 * (b) The reader's epoch is not too new.  Suppose r > e.  The value r was
 *	   written by an advance that came after the writer's load of e in
 *	   the epoch's modification order, so in S: F2 < load e < advance <
 *	   load r < F1.  F2 precedes F1 in S, the unlink is before F2 and the
 *	   pointer loads after F1: the reader sees the unlink and cannot reach
 *	   X.  So a reader that reaches X has r <= e.
 *
 * (c) The freer's free happens after the reader's last access.  The
 *	   reader's exit is a release store of 0, its next enter a release
 *	   store of the new epoch; the freer's slot loads are acquire.
 *	   Whatever value the freer reads that lets it free X (0, or an
 *	   epoch > e), it reads from a store the reader made after its last
 *	   access to X, so the accesses happen before the free.  (This is
 *	   also what ThreadSanitizer, which does not model fences, can see.)
 *
 * A slot left at r by a dead owner holds the horizon at r for ever; the
 * glue clears it in the owner's exit callback (ebr_clear).  A reader that
 * loaded r and has not yet stored it is invisible to a horizon scan,
 * which is fine by (a); once stored, a stale small r only holds the
 * horizon back, never forward.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ebr.h"

/*
 * ebr_init
 *		Make *dom a domain at reclaim epoch 1 over slots[0..nslots), all
 *		outside.  Not concurrent with anything (shared-memory setup).
 */
void
ebr_init(EbrDomain *dom, EbrSlot *slots, uint32_t nslots)
{
	memset(dom, 0, sizeof(EbrDomain));
	memset(slots, 0, sizeof(EbrSlot) * (size_t) nslots);
	dom->slots = slots;
	dom->nslots = nslots;
	__atomic_store_n(&dom->epoch, 1, __ATOMIC_SEQ_CST);
}

/*
 * ebr_enter
 *		Announce that the caller (the slot's owner) is about to read shared
 *		structures: store the current reclaim epoch in its slot, then a
 *		full fence (ordering argument (a) and (b) in the file header).
 *		Returns EBR_NESTED, changing nothing, if the slot is already
 *		entered: a backend enters once, and the caller must not exit on
 *		behalf of the inner attempt.
 */
EbrResult
ebr_enter(EbrDomain *dom, EbrSlot *slot)
{
	uint64_t	r;

	if (__atomic_load_n(&slot->epoch, __ATOMIC_RELAXED) != 0)
		return EBR_NESTED;
	r = __atomic_load_n(&dom->epoch, __ATOMIC_SEQ_CST);
	__atomic_store_n(&slot->epoch, r, __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return EBR_OK;
}

/*
 * ebr_exit
 *		Withdraw the caller's guard (release store of 0: every read made
 *		inside happens before a free that sees the slot empty).  Pointers
 *		loaded inside must not be used afterwards.  Returns
 *		EBR_NOT_ENTERED if the slot was not entered.
 */
EbrResult
ebr_exit(EbrSlot *slot)
{
	if (__atomic_load_n(&slot->epoch, __ATOMIC_RELAXED) == 0)
		return EBR_NOT_ENTERED;
	__atomic_store_n(&slot->epoch, 0, __ATOMIC_RELEASE);
	return EBR_OK;
}

/*
 * ebr_clear
 *		Empty a slot whatever its state, for a backend that died or is
 *		exiting inside a guard (the glue's exit callback), or for a slot
 *		being handed to a new owner.  Returns whether it was entered.
 */
bool
ebr_clear(EbrSlot *slot)
{
	return __atomic_exchange_n(&slot->epoch, 0, __ATOMIC_ACQ_REL) != 0;
}

/*
 * ebr_entered
 *		Is the slot entered?  Exact for the owner; a snapshot for others.
 */
bool
ebr_entered(const EbrSlot *slot)
{
	return __atomic_load_n(&slot->epoch, __ATOMIC_ACQUIRE) != 0;
}

/*
 * ebr_current
 *		The reclaim epoch now (for statistics and tests; a retirement must
 *		use ebr_retire_epoch).
 */
uint64_t
ebr_current(const EbrDomain *dom)
{
	return __atomic_load_n(&dom->epoch, __ATOMIC_SEQ_CST);
}

/*
 * ebr_retire_epoch
 *		The epoch to retire an object with, to be called after the object
 *		was unlinked from every shared structure: a full fence, then the
 *		epoch (argument (b) in the file header needs the fence).  Several
 *		objects unlinked before one call may share its result.
 */
uint64_t
ebr_retire_epoch(const EbrDomain *dom)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&dom->epoch, __ATOMIC_SEQ_CST);
}

/*
 * ebr_advance
 *		Bump the reclaim epoch; returns the new value.  Safe at any time
 *		from any thread.  Objects retired at epoch e become free once every
 *		guard entered at or before e has exited and the epoch has passed e.
 */
uint64_t
ebr_advance(EbrDomain *dom)
{
	return __atomic_add_fetch(&dom->epoch, 1, __ATOMIC_SEQ_CST);
}

/*
 * ebr_horizon
 *		The smallest epoch any entered guard holds, or the current epoch if
 *		no guard is entered: whatever was retired at an epoch below it can
 *		be freed.  One load per slot (the README's "about 256 loads").
 *		Call it after the retirements it should cover (argument (a)).
 */
uint64_t
ebr_horizon(const EbrDomain *dom)
{
	uint64_t	h;
	uint32_t	i;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	h = __atomic_load_n(&dom->epoch, __ATOMIC_SEQ_CST);
	for (i = 0; i < dom->nslots; i++)
	{
		uint64_t	r = __atomic_load_n(&dom->slots[i].epoch,
										__ATOMIC_ACQUIRE);

		if (r != 0 && r < h)
			h = r;
	}
	return h;
}

/*
 * ebr_limbo_init
 *		Make *limbo an empty ring over items[0..capacity).  capacity 0 makes
 *		a ring that is always full.
 */
void
ebr_limbo_init(EbrLimbo *limbo, EbrLimboItem *items, uint32_t capacity)
{
	limbo->items = items;
	limbo->capacity = capacity;
	limbo->head = 0;
	limbo->count = 0;
}

/*
 * ebr_retire
 *		Append (obj, size, epoch) to the ring; epoch must come from
 *		ebr_retire_epoch after obj was unlinked.  Returns EBR_FULL, adding
 *		nothing, if the ring is full: the caller then advances the epoch,
 *		reclaims and retries, or waits for the horizon.
 */
EbrResult
ebr_retire(EbrLimbo *limbo, uint64_t obj, uint64_t size, uint64_t epoch)
{
	EbrLimboItem *it;
	uint32_t	tail;

	if (limbo->count >= limbo->capacity)
		return EBR_FULL;
	tail = limbo->head + limbo->count;
	if (tail >= limbo->capacity)
		tail -= limbo->capacity;
	it = &limbo->items[tail];
	it->obj = obj;
	it->size = size;
	it->epoch = epoch;
	limbo->count++;
	return EBR_OK;
}

/*
 * ebr_reclaim
 *		Free, oldest first, the items retired at an epoch below horizon
 *		(from ebr_horizon), calling free_cb(arg, obj, size) for each, and
 *		stop at the first one that is not yet free.  Returns how many were
 *		freed.  free_cb must not touch the ring.
 */
uint32_t
ebr_reclaim(EbrLimbo *limbo, uint64_t horizon, EbrFreeFn free_cb, void *arg)
{
	uint32_t	nfreed = 0;

	while (limbo->count > 0)
	{
		EbrLimboItem it = limbo->items[limbo->head];

		if (it.epoch >= horizon)
			break;
		limbo->head++;
		if (limbo->head == limbo->capacity)
			limbo->head = 0;
		limbo->count--;
		free_cb(arg, it.obj, it.size);
		nfreed++;
	}
	return nfreed;
}

/*
 * ebr_limbo_count
 *		How many items the ring holds.
 */
uint32_t
ebr_limbo_count(const EbrLimbo *limbo)
{
	return limbo->count;
}

/*
 * ebr_limbo_full
 *		Would ebr_retire return EBR_FULL now?
 */
bool
ebr_limbo_full(const EbrLimbo *limbo)
{
	return limbo->count >= limbo->capacity;
}
