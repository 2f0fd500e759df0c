/*-------------------------------------------------------------------------
 *
 * memutil.h
 *	  Backend-local memory helpers (memutil.c): array growth and the huge
 *	  page hint.  The bottom glue layer: includes only PostgreSQL's headers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_MEMUTIL_H
#define MEMKV_MEMUTIL_H

#include "utils/memutils.h"

#include "fst.h"

/* Allocations from this size on are offered transparent huge pages. */
#define MEMKV_HUGE_MIN		(4 * 1024 * 1024)
extern void memkv_advise_huge_pages(void *p, Size size);
extern void memkv_fst_allocator(FstAllocator *a);
/*
 * A pool of MEMKV_SPARES structs of one size kept in TopMemoryContext for
 * reuse (memkv_spare_take, memkv_spare_give; past the pool, palloc and
 * pfree); an abort marks them all free.  Initialize as {size}.
 */
#define MEMKV_SPARES 25
typedef struct MemkvSpares
{
	Size		size;
	bool		registered;
	void	   *item[MEMKV_SPARES];
	bool		busy[MEMKV_SPARES];
} MemkvSpares;

extern void *memkv_spare_take(MemkvSpares *sp);
extern void memkv_spare_give(MemkvSpares *sp, void *p);
extern void *memkv_array_grow(MemoryContext cxt, void *array, Size *cap,
							  Size need, Size elemsize, Size first);

/*
 * Make room for `need` elements of `elemsize` bytes in `array`, whose
 * capacity (in elements) is *cap, growing it as memkv_array_grow says if
 * it is too small.  Returns the array, which may have moved.  Inline:
 * scans call it for every key they collect, and it rarely has to grow.
 */
static inline void *
memkv_array_reserve(MemoryContext cxt, void *array, Size *cap, Size need,
					Size elemsize, Size first)
{
	if (likely(need <= *cap))
		return array;
	return memkv_array_grow(cxt, array, cap, need, elemsize, first);
}

#endif							/* MEMKV_MEMUTIL_H */
