/*-------------------------------------------------------------------------
 *
 * arena.c
 *	  A fixed-size memory arena addressed by 32-bit handles.
 *
 * The arena starts with an ArenaHeader that holds all of the allocator's
 * state, so the arena can live in shared memory and be used from any
 * process.  Requests are rounded up to a size class: 8-byte steps up to 512
 * bytes, then powers of two up to ARENA_MAX_ALLOC.  Each class has a free
 * list threaded through the freed blocks themselves (the first four bytes of
 * a free block hold the handle of the next one).  A request whose free list
 * is empty is carved from the never-used tail of the arena (bump
 * allocation); when the tail is exhausted too, a free block of a larger
 * class is split, and the rest of it goes back onto the free lists.  Free
 * blocks are not coalesced, but an arena whose last block is freed starts
 * over empty.
 *
 * Handles count 8-byte units from the arena base, so a 32-bit handle reaches
 * 32 GB.  Handle 0 falls inside the header and is never handed out.
 *
 * There is no locking here; callers serialize.
 *
 *-------------------------------------------------------------------------
 */
#include "arena.h"

#define ARENA_MAGIC			UINT64_C(0x6d656d6b76617231)	/* "memkvar1" */
#define ARENA_SMALL_MAX		512
#define ARENA_NSMALL		(ARENA_SMALL_MAX / ARENA_UNIT)	/* 64 classes */
#define ARENA_FIRST_POW2	10	/* 1024 bytes */
#define ARENA_LAST_POW2		30	/* ARENA_MAX_ALLOC */
#define ARENA_NCLASSES		(ARENA_NSMALL + ARENA_LAST_POW2 - ARENA_FIRST_POW2 + 1)
#define ARENA_MAX_UNITS		(UINT64_C(1) << 32)

typedef struct ArenaHeader
{
	uint64_t	magic;
	uint64_t	total_units;	/* arena size in units, at most 2^32 */
	uint64_t	header_units;	/* units taken by this header */
	uint64_t	bump;			/* first never-allocated unit */
	uint64_t	used_bytes;		/* class sizes of live allocations */
	ArenaPtr	free_head[ARENA_NCLASSES];
} ArenaHeader;

#define ARENA_HEADER_UNITS ((sizeof(ArenaHeader) + ARENA_UNIT - 1) / ARENA_UNIT)

/* Class index of a request of `size` bytes; size must be <= ARENA_MAX_ALLOC. */
static int
class_index(size_t size)
{
	int			k;

	if (size <= ARENA_SMALL_MAX)
		return size == 0 ? 0 : (int) ((size + ARENA_UNIT - 1) / ARENA_UNIT) - 1;
	k = ARENA_FIRST_POW2;
	while (((size_t) 1 << k) < size)
		k++;
	return ARENA_NSMALL + k - ARENA_FIRST_POW2;
}

/* Bytes occupied by a block of class `idx`. */
static size_t
class_bytes(int idx)
{
	if (idx < ARENA_NSMALL)
		return (size_t) (idx + 1) * ARENA_UNIT;
	return (size_t) 1 << (idx - ARENA_NSMALL + ARENA_FIRST_POW2);
}

/* The largest class whose size is at most `bytes` (bytes >= 8, multiple of 8). */
static int
class_floor(size_t bytes)
{
	int			k;

	if (bytes <= ARENA_SMALL_MAX)
		return (int) (bytes / ARENA_UNIT) - 1;
	if (bytes < ((size_t) 1 << ARENA_FIRST_POW2))
		return ARENA_NSMALL - 1;
	k = ARENA_LAST_POW2;
	while (((size_t) 1 << k) > bytes)
		k--;
	return ARENA_NSMALL + k - ARENA_FIRST_POW2;
}

/* Push the block at unit `p` onto the free list of class `idx`. */
static void
push_free(void *base, ArenaHeader *hdr, int idx, ArenaPtr p)
{
	*(ArenaPtr *) ARENA_ADDR(base, p) = hdr->free_head[idx];
	hdr->free_head[idx] = p;
}

/*
 * Take a free block from a class larger than `idx`, keep the first
 * class_bytes(idx) bytes of it and put the rest back on the free lists.
 * Returns ARENA_NULL if there is no larger free block.
 */
