/*-------------------------------------------------------------------------
 *
 * runcopy.c
 *	  The shared-memory copy of the frozen run and its key blocks: the
 *	  scan accelerator of memkv 1.x.  Whether one is wanted, building it
 *	  (a whole-run read checked against the run's CRC), making and
 *	  installing key blocks, freeing both; and memkv_verify's checksum
 *	  check, which reads the run the same way.
 *
 * The copy and key blocks live in the arena, named by the entry's run_copy*
 * and run_kb* fields, and take at most half of it (the delta trees need
 * the rest).  They are built and freed under the entry lock held
 * exclusively and read under it shared; key blocks are made in backend
 * memory with no lock held (memkv_run_kb_make), then installed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "port/pg_crc32c.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fst.h"
#include "keyblocks.h"
#include "memkv.h"
#include "memutil.h"
#include "page.h"
#include "registry.h"
#include "request.h"
#include "runcopy.h"
#include "runpages.h"
#include "runread.h"
#include "stripe.h"

/*
 * Would a copy of the frozen run in shared memory help this scan?  True if
 * the index has a run and the entry holds no copy of it yet (and none
 * failed for lack of room).  The copy holds every slice's stream, one
 * after the other.  Caller holds the entry lock.
 */
bool
memkv_run_copy_wanted(MemkvEntry *entry, const MemkvMetaPageData *meta, int i)
{
	const MemkvRunDesc *run;

	if (i < 0)
		return false;
	run = &meta->runs[i];
	if (entry->run_copy_instance == run->instance_id &&
		entry->run_copy_epoch == run->run_tag &&
		entry->run_copy_start == run->run_header)
		return entry->run_copy == ARENA_NULL && !entry->run_copy_failed;
	return true;
}

/*
 * Read the whole byte stream of each slice of the run `meta` describes,
 * page by page, copying the streams one after the other to `dst` unless
 * that is NULL, and check each against its slice's checksum.  Returns true
 * if they all match.  False if one does not, or if a page is not the
 * run's: then *bad_block is that page's block number (InvalidBlockNumber
 * for a mismatch).
 */
static bool
memkv_frozen_read_run(Relation index, const MemkvMetaPageData *meta, int i,
					  uint8 *dst, BlockNumber *bad_block)
{
	const MemkvRunDesc *run = &meta->runs[i];
	const RunHeader *hdr = memkv_run_memo_header(index, meta, i);
	MemkvPageSource ps;
	uint32		s;
	bool		ok = true;

	*bad_block = InvalidBlockNumber;
	memkv_page_source_init(&ps, index, hdr, run->run_tag, 0);
	for (s = 0; s < hdr->nslices && ok; s++)
	{
		const RunSlice *slice = &hdr->slices[s];
		uint64		total = slice->postings_bytes + slice->leaf_bytes +
			slice->top_bytes;
		pg_crc32c	crc;
		uint64		idx;

		INIT_CRC32C(crc);
		for (idx = 0; idx * MEMKV_RUN_CHUNK < total; idx++)
		{
			uint64		lpage = slice->first_page + idx;
			const uint8 *src = memkv_page_source_page(&ps, lpage);
			Size		n = Min(MEMKV_RUN_CHUNK, total - idx * MEMKV_RUN_CHUNK);

			if (src == NULL)
			{
				memkv_page_source_release(&ps);
				if (!runhdr_page_block(hdr, (uint32) lpage, bad_block))
					*bad_block = run->run_header;
				return false;
			}
			if (dst)
				memcpy(dst + idx * MEMKV_RUN_CHUNK, src, n);
			COMP_CRC32C(crc, src, n);
		}
		FIN_CRC32C(crc);
		if (dst)
			dst += total;
		ok = EQ_CRC32C(crc, slice->crc);
		CHECK_FOR_INTERRUPTS();
	}
	memkv_page_source_release(&ps);
	return ok;
}

/*
 * Check a run against its checksum by reading all its pages; false if
 * they do not match it (or a page is not the run's).  For memkv_verify.
 * In recovery a page that is not the run's was reused by replay since the
 * caller read the metapage: that is the serialization error scans raise,
 * not a mismatch.
 */
bool
memkv_frozen_checksum_ok(Relation index, const MemkvMetaPageData *meta, int i)
{
	BlockNumber bad_block;

	if (memkv_frozen_read_run(index, meta, i, NULL, &bad_block))
		return true;
	if (bad_block != InvalidBlockNumber && RecoveryInProgress())
		memkv_frozen_raced(index);
	return false;
}

