/*-------------------------------------------------------------------------
 *
 * page.c
 *	  memkv's page kinds and their checks: laying out the metapage and
 *	  delta-log pages, reading and validating the metapage, finding a page
 *	  to reuse, and the errors for pages that are not what they should be.
 *
 * Every reader of a memkv page goes through the checks here before it uses
 * a byte of the page; see src/README, "On-disk format" and "Errors".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/indexfsm.h"
#include "storage/lmgr.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "memkv.h"
#include "page.h"

/*
 * The directory of a new, empty index: generation 1, `nstripes` stripes
 * whose logs start at blocks 1 to nstripes, no run.
 */
void
memkv_empty_directory(MemkvDirectory *dir, uint64 instance_id, int nstripes)
{
	int			s;

	Assert(nstripes >= 1 && nstripes <= MEMKV_MAX_STRIPES);
	memset(dir, 0, sizeof(MemkvDirectory));
	dir->instance_id = instance_id;
	dir->generation = 1;
	dir->limbo_head = RUNDIR_INVALID_BLOCK;
	dir->nstripes = nstripes;
	for (s = 0; s < nstripes; s++)
	{
		dir->stripes[s].log_head = 1 + s;
		dir->stripes[s].log_head_offset = FirstOffsetNumber;
	}
}

/*
 * Write an encoded directory into the metapage's contents (the page is
 * laid out already).  Used by memkv_init_metapage and by the switch and
 * its redo; cannot fail (the caller encoded or logged a valid directory).
 */
void
memkv_put_directory_bytes(Page page, const uint8 *bytes, Size len)
{
	char	   *dst = PageGetContents(page);

	StaticAssertStmt(RUNDIR_PAGE_CONTENT_BYTES ==
					 BLCKSZ - MAXALIGN(SizeOfPageHeaderData) -
					 MAXALIGN(sizeof(MemkvPageOpaqueData)),
					 "rundir.h's page content size is memkv's");
	Assert(len <= RUNDIR_MAX_BYTES);
	memcpy(dst, bytes, len);
	((PageHeader) page)->pd_lower = (dst + len) - (char *) page;
}

/*
 * Lay out an empty memkv page of kind `flags` whose tag (epoch or run tag)
 * is `epoch`, with no next page.
 */
static void
init_page(Page page, uint16 flags, uint32 epoch)
{
	MemkvPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(MemkvPageOpaqueData));
	opaque = MemkvPageGetOpaque(page);
	opaque->next = InvalidBlockNumber;
	opaque->epoch = epoch;
	opaque->flags = flags;
	opaque->page_id = MEMKV_PAGE_ID;
}

/* Lay out a metapage holding `dir` (which must be valid). */
void
memkv_init_metapage(Page page, const MemkvDirectory *dir)
{
	uint8		bytes[RUNDIR_MAX_BYTES];
	size_t		len = rundir_encode(dir, bytes, sizeof(bytes));

	if (len == 0)
		elog(ERROR, "memkv: directory cannot be encoded");
	init_page(page, MEMKV_PAGE_META, 1);
	memkv_put_directory_bytes(page, bytes, len);
}

/* Lay out an empty delta-log page of `epoch`. */
void
memkv_init_log_page(Page page, uint32 epoch)
{
	init_page(page, MEMKV_PAGE_LOG, epoch);
}

/* Lay out a run page (header, data or filter) tagged `tag`. */
void
memkv_init_run_page(Page page, uint32 tag)
{
	init_page(page, MEMKV_PAGE_RUN, tag);
}

/* Lay out a deleted page (free for reuse). */
void
memkv_init_deleted_page(Page page)
{
	init_page(page, MEMKV_PAGE_DELETED, 0);
}

/* A fresh random identity for a newly built index. */
uint64
memkv_new_instance_id(void)
{
	uint64		id;

	if (!pg_strong_random(&id, sizeof(id)))
		id = (uint64) GetCurrentTimestamp() ^ ((uint64) MyProcPid << 32);
	return id | 1;				/* never 0, which marks an unset entry */
}

