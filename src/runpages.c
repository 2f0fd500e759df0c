/*-------------------------------------------------------------------------
 *
 * runpages.c
 *	  A run's pages: reading its header pages into a RunHeader, and the
 *	  page source that reads its slice as one byte stream (an FstSource),
 *	  for the run reader (runread.c) and for whole-run reads (runcopy.c).
 *
 * A run is header pages (a runhdr.h stream in MEMKV_RUN_CHUNK-byte pieces,
 * chained through `next`) and data pages, its logical pages, which the
 * header's extent table maps to blocks.  A slice is one byte stream cut
 * into MEMKV_RUN_CHUNK-byte pieces, one per logical page from its first:
 * the postings image, then the FST image (src/README, "Run layout").
 * Pages are read under a buffer share lock (in recovery) or a pin, and
 * checked to be RUN pages tagged with the run's tag, so a reader that
 * raced with the page's reuse notices instead of reading garbage.
 *
 * Callers hold what keeps the run's pages from being retired: on a
 * primary the entry lock (any mode) or the metapage lock of a freeze.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "access/xlogrecord.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "utils/rel.h"

#include "memkv.h"
#include "page.h"
#include "memutil.h"
#include "deadpages.h"
#include "runpages.h"
#include "wal.h"

/*
 * Unlock and unpin whatever pages the source holds; it may be read again
 * afterwards (it pins pages anew).
 */
void
memkv_page_source_release(MemkvPageSource *ps)
{
	int			i;

	if (BufferIsValid(ps->locked))
		LockBuffer(ps->locked, BUFFER_LOCK_UNLOCK);
	ps->locked = InvalidBuffer;
	/* a source read from the shared copy never pinned anything */
	if (ps->npinned == 0)
		return;
	for (i = 0; i < MEMKV_PIN_SLOTS; i++)
	{
		if (BufferIsValid(ps->pins[i]))
			ReleaseBuffer(ps->pins[i]);
		ps->pins[i] = InvalidBuffer;
		ps->pinned[i] = InvalidBlockNumber;
	}
	ps->npinned = 0;
}

/* Is this page a page of the run tagged `tag`? */
static bool
memkv_page_is_run(Page page, uint32 tag)
{
	MemkvPageOpaque opaque = MemkvPageGetOpaque(page);

	return MemkvPageHasOpaque(page) && opaque->page_id == MEMKV_PAGE_ID &&
		(opaque->flags & MEMKV_PAGE_RUN) != 0 &&
		opaque->epoch == tag;
}

#define memkv_page_is_ours(ps, page) memkv_page_is_run((page), (ps)->epoch)

