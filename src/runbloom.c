/*-------------------------------------------------------------------------
 *
 * runbloom.c
 *	  Whether a scan can skip a run: its directory entry's key bounds
 *	  (memkv_run_meets), and for an exact lookup its membership filter
 *	  (runfilter.h), a blocked Bloom filter stored in the run's last
 *	  logical pages and named by its header (runhdr.h version 3).  Also
 *	  writing those pages (for runwrite.c) and reading them whole (for
 *	  memkv_verify).
 *
 * Which runs get a filter is the writer's caller's choice (freeze.c: every
 * run but the bottom one; src/README, "Per-run filter").  A probe tests
 * the run memo's copy of the filter (runmemo.c, CRC-checked when made), or
 * where there is none reads one 64-byte block of one filter page through
 * shared buffers, like any run page: pinned, tag-checked, share-locked in
 * recovery.  As for FST pages, no CRC is checked on such a read (src/README,
 * "Errors": as btree without data checksums); the header's parameters,
 * validated when it is decoded, keep every probe inside the filter's pages
 * whatever those hold, and memkv_verify checks the CRC and that every key
 * of the run passes.
 *
 * Callers hold what keeps the run's pages from being retired (see
 * runpages.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "memkv.h"
#include "memkv_guc.h"
#include "page.h"
#include "rundir.h"
#include "runbloom.h"
#include "runpages.h"

/*
 * May run `run` hold keys in [lower, upper] (NULL: unbounded; `equality`:
 * the one key lower)?  Its directory entry's truncated bounds answer
 * conservatively (rundir.h): a scan skips the runs this says no to.
 */
bool
memkv_run_meets(const MemkvRunDesc *run, const ArtBound *lower,
				const ArtBound *upper, bool equality)
{
	if (equality)
		return rundir_key_may_be_in(&run->entry, lower->key, lower->len);
	return rundir_range_may_meet(&run->entry,
								 lower ? lower->key : NULL,
								 lower ? lower->len : 0,
								 upper ? upper->key : NULL,
								 upper ? upper->len : 0);
}

/*
 * Bits per key of the filters writers make now: memkv.debug_filter_bits
 * (0: none), else RUNFILTER_DEFAULT_BITS.
 */
int
memkv_filter_bits(void)
{
	return memkv_debug_filter_bits >= 0 ? memkv_debug_filter_bits :
		RUNFILTER_DEFAULT_BITS;
}

/*
 * Where block 0 of a filter page starts in the page's chunk: the first
 * 64-byte boundary of the page after its header, so that each block is
 * one cache line of the buffer (shared buffers are cache-line aligned).
 */
uint16
memkv_filter_block_offset(void)
{
	Size		contents = MAXALIGN(SizeOfPageHeaderData);

	return (uint16) (TYPEALIGN(RUNFILTER_BLOCK_BYTES, contents) - contents);
}

/* The CRC-32C of a filter's blocks (p->nblocks, contiguous): the header's. */
static uint32
filter_crc(const uint8 *blocks, const RunFilterParams *p)
{
	pg_crc32c	crc;

	INIT_CRC32C(crc);
	COMP_CRC32C(crc, blocks, (Size) p->nblocks * RUNFILTER_BLOCK_BYTES);
	FIN_CRC32C(crc);
	return (uint32) crc;
}

/*
 * Write the filter `blocks` (p->nblocks blocks of 64 bytes, contiguous) to
 * runfilter_pages(p) new run pages tagged `tag`, as runfilter.h lays them
 * out, WAL-logged as full pages; `note` is told each page's block in
 * order (the writer's extent table).  Returns the CRC-32C of the blocks
 * (what the header's filter CRC records).  No lock of the caller's
 * matters here but what the run writer holds (runwrite.c).
 */
