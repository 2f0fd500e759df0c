/*-------------------------------------------------------------------------
 *
 * deadpages.c
 *	  A run's dead list in the relation: DEAD pages tagged with the run's
 *	  tag, chained through `next` from the block the run's directory entry
 *	  names, each holding one chunk of the list's encoding (deadlist.h) of
 *	  at most MEMKV_RUN_CHUNK bytes, its length given by pd_lower.
 *
 * A list is written once and never changed: VACUUM writes a new list
 * (old pairs and new) and switches the run's entry to it; the old pages
 * are freed after the switch like a retired run's.  Writers hold the
 * merge lock (nothing else writes dead lists); readers hold what keeps
 * the run itself from being retired, which keeps its list too.  A list is
 * read whole, validated (deadlist_decode: every pair), into the caller's
 * memory; damage is the corruption ERROR with the REINDEX hint.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xloginsert.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "deadpages.h"
#include "memutil.h"
#include "page.h"

/* Is this a DEAD page tagged `tag`? */
static bool
memkv_page_is_dead(Page page, uint32 tag)
{
	MemkvPageOpaque opaque = MemkvPageGetOpaque(page);

	return MemkvPageHasOpaque(page) && opaque->page_id == MEMKV_PAGE_ID &&
		(opaque->flags & MEMKV_PAGE_DEAD) != 0 && opaque->epoch == tag;
}

/* The corruption ERROR for a dead list. */
static void
memkv_dead_corrupted(Relation index, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("dead list of index \"%s\" is corrupted: %s",
					RelationGetRelationName(index), detail),
			 errhint("Please REINDEX it.")));
}

/*
 * Write pairs[0..npairs) (sorted, distinct, npairs >= 1) as a new dead
 * list of pages tagged `tag` -- free pages from the free space map, else
 * new blocks -- WAL-logged as full pages, chained in order.  Returns its
 * first block and sets *npages.  Nothing references the list until the caller's switch
 * names it (a crash before leaves the pages for VACUUM's sweep).  At most
 * two buffers are locked at a time.
 */
BlockNumber
memkv_dead_write(Relation index, const DeadPair *pairs, uint64 npairs,
				 uint32 tag, uint32 *npages)
{
	uint32		nhead,
				ndata,
				n,
				i;
	uint8	  **chunks;
	size_t	   *lens;
	Buffer		buf,
				next = InvalidBuffer;
	BlockNumber first;

	if (deadlist_chunks_needed(pairs, npairs, MEMKV_RUN_CHUNK, &nhead,
							   &ndata) != DEADLIST_OK)
		elog(ERROR, "memkv: dead list of \"%s\" cannot be encoded",
			 RelationGetRelationName(index));
	n = nhead + ndata;
	chunks = palloc_extended(sizeof(uint8 *) * n, MCXT_ALLOC_HUGE);
	lens = palloc_extended(sizeof(size_t) * n, MCXT_ALLOC_HUGE);
	for (i = 0; i < n; i++)
		chunks[i] = palloc(MEMKV_RUN_CHUNK);
	if (deadlist_encode(pairs, npairs, MEMKV_RUN_CHUNK, chunks, n, lens) !=
		DEADLIST_OK)
		elog(ERROR, "memkv: dead list of \"%s\" cannot be encoded",
			 RelationGetRelationName(index));

	buf = memkv_new_buffer(index, tag);
	first = BufferGetBlockNumber(buf);
	for (i = 0; i < n; i++)
	{
		Page		page = BufferGetPage(buf);
		MemkvPageOpaque opaque;
		char	   *dst;

		/* the next page first, so that this one can point at it */
		if (i + 1 < n)
			next = memkv_new_buffer(index, tag);
		START_CRIT_SECTION();
		PageInit(page, BLCKSZ, sizeof(MemkvPageOpaqueData));
		opaque = MemkvPageGetOpaque(page);
		opaque->next = i + 1 < n ? BufferGetBlockNumber(next) :
			InvalidBlockNumber;
		opaque->epoch = tag;
		opaque->flags = MEMKV_PAGE_DEAD;
		opaque->page_id = MEMKV_PAGE_ID;
		dst = PageGetContents(page);
		memcpy(dst, chunks[i], lens[i]);
		((PageHeader) page)->pd_lower = (dst + lens[i]) - (char *) page;
		MarkBufferDirty(buf);
		if (RelationNeedsWAL(index))
			log_newpage_buffer(buf, true);
		END_CRIT_SECTION();
		UnlockReleaseBuffer(buf);
		pfree(chunks[i]);
		buf = next;
		CHECK_FOR_INTERRUPTS();
	}
	pfree(chunks);
	pfree(lens);
	*npages = n;
	return first;
}

/*
 * Follow run's dead-list chain and call `fn` on each page (share-locked,
 * checked to be a DEAD page of the run).  Returns the number of pages.  A
 * chain longer than the relation, a block outside it or a page of another
 * kind is the corruption ERROR (on a standby, where replay may have freed
 * the list after the reader read the directory, an error that asks to
 * retry).
 */