/* The contents of page `idx` of the run; NULL (and failed set) if not ours. */
const uint8 *
memkv_page_source_page(MemkvPageSource *ps, uint64 idx)
{
	BlockNumber blkno;
	Buffer		buf = InvalidBuffer;
	Page		page;
	int			i;

	if (idx >= ps->npages ||
		!runhdr_page_block(ps->hdr, (uint32) idx, &blkno))
	{
		ps->failed = true;
		return NULL;
	}
	/* most reads stay on the page of the previous one */
	if (ps->pinned[ps->last] == blkno && ps->locked == ps->pins[ps->last])
		return (const uint8 *) PageGetContents(BufferGetPage(ps->pins[ps->last]));
	if (ps->pinned[ps->last] == blkno && !ps->lock_pages)
		return (const uint8 *) PageGetContents(BufferGetPage(ps->pins[ps->last]));
	for (i = 0; i < MEMKV_PIN_SLOTS; i++)
	{
		if (ps->pinned[i] == blkno)
		{
			buf = ps->pins[i];
			ps->last = i;
			break;
		}
	}
	if (!BufferIsValid(buf))
	{
		int			victim = ps->next_victim;

		ps->next_victim = (ps->next_victim + 1) % MEMKV_PIN_SLOTS;
		if (BufferIsValid(ps->pins[victim]))
		{
			if (ps->locked == ps->pins[victim])
			{
				LockBuffer(ps->locked, BUFFER_LOCK_UNLOCK);
				ps->locked = InvalidBuffer;
			}
			ReleaseBuffer(ps->pins[victim]);
			ps->npinned--;
		}
		ps->pins[victim] = InvalidBuffer;
		ps->pinned[victim] = InvalidBlockNumber;
		/* long reads (memkv_verify's) answer a cancel; a no-op under LWLocks */
		CHECK_FOR_INTERRUPTS();
		buf = ReadBuffer(ps->index, blkno);
		if (!ps->lock_pages && !memkv_page_is_ours(ps, BufferGetPage(buf)))
		{
			ReleaseBuffer(buf);
			ps->failed = true;
			return NULL;
		}
		ps->pins[victim] = buf;
		ps->pinned[victim] = blkno;
		ps->npinned++;
		ps->last = victim;
	}
	page = BufferGetPage(buf);
	if (ps->lock_pages && ps->locked != buf)
	{
		if (BufferIsValid(ps->locked))
			LockBuffer(ps->locked, BUFFER_LOCK_UNLOCK);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		ps->locked = buf;
		if (!memkv_page_is_ours(ps, page))
		{
			ps->failed = true;
			return NULL;
		}
	}
	return (const uint8 *) PageGetContents(page);
}

/* memkv_page_source_read from the pages alone. */
static const uint8 *
memkv_page_source_pages(MemkvPageSource *ps, uint64 off, Size len, uint8 *buf)
{
	uint64		pos = ps->base + off;
	uint64		idx = pos / MEMKV_RUN_CHUNK;
	Size		in = pos % MEMKV_RUN_CHUNK;
	Size		done = 0;

	if (in + len <= MEMKV_RUN_CHUNK)
	{
		const uint8 *p = memkv_page_source_page(ps, idx);

		return p ? p + in : NULL;
	}
	while (done < len)
	{
		const uint8 *p = memkv_page_source_page(ps, idx);
		Size		n = Min(len - done, MEMKV_RUN_CHUNK - in);

		if (p == NULL)
			return NULL;
		memcpy(buf + done, p + in, n);
		done += n;
		idx++;
		in = 0;
	}
	return buf;
}

/*
 * FstSource.read over index pages, and over the part of them held in
 * memory: a read that ends in that part and starts below it takes its
 * lower bytes from the pages.
 */
const uint8_t *
memkv_page_source_read(void *arg, uint64_t off, size_t len, uint8_t *buf)
{
	MemkvPageSource *ps = (MemkvPageSource *) arg;

	if (ps->mem != NULL && off + len > ps->mem_lo && off + len <= ps->mem_hi)
	{
		Size		below;
		const uint8 *p;

		if (off >= ps->mem_lo)
			return ps->mem + (off - ps->mem_lo);
		below = (Size) (ps->mem_lo - off);
		p = memkv_page_source_pages(ps, off, below, buf);
		if (p == NULL)
			return NULL;
		if (p != buf)
			memcpy(buf, p, below);
		memcpy(buf + below, ps->mem, len - below);
		return buf;
	}
	return memkv_page_source_pages(ps, off, len, buf);
}

/*
 * Raise the error for a frozen-layer page that replay reused while it was
 * being read (standby only): the query may simply be retried.
 */
void
memkv_frozen_raced(Relation index)
{
	ereport(ERROR,
			(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
			 errmsg("memkv index \"%s\" was reorganized by recovery while it was being read",
					RelationGetRelationName(index)),
			 errhint("Retry the query.")));
}

/*
 * Set up `ps` over the logical pages of the run whose header is `hdr` and
 * whose pages are tagged `tag`, from byte `base` of its logical pages on;
 * it pins nothing yet.  hdr must outlive the source.
 */