/*
 * Raise the corrupted-index error unless `page` is a memkv page carrying
 * one of `expect_flags`, with page header pointers that keep its line
 * pointers and items inside the page (the buffer manager checks them when
 * it reads a page from disk; checked again here because everything memkv
 * reads from a page is bounded by them).  Caller holds a lock on the
 * buffer (or, in recovery, a pin on a page only replay changes).
 */
void
memkv_check_page(Relation index, Buffer buf, Page page, uint16 expect_flags)
{
	PageHeader	phdr = (PageHeader) page;
	MemkvPageOpaque opaque = MemkvPageGetOpaque(page);

	if (!MemkvPageHasOpaque(page) ||
		phdr->pd_lower < SizeOfPageHeaderData ||
		phdr->pd_lower > phdr->pd_upper ||
		phdr->pd_upper > phdr->pd_special ||
		opaque->page_id != MEMKV_PAGE_ID ||
		(opaque->flags & expect_flags) == 0)
		memkv_page_corrupted(index, BufferGetBlockNumber(buf));
}

/*
 * Check that the blocks the metapage names lie inside the relation of
 * `nblocks` blocks: each stripe's log head and each run's first header
 * page.
 * memkv_read_meta and memkv_read_directory check this already, once per
 * new directory (memkv_read_directory_cached); this re-checks a summary
 * against a length the caller has just read.  The run's other pages are
 * checked against the relation's size when its header is read
 * (runpages.c).
 */
void
memkv_check_meta_blocks(Relation index, const MemkvMetaPageData *meta,
						BlockNumber nblocks)
{
	bool		bad = false;
	int			i;

	for (i = 0; i < meta->nstripes; i++)
		bad |= meta->log_head[i] >= nblocks;
	for (i = 0; i < meta->nruns; i++)
		bad |= meta->runs[i].run_header >= nblocks ||
			(meta->runs[i].entry.dead_block != InvalidBlockNumber &&
			 meta->runs[i].entry.dead_block >= nblocks);
	if (bad)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("metapage of index \"%s\" is corrupted: %s",
						RelationGetRelationName(index),
						"a block lies past the end of the relation"),
				 errhint("Please REINDEX it.")));
}

/*
 * The last directory this backend decoded, by its bytes: every scan batch
 * reads the directory, and it rarely changes, so most reads are a memcmp
 * instead of a CRC, a validation and the relation's length.  Equal bytes
 * decode equally and name one index (its instance id), whose relation
 * does not shrink below the blocks a directory names, so the cache needs
 * no key and no invalidation.
 */
static uint8 last_bytes[RUNDIR_MAX_BYTES];
static Size last_len = 0;
static MemkvDirectory last_dir;

/*
 * memkv_read_directory's work; returns the decoded directory, which is
 * the cache's (valid until the next call).
 */