uint32
memkv_run_filter_write(Relation index, uint32 tag, const RunFilterParams *p,
					   const uint8 *blocks, MemkvRunPageFn note, void *arg)
{
	uint32		npages = runfilter_pages(p);
	uint32		i;

	for (i = 0; i < npages; i++)
	{
		Buffer		buf = memkv_new_buffer(index, tag);
		Page		page = BufferGetPage(buf);
		uint32		first = i * p->blocks_per_page;
		uint32		n = Min(p->blocks_per_page, p->nblocks - first);
		char	   *dst;

		note(arg, BufferGetBlockNumber(buf));
		START_CRIT_SECTION();
		memkv_init_run_page(page, tag);
		dst = PageGetContents(page) + p->block_offset;
		memcpy(dst, blocks + (Size) first * RUNFILTER_BLOCK_BYTES,
			   (Size) n * RUNFILTER_BLOCK_BYTES);
		((PageHeader) page)->pd_lower =
			(dst + (Size) n * RUNFILTER_BLOCK_BYTES) - (char *) page;
		MarkBufferDirty(buf);
		if (RelationNeedsWAL(index))
			log_newpage_buffer(buf, true);
		END_CRIT_SECTION();
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}
	return filter_crc(blocks, p);
}

/* The ERROR for a filter page that is not the run's. */
static void memkv_run_filter_failed(Relation index) pg_attribute_noreturn();

static void
memkv_run_filter_failed(Relation index)
{
	if (RecoveryInProgress())
		memkv_frozen_raced(index);
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("frozen layer of index \"%s\" is corrupted: a page of a run's filter is not the run's",
					RelationGetRelationName(index)),
			 errhint("Please REINDEX it.")));
}

/*
 * May the run whose header is `hdr` (pages tagged `tag`) hold `key`?
 * True if it has no filter, or its filter says "maybe"; false means the
 * run does not hold the key (no false negatives: every key the writer
 * added sets its bits).  Probes `mem`, the filter's blocks in backend
 * memory (the run memo's copy), if not NULL; else reads one block of one
 * filter page.
 */
bool
memkv_run_filter_may_hold(Relation index, const RunHeader *hdr, uint32 tag,
						  const uint8 *mem, const uint8 *key, Size len)
{
	MemkvPageSource ps;
	const uint8 *page;
	uint64		h;
	uint32		fpage,
				off;
	bool		hit;

	if (hdr->filter.nblocks == 0)
		return true;
	h = runfilter_hash(key, len);
	if (mem)
		return runfilter_test(mem, &hdr->filter, h);
	/* inside the filter's pages: runhdr_decode checked the parameters */
	runfilter_locate(&hdr->filter, h, &fpage, &off);
	memkv_page_source_init(&ps, index, hdr, tag, 0);
	page = memkv_page_source_page(&ps, (uint64) hdr->filter_page + fpage);
	if (page == NULL)
	{
		memkv_page_source_release(&ps);
		memkv_run_filter_failed(index);
	}
	hit = runfilter_block_test(page + off, &hdr->filter, h);
	memkv_page_source_release(&ps);
	return hit;
}

/*
 * The run's whole filter, its blocks contiguous in a palloc'd array, and
 * whether they match the header's CRC; NULL if the run has none.  A page
 * that is not the run's is the ERROR of a probe.  For memkv_verify.
 */
uint8 *
memkv_run_filter_read(Relation index, const RunHeader *hdr, uint32 tag,
					  bool *crc_ok)
{
	const RunFilterParams *p = &hdr->filter;
	Size		bytes = (Size) p->nblocks * RUNFILTER_BLOCK_BYTES;
	uint8	   *blocks;
	MemkvPageSource ps;
	uint32		i;

	*crc_ok = true;
	if (p->nblocks == 0)
		return NULL;
	blocks = palloc_extended(bytes, MCXT_ALLOC_HUGE);
	memkv_page_source_init(&ps, index, hdr, tag, 0);
	for (i = 0; i < runfilter_pages(p); i++)
	{
		const uint8 *page = memkv_page_source_page(&ps,
												   (uint64) hdr->filter_page + i);
		uint32		first = i * p->blocks_per_page;
		uint32		n = Min(p->blocks_per_page, p->nblocks - first);

		if (page == NULL)
		{
			memkv_page_source_release(&ps);
			memkv_run_filter_failed(index);
		}
		memcpy(blocks + (Size) first * RUNFILTER_BLOCK_BYTES,
			   page + p->block_offset, (Size) n * RUNFILTER_BLOCK_BYTES);
	}
	memkv_page_source_release(&ps);
	*crc_ok = filter_crc(blocks, p) == hdr->filter_crc;
	return blocks;
}
