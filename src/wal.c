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
#include "storage/indexfsm.h"
#include "utils/rel.h"

#include "page.h"
#include "wal.h"

/* Record types (the high bits of xl_info). */
#define XLOG_MEMKV_APPEND		0x00	/* entry added to the tail page */
#define XLOG_MEMKV_APPEND_PAGE	0x10	/* entry added to a new tail page */
#define XLOG_MEMKV_SWITCH		0x20	/* the directory rewritten */
#define XLOG_MEMKV_FREE			0x30	/* pages marked deleted */
#define XLOG_MEMKV_OPMASK		0x70	/* the record type's bits */
#define XLOG_MEMKV_REMOVES_TIDS	0x80	/* SWITCH: scans lose TIDs (VACUUM) */

/*
 * XLOG_MEMKV_APPEND: block 0 is the tail page; its block data is the
 * entry, which lands at `offnum`.
 *
 * XLOG_MEMKV_APPEND_PAGE: block 0 the old tail, block 1 the new tail page
 * (initialized by redo); block 1's data is the entry.  The new page is
 * tagged `epoch` (the generation's low 32 bits).  The metapage is not
 * touched: the log's tail is where its chain ends (src/README, "Stripes
 * and inserts").
 *
 * XLOG_MEMKV_SWITCH: block 0 the metapage; the record's data is the whole
 * new directory (rundir.c's encoding), which redo writes over the old.
 * With XLOG_MEMKV_REMOVES_TIDS (VACUUM's switch) redo first takes a
 * cleanup lock on the metapage, so it waits for -- and, past
 * max_standby_streaming_delay, cancels -- standby index-only scans that
 * hold a batch (they keep the metapage pinned: guard.c), as btree's
 * VACUUM redo does for a pinned leaf.
 *
 * XLOG_MEMKV_FREE: blocks 0..n-1 (n <= XLR_MAX_BLOCK_ID + 1), each
 * re-initialized by redo as a deleted page; no data.
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

	XLogRecGetBlockTag(record, 1, NULL, NULL, &newblk);

	newbuf = XLogInitBufferForRedo(record, 1);
	page = BufferGetPage(newbuf);
	memkv_init_log_page(page, xlrec->epoch);
	itup = XLogRecGetBlockData(record, 1, &len);
	if (PageAddItem(page, (Item) itup, len, xlrec->offnum,
					false, false) != xlrec->offnum)
		elog(PANIC, "memkv_redo: failed to add log entry to new page");
	PageSetLSN(page, record->EndRecPtr);
	MarkBufferDirty(newbuf);

	if (XLogReadBufferForRedo(record, 0, &buf) == BLK_NEEDS_REDO)
	{
		page = BufferGetPage(buf);
		MemkvPageGetOpaque(page)->next = newblk;
		PageSetLSN(page, record->EndRecPtr);
		MarkBufferDirty(buf);
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);

	UnlockReleaseBuffer(newbuf);
}

static void
memkv_redo_switch(XLogReaderState *record)
{
	bool		removes = (XLogRecGetInfo(record) & XLOG_MEMKV_REMOVES_TIDS) != 0;
	Buffer		buf;

	if (XLogReadBufferForRedoExtended(record, 0, RBM_NORMAL, removes,
									  &buf) == BLK_NEEDS_REDO)
	{
		Page		page = BufferGetPage(buf);

		memkv_put_directory_bytes(page, (const uint8 *) XLogRecGetData(record),
								  XLogRecGetDataLen(record));
		PageSetLSN(page, record->EndRecPtr);
		MarkBufferDirty(buf);
	}
	if (BufferIsValid(buf))
		UnlockReleaseBuffer(buf);
}

static void
memkv_redo_free(XLogReaderState *record)
{
	int			i;

	for (i = 0; i <= XLogRecMaxBlockId(record); i++)
	{
		Buffer		buf = XLogInitBufferForRedo(record, i);
		Page		page = BufferGetPage(buf);

		memkv_init_deleted_page(page);
		PageSetLSN(page, record->EndRecPtr);
		MarkBufferDirty(buf);
		UnlockReleaseBuffer(buf);
	}
}

static void
memkv_redo(XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & XLOG_MEMKV_OPMASK;

	switch (info)
	{
		case XLOG_MEMKV_APPEND:
			memkv_redo_append(record);
			break;
		case XLOG_MEMKV_APPEND_PAGE:
			memkv_redo_append_page(record);
			break;
		case XLOG_MEMKV_SWITCH:
			memkv_redo_switch(record);
			break;
		case XLOG_MEMKV_FREE:
			memkv_redo_free(record);
			break;
		default:
			elog(PANIC, "memkv_redo: unknown op code %u", info);
	}
}

static void
memkv_desc(StringInfo buf, XLogReaderState *record)
{
	uint8		info = XLogRecGetInfo(record) & XLOG_MEMKV_OPMASK;

	if (info == XLOG_MEMKV_APPEND || info == XLOG_MEMKV_APPEND_PAGE)
	{
		xl_memkv_append *xlrec = (xl_memkv_append *) XLogRecGetData(record);

		appendStringInfo(buf, "off %u gen %u", xlrec->offnum, xlrec->epoch);
	}
	else if (info == XLOG_MEMKV_SWITCH)
		appendStringInfo(buf, "directory %u bytes%s",
						 (unsigned) XLogRecGetDataLen(record),
						 (XLogRecGetInfo(record) & XLOG_MEMKV_REMOVES_TIDS) ?
						 ", removes TIDs" : "");
	else if (info == XLOG_MEMKV_FREE)
		appendStringInfo(buf, "%d pages", XLogRecMaxBlockId(record) + 1);
}

static const char *
memkv_identify(uint8 info)
{
	switch (info & XLOG_MEMKV_OPMASK)
	{
		case XLOG_MEMKV_APPEND:
			return "APPEND";
		case XLOG_MEMKV_APPEND_PAGE:
			return "APPEND_PAGE";
		case XLOG_MEMKV_SWITCH:
			return "SWITCH";
		case XLOG_MEMKV_FREE:
			return "FREE";
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
 * Start a new tail page `newbuf` holding `itup` and link it from the old
 * tail `tailbuf`, in one WAL record.  Both buffers are exclusively locked
 * by the caller.
 */