static const MemkvDirectory *
memkv_read_directory_cached(Relation index, Buffer metabuf)
{
	MemkvDirectory *dir = &last_dir;
	Buffer		buf = metabuf;
	uint32		i;
	Page		page;
	uint8		bytes[RUNDIR_PAGE_CONTENT_BYTES];
	uint32		len;
	RundirStatus st;
	const char *msg = NULL;
	BlockNumber nblocks;

	if (!BufferIsValid(metabuf))
	{
		buf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
	}
	page = BufferGetPage(buf);
	memkv_check_page(index, buf, page, MEMKV_PAGE_META);
	/* the encoding's length is its third u32, little-endian */
	memcpy(bytes, PageGetContents(page), 12);
	len = (uint32) bytes[8] | ((uint32) bytes[9] << 8) |
		((uint32) bytes[10] << 16) | ((uint32) bytes[11] << 24);
	if (last_len != 0 && len == last_len &&
		memcmp(PageGetContents(page), last_bytes, len) == 0)
	{
		if (!BufferIsValid(metabuf))
			UnlockReleaseBuffer(buf);
		return &last_dir;
	}
	memcpy(bytes, PageGetContents(page), sizeof(bytes));
	if (!BufferIsValid(metabuf))
		UnlockReleaseBuffer(buf);

	/*
	 * The blocks it names must lie inside the relation.  Its length is
	 * taken after the bytes: every block the directory names was written
	 * before the directory, and the relation only shrinks under an
	 * AccessExclusiveLock (truncate.c), which no caller's lock allows.
	 * One system call per new directory (the cache spares it to the
	 * rest), not one per scan batch or insert.
	 */
	nblocks = RelationGetNumberOfBlocks(index);
	/* the cache is invalid until this decode has succeeded */
	last_len = 0;
	st = rundir_decode(bytes, sizeof(bytes), nblocks, dir, &msg);
	if (st == RUNDIR_OK && (dir->nmerges != 0 || dir->npending != 0 ||
							dir->nlimbo != 0))
	{
		st = RUNDIR_ERR_COUNT;
		msg = "it describes more than this version of memkv writes";
	}
	for (i = 0; st == RUNDIR_OK && i < dir->nstripes; i++)
	{
		if (dir->stripes[i].log_head == RUNDIR_INVALID_BLOCK ||
			dir->stripes[i].log_head == MEMKV_METAPAGE_BLKNO)
		{
			st = RUNDIR_ERR_COUNT;
			msg = "a stripe has no log page";
		}
	}
	for (i = 0; st == RUNDIR_OK && i < dir->nruns; i++)
	{
		if (dir->runs[i].nslices == 0 || dir->runs[i].flags != 0)
		{
			st = RUNDIR_ERR_COUNT;
			msg = "it describes more than this version of memkv writes";
		}
	}
	if (st == RUNDIR_ERR_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not a memkv index",
						RelationGetRelationName(index)),
				 errhint("Please REINDEX it.")));
	if (st == RUNDIR_ERR_VERSION_1X)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" was built by memkv 1.x",
						RelationGetRelationName(index)),
				 errdetail("memkv 2 stores its runs in a new format (version 3)."),
				 errhint("REINDEX it.")));
	if (st != RUNDIR_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("metapage of index \"%s\" is corrupted: %s",
						RelationGetRelationName(index),
						msg ? msg : "invalid directory"),
				 errhint("Please REINDEX it.")));
	/* decoded and valid: len is the encoding's length */
	if (len <= RUNDIR_MAX_BYTES)
	{
		memcpy(last_bytes, bytes, len);
		last_len = len;
	}
	return &last_dir;
}

/*
 * Decode the directory on the metapage into *dir, checking every rule of
 * rundir_decode, the blocks against the relation's length included; a
 * version-2 metapage (memkv 1.x) and any damage are ERRORs with the
 * REINDEX hint.  With a valid `metabuf` the caller holds a lock on the
 * metapage's buffer; otherwise it is read and share-locked here.  This
 * version writes no merge record, pending write or limbo, and runs of one
 * or more slices without flags (dead lists it writes): more is damage too.
 */
void
memkv_read_directory(Relation index, Buffer metabuf, MemkvDirectory *dir)
{
	memcpy(dir, memkv_read_directory_cached(index, metabuf),
		   sizeof(MemkvDirectory));
}

