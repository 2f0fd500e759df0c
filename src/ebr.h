/*-------------------------------------------------------------------------
 *
 * ebr.h
 *	  Plain C (no PostgreSQL headers): epoch-based reclamation -- guards,
 *	  the reclaim epoch, the horizon and limbo lists -- over memory the
 *	  caller provides (the glue places it in PostgreSQL shared memory).
 *
 * A domain (EbrDomain) holds the global reclaim epoch, a u64 that starts
 * at 1 and only grows, and points at an array of guard slots, one per
 * backend (one per thread in the unit test).  Only a slot's owner enters
 * and exits it; anybody may read it.  A slot holds the reclaim epoch its
 * owner entered at, or 0 when the owner is outside.
 *
 * The contract, for an object X reachable from a shared structure:
 *
 *	writer:  unlink X (store to the structure, any memory order);
 *			 e = ebr_retire_epoch(dom);  ebr_retire(limbo, X, size, e)
 *	reader:  ebr_enter(dom, slot); load pointers, read X; ebr_exit(slot)
 *	freer:   h = ebr_horizon(dom);  ebr_reclaim(limbo, h, free_cb, arg)
 *
 * Then no reader that can still reach X sees it freed: ebr_reclaim frees
 * X only if e < h, and h <= the epoch of every guard that could have
 * loaded a pointer to X.  The freer must run after the unlink in
 * happens-before order (the same thread, or one that took the limbo list
 * from it under a lock).  The memory-ordering argument is in ebr.c.
 * Nothing advances the epoch by itself: ebr_advance must be called now
 * and then (e.g. when a limbo list is full or every 64 retirements), or
 * nothing retired at the current epoch ever becomes free.
 *
 * A limbo list is a bounded FIFO ring over a caller-provided array of
 * EbrLimboItem; ebr_retire returns EBR_FULL when the ring is full, and
 * the caller then advances, reclaims and retries (or waits for readers).
 * Items leave the ring in retirement order; one whose epoch is smaller
 * than an earlier item's waits behind it (safe, merely later).
 *
 * No function allocates, sleeps or locks.  A limbo list is not
 * thread-safe: one owner, or the caller's lock.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_EBR_H
#define MEMKV_EBR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Size of one guard slot: a cache line, so that slots do not share one. */
#define EBR_SLOT_SIZE	64

/*
 * A backend's guard slot.  'epoch' is written only by the owner (and by
 * ebr_clear for a dead owner); the rest of the line is free for the
 * glue's own per-backend words (the index-only-scan interlock of memkv 2
 * step 9), which ebr.c never touches.
 */
typedef union EbrSlot
{
	uint64_t	epoch;			/* entered at; 0 = outside */
	char		pad[EBR_SLOT_SIZE];
} EbrSlot;

/*
 * The domain.  The epoch has a cache line of its own: readers load it at
 * every enter, and it changes only at ebr_advance.  Place the struct
 * (and the slot array) at a 64-byte boundary.
 */
typedef struct EbrDomain
{
	uint64_t	epoch;			/* the reclaim epoch, >= 1 */
	char		pad[EBR_SLOT_SIZE - sizeof(uint64_t)];
	EbrSlot    *slots;
	uint32_t	nslots;
} EbrDomain;

/* One retired thing: the caller's handle (or pointer), size, epoch. */
typedef struct EbrLimboItem
{
	uint64_t	obj;
	uint64_t	size;
	uint64_t	epoch;			/* ebr_retire_epoch() after the unlink */
} EbrLimboItem;

/* A bounded FIFO ring of retired things over the caller's array. */
typedef struct EbrLimbo
{
	EbrLimboItem *items;
	uint32_t	capacity;
	uint32_t	head;			/* index of the oldest item */
	uint32_t	count;
} EbrLimbo;

/* Results of enter/exit/retire. */
typedef enum EbrResult
{
	EBR_OK = 0,
	EBR_NESTED,					/* ebr_enter: the slot is already entered */
	EBR_NOT_ENTERED,			/* ebr_exit: the slot was not entered */
	EBR_FULL					/* ebr_retire: the limbo ring is full */
} EbrResult;

/* The caller's free function for reclaimed items. */
typedef void (*EbrFreeFn) (void *arg, uint64_t obj, uint64_t size);

extern void ebr_init(EbrDomain *dom, EbrSlot *slots, uint32_t nslots);
extern EbrResult ebr_enter(EbrDomain *dom, EbrSlot *slot);
extern EbrResult ebr_exit(EbrSlot *slot);
extern bool ebr_clear(EbrSlot *slot);
extern bool ebr_entered(const EbrSlot *slot);

extern uint64_t ebr_current(const EbrDomain *dom);
extern uint64_t ebr_retire_epoch(const EbrDomain *dom);
extern uint64_t ebr_advance(EbrDomain *dom);
extern uint64_t ebr_horizon(const EbrDomain *dom);

extern void ebr_limbo_init(EbrLimbo *limbo, EbrLimboItem *items,
						   uint32_t capacity);
extern EbrResult ebr_retire(EbrLimbo *limbo, uint64_t obj, uint64_t size,
							uint64_t epoch);
extern uint32_t ebr_reclaim(EbrLimbo *limbo, uint64_t horizon,
							EbrFreeFn free_cb, void *arg);
extern uint32_t ebr_limbo_count(const EbrLimbo *limbo);
extern bool ebr_limbo_full(const EbrLimbo *limbo);

#endif							/* MEMKV_EBR_H */
