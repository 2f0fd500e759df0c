/*-------------------------------------------------------------------------
 *
 * memutil.c
 *	  Backend-local memory helpers every layer of memkv uses: growing
 *	  arrays by doubling, and the transparent huge page hint for big ones.
 *	  They call nothing of memkv's, so they are the bottom of the glue
 *	  layers (src/README, "Files in memkv 2").
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/mman.h>

#include "access/xact.h"

#include "memutil.h"

/*
 * Ask for transparent huge pages under the whole pages of p[0..size) (a
 * backend-local allocation of MEMKV_HUGE_MIN or more), where the kernel
 * offers them on request (Linux, THP "madvise" mode).  For the big arrays
 * of CREATE INDEX and freezing that are read at random: the keys after the
 * sort, the FST builder's ring and tables, the pack map; with 4 kB pages
 * nearly every such read is also a TLB miss.  (Not for what is only read
 * in order, like the images: a huge page costs more to clear.)  A hint;
 * failure is ignored.
 */
void
memkv_advise_huge_pages(void *p, Size size)
{
#if defined(MADV_HUGEPAGE)
	uintptr_t	start = TYPEALIGN((uintptr_t) 4096, (uintptr_t) p);
	uintptr_t	end = TYPEALIGN_DOWN((uintptr_t) 4096, (uintptr_t) p + size);

	if (size >= MEMKV_HUGE_MIN && end > start)
		(void) madvise((void *) start, end - start, MADV_HUGEPAGE);
#endif
}

/*
 * The growing half of memkv_array_reserve (memutil.h), for need > *cap: the
 * capacity starts at `first` and doubles until it is enough.  A NULL array
 * (capacity 0) is allocated in `cxt`, a grown one is repalloc'd in its own
 * context.  Returns the array, which may have moved.
 */
void *
memkv_array_grow(MemoryContext cxt, void *array, Size *cap, Size need,
				 Size elemsize, Size first)
{
	Size		newcap;

	newcap = *cap > 0 ? *cap : first;
	while (newcap < need)
		newcap *= 2;
	array = array ? repalloc_huge(array, newcap * elemsize) :
		MemoryContextAllocHuge(cxt, newcap * elemsize);
	*cap = newcap;
	return array;
}

static void *
memkv_fst_alloc(void *arg, size_t size)
{
	void	   *p = MemoryContextAllocHuge((MemoryContext) arg, Max(size, 1));

	memkv_advise_huge_pages(p, size);
	return p;
}

static void *
memkv_fst_realloc(void *arg, void *ptr, size_t oldsize, size_t newsize)
{
	void	   *p;

	if (ptr == NULL)
		p = MemoryContextAllocHuge((MemoryContext) arg, Max(newsize, 1));
	else
		p = repalloc_huge(ptr, Max(newsize, 1));
	memkv_advise_huge_pages(p, newsize);
	return p;
}

static void
memkv_fst_free(void *arg, void *ptr)
{
	if (ptr)
		pfree(ptr);
}

/*
 * An FstAllocator over palloc in the current memory context (huge
 * allocations allowed, big ones offered transparent huge pages), for the
 * FST reader, cursors, key blocks and the run writer.
 */
void
memkv_fst_allocator(FstAllocator *a)
{
	a->alloc = memkv_fst_alloc;
	a->realloc = memkv_fst_realloc;
	a->free = memkv_fst_free;
	a->arg = CurrentMemoryContext;
}

/* An abort: every spare of the pool is free again. */
static void
memkv_spares_free_all(MemkvSpares *sp)
{
	int			i;

	for (i = 0; i < MEMKV_SPARES; i++)
		sp->busy[i] = false;
}

static void
memkv_spares_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		memkv_spares_free_all((MemkvSpares *) arg);
}

static void
memkv_spares_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		memkv_spares_free_all((MemkvSpares *) arg);
}

/* A struct of sp's size to fill in: a free spare, else a new one. */
void *
memkv_spare_take(MemkvSpares *sp)
{
	int			i;

	if (!sp->registered)
	{
		RegisterXactCallback(memkv_spares_xact_callback, sp);
		RegisterSubXactCallback(memkv_spares_subxact_callback, sp);
		sp->registered = true;
	}
	for (i = 0; i < MEMKV_SPARES; i++)
	{
		if (sp->busy[i])
			continue;
		if (sp->item[i] == NULL)
			sp->item[i] = MemoryContextAlloc(TopMemoryContext, sp->size);
		sp->busy[i] = true;
		return sp->item[i];
	}
	return palloc(sp->size);
}

/* Give back what memkv_spare_take handed out. */
void
memkv_spare_give(MemkvSpares *sp, void *p)
{
	int			i;

	for (i = 0; i < MEMKV_SPARES; i++)
	{
		if (sp->item[i] == p)
		{
			sp->busy[i] = false;
			return;
		}
	}
	pfree(p);
}