/* The glue's summary of a (decoded, checked) directory. */
void
memkv_meta_from_directory(const MemkvDirectory *dir, MemkvMetaPageData *meta)
{
	uint32		i;

	StaticAssertStmt(MEMKV_MAX_STRIPES == RUNDIR_MAX_STRIPES,
					 "memkv.h's stripe limit is rundir.h's");
	meta->instance_id = dir->instance_id;
	meta->generation = dir->generation;
	meta->epoch = (uint32) dir->generation;
	meta->nstripes = (int) dir->nstripes;
	for (i = 0; i < dir->nstripes; i++)
	{
		meta->log_head[i] = dir->stripes[i].log_head;
		meta->log_head_offset[i] = dir->stripes[i].log_head_offset;
	}
	meta->last_freeze = dir->last_freeze;
	meta->last_merge = dir->last_merge;
	meta->freezes = dir->freeze_count;
	meta->merges = dir->merge_count;
	meta->nruns = (int) dir->nruns;
	for (i = 0; i < dir->nruns; i++)
	{
		const MemkvRunEntry *run = &dir->runs[i];
		MemkvRunDesc *d = &meta->runs[i];

		d->instance_id = dir->instance_id;
		d->run_header = run->header_block;
		d->run_npages = run->npages;
		d->run_id = run->run_id;
		d->run_tag = (uint32) run->run_id;
		d->run_nkeys = run->nkeys;
		d->run_ntids = run->ntids;
		d->run_nnulls = run->nnulls;
		d->entry = *run;
	}
}

/*
 * The index in meta->runs of the run with the most TIDs (the newest of
 * equals), or -1 if there is none: the run the shared copy and its key
 * blocks are for (src/README, "Implementation plan", step 5).
 */
int
memkv_meta_largest_run(const MemkvMetaPageData *meta)
{
	int			best = -1;
	int			i;

	for (i = 0; i < meta->nruns; i++)
	{
		if (best < 0 || meta->runs[i].run_ntids > meta->runs[best].run_ntids)
			best = i;
	}
	return best;
}

/*
 * The runs' TIDs, keys (counted per run: a key in two runs counts twice)
 * and pages, summed over all runs.
 */
void
memkv_meta_run_totals(const MemkvMetaPageData *meta, MemkvRunTotals *t)
{
	int			i;

	memset(t, 0, sizeof(MemkvRunTotals));
	for (i = 0; i < meta->nruns; i++)
	{
		t->ntids += meta->runs[i].run_ntids - meta->runs[i].entry.ndead;
		t->nkeys += meta->runs[i].run_nkeys;
		t->npages += meta->runs[i].run_npages;
	}
}

/* Read and check the directory into the glue's summary *meta. */
void
memkv_read_meta(Relation index, MemkvMetaPageData *meta)
{
	memkv_meta_from_directory(memkv_read_directory_cached(index, InvalidBuffer),
							  meta);
}

/*
 * Return an exclusively locked buffer for a new log page: a deleted page
 * the free space map knows of, or a new block at the end of the relation.
 * The caller initializes it (within its GenericXLog record).
 */
Buffer
memkv_new_buffer(Relation index, uint32 epoch)
{
	Buffer		buf;
	bool		needLock;

	for (;;)
	{
		BlockNumber blkno = GetFreeIndexPage(index);

		if (blkno == InvalidBlockNumber)
			break;
		if (blkno == MEMKV_METAPAGE_BLKNO)
			continue;
		buf = ReadBuffer(index, blkno);
		if (ConditionalLockBuffer(buf))
		{
			Page		page = BufferGetPage(buf);

			if (MemkvPageIsFree(page))
				return buf;
			LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		}
		ReleaseBuffer(buf);
	}

	needLock = !RELATION_IS_LOCAL(index);
	if (needLock)
		LockRelationForExtension(index, ExclusiveLock);
	buf = ReadBuffer(index, P_NEW);
	LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
	if (needLock)
		UnlockRelationForExtension(index, ExclusiveLock);
	return buf;
}

/* Raise the corruption error for a page that is not what it should be. */
void
memkv_page_corrupted(Relation index, BlockNumber blkno)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("index \"%s\" contains a corrupted page at block %u",
					RelationGetRelationName(index), blkno),
			 errhint("Please REINDEX it.")));
}

/* Raise the corruption error for a broken log chain. */
void
memkv_chain_corrupted(Relation index, BlockNumber blkno)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("delta log of index \"%s\" is corrupted near block %u",
					RelationGetRelationName(index), blkno),
			 errhint("Please REINDEX it.")));
}