/*
 * Copy the frozen run described by `meta` into the arena, replacing any
 * older copy, and check the copy against the run's checksum: a mismatch
 * is an ERROR (on a primary the pages of a current run never change).  If
 * the copy would leave less than half of the arena free, remember that
 * (for this run) and leave scans to read the pages.  Entry lock held
 * exclusively.
 *
 * Reading the pages can fail with an ERROR (the buffer manager refuses a
 * damaged page).  So the block is recorded in the entry before the first
 * page is read, under no run's name: until the copy is complete and
 * checked no scan uses it.  An ERROR frees it on its way out, so that it
 * does not count against other indexes' copies (the half-the-arena rule);
 * should anything else end the read, the next build (or an eviction)
 * frees it with the entry's other memory.  Nothing leaks.
 */
void
memkv_run_copy_build(Relation index, MemkvEntry *entry,
						 const MemkvMetaPageData *meta, int i)
{
	const MemkvRunDesc *run = &meta->runs[i];
	uint64		total;
	ArenaPtr	p;
	uint8	   *dst;
	BlockNumber bad_block;
	bool		ok;

	if (!memkv_run_copy_wanted(entry, meta, i))
		return;
	total = memkv_run_slice_bytes(memkv_run_memo_header(index, meta, i));
	memkv_entry_free_run_copy(entry);
	p = total < ARENA_MAX_ALLOC ?
		memkv_accelerator_alloc(Max(total, 1)) : ARENA_NULL;
	if (p == ARENA_NULL)
	{
		entry->run_copy_instance = run->instance_id;
		entry->run_copy_epoch = run->run_tag;
		entry->run_copy_start = run->run_header;
		entry->run_copy_failed = true;
		return;
	}
	/* recorded, under no run's name, before anything can fail */
	entry->run_copy = p;
	entry->run_copy_bytes = Max(total, 1);
	dst = ARENA_ADDR(memkv_allocator()->base, p);
	PG_TRY();
	{
		ok = memkv_frozen_read_run(index, meta, i, dst, &bad_block);
	}
	PG_CATCH();
	{
		/* give the block back now (the entry lock is still held) */
		memkv_entry_free_run_copy(entry);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (!ok)
	{
		memkv_entry_free_run_copy(entry);
		/* in recovery, replay moved on or rewrote pages: no copy this time */
		if (RecoveryInProgress())
			return;
		if (bad_block != InvalidBlockNumber)
			ereport(ERROR,
					(errcode(ERRCODE_INDEX_CORRUPTED),
					 errmsg("frozen layer of index \"%s\" is corrupted: block %u is not one of its pages",
							RelationGetRelationName(index), bad_block),
					 errhint("Please REINDEX it.")));
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("frozen layer of index \"%s\" is corrupted: its pages do not match their checksum",
						RelationGetRelationName(index)),
				 errhint("Please REINDEX it.")));
	}
	/* complete and checked: scans of this run may use it now */
	entry->run_copy_instance = run->instance_id;
	entry->run_copy_epoch = run->run_tag;
	entry->run_copy_start = run->run_header;
}

/*
 * Arena space for a scan accelerator (a run's copy, its key blocks): only
 * if the arena stays at most half full, since the delta trees need the
 * rest.  ARENA_NULL if not.
 */
ArenaPtr
memkv_accelerator_alloc(Size size)
{
	if (memkv_arena_bytes_used() + size > memkv_shared->arena_size / 2)
		return ARENA_NULL;
	return memkv_arena_alloc_big(size);
}

/*
 * Would key blocks help?  True if the entry holds the shared copy of the
 * run `meta` describes but no key blocks for it (and none failed for lack
 * of room).  Key blocks cover the whole run, all its slices, with
 * run-wide ordinals.  Caller holds the entry lock.
 */
bool
memkv_run_kb_wanted(MemkvEntry *entry, const MemkvMetaPageData *meta, int i)
{
	const MemkvRunDesc *run;

	if (i < 0)
		return false;
	run = &meta->runs[i];
	return entry->run_copy != ARENA_NULL &&
		entry->run_copy_instance == run->instance_id &&
		entry->run_copy_epoch == run->run_tag &&
		entry->run_copy_start == run->run_header &&
		entry->run_kb == ARENA_NULL && !entry->run_kb_failed;
}

/*
 * Claim the building of the entry's key blocks for this backend: true if
 * no other backend is building them, and then this one must call
 * memkv_run_kb_unclaim when done, also on error.  Range scans that find the
 * blocks being built go on without them (the FST cursor) rather than each
 * building its own copy: right after a freeze or REINDEX, 256 clients'
 * first range scans otherwise spent the CPU of 256 builds, and their TPS
 * fell to a few dozen (bench/concurrency.sh, 1M paths).  A builder that dies
 * without unclaiming leaves the run without key blocks until the next run
 * (memkv_entry_free_run_copy clears the claim).  Entry lock held, any mode.
 */
