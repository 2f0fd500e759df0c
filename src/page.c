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

#include "page.h"

/* Lay out an empty metapage describing a log that starts at block 1. */
void
memkv_init_metapage(Page page, uint64 instance_id)
{
	MemkvPageOpaque opaque;
	MemkvMetaPage meta;

	PageInit(page, BLCKSZ, sizeof(MemkvPageOpaqueData));
	opaque = MemkvPageGetOpaque(page);
	opaque->next = InvalidBlockNumber;
	opaque->epoch = 1;
	opaque->flags = MEMKV_PAGE_META;
	opaque->page_id = MEMKV_PAGE_ID;

	meta = MemkvPageGetMeta(page);
	memset(meta, 0, sizeof(MemkvMetaPageData));
	meta->magic = MEMKV_MAGIC;
	meta->version = MEMKV_FORMAT_VERSION;
	meta->instance_id = instance_id;
	meta->epoch = 1;
	meta->log_head = 1;
	meta->log_head_offset = FirstOffsetNumber;
	meta->log_tail = 1;
	meta->frozen_start = InvalidBlockNumber;
	meta->spare_start = InvalidBlockNumber;
	((PageHeader) page)->pd_lower =
		((char *) meta + sizeof(MemkvMetaPageData)) - (char *) page;
}

/* Lay out an empty delta-log page of `epoch`. */
void
memkv_init_log_page(Page page, uint32 epoch)
{
	MemkvPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(MemkvPageOpaqueData));
	opaque = MemkvPageGetOpaque(page);
	opaque->next = InvalidBlockNumber;
	opaque->epoch = epoch;
	opaque->flags = MEMKV_PAGE_LOG;
	opaque->page_id = MEMKV_PAGE_ID;
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

/* Raise the corruption error for a metapage field out of range. */
static void
memkv_meta_corrupted(Relation index, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("metapage of index \"%s\" is corrupted: %s",
					RelationGetRelationName(index), what),
			 errhint("Please REINDEX it.")));
}

/*
 * Check the metapage fields that need nothing but the metapage: block
 * numbers that name no page memkv can use, a frozen run whose byte sizes
 * do not fit its pages or whose pages would pass the largest block
 * number, a spare region past the largest block number.  (A spare region
 * may overlap the run's reserved room: after a promotion the relation can
 * end inside that room, unlogged, and the next run starts there.)  What
 * needs the relation's size is checked by memkv_check_meta_blocks, where
 * a block is followed.
 */
static void
memkv_check_meta_fields(Relation index, const MemkvMetaPageData *meta)
{
	if (meta->log_head == MEMKV_METAPAGE_BLKNO ||
		meta->log_head == InvalidBlockNumber ||
		meta->log_tail == MEMKV_METAPAGE_BLKNO ||
		meta->log_tail == InvalidBlockNumber)
		memkv_meta_corrupted(index, "the delta log's head or tail is out of range");
	if (meta->log_head_offset < FirstOffsetNumber ||
		meta->log_head_offset > MaxOffsetNumber)
		memkv_meta_corrupted(index, "the delta log's head offset is out of range");
	if (meta->frozen_start != InvalidBlockNumber)
	{
		uint64		room = (uint64) meta->frozen_npages * MEMKV_FROZEN_CHUNK;
		uint64		extent = Max(meta->frozen_alloc, meta->frozen_npages);

		if (meta->frozen_start == MEMKV_METAPAGE_BLKNO ||
			meta->frozen_npages == 0 ||
			(uint64) meta->frozen_start + extent > MaxBlockNumber)
			memkv_meta_corrupted(index, "the frozen run's pages are out of range");
		/* each size alone first, so that the sum cannot wrap */
		if (meta->fst_size > room || meta->postings_size > room ||
			meta->nullpost_size > room ||
			meta->fst_size + meta->postings_size + meta->nullpost_size > room ||
			meta->fst_size + meta->postings_size + meta->nullpost_size +
			MEMKV_FROZEN_CHUNK <= room)
			memkv_meta_corrupted(index, "the frozen run's sizes do not match its pages");
		if (meta->frozen_epoch > meta->epoch)
			memkv_meta_corrupted(index, "the frozen run is newer than the index");
	}
	if (meta->spare_start != InvalidBlockNumber)
	{
		if (meta->spare_start == MEMKV_METAPAGE_BLKNO ||
			(uint64) meta->spare_start + meta->spare_npages > MaxBlockNumber)
			memkv_meta_corrupted(index, "the spare region is out of range");
	}
}

/*
 * Check that the blocks the metapage names lie inside the relation of
 * `nblocks` blocks: the log's head and tail, the frozen run's pages.
 * Not the room reserved after a run nor the spare region: the reserved
 * blocks are added to the relation without WAL, so after a crash or on a
 * standby the relation may end before them.  Callers that follow one of
 * these blocks call this first (memkv_read_meta does not: it would cost
 * every scan batch a system call for the relation's size).
 */
void
memkv_check_meta_blocks(Relation index, const MemkvMetaPageData *meta,
						BlockNumber nblocks)
{
	if (meta->log_head >= nblocks || meta->log_tail >= nblocks)
		memkv_meta_corrupted(index, "the delta log points past the end of the relation");
	if (meta->frozen_start != InvalidBlockNumber &&
		(uint64) meta->frozen_start + meta->frozen_npages > nblocks)
		memkv_meta_corrupted(index, "the frozen run lies past the end of the relation");
}

/*
 * Copy the metapage's contents into *meta, checking magic, version and
 * every field that can be checked without the relation's size
 * (memkv_check_meta_fields).
 */
void
memkv_read_meta(Relation index, MemkvMetaPageData *meta)
{
	Buffer		buf = ReadBuffer(index, MEMKV_METAPAGE_BLKNO);
	Page		page;

	LockBuffer(buf, BUFFER_LOCK_SHARE);
	page = BufferGetPage(buf);
	memkv_check_page(index, buf, page, MEMKV_PAGE_META);
	memcpy(meta, MemkvPageGetMeta(page), sizeof(MemkvMetaPageData));
	UnlockReleaseBuffer(buf);

	if (meta->magic != MEMKV_MAGIC)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("index \"%s\" is not a memkv index",
						RelationGetRelationName(index)),
				 errhint("Please REINDEX it.")));
	if (meta->version != MEMKV_FORMAT_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("memkv index \"%s\" has format version %u, this build reads version %u",
						RelationGetRelationName(index), meta->version,
						MEMKV_FORMAT_VERSION),
				 errhint("Please REINDEX it.")));
	memkv_check_meta_fields(index, meta);
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
