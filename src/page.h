/*-------------------------------------------------------------------------
 *
 * page.h
 *	  memkv's page kinds: the special space every page carries, the
 *	  metapage's contents, and the functions that lay out and check pages
 *	  (page.c).
 *
 * The on-disk format is described in src/README, "On-disk format".
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_PAGE_H
#define MEMKV_PAGE_H

#include "storage/block.h"
#include "storage/buf.h"
#include "storage/bufpage.h"
#include "utils/relcache.h"

#include "pg_compat.h"

/*
 * Page layout.  Every page but a never-initialized one carries this special
 * space.  Block 0 is the metapage; every other page is a delta-log page or a
 * free (deleted) page.
 */
#define MEMKV_PAGE_ID		0xFF8D

#define MEMKV_PAGE_META		(1 << 0)
#define MEMKV_PAGE_LOG		(1 << 1)
#define MEMKV_PAGE_DELETED	(1 << 2)

typedef struct MemkvPageOpaqueData
{
	BlockNumber next;			/* next page of the delta log, or Invalid */
	uint32		epoch;			/* index epoch when the page was written */
	uint16		flags;			/* MEMKV_PAGE_* */
	uint16		page_id;		/* MEMKV_PAGE_ID */
} MemkvPageOpaqueData;

typedef MemkvPageOpaqueData *MemkvPageOpaque;

#define MemkvPageGetOpaque(page) \
	((MemkvPageOpaque) PageGetSpecialPointer(page))

/*
 * Does the page have a special space of memkv's size, so that
 * MemkvPageGetOpaque points inside it?  Test before reading the opaque
 * data of a page not known to be memkv's.
 */
#define MemkvPageHasOpaque(page) \
	(!PageIsNew(page) && \
	 ((PageHeader) (page))->pd_special == \
	 BLCKSZ - MAXALIGN(sizeof(MemkvPageOpaqueData)))

#define MEMKV_PAGE_FROZEN	(1 << 3)

/* May this page be (re)used: never initialized, or marked deleted? */
#define MemkvPageIsFree(page) \
	(PageIsNew(page) || \
	 (MemkvPageHasOpaque(page) && \
	  MemkvPageGetOpaque(page)->page_id == MEMKV_PAGE_ID && \
	  (MemkvPageGetOpaque(page)->flags & MEMKV_PAGE_DELETED) != 0))

/* Bytes of a frozen-layer image each frozen page holds. */
#define MEMKV_FROZEN_CHUNK \
	(BLCKSZ - MAXALIGN(SizeOfPageHeaderData) - MAXALIGN(sizeof(MemkvPageOpaqueData)))

#define MEMKV_METAPAGE_BLKNO	0
#define MEMKV_MAGIC				0x4D4B5631	/* "MKV1" */
#define MEMKV_FORMAT_VERSION	2

/*
 * Contents of the metapage.
 *
 * epoch is bumped by every operation that retires pages (a VACUUM rewrite
 * of the log, a freeze); every page records the epoch it was written in,
 * which is how readers that hold no lock against replay (hot standby)
 * detect a page that was freed and reused under them.  instance_id is
 * random per CREATE INDEX/REINDEX, so a shared-memory tree can tell
 * whether it still mirrors this relation.
 *
 * The delta log starts at entry log_head_offset of page log_head (entries
 * before it on that page were frozen) and ends on log_tail.
 *
 * The frozen layer is a run of frozen_npages contiguous pages from
 * frozen_start, written in epoch frozen_epoch, holding one byte stream:
 * the FST image (fst_size bytes), then the postings image of the keys
 * (postings_size), then the postings image of the NULL key
 * (nullpost_size).  frozen_start is InvalidBlockNumber when it is empty.
 */
typedef struct MemkvMetaPageData
{
	uint32		magic;
	uint32		version;
	uint64		instance_id;
	uint32		epoch;
	BlockNumber log_head;		/* first delta-log page */
	OffsetNumber log_head_offset;	/* first live entry on log_head */
	BlockNumber log_tail;		/* last delta-log page: appends go here */
	BlockNumber frozen_start;
	uint32		frozen_npages;
	uint32		frozen_epoch;
	uint64		fst_size;
	uint64		postings_size;
	uint64		nullpost_size;
	uint64		frozen_nkeys;	/* distinct non-NULL keys */
	uint64		frozen_ntids;	/* TIDs, NULL keys included */
	int64		last_freeze;	/* TimestampTz of the last freeze, or 0 */
	uint64		freezes;		/* freezes since CREATE INDEX */
	uint32		frozen_alloc;	/* pages reserved for the run (>= npages) */
	BlockNumber spare_start;	/* the previous run's pages, kept for the */
	uint32		spare_npages;	/* next run (not in the FSM), or Invalid */
	uint32		frozen_crc;		/* CRC-32C of the run's bytes (fst_size +
								 * postings_size + nullpost_size of them) */
} MemkvMetaPageData;

typedef MemkvMetaPageData *MemkvMetaPage;

#define MemkvPageGetMeta(page) ((MemkvMetaPage) PageGetContents(page))

extern void memkv_init_metapage(Page page, uint64 instance_id);
extern void memkv_init_log_page(Page page, uint32 epoch);
extern uint64 memkv_new_instance_id(void);
extern void memkv_check_page(Relation index, Buffer buf, Page page,
							 uint16 expect_flags);
extern void memkv_check_meta_blocks(Relation index,
									const MemkvMetaPageData *meta,
									BlockNumber nblocks);
extern void memkv_read_meta(Relation index, MemkvMetaPageData *meta);
extern Buffer memkv_new_buffer(Relation index, uint32 epoch);
extern void memkv_page_corrupted(Relation index, BlockNumber blkno)
			pg_attribute_noreturn();
extern void memkv_chain_corrupted(Relation index, BlockNumber blkno);

#endif							/* MEMKV_PAGE_H */