void
memkv_page_source_init(MemkvPageSource *ps, Relation index,
					   const RunHeader *hdr, uint32 tag, uint64 base)
{
	int			i;

	ps->index = index;
	ps->hdr = hdr;
	ps->npages = hdr->npages;
	ps->epoch = tag;
	ps->base = base;
	ps->mem = NULL;
	ps->mem_lo = 0;
	ps->mem_hi = 0;
	ps->lock_pages = RecoveryInProgress();
	ps->failed = false;
	ps->locked = InvalidBuffer;
	ps->next_victim = 0;
	ps->last = 0;
	ps->npinned = 0;
	for (i = 0; i < MEMKV_PIN_SLOTS; i++)
	{
		ps->pins[i] = InvalidBuffer;
		ps->pinned[i] = InvalidBlockNumber;
	}
}

/*
 * Set up the two page sources over slice s of the run whose header is
 * `hdr`: *post over its postings image, *fst over its FST image, which
 * follows the postings in the slice's stream (src/README, "Run layout").
 */
void
memkv_slice_sources_init(Relation index, const RunHeader *hdr, uint32 tag,
						 uint32 s, MemkvPageSource *post,
						 MemkvPageSource *fst)
{
	const RunSlice *slice = &hdr->slices[s];
	uint64		base = (uint64) slice->first_page * MEMKV_RUN_CHUNK;

	memkv_page_source_init(post, index, hdr, tag, base);
	memkv_page_source_init(fst, index, hdr, tag, base + slice->postings_bytes);
}

/*
 * Write the header `h` to new header pages tagged `tag`, chained through
 * `next`, WAL-logged as full pages.  Returns the first page's block and
 * sets *npages to how many.
 */
BlockNumber
memkv_run_header_write(Relation index, const RunHeader *h, uint32 tag,
					   uint32 *npages)
{
	uint32		n = runhdr_chunks_needed(h, MEMKV_RUN_CHUNK);
	Buffer	   *bufs;
	uint8	  **chunks;
	size_t	   *lens;
	uint32		i;
	BlockNumber first;

	if (n == 0)
		elog(ERROR, "memkv: run header of \"%s\" is too long",
			 RelationGetRelationName(index));
	bufs = palloc(sizeof(Buffer) * n);
	chunks = palloc(sizeof(uint8 *) * n);
	lens = palloc(sizeof(size_t) * n);
	for (i = 0; i < n; i++)
	{
		bufs[i] = memkv_new_buffer(index, tag);
		chunks[i] = palloc0(MEMKV_RUN_CHUNK);
	}
	if (runhdr_encode(h, MEMKV_RUN_CHUNK, chunks, n, lens) != RUNHDR_OK)
		elog(ERROR, "memkv: run header of \"%s\" cannot be encoded",
			 RelationGetRelationName(index));
	for (i = 0; i < n; i++)
	{
		Page		page = BufferGetPage(bufs[i]);
		char	   *dst;

		START_CRIT_SECTION();
		memkv_init_run_page(page, tag);
		if (i + 1 < n)
			MemkvPageGetOpaque(page)->next = BufferGetBlockNumber(bufs[i + 1]);
		dst = PageGetContents(page);
		memcpy(dst, chunks[i], lens[i]);
		((PageHeader) page)->pd_lower = (dst + lens[i]) - (char *) page;
		MarkBufferDirty(bufs[i]);
		if (RelationNeedsWAL(index))
			log_newpage_buffer(bufs[i], true);
		END_CRIT_SECTION();
	}
	first = BufferGetBlockNumber(bufs[0]);
	for (i = 0; i < n; i++)
	{
		UnlockReleaseBuffer(bufs[i]);
		pfree(chunks[i]);
	}
	pfree(bufs);
	pfree(chunks);
	pfree(lens);
	*npages = n;
	return first;
}

