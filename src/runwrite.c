/*-------------------------------------------------------------------------
 *
 * runwrite.c
 *	  Writing a new frozen run: its FST, postings and NULL postings are
 *	  built in backend memory as keys arrive in order, then packed and
 *	  written to contiguous pages (the spare region, else new blocks at
 *	  the end of the relation), WAL-logged as full pages; optionally the
 *	  new run's shared copy and key blocks are installed for scans.
 *
 * Used by CREATE INDEX (build.c) and freezes (freeze.c).  A freeze calls
 * memkv_frozen_writer_finish holding the metapage lock (no other freeze
 * or cleanup touches the spare region meanwhile) and no entry lock, and
 * memkv_frozen_writer_install_cache under the entry lock held exclusively.
 * The new run is referenced by nothing until the caller switches the
 * metapage to it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xloginsert.h"
#include "miscadmin.h"
#include "port/pg_crc32c.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "fst.h"
#include "keyblocks.h"
#include "memkv.h"
#include "page.h"
#include "registry.h"
#include "runcopy.h"
#include "runread.h"
#include "runwrite.h"

typedef struct MemkvImage
{
	uint8	   *data;
	uint64		len;
	uint64		size;
} MemkvImage;

struct MemkvFrozenWriter
{
	FstAllocator alloc;
	MemkvImage	fst;
	MemkvImage	postings;
	MemkvImage	nullpost;
	FstBuilder *builder;
	FstPostingsWriter *pw;
	ItemPointerData *nulls;
	uint64		nnulls;
	uint64		nkeys;
	uint64		ntids;
	KbBuilder  *kb;				/* key blocks for the shared copy, or NULL */
};

/* FstSinkFn: append to an in-memory image. */
static int
memkv_image_sink(void *arg, const uint8_t *data, size_t len)
{
	MemkvImage *img = (MemkvImage *) arg;

	if (img->len + len > img->size)
	{
		uint64		newsize = Max(img->size * 2, 8192);

		while (img->len + len > newsize)
			newsize *= 2;
		img->data = img->data ? repalloc_huge(img->data, newsize) :
			MemoryContextAllocHuge(CurrentMemoryContext, newsize);
		img->size = newsize;
	}
	memcpy(img->data + img->len, data, len);
	img->len += len;
	return 0;
}

/* Start writing a new frozen layer; keys follow in ascending order. */
MemkvFrozenWriter *
memkv_frozen_writer_begin(void)
{
	MemkvFrozenWriter *w = palloc0(sizeof(MemkvFrozenWriter));
	FstBuildOptions opts;

	memset(&opts, 0, sizeof(opts));
	/*
	 * The builder's registry: up to 2 MB (fst_build.c).  More finds more
	 * shared suffixes (1M npm names: 10.26 B/key of FST at 2 MB, 10.01 at
	 * 8 MB) but misses in cache: 8 MB builds 4-19% slower.
	 */
	opts.registry_bytes = (size_t) Min(maintenance_work_mem, 2 * 1024) * 1024;
	/* packing then need not walk the whole image first (fst_pack.c) */
	opts.pack_map = true;
	memkv_fst_allocator(&w->alloc);
	w->builder = fst_builder_create(&w->alloc, memkv_image_sink, &w->fst,
									&opts);
	w->pw = fst_postings_writer_create(&w->alloc, memkv_image_sink,
									   &w->postings);
	return w;
}

/*
 * Also build the key blocks of the new run as its keys go by (about 26
 * bytes per path-like key of backend memory), for
 * memkv_frozen_writer_install_cache.
 */
void
memkv_frozen_writer_collect_keys(MemkvFrozenWriter *w)
{
	if (w->kb == NULL)
		w->kb = kb_builder_create(&w->alloc);
}

