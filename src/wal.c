/*-------------------------------------------------------------------------
 *
 * wal.c
 *	  memkv's WAL resource manager: the records that append to the delta
 *	  log, their redo, and their description for pg_waldump.
 *
 * Appends are the hot path of every INSERT, so they get compact records
 * of their own (the new entry and its offset) instead of GenericXLog's
 * page diffs.  Rarer operations (CREATE INDEX, VACUUM's log rewrite) use
 * GenericXLog.  The resource manager is registered from _PG_init, which
 * is why memkv must be in shared_preload_libraries of every server that
 * replays its WAL, standbys included.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/bufmask.h"
#include "access/xlog_internal.h"
#include "access/xloginsert.h"
#include "access/xlogreader.h"
#include "access/xlogutils.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

#include "page.h"
#include "wal.h"

/* Record types (the high bits of xl_info). */
#define XLOG_MEMKV_APPEND		0x00	/* entry added to the tail page */
#define XLOG_MEMKV_APPEND_PAGE	0x10	/* entry added to a new tail page */

/*
 * XLOG_MEMKV_APPEND: block 0 is the tail page; its block data is the
 * entry, which lands at `offnum`.
 *
 * XLOG_MEMKV_APPEND_PAGE: block 0 the metapage, block 1 the old tail,
 * block 2 the new tail page (initialized by redo); block 2's data is the
 * entry.  The new page belongs to log `epoch`.
 */
typedef struct xl_memkv_append
{
	OffsetNumber offnum;
	uint32		epoch;
} xl_memkv_append;

#define SizeOfMemkvAppend (offsetof(xl_memkv_append, epoch) + sizeof(uint32))

static void
memkv_redo_append(XLogReaderState *record)
{
	xl_memkv_append *xlrec = (xl_memkv_append *) XLogRecGetData(record);
	Buffer		buf;

	if (XLogReadBufferForRedo(record, 0, &buf) == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(buf);
		Size		len;
		char	   *itup = XLogRecGetBlockData(record, 0, &len);

		if (PageAddItem(page, (Item) itup, len, xlrec->offnum,
						false, false) != xlrec->offnum)
			elog(PANIC, "memkv_redo: failed to add log entry");
		PageSetLSN(page, record->EndRecPtr);
		MarkBufferDirty(buf);
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

static void
memkv_redo_append_page(XLogReaderState *record)
{
	xl_memkv_append *xlrec = (xl_memkv_append *) XLogRecGetData(record);
	BlockNumber newblk;
	Buffer		newbuf;
	Buffer		buf;
	Page		page;
	Size		len;
	char	   *itup;

	XLogRecGetBlockTag(record, 2, NULL, NULL, &newblk);

	newbuf = XLogInitBufferForRedo(record, 2);
	page = BufferGetPage(newbuf);
	memkv_init_log_page(page, xlrec->epoch);
	itup = XLogRecGetBlockData(record, 2, &len);
	if (PageAddItem(page, (Item) itup, len, xlrec->offnum,
					false, false) != xlrec->offnum)
		elog(PANIC, "memkv_redo: failed to add log entry to new page");
	PageSetLSN(page, record->EndRecPtr);
	MarkBufferDirty(newbuf);

	if (XLogReadBufferForRedo(record, 1, &buf) == BLK_NEEDS_REDO)
	{
		page = BufferGetPage(buf);
		MemkvPageGetOpaque(page)->next = newblk;
		PageSetLSN(page, record->EndRecPtr);
		MarkBufferDirty(buf);
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);

	if (XLogReadBufferForRedo(record, 0, &buf) == BLK_NEEDS_REDO)
	{
		page = BufferGetPage(buf);
		MemkvPageGetMeta(page)->log_tail = newblk;
		PageSetLSN(page, record->EndRecPtr);
		MarkBufferDirty(buf);
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);

	UnlockReleaseBuffer(newbuf);
}

static void
memkv_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & ~XLR_INFO_MASK;

	switch (info)
	{
		case XLOG_MEMKV_APPEND:
			memkv_redo_append(record);
			break;
		case XLOG_MEMKV_APPEND_PAGE:
			memkv_redo_append_page(record);
			break;
		default:
			elog(PANIC, "memkv_redo: unknown op code %u", info);
	}
}

static void
memkv_desc(StringInfo buf, XLogReaderState *record)
{
	xl_memkv_append *xlrec = (xl_memkv_append *) XLogRecGetData(record);

	appendStringInfo(buf, "off %u gen %u", xlrec->offnum, xlrec->epoch);
}

static const char *
memkv_identify(uint8 info)
{
	switch (info & ~XLR_INFO_MASK)
	{
		case XLOG_MEMKV_APPEND:
			return "APPEND";
		case XLOG_MEMKV_APPEND_PAGE:
			return "APPEND_PAGE";
	}
	return NULL;
}

/* For wal_consistency_checking: nothing memkv writes is a hint. */
static void
memkv_mask(char *pagedata, BlockNumber blkno)
{
	mask_page_lsn_and_checksum((Page) pagedata);
	mask_page_hint_bits((Page) pagedata);
	mask_unused_space((Page) pagedata);
}

static RmgrData memkv_rmgr = {
	.rm_name = "memkv",
	.rm_redo = memkv_redo,
	.rm_desc = memkv_desc,
	.rm_identify = memkv_identify,
	.rm_mask = memkv_mask,
};

/* Called from _PG_init while shared_preload_libraries is processed. */
void
memkv_register_rmgr(void)
{
	RegisterCustomRmgr(MEMKV_RMGR_ID, &memkv_rmgr);
}

/*
 * Add `itup` to the tail page `buf` (exclusively locked, with room
 * checked by the caller) and WAL-log it.  Returns its offset.
 */
OffsetNumber
memkv_wal_append(Relation index, Buffer buf, IndexTuple itup)
{
	Page		page = BufferGetPage(buf);
	Size		size = IndexTupleSize(itup);
	OffsetNumber offnum = OffsetNumberNext(PageGetMaxOffsetNumber(page));
	xl_memkv_append xlrec;

	START_CRIT_SECTION();
	if (PageAddItem(page, (Item) itup, size, offnum, false, false) != offnum)
		elog(PANIC, "memkv: failed to add log entry to block %u",
			 BufferGetBlockNumber(buf));
	MarkBufferDirty(buf);
	if (RelationNeedsWAL(index))
	{
		XLogRecPtr	recptr;

		xlrec.offnum = offnum;
		xlrec.epoch = MemkvPageGetOpaque(page)->epoch;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfMemkvAppend);
		XLogRegisterBuffer(0, buf, REGBUF_STANDARD);
		XLogRegisterBufData(0, (char *) itup, size);
		recptr = XLogInsert(MEMKV_RMGR_ID, XLOG_MEMKV_APPEND);
		PageSetLSN(page, recptr);
	}
	END_CRIT_SECTION();
	return offnum;
}