/* Raise the error for a run header that breaks a rule. */
static void
memkv_run_header_corrupted(Relation index, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("run header of index \"%s\" is corrupted: %s",
					RelationGetRelationName(index), what),
			 errhint("Please REINDEX it.")));
}

/*
 * Read the header pages of the run `run` describes (following `next` from
 * its first header page), decode and check them (runhdr_decode, against
 * the relation's current size), and check them against the directory's
 * entry: run id, slice count, NULL count, pages.  Returns the header,
 * allocated in `cxt` as one chunk.  Errors are the corruption ERROR (or,
 * in recovery, the retryable one if a page's tag shows it was reused).
 * Caller holds what keeps the run's pages from being retired.
 */
RunHeader *
memkv_run_header_read(Relation index, const MemkvRunDesc *run,
					  MemoryContext cxt)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber blkno = run->run_header;
	uint8	  **chunks = NULL;
	size_t	   *lens = NULL;
	uint32		nchunks = 0;
	uint32		i;
	uint32		stream = 0;
	FstAllocator alloc;
	RunHeader  *hdr = NULL;
	MemoryContext old;
	int			rc;

	/* phase 1: the chain of header pages, one chunk each */
	for (i = 0; i == 0 || i < nchunks; i++)
	{
		Buffer		buf;
		Page		page;

		if (blkno == MEMKV_METAPAGE_BLKNO || blkno >= nblocks)
			memkv_run_header_corrupted(index, "a header page lies outside the relation");
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!memkv_page_is_run(page, run->run_tag))
		{
			UnlockReleaseBuffer(buf);
			if (RecoveryInProgress())
				memkv_frozen_raced(index);
			memkv_page_corrupted(index, blkno);
		}
		if (i == 0)
		{
			stream = runhdr_peek_stream_bytes((const uint8 *) PageGetContents(page),
											  MEMKV_RUN_CHUNK);
			nchunks = stream / MEMKV_RUN_CHUNK + (stream % MEMKV_RUN_CHUNK != 0);
			/* one page a chunk: more than the run or the relation has is damage */
			if (stream == 0 || nchunks > run->run_npages || nchunks >= nblocks)
			{
				UnlockReleaseBuffer(buf);
				memkv_run_header_corrupted(index, "its first page holds no header");
			}
			chunks = palloc(sizeof(uint8 *) * nchunks);
			lens = palloc(sizeof(size_t) * nchunks);
		}
		lens[i] = Min(MEMKV_RUN_CHUNK, stream - (Size) i * MEMKV_RUN_CHUNK);
		chunks[i] = palloc(MEMKV_RUN_CHUNK);
		memcpy(chunks[i], PageGetContents(page), lens[i]);
		blkno = MemkvPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}

	/* phase 2: decode, check against the directory's entry */
	old = MemoryContextSwitchTo(cxt);
	memkv_fst_allocator(&alloc);
	rc = runhdr_decode((const uint8 *const *) chunks, lens, nchunks,
					   MEMKV_RUN_CHUNK, nblocks, MEMKV_RUN_CHUNK, &alloc, &hdr);
	MemoryContextSwitchTo(old);
	for (i = 0; i < nchunks; i++)
		pfree(chunks[i]);
	pfree(chunks);
	pfree(lens);
	if (rc != RUNHDR_OK)
		memkv_run_header_corrupted(index, runhdr_strerror(rc));
	if (hdr->run_id != run->run_id)
		memkv_run_header_corrupted(index, "its run id is not the directory's");
	if (hdr->nslices != run->entry.nslices)
		memkv_run_header_corrupted(index, "its slice count is not the directory's");
	if (hdr->nnulls != run->run_nnulls)
		memkv_run_header_corrupted(index, "its NULL count is not the directory's");
	if ((uint64) hdr->npages + nchunks != run->run_npages)
		memkv_run_header_corrupted(index, "its page count is not the directory's");
	return hdr;
}