/* Add the next key (ascending) with its TIDs (sorted, no duplicates). */
void
memkv_frozen_writer_add(MemkvFrozenWriter *w, const uint8 *key, Size keylen,
						ItemPointerData *tids, uint64 ntids)
{
	if (w->kb && kb_builder_add(w->kb, key, keylen) != 0)
	{
		/* over 4 GB of key blocks: the run goes without */
		kb_builder_destroy(w->kb);
		w->kb = NULL;
	}
	if (fst_builder_add(w->builder, key, keylen) != 0)
		elog(ERROR, "memkv: FST build failed: %s",
			 fst_builder_error(w->builder));
	if (fst_postings_add(w->pw, (const FstTid *) tids, ntids) != 0)
		elog(ERROR, "memkv: postings build failed: %s",
			 fst_postings_writer_error(w->pw));
	w->nkeys++;
	w->ntids += ntids;
}

/* Set the TIDs of the NULL key (sorted, no duplicates). */
void
memkv_frozen_writer_add_nulls(MemkvFrozenWriter *w, ItemPointerData *tids,
							  uint64 ntids)
{
	w->nulls = tids;
	w->nnulls = ntids;
}

/*
 * May a new run of `npages` pages be written into the spare region that
 * *meta names?  Only if the region is that big, lies inside the relation,
 * and every one of those pages is free or a retired run's (a frozen page
 * of another epoch than the current run's).
 *
 * The room reserved after a run is added to the relation without WAL, so
 * after a promotion (or a crash that lost the file's tail) the relation
 * can end inside a spare region, and log appends then extend it into the
 * region's block numbers: such pages are live and must not be written
 * over.  The run then goes to new blocks at the end of the relation
 * instead, and the region is retired as usual (memkv_delete_range leaves
 * live pages alone).  No other backend can put a page there meanwhile:
 * spare pages are not in the free space map, and extension only adds
 * blocks past the end.  Caller holds the metapage lock (no other freeze
 * or cleanup); takes and releases share locks on the region's pages.
 */
static bool
memkv_spare_region_usable(Relation index, const MemkvMetaPageData *meta,
						  uint64 npages)
{
	uint64		i;

	if (meta->spare_start == InvalidBlockNumber ||
		npages > meta->spare_npages ||
		(uint64) meta->spare_start + npages > RelationGetNumberOfBlocks(index))
		return false;
	for (i = 0; i < npages; i++)
	{
		Buffer		buf = ReadBuffer(index, meta->spare_start + (BlockNumber) i);
		Page		page;
		bool		usable;

		LockBuffer(buf, BUFFER_LOCK_SHARE);
		page = BufferGetPage(buf);
		usable = MemkvPageIsFree(page) ||
			(MemkvPageHasOpaque(page) &&
			 MemkvPageGetOpaque(page)->page_id == MEMKV_PAGE_ID &&
			 MemkvPageGetOpaque(page)->flags == MEMKV_PAGE_FROZEN &&
			 (meta->frozen_start == InvalidBlockNumber ||
			  MemkvPageGetOpaque(page)->epoch != meta->frozen_epoch));
		UnlockReleaseBuffer(buf);
		if (!usable)
		{
			elog(DEBUG1, "memkv: block %u of the spare region of \"%s\" is in use; the new run goes to the end of the relation",
				 meta->spare_start + (BlockNumber) i,
				 RelationGetRelationName(index));
			return false;
		}
		CHECK_FOR_INTERRUPTS();
	}
	return true;
}

/*
 * Finish the images and write them to contiguous pages -- the spare region
 * *meta names if it is big enough, else new blocks at the end of the
 * relation -- tagged with `epoch` and WAL-logged as full pages.  Fills the
 * frozen-layer fields of *meta; the caller switches the metapage and
 * updates the spare region.
 */