/*
 * Start a new tail page `newbuf` holding `itup`, link it from the old
 * tail `tailbuf` and record it in the metapage `metabuf`, all in one WAL
 * record.  All three buffers are exclusively locked by the caller.
 */
OffsetNumber
memkv_wal_append_page(Relation index, Buffer metabuf, Buffer tailbuf,
					  Buffer newbuf, uint32 epoch, IndexTuple itup)
{
	Page		metapage = BufferGetPage(metabuf);
	Page		tailpage = BufferGetPage(tailbuf);
	Page		newpage = BufferGetPage(newbuf);
	Size		size = IndexTupleSize(itup);
	BlockNumber newblk = BufferGetBlockNumber(newbuf);
	xl_memkv_append xlrec;

	START_CRIT_SECTION();
	memkv_init_log_page(newpage, epoch);
	if (PageAddItem(newpage, (Item) itup, size, FirstOffsetNumber,
					false, false) != FirstOffsetNumber)
		elog(PANIC, "memkv: failed to add log entry to a new page");
	MemkvPageGetOpaque(tailpage)->next = newblk;
	MemkvPageGetMeta(metapage)->log_tail = newblk;
	MarkBufferDirty(newbuf);
	MarkBufferDirty(tailbuf);
	MarkBufferDirty(metabuf);
	if (RelationNeedsWAL(index))
	{
		XLogRecPtr	recptr;

		xlrec.offnum = FirstOffsetNumber;
		xlrec.epoch = epoch;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfMemkvAppend);
		XLogRegisterBuffer(0, metabuf, REGBUF_STANDARD);
		XLogRegisterBuffer(1, tailbuf, REGBUF_STANDARD);
		XLogRegisterBuffer(2, newbuf, REGBUF_WILL_INIT | REGBUF_STANDARD);
		XLogRegisterBufData(2, (char *) itup, size);
		recptr = XLogInsert(MEMKV_RMGR_ID, XLOG_MEMKV_APPEND_PAGE);
		PageSetLSN(metapage, recptr);
		PageSetLSN(tailpage, recptr);
		PageSetLSN(newpage, recptr);
	}
	END_CRIT_SECTION();
	return FirstOffsetNumber;
}