/*
 * Every block of the run `run` describes, whose header `hdr` is: its header
 * pages (following `next` from the first, each checked to be the run's),
 * its data pages (the extents) and its dead list's pages, in that order.  Returns a palloc'd
 * array and sets *n.  Caller holds what keeps the run from being retired
 * (or retires it itself).
 */
BlockNumber *
memkv_run_blocks(Relation index, const MemkvRunDesc *run,
				 const RunHeader *hdr, uint32 *n)
{
	BlockNumber *blocks = palloc_extended(sizeof(BlockNumber) *
										  Max(run->run_npages, 1),
										  MCXT_ALLOC_HUGE);
	uint32		count = 0;
	uint32		nhdr = run->run_npages - hdr->npages;
	BlockNumber blkno = run->run_header;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	uint32		i;

	while (count < nhdr)
	{
		Buffer		buf;
		Page		page;

		if (blkno == MEMKV_METAPAGE_BLKNO || blkno >= nblocks)
			memkv_page_corrupted(index, blkno);
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!memkv_page_is_run(page, run->run_tag))
		{
			UnlockReleaseBuffer(buf);
			memkv_page_corrupted(index, blkno);
		}
		blocks[count++] = blkno;
		blkno = MemkvPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
	}
	for (i = 0; i < hdr->nextents; i++)
	{
		uint32		j;

		for (j = 0; j < hdr->extents[i].length; j++)
			blocks[count++] = hdr->extents[i].start + j;
	}
	if (run->entry.dead_block != InvalidBlockNumber)
	{
		uint32		ndead;
		BlockNumber *dead = memkv_dead_blocks(index, run, &ndead);

		blocks = repalloc_huge(blocks, sizeof(BlockNumber) * (count + ndead));
		memcpy(blocks + count, dead, sizeof(BlockNumber) * ndead);
		count += ndead;
		pfree(dead);
	}
	*n = count;
	return blocks;
}

/*
 * Delete the pages of a retired run, blocks[0..n) (memkv_run_blocks), in
 * WAL records of up to 33 pages (a replaced dead list's pages too).  A
 * page that is no longer the run's (tagged `tag`, flag RUN or DEAD) is
 * left alone, so that a damaged header never
 * frees live pages.  Returns how many pages it deleted.  The run must be
 * unreachable: switched out of the directory, with no batch that read the
 * old directory still running (the switch waited for the entry lock).
 */
BlockNumber
memkv_delete_run(Relation index, const BlockNumber *blocks, uint32 n,
				 uint32 tag)
{
	Buffer		bufs[XLR_MAX_BLOCK_ID + 1];
	int			nbufs = 0;
	BlockNumber deleted = 0;
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	uint32		i;
	int			j;

	for (i = 0; i <= n; i++)
	{
		if (i < n && blocks[i] != MEMKV_METAPAGE_BLKNO && blocks[i] < nblocks)
		{
			Buffer		buf = ReadBuffer(index, blocks[i]);
			Page		page;

			LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
			page = BufferGetPage(buf);
			if (MemkvPageHasOpaque(page) &&
				MemkvPageGetOpaque(page)->page_id == MEMKV_PAGE_ID &&
				(MemkvPageGetOpaque(page)->flags &
				 (MEMKV_PAGE_RUN | MEMKV_PAGE_DEAD)) != 0 &&
				MemkvPageGetOpaque(page)->epoch == tag)
				bufs[nbufs++] = buf;
			else
				UnlockReleaseBuffer(buf);
		}
		if (nbufs > 0 && (nbufs == lengthof(bufs) || i == n))
		{
			memkv_wal_free(index, bufs, nbufs);
			for (j = 0; j < nbufs; j++)
			{
				RecordFreeIndexPage(index, BufferGetBlockNumber(bufs[j]));
				UnlockReleaseBuffer(bufs[j]);
			}
			deleted += nbufs;
			nbufs = 0;
			CHECK_FOR_INTERRUPTS();
		}
	}
	return deleted;
}