static uint32
memkv_dead_walk(Relation index, const MemkvRunDesc *run,
				void (*fn) (void *arg, BlockNumber blkno, Page page),
				void *arg)
{
	BlockNumber nblocks = RelationGetNumberOfBlocks(index);
	BlockNumber blkno = run->entry.dead_block;
	uint32		count = 0;

	while (blkno != InvalidBlockNumber)
	{
		Buffer		buf;
		Page		page;

		if (blkno == MEMKV_METAPAGE_BLKNO || blkno >= nblocks ||
			count >= nblocks)
			memkv_dead_corrupted(index, "its page chain leaves the relation");
		buf = ReadBuffer(index, blkno);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		if (!memkv_page_is_dead(page, run->run_tag))
		{
			UnlockReleaseBuffer(buf);
			/* on a standby, replay may have freed the list meanwhile */
			if (RecoveryInProgress())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("memkv index \"%s\" was reorganized by recovery while it was being read",
								RelationGetRelationName(index)),
						 errhint("Retry the query.")));
			memkv_page_corrupted(index, blkno);
		}
		fn(arg, blkno, page);
		blkno = MemkvPageGetOpaque(page)->next;
		UnlockReleaseBuffer(buf);
		count++;
	}
	return count;
}

/* What memkv_dead_read's walk collects. */
typedef struct MemkvDeadCollect
{
	MemkvDeadPages *dp;
	MemoryContext cxt;
	uint32		cap;
	bool		toolong;
} MemkvDeadCollect;

static void
memkv_dead_collect_page(void *arg, BlockNumber blkno, Page page)
{
	MemkvDeadCollect *dc = (MemkvDeadCollect *) arg;
	MemkvDeadPages *dp = dc->dp;
	Size		len = ((PageHeader) page)->pd_lower -
		(PageGetContents(page) - (char *) page);

	if (((PageHeader) page)->pd_lower < PageGetContents(page) - (char *) page ||
		len > MEMKV_RUN_CHUNK)
	{
		dc->toolong = true;
		len = 0;
	}
	if (dp->nchunks == dc->cap)
	{
		dc->cap = dc->cap * 2;
		dp->chunks = repalloc_huge(dp->chunks, sizeof(uint8 *) * dc->cap);
		dp->lens = repalloc_huge(dp->lens, sizeof(size_t) * dc->cap);
		dp->blocks = repalloc_huge(dp->blocks, sizeof(BlockNumber) * dc->cap);
	}
	dp->chunks[dp->nchunks] = MemoryContextAlloc(dc->cxt, Max(len, 1));
	memcpy(dp->chunks[dp->nchunks], PageGetContents(page), len);
	dp->lens[dp->nchunks] = len;
	dp->blocks[dp->nchunks] = blkno;
	dp->nchunks++;
}

/*
 * Read and validate run's dead list (which it must have) into memory of
 * `cxt`: every pair is checked (deadlist_decode), and its count against
 * the directory's.  Free it with memkv_dead_free.
 */
MemkvDeadPages *
memkv_dead_read(Relation index, const MemkvRunDesc *run, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	MemkvDeadPages *dp = palloc0(sizeof(MemkvDeadPages));
	MemkvDeadCollect dc;
	FstAllocator alloc;
	int			rc;

	dc.dp = dp;
	dc.cxt = cxt;
	dc.cap = 8;
	dc.toolong = false;
	dp->chunks = palloc(sizeof(uint8 *) * dc.cap);
	dp->lens = palloc(sizeof(size_t) * dc.cap);
	dp->blocks = palloc(sizeof(BlockNumber) * dc.cap);
	(void) memkv_dead_walk(index, run, memkv_dead_collect_page, &dc);
	if (dc.toolong)
		memkv_dead_corrupted(index, "a page's length is out of range");
	memkv_fst_allocator(&alloc);
	rc = deadlist_decode((const uint8_t *const *) dp->chunks, dp->lens,
						 dp->nchunks, MEMKV_RUN_CHUNK, run->run_nkeys,
						 &alloc, &dp->list);
	if (rc != DEADLIST_OK)
		memkv_dead_corrupted(index, deadlist_strerror(rc));
	if (dp->list->npairs != run->entry.ndead)
		memkv_dead_corrupted(index, "its pair count is not the directory's");
	MemoryContextSwitchTo(old);
	return dp;
}

/* Free what memkv_dead_read returned. */
void
memkv_dead_free(MemkvDeadPages *dp)
{
	uint32		i;

	if (dp == NULL)
		return;
	for (i = 0; i < dp->nchunks; i++)
		pfree(dp->chunks[i]);
	pfree(dp->list);
	pfree(dp->chunks);
	pfree(dp->lens);
	pfree(dp->blocks);
	pfree(dp);
}

/* What memkv_dead_blocks' walk collects. */
typedef struct MemkvDeadBlocks
{
	BlockNumber *blocks;
	uint32		n;
	uint32		cap;
} MemkvDeadBlocks;

static void
memkv_dead_note_block(void *arg, BlockNumber blkno, Page page)
{
	MemkvDeadBlocks *db = (MemkvDeadBlocks *) arg;

	if (db->n == db->cap)
	{
		db->cap *= 2;
		db->blocks = repalloc_huge(db->blocks, sizeof(BlockNumber) * db->cap);
	}
	db->blocks[db->n++] = blkno;
}

/*
 * The blocks of run's dead list (none if it has none), as a palloc'd
 * array; *n is set to how many.
 */
BlockNumber *
memkv_dead_blocks(Relation index, const MemkvRunDesc *run, uint32 *n)
{
	MemkvDeadBlocks db;

	db.cap = 8;
	db.n = 0;
	db.blocks = palloc(sizeof(BlockNumber) * db.cap);
	(void) memkv_dead_walk(index, run, memkv_dead_note_block, &db);
	*n = db.n;
	return db.blocks;
}