static ArenaPtr
split_larger(void *base, ArenaHeader *hdr, int idx)
{
	int			big;
	ArenaPtr	p;
	uint64_t	rest_unit;
	size_t		rest;

	for (big = idx + 1; big < ARENA_NCLASSES; big++)
		if (hdr->free_head[big] != ARENA_NULL)
			break;
	if (big >= ARENA_NCLASSES)
		return ARENA_NULL;

	p = hdr->free_head[big];
	hdr->free_head[big] = *(ArenaPtr *) ARENA_ADDR(base, p);

	rest_unit = (uint64_t) p + class_bytes(idx) / ARENA_UNIT;
	rest = class_bytes(big) - class_bytes(idx);
	while (rest > 0)
	{
		int			c = class_floor(rest);

		push_free(base, hdr, c, (ArenaPtr) rest_unit);
		rest_unit += class_bytes(c) / ARENA_UNIT;
		rest -= class_bytes(c);
	}
	return p;
}

/* Size in bytes of the smallest arena arena_init accepts. */
size_t
arena_min_size(void)
{
	return (ARENA_HEADER_UNITS + 8) * ARENA_UNIT;
}

/*
 * Format the memory at base as an empty arena.  Memory past 32 GB (what a
 * 32-bit handle can reach) is left unused.
 */
void
arena_init(void *base, size_t size)
{
	ArenaHeader *hdr = (ArenaHeader *) base;
	uint64_t	units = (uint64_t) size / ARENA_UNIT;
	int			i;

	if (units > ARENA_MAX_UNITS)
		units = ARENA_MAX_UNITS;
	hdr->magic = ARENA_MAGIC;
	hdr->total_units = units;
	hdr->header_units = ARENA_HEADER_UNITS;
	hdr->bump = ARENA_HEADER_UNITS;
	hdr->used_bytes = 0;
	for (i = 0; i < ARENA_NCLASSES; i++)
		hdr->free_head[i] = ARENA_NULL;
}

/* Bytes a request of `size` occupies; 0 if it is larger than ARENA_MAX_ALLOC. */
size_t
arena_class_size(size_t size)
{
	if (size > ARENA_MAX_ALLOC)
		return 0;
	return class_bytes(class_index(size));
}

/*
 * Allocate a block for `size` bytes: from the class's free list, else from
 * the unused tail, else by splitting a larger free block.  ARENA_NULL when
 * none of these can serve it.
 */
ArenaPtr
arena_alloc(void *base, size_t size)
{
	ArenaHeader *hdr = (ArenaHeader *) base;
	int			idx;
	uint64_t	units;
	ArenaPtr	p;

	if (size > ARENA_MAX_ALLOC)
		return ARENA_NULL;
	idx = class_index(size);
	units = class_bytes(idx) / ARENA_UNIT;

	p = hdr->free_head[idx];
	if (p != ARENA_NULL)
		hdr->free_head[idx] = *(ArenaPtr *) ARENA_ADDR(base, p);
	else if (hdr->bump + units <= hdr->total_units)
	{
		p = (ArenaPtr) hdr->bump;
		hdr->bump += units;
	}
	else
	{
		p = split_larger(base, hdr, idx);
		if (p == ARENA_NULL)
			return ARENA_NULL;
	}
	hdr->used_bytes += class_bytes(idx);
	return p;
}

/*
 * Return block p, allocated with `size`, to its class's free list.  Free
 * blocks are never merged, so when the last live block goes the arena is
 * reset to its pristine state instead, and all of it can serve any size
 * again.
 */
void
arena_free(void *base, ArenaPtr p, size_t size)
{
	ArenaHeader *hdr = (ArenaHeader *) base;
	int			idx;

	if (p == ARENA_NULL || size > ARENA_MAX_ALLOC)
		return;
	idx = class_index(size);
	hdr->used_bytes -= class_bytes(idx);
	if (hdr->used_bytes == 0)
	{
		int			i;

		hdr->bump = hdr->header_units;
		for (i = 0; i < ARENA_NCLASSES; i++)
			hdr->free_head[i] = ARENA_NULL;
		return;
	}
	push_free(base, hdr, idx, p);
}

/* Bytes currently handed out (class sizes). */
size_t
arena_bytes_used(const void *base)
{
	return (size_t) ((const ArenaHeader *) base)->used_bytes;
}

/* Bytes the arena can hand out in all, header excluded. */
size_t
arena_bytes_total(const void *base)
{
	const ArenaHeader *hdr = (const ArenaHeader *) base;

	return (size_t) ((hdr->total_units - hdr->header_units) * ARENA_UNIT);
}
