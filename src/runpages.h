/*-------------------------------------------------------------------------
 *
 * runpages.h
 *	  A run's header pages and the page source over its data pages
 *	  (runpages.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_RUNPAGES_H
#define MEMKV_RUNPAGES_H

#include "storage/buf.h"
#include "utils/relcache.h"

#include "memkv.h"
#include "page.h"
#include "runhdr.h"

/*
 * An FstSource over part of a run: bytes [base, base + size) of its
 * logical pages' stream.  It keeps up to MEMKV_PIN_SLOTS of
 * the run's pages pinned until memkv_page_source_release, since an FST
 * walk hops between a few pages.  On a primary, run pages are immutable
 * while anyone can read them (a freeze frees the old run only after its
 * switch, which waits for the entry lock held exclusively, so no batch
 * that read the old directory is still running), so a pin is all a
 * reader needs.  In recovery, replay may rewrite a page at any time: the page in
 * use is share-locked, and its tag re-checked each time it is locked.
 * A part of the source may be held in backend memory (mem): reads that fall
 * in it touch no page (the run memo's top regions and postings tables,
 * runmemo.c); the bytes are the pages' own, copied while the run was
 * listed, and runs never change.
 */
#define MEMKV_PIN_SLOTS 16

typedef struct MemkvPageSource
{
	Relation	index;
	const RunHeader *hdr;		/* maps logical pages to blocks */
	uint32		npages;			/* logical pages */
	uint32		epoch;			/* the run's tag */
	uint64		base;
	const uint8 *mem;			/* bytes [mem_lo, mem_hi) of the source, */
	uint64		mem_lo;			/* copied to backend memory (the run memo's), */
	uint64		mem_hi;			/* read there instead of from pages; or NULL */
	bool		lock_pages;		/* in recovery */
	bool		failed;
	int			last;			/* slot of the page returned last */
	Buffer		locked;			/* share-locked buffer, if lock_pages */
	int			next_victim;
	int			npinned;		/* valid entries of pins[] */
	Buffer		pins[MEMKV_PIN_SLOTS];
	BlockNumber pinned[MEMKV_PIN_SLOTS];
} MemkvPageSource;

extern void memkv_page_source_init(MemkvPageSource *ps, Relation index,
								   const RunHeader *hdr, uint32 tag,
								   uint64 base);
extern BlockNumber *memkv_run_blocks(Relation index,
									 const MemkvRunDesc *run,
									 const RunHeader *hdr, uint32 *n);
extern BlockNumber memkv_delete_run(Relation index, const BlockNumber *blocks,
								   uint32 n, uint32 tag);
extern void memkv_slice_sources_init(Relation index, const RunHeader *hdr,
									 uint32 tag, uint32 s,
									 MemkvPageSource *post,
									 MemkvPageSource *fst);
extern BlockNumber memkv_run_header_write(Relation index, const RunHeader *h,
										 uint32 tag, uint32 *npages);
extern RunHeader *memkv_run_header_read(Relation index,
										const MemkvRunDesc *run,
										MemoryContext cxt);
extern const uint8 *memkv_page_source_page(MemkvPageSource *ps, uint64 idx);
extern const uint8_t *memkv_page_source_read(void *arg, uint64_t off,
											 size_t len, uint8_t *buf);
extern void memkv_page_source_release(MemkvPageSource *ps);
extern void memkv_frozen_raced(Relation index) pg_attribute_noreturn();

#endif							/* MEMKV_RUNPAGES_H */