bool
memkv_run_kb_claim(MemkvEntry *entry)
{
	if (pg_atomic_read_u32(&entry->run_kb_building) != 0)
		return false;
	return pg_atomic_exchange_u32(&entry->run_kb_building, 1) == 0;
}

/* Give up the claim memkv_run_kb_claim took.  Any lock, or none. */
void
memkv_run_kb_unclaim(MemkvEntry *entry)
{
	pg_atomic_write_u32(&entry->run_kb_building, 0);
}

/*
 * Backend-local copies of the FST images of every slice of the run in the
 * entry's shared copy, so that key blocks can be built from them without
 * holding the entry lock; free them with memkv_run_fsts_free.  Caller
 * holds the entry lock (shared is enough) and has checked
 * memkv_run_kb_wanted.
 */
void
memkv_frozen_fst_copy(Relation index, MemkvEntry *entry,
					  const MemkvMetaPageData *meta, int i,
					  MemkvRunFsts *fsts)
{
	const RunHeader *hdr = memkv_run_memo_header(index, meta, i);
	const uint8 *stream = ARENA_ADDR(memkv_allocator()->base,
									 entry->run_copy);
	Size		total = 0;
	Size		at = 0;
	uint32		s;

	fsts->nslices = hdr->nslices;
	fsts->sizes = palloc(sizeof(Size) * Max(hdr->nslices, 1));
	for (s = 0; s < hdr->nslices; s++)
	{
		fsts->sizes[s] = hdr->slices[s].leaf_bytes + hdr->slices[s].top_bytes;
		total += fsts->sizes[s];
	}
	fsts->data = palloc_extended(Max(total, 1), MCXT_ALLOC_HUGE);
	/* the copy holds each slice's stream in order: postings, then FST */
	for (s = 0; s < hdr->nslices; s++)
	{
		const RunSlice *slice = &hdr->slices[s];

		memcpy(fsts->data + at, stream + slice->postings_bytes,
			   fsts->sizes[s]);
		at += fsts->sizes[s];
		stream += slice->postings_bytes + fsts->sizes[s];
	}
}

/* Free what memkv_frozen_fst_copy made. */
void
memkv_run_fsts_free(MemkvRunFsts *fsts)
{
	if (fsts->data)
		pfree(fsts->data);
	if (fsts->sizes)
		pfree(fsts->sizes);
	fsts->data = NULL;
	fsts->sizes = NULL;
}

/*
 * Raise the corruption error for a copy of a frozen run that does not
 * read as an FST.  The copy matched the run's checksum, so the run itself
 * is damaged (or was written wrong).
 */
static void
memkv_frozen_copy_corrupted(Relation index, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("frozen layer of index \"%s\" is corrupted: %s",
					RelationGetRelationName(index), detail),
			 errhint("Please REINDEX it.")));
}

/*
 * Add every key of one slice's FST image to the key-block builder, in
 * order.  False if the builder refuses one (out of order, or the blocks
 * would pass 4 GB) or the blocks grow past `room` bytes; a slice that
 * does not read as an FST is the corruption ERROR.
 */
static bool
memkv_run_kb_add_slice(Relation index, KbBuilder *b, const uint8 *fst,
					   Size fst_size, Size room)
{
	FstAllocator alloc;
	FstSource	src;
	FstReader	reader;
	FstCursor	cursor;
	uint64		n = 0;
	int			r;

	memkv_fst_allocator(&alloc);
	src.read = fst_memory_read;
	src.arg = (void *) fst;
	src.size = fst_size;
	if (fst_reader_open(&reader, &src) != 0)
		memkv_frozen_copy_corrupted(index, reader.errmsg);
	fst_cursor_init(&cursor, &reader, &alloc);
	for (r = fst_cursor_seek(&cursor, FST_SEEK_FIRST, NULL, 0); r == 1;
		 r = fst_cursor_next(&cursor))
	{
		if ((++n & 0xffff) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			if (kb_builder_size(b) > room)
			{
				fst_cursor_free(&cursor);
				return false;
			}
		}
		if (kb_builder_add(b, cursor.key, cursor.keylen) != 0)
		{
			fst_cursor_free(&cursor);
			return false;
		}
	}
	if (r < 0)
		memkv_frozen_copy_corrupted(index, cursor.errmsg);
	fst_cursor_free(&cursor);
	return true;
}

