/*-------------------------------------------------------------------------
 *
 * arena.h
 *	  A fixed-size memory arena addressed by 32-bit handles.
 *
 * memkv keeps its Adaptive Radix Trees in one arena that lives in the
 * server's main shared memory segment.  Every allocation is named by an
 * ArenaPtr: its offset from the arena base in 8-byte units, so 0 is never a
 * valid allocation and a handle means the same thing in every process.
 *
 * This file is plain C with no PostgreSQL dependency, so the allocator can
 * be unit-tested and fuzzed on a malloc'd block.  It does no locking of its
 * own: callers that share an arena between processes serialize calls to
 * arena_alloc/arena_free (the server wraps them in a spinlock).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_ARENA_H
#define MEMKV_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

typedef uint32_t ArenaPtr;

#define ARENA_NULL		((ArenaPtr) 0)
#define ARENA_UNIT		8

/* Largest single allocation the arena serves (1 GB). */
#define ARENA_MAX_ALLOC ((size_t) 1 << 30)

/* Resolve a handle to an address; base is what arena_init was given. */
#define ARENA_ADDR(base, p) ((void *) ((char *) (base) + ((size_t) (p) * ARENA_UNIT)))

/*
 * Format `size` bytes at `base` (8-byte aligned) as an empty arena.  size
 * must be at least arena_min_size() and at most 32 GB.
 */
extern void arena_init(void *base, size_t size);
extern size_t arena_min_size(void);

/*
 * Allocate `size` bytes (rounded up to the size class arena_class_size()
 * reports), 8-byte aligned, contents undefined.  Returns ARENA_NULL when the
 * arena cannot satisfy the request; never aborts.
 */
extern ArenaPtr arena_alloc(void *base, size_t size);

/* Return an allocation; `size` must be the size passed to arena_alloc. */
extern void arena_free(void *base, ArenaPtr p, size_t size);

/* The number of bytes an allocation of `size` really occupies. */
extern size_t arena_class_size(size_t size);

/* Bytes currently handed out, and the total the arena can hold. */
extern size_t arena_bytes_used(const void *base);
extern size_t arena_bytes_total(const void *base);

#endif							/* MEMKV_ARENA_H */