void
memkv_frozen_writer_finish(MemkvFrozenWriter *w, Relation index, uint32 epoch,
						   MemkvMetaPageData *meta, bool reserve)
{
	FstInfo		info;
	FstPostingsInfo pinfo;
	FstPostingsWriter *nw;
	uint64		total;
	uint64		npages;
	uint64		i;
	BlockNumber start = InvalidBlockNumber;
	bool		needLock = !RELATION_IS_LOCAL(index);
	bool		use_spare;
	uint64		alloc;
	pg_crc32c	crc;

	if (fst_builder_finish(w->builder, &info) != 0)
		elog(ERROR, "memkv: FST build failed: %s",
			 fst_builder_error(w->builder));
	/* re-encode the whole FST in the packed format (see fst_pack.c) */
	if (w->fst.len > 0)
	{
		MemkvImage	packed = {0};
		char		err[FST_ERRMSG_LEN];
		FstPackMap *map = fst_builder_take_pack_map(w->builder);

		if (fst_pack(w->fst.data, w->fst.len, map, &w->alloc,
					 memkv_image_sink, &packed, &info, err) != 0)
			elog(ERROR, "memkv: FST packing failed: %s", err);
		fst_pack_map_free(&w->alloc, map);
		pfree(w->fst.data);
		w->fst = packed;
	}
	if (fst_postings_finish(w->pw, &pinfo) != 0)
		elog(ERROR, "memkv: postings build failed: %s",
			 fst_postings_writer_error(w->pw));
	nw = fst_postings_writer_create(&w->alloc, memkv_image_sink, &w->nullpost);
	if ((w->nnulls > 0 && fst_postings_add(nw, (const FstTid *) w->nulls,
										   w->nnulls) != 0) ||
		fst_postings_finish(nw, NULL) != 0)
		elog(ERROR, "memkv: postings build failed: %s",
			 fst_postings_writer_error(nw));

	total = w->fst.len + w->postings.len + w->nullpost.len;
	npages = (total + MEMKV_FROZEN_CHUNK - 1) / MEMKV_FROZEN_CHUNK;

	/*
	 * Into the spare region (the run before the current one) if it is big
	 * enough and free, else into new blocks at the end of the relation.
	 */
	use_spare = memkv_spare_region_usable(index, meta, npages);
	if (needLock && !use_spare)
		LockRelationForExtension(index, ExclusiveLock);
	INIT_CRC32C(crc);
	for (i = 0; i < npages; i++)
	{
		Buffer		buf = use_spare ?
		ReadBuffer(index, meta->spare_start + (BlockNumber) i) :
		ReadBuffer(index, P_NEW);
		Page		page;
		MemkvPageOpaque opaque;
		uint64		off = i * MEMKV_FROZEN_CHUNK;
		Size		n = Min(MEMKV_FROZEN_CHUNK, total - off);
		Size		done = 0;
		char	   *dst;

		LockBuffer(buf, BUFFER_LOCK_EXCLUSIVE);
		/*
		 * memkv_spare_region_usable found every page of the region free
		 * or a retired run's; checked again, under the exclusive lock,
		 * right before the page is overwritten.
		 */
		if (use_spare && !MemkvPageIsFree(BufferGetPage(buf)))
		{
			memkv_check_page(index, buf, BufferGetPage(buf), MEMKV_PAGE_FROZEN);
			if (meta->frozen_start != InvalidBlockNumber &&
				MemkvPageGetOpaque(BufferGetPage(buf))->epoch == meta->frozen_epoch)
				memkv_page_corrupted(index, BufferGetBlockNumber(buf));
		}
		if (i == 0)
			start = BufferGetBlockNumber(buf);
		else if (BufferGetBlockNumber(buf) != start + i)
			elog(ERROR, "memkv: frozen layer of \"%s\" is not contiguous",
				 RelationGetRelationName(index));
		page = BufferGetPage(buf);

		START_CRIT_SECTION();
		PageInit(page, BLCKSZ, sizeof(MemkvPageOpaqueData));
		opaque = MemkvPageGetOpaque(page);
		opaque->next = InvalidBlockNumber;
		opaque->epoch = epoch;
		opaque->flags = MEMKV_PAGE_FROZEN;
		opaque->page_id = MEMKV_PAGE_ID;
		dst = PageGetContents(page);
		/* copy bytes [off, off + n) of the three images laid end to end */
		while (done < n)
		{
			uint64		pos = off + done;
			MemkvImage *img;
			uint64		ioff;
			Size		take;

			if (pos < w->fst.len)
				img = &w->fst, ioff = pos;
			else if (pos < w->fst.len + w->postings.len)
				img = &w->postings, ioff = pos - w->fst.len;
			else
				img = &w->nullpost, ioff = pos - w->fst.len - w->postings.len;
			take = Min(n - done, img->len - ioff);
			memcpy(dst + done, img->data + ioff, take);
			COMP_CRC32C(crc, img->data + ioff, take);
			done += take;
		}
		((PageHeader) page)->pd_lower = (dst + n) - (char *) page;
		MarkBufferDirty(buf);
		if (RelationNeedsWAL(index))
			log_newpage_buffer(buf, true);
		END_CRIT_SECTION();
		UnlockReleaseBuffer(buf);
	}
	/*
	 * With `reserve` (freezes, not CREATE INDEX), new blocks get a quarter
	 * more room than the run needs, zeroed, so that when this region is
	 * the spare one the next-but-one run (a little bigger, as the index
	 * grows) still fits in it.
	 */
	alloc = npages;
	if (use_spare)
		alloc = meta->spare_npages;
	else if (reserve)
	{
		for (; alloc < npages + npages / 4 + 1; alloc++)
		{
			Buffer		buf = ReadBuffer(index, P_NEW);

			if (BufferGetBlockNumber(buf) != start + alloc)
				elog(ERROR, "memkv: frozen layer of \"%s\" is not contiguous",
					 RelationGetRelationName(index));
			ReleaseBuffer(buf);
		}
	}
	if (needLock && !use_spare)
		UnlockRelationForExtension(index, ExclusiveLock);

	meta->frozen_start = start;
	meta->frozen_alloc = (uint32) alloc;
	meta->frozen_npages = (uint32) npages;
	meta->frozen_epoch = epoch;
	meta->fst_size = w->fst.len;
	meta->postings_size = w->postings.len;
	meta->nullpost_size = w->nullpost.len;
	meta->frozen_nkeys = w->nkeys;
	meta->frozen_ntids = w->ntids + w->nnulls;
	meta->last_freeze = GetCurrentTimestamp();
	FIN_CRC32C(crc);
	meta->frozen_crc = crc;
}