/*
 * Build the key blocks of a whole run from its slices' FST images (from
 * memkv_frozen_fst_copy) in backend memory, by one walk over each FST in
 * slice order, so that a key's ordinal in the blocks is its run-wide one
 * (the slice's first ordinal plus its own): about half a second per
 * million path-like keys, so no lock may be held.  Returns the image and
 * its size, or NULL if the key blocks would pass 4 GB (or the slices' keys
 * are not in order across their fences), or if they outgrow the room the
 * arena has for accelerators now (memkv_accelerator_alloc's half): they
 * could not be installed, so the build stops there rather than hold
 * backend memory for nothing.
 */
uint8 *
memkv_run_kb_make(Relation index, const MemkvRunFsts *fsts, Size *size)
{
	FstAllocator alloc;
	KbBuilder  *b;
	uint8	   *image;
	Size		used = memkv_arena_bytes_used();
	Size		half = memkv_shared->arena_size / 2;
	Size		room = used < half ? half - used : 0;
	Size		at = 0;
	uint32		s;

	memkv_fst_allocator(&alloc);
	b = kb_builder_create(&alloc);
	for (s = 0; s < fsts->nslices; s++)
	{
		if (!memkv_run_kb_add_slice(index, b, fsts->data + at, fsts->sizes[s],
									room))
		{
			kb_builder_destroy(b);
			return NULL;
		}
		at += fsts->sizes[s];
	}
	if (kb_builder_size(b) > room)
	{
		kb_builder_destroy(b);
		return NULL;
	}
	*size = kb_builder_size(b);
	image = palloc_extended(*size, MCXT_ALLOC_HUGE);
	kb_builder_finish(b, image);
	kb_builder_destroy(b);
	return image;
}

/*
 * Copy key blocks made by memkv_run_kb_make from the run `meta`
 * describes into the arena, if the entry still holds that run's copy (key
 * blocks always belong to the copy next to them) and no key blocks, and if they
 * leave at least half of the arena free (the delta needs it).  Otherwise
 * (no room) remember not to try again for this run.  Frees `image`.
 * Entry lock held exclusively.
 */
void
memkv_run_kb_install(MemkvEntry *entry, const MemkvMetaPageData *meta, int i,
						uint8 *image, Size size)
{
	ArenaPtr	p;

	if (memkv_run_kb_wanted(entry, meta, i))
	{
		p = image ? memkv_accelerator_alloc(size) : ARENA_NULL;
		if (p == ARENA_NULL)
			entry->run_kb_failed = true;
		else
		{
			memcpy(ARENA_ADDR(memkv_allocator()->base, p), image, size);
			entry->run_kb = p;
			entry->run_kb_bytes = size;
		}
	}
	if (image)
		pfree(image);
}

/* Seconds before a range scan asks a worker for key blocks again. */
#define MEMKV_KB_ASK_SECS	10

/*
 * Should this range scan ask a background worker for the key blocks of
 * the entry's largest run?  True for one scan per MEMKV_KB_ASK_SECS
 * (the clock of the entry's run_kb_asked), so that a worker that could
 * not start, or died, is asked for again, and 256 clients do not start
 * 256 workers.  Any entry lock, or none.
 */
static bool
memkv_run_kb_ask_due(MemkvEntry *entry)
{
	uint32		now = (uint32) (GetCurrentTimestamp() / USECS_PER_SEC);
	uint32		last = pg_atomic_read_u32(&entry->run_kb_asked);

	if (now == 0)
		now = 1;				/* 0 means "never asked" */
	if (last != 0 && now - last < MEMKV_KB_ASK_SECS)
		return false;
	return pg_atomic_compare_exchange_u32(&entry->run_kb_asked, &last, now);
}

/*
 * Build the key blocks of the largest run (meta->runs[big]) in backend
 * memory with no lock held, then install them under the entry's runs lock
 * held exclusively (inserts go on), if no other backend is building them (the others scan
 * without them meanwhile).  `worker`: this is the background worker a
 * scan asked (for the log line).  Called with the entry open shared (runs
 * lock and the stripes of `hash`); returns it open the same way again.
 */