OffsetNumber
memkv_wal_append_page(Relation index, Buffer tailbuf, Buffer newbuf,
					  uint32 epoch, IndexTuple itup)
{
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
	MarkBufferDirty(newbuf);
	MarkBufferDirty(tailbuf);
	if (RelationNeedsWAL(index))
	{
		XLogRecPtr	recptr;

		xlrec.offnum = FirstOffsetNumber;
		xlrec.epoch = epoch;
		XLogBeginInsert();
		XLogRegisterData((char *) &xlrec, SizeOfMemkvAppend);
		XLogRegisterBuffer(0, tailbuf, REGBUF_STANDARD);
		XLogRegisterBuffer(1, newbuf, REGBUF_WILL_INIT | REGBUF_STANDARD);
		XLogRegisterBufData(1, (char *) itup, size);
		recptr = XLogInsert(MEMKV_RMGR_ID, XLOG_MEMKV_APPEND_PAGE);
		PageSetLSN(tailpage, recptr);
		PageSetLSN(newpage, recptr);
	}
	END_CRIT_SECTION();
	return FirstOffsetNumber;
}

/*
 * Write `dir` over the directory on the metapage `metabuf` (exclusively
 * locked by the caller), WAL-logged as one XLOG_MEMKV_SWITCH record.  The
 * directory must be valid (rundir_validate); it is encoded before the
 * critical section, so nothing in it can fail.
 */
void
memkv_wal_switch(Relation index, Buffer metabuf, const MemkvDirectory *dir)
{
	memkv_wal_switch_removing(index, metabuf, dir, false);
}

/*
 * The same, for a switch after which scans no longer find TIDs they could
 * find before (`removes_tids`: VACUUM's), marked so that its redo takes a
 * cleanup lock on the metapage.
 */
void
memkv_wal_switch_removing(Relation index, Buffer metabuf,
						  const MemkvDirectory *dir, bool removes_tids)
{
	Page		page = BufferGetPage(metabuf);
	uint8		bytes[RUNDIR_MAX_BYTES];
	size_t		len = rundir_encode(dir, bytes, sizeof(bytes));

	if (len == 0)
		elog(ERROR, "memkv: directory of \"%s\" cannot be encoded",
			 RelationGetRelationName(index));
	START_CRIT_SECTION();
	memkv_put_directory_bytes(page, bytes, len);
	MarkBufferDirty(metabuf);
	if (RelationNeedsWAL(index))
	{
		XLogRecPtr	recptr;

		XLogBeginInsert();
		XLogRegisterBuffer(0, metabuf, REGBUF_STANDARD);
		XLogRegisterData((char *) bytes, len);
		recptr = XLogInsert(MEMKV_RMGR_ID, XLOG_MEMKV_SWITCH |
							(removes_tids ? XLOG_MEMKV_REMOVES_TIDS : 0));
		PageSetLSN(page, recptr);
	}
	END_CRIT_SECTION();
}

/*
 * Mark the pages of bufs[0..n) deleted, WAL-logged in records of up to
 * XLR_MAX_BLOCK_ID + 1 pages that carry no page image (redo re-initializes
 * them).  Every buffer is exclusively locked by the caller, and none may
 * be reachable from the index any more.
 */
void
memkv_wal_free(Relation index, Buffer *bufs, int n)
{
	int			done = 0;

	if (RelationNeedsWAL(index) && n > XLR_NORMAL_MAX_BLOCK_ID + 1)
		XLogEnsureRecordSpace(XLR_MAX_BLOCK_ID, 0);
	while (done < n)
	{
		int			k = Min(n - done, XLR_MAX_BLOCK_ID + 1);
		int			i;

		START_CRIT_SECTION();
		for (i = 0; i < k; i++)
		{
			memkv_init_deleted_page(BufferGetPage(bufs[done + i]));
			MarkBufferDirty(bufs[done + i]);
		}
		if (RelationNeedsWAL(index))
		{
			XLogRecPtr	recptr;

			XLogBeginInsert();
			for (i = 0; i < k; i++)
				XLogRegisterBuffer(i, bufs[done + i],
								   REGBUF_WILL_INIT | REGBUF_STANDARD);
			recptr = XLogInsert(MEMKV_RMGR_ID, XLOG_MEMKV_FREE);
			for (i = 0; i < k; i++)
				PageSetLSN(BufferGetPage(bufs[done + i]), recptr);
		}
		END_CRIT_SECTION();
		done += k;
	}
}

/* Mark a page deleted (WAL-logged) and give it to the free space map. */
void
memkv_delete_page(Relation index, Buffer buf)
{
	memkv_wal_free(index, &buf, 1);
	RecordFreeIndexPage(index, BufferGetBlockNumber(buf));
}