/*
 * After memkv_frozen_writer_finish, give the entry a shared copy of the new
 * run (the run `meta` now describes) and, if the writer collected them,
 * its key blocks, so that the first scans after a freeze need not build
 * them.  Each goes in only if the arena stays at most half full.  Entry
 * lock held exclusively, with no copy installed (memkv_entry_free_run_copy).
 */
void
memkv_frozen_writer_install_cache(MemkvFrozenWriter *w, MemkvEntry *entry,
								  const MemkvMetaPageData *meta)
{
	uint64		total = w->fst.len + w->postings.len + w->nullpost.len;
	ArenaPtr	p;
	uint8	   *dst;

	Assert(entry->run_copy == ARENA_NULL);
	if (meta->frozen_start == InvalidBlockNumber)
		return;
	p = memkv_accelerator_alloc(Max(total, 1));
	if (p == ARENA_NULL)
		return;
	dst = ARENA_ADDR(memkv_allocator()->base, p);
	if (w->fst.len > 0)
		memcpy(dst, w->fst.data, w->fst.len);
	if (w->postings.len > 0)
		memcpy(dst + w->fst.len, w->postings.data, w->postings.len);
	if (w->nullpost.len > 0)
		memcpy(dst + w->fst.len + w->postings.len, w->nullpost.data,
			   w->nullpost.len);
	entry->run_copy = p;
	entry->run_copy_bytes = Max(total, 1);
	entry->run_copy_instance = meta->instance_id;
	entry->run_copy_epoch = meta->frozen_epoch;
	entry->run_copy_start = meta->frozen_start;
	entry->run_copy_failed = false;

	if (w->kb)
	{
		Size		size = kb_builder_size(w->kb);

		p = memkv_accelerator_alloc(size);
		if (p != ARENA_NULL)
		{
			kb_builder_finish(w->kb, ARENA_ADDR(memkv_allocator()->base, p));
			entry->run_kb = p;
			entry->run_kb_bytes = size;
		}
	}
}