static MemkvEntry *
memkv_run_kb_build(Relation index, MemkvEntry *entry, MemkvMetaPageData *meta,
				   int big, bool *in_memory, int64 hash, int *first,
				   bool worker)
{
	MemkvMetaPageData *built_for;
	MemkvEntry *claimed = entry;
	Size		kbsize = 0;
	MemkvRunFsts fsts = {0};
	uint8	   *kb = NULL;
	bool		made;
	instr_time	start;
	instr_time	elapsed;

	if (!memkv_run_kb_claim(entry))
		return entry;
	INSTR_TIME_SET_CURRENT(start);
	built_for = palloc(sizeof(MemkvMetaPageData));
	memcpy(built_for, meta, sizeof(MemkvMetaPageData));
	PG_TRY();
	{
		memkv_frozen_fst_copy(index, entry, meta, big, &fsts);
		memkv_entry_release(entry);
		entry = NULL;
		kb = memkv_run_kb_make(index, &fsts, &kbsize);
		memkv_run_fsts_free(&fsts);
	}
	PG_CATCH();
	{
		memkv_run_kb_unclaim(claimed);
		PG_RE_THROW();
	}
	PG_END_TRY();
	made = kb != NULL;
	entry = memkv_entry_acquire_runs(index, LW_EXCLUSIVE);
	memkv_read_meta(index, meta);
	memkv_run_kb_install(entry, built_for, big, kb, kbsize);
	pfree(built_for);
	memkv_run_kb_unclaim(claimed);
	memkv_entry_release(entry);
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	if (!made)
		ereport(DEBUG1,
				(errmsg_internal("memkv: key blocks of index \"%s\" do not fit in the shared memory left for them: not built (gave up after %.1f ms%s)",
								 RelationGetRelationName(index),
								 INSTR_TIME_GET_MILLISEC(elapsed),
								 worker ? " in a background worker" : "")));
	else
		ereport(DEBUG1,
				(errmsg_internal("memkv: built key blocks of index \"%s\" (%zu bytes) in %.1f ms%s",
								 RelationGetRelationName(index), kbsize,
								 INSTR_TIME_GET_MILLISEC(elapsed),
								 worker ? " in a background worker" : "")));
	return memkv_open_synced_stripe(index, LW_SHARED, meta, in_memory, hash,
									first);
}

/*
 * Open the index's entry for a scan batch (fill.c's fill phase 2): its
 * runs lock and the stripes it reads (every stripe for hash < 0, else the
 * one of `hash`, in *first) synced and locked shared, *meta read under
 * the locks, *in_memory false if the delta does not fit in shared memory
 * -- first building what the scan accelerates with: the shared copy of a
 * new largest run (at the first scan after a freeze, under the entry's
 * runs lock held exclusively, which inserts do not take: a read of the
 * run's pages) and, as `kb`
 * says, its keys front-coded.  Those take about half a second per million
 * keys, so a range scan on a primary asks a background worker to build
 * them (request.c, memkv_request_key_blocks) and goes on without them;
 * where no worker can (a standby, a temp index, no worker slot free) the
 * scan builds them itself, as the worker does.  Called with no lock held.
 */
MemkvEntry *
memkv_run_copy_open(Relation index, MemkvKeyBlocks kb, MemkvMetaPageData *meta,
					bool *in_memory, int64 hash, int *first)
{
	MemkvEntry *entry = memkv_open_synced_stripe(index, LW_SHARED, meta,
												 in_memory, hash, first);
	int			big;

	/* first scan of a new largest run: copy it into shared memory */
	if (memkv_run_copy_wanted(entry, meta, memkv_meta_largest_run(meta)))
	{
		memkv_entry_release(entry);
		entry = memkv_entry_acquire_runs(index, LW_EXCLUSIVE);
		memkv_read_meta(index, meta);
		memkv_run_copy_build(index, entry, meta, memkv_meta_largest_run(meta));
		memkv_entry_release(entry);
		entry = memkv_open_synced_stripe(index, LW_SHARED, meta, in_memory,
										 hash, first);
	}
	big = memkv_meta_largest_run(meta);
	if (kb == MEMKV_KB_NONE || !memkv_run_kb_wanted(entry, meta, big) ||
		pg_atomic_read_u32(&entry->run_kb_building) != 0)
		return entry;

	if (kb == MEMKV_KB_ASK)
	{
		bool		asked;

		if (!memkv_run_kb_ask_due(entry))
			return entry;
		memkv_entry_release(entry);
		asked = memkv_request_key_blocks(index);
		entry = memkv_open_synced_stripe(index, LW_SHARED, meta, in_memory,
										 hash, first);
		if (asked)
			return entry;
		/* no worker can build them: this scan does */
		big = memkv_meta_largest_run(meta);
		if (!memkv_run_kb_wanted(entry, meta, big))
			return entry;
	}
	return memkv_run_kb_build(index, entry, meta, big, in_memory, hash, first,
							  kb == MEMKV_KB_BUILD);
}
