/*-------------------------------------------------------------------------
 *
 * runwrite.c
 *	  Writing a new run: its FST and postings are built in backend memory
 *	  as keys arrive in order, then packed and written as one slice to
 *	  free pages or new blocks, followed by its header pages (extents,
 *	  slice, NULL TIDs), WAL-logged as full pages; optionally the new
 *	  run's shared copy and key blocks are installed for scans.
 *
 * Used by CREATE INDEX (build.c) and freezes (freeze.c).  A freeze calls
 * memkv_frozen_writer_finish holding the metapage lock (no other freeze
 * or VACUUM sweep runs meanwhile) and no entry lock, and
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
#include "memutil.h"
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
	FstBuilder *builder;
	FstPostingsWriter *pw;
	ItemPointerData *nulls;
	uint64		nnulls;
	uint64		nkeys;
	uint64		ntids;
	uint8		lo[RUNDIR_BOUND_BYTES];	/* the first key's first bytes */
	uint8		hi[RUNDIR_BOUND_BYTES];	/* the last key's */
	uint8		lo_len;
	uint8		hi_len;
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
	if (w->nkeys == 0)
	{
		w->lo_len = (uint8) Min(keylen, RUNDIR_BOUND_BYTES);
		memcpy(w->lo, key, w->lo_len);
	}
	w->hi_len = (uint8) Min(keylen, RUNDIR_BOUND_BYTES);
	memcpy(w->hi, key, w->hi_len);
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
 * Finish the images and pack the FST (see fst_pack.c).  Returns the
 * slice's stream bytes: the postings image, then the FST image.
 */
static uint64
memkv_frozen_writer_finish_images(MemkvFrozenWriter *w)
{
	FstInfo		info;
	FstPostingsInfo pinfo;

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
	return w->postings.len + w->fst.len;
}

/* Lay out a run page (header or data) tagged `tag`. */
static void
memkv_init_run_page(Page page, uint32 tag)
{
	MemkvPageOpaque opaque;

	PageInit(page, BLCKSZ, sizeof(MemkvPageOpaqueData));
	opaque = MemkvPageGetOpaque(page);
	opaque->next = InvalidBlockNumber;
	opaque->epoch = tag;
	opaque->flags = MEMKV_PAGE_RUN;
	opaque->page_id = MEMKV_PAGE_ID;
}

/*
 * Write the slice's stream (postings image, then FST image) to `npages`
 * new data pages -- free pages from the free space map, else new blocks
 * -- tagged `tag`, WAL-logged as full pages.  Fills extents[] (in logical
 * order; contiguous blocks make one extent) and returns how many, and the
 * stream's CRC-32C in *crc.
 */
static uint32
memkv_frozen_writer_write_slice(MemkvFrozenWriter *w, Relation index,
								uint32 tag, uint64 npages,
								RunExtent *extents, uint32 *crc)
{
	uint64		total = w->postings.len + w->fst.len;
	uint32		nextents = 0;
	pg_crc32c	c;
	uint64		i;

	INIT_CRC32C(c);
	for (i = 0; i < npages; i++)
	{
		Buffer		buf = memkv_new_buffer(index, tag);
		BlockNumber blkno = BufferGetBlockNumber(buf);
		Page		page = BufferGetPage(buf);
		uint64		off = i * MEMKV_RUN_CHUNK;
		Size		n = Min(MEMKV_RUN_CHUNK, total - off);
		Size		done = 0;
		char	   *dst;

		if (nextents > 0 &&
			extents[nextents - 1].start + extents[nextents - 1].length == blkno)
			extents[nextents - 1].length++;
		else
		{
			extents[nextents].start = blkno;
			extents[nextents].length = 1;
			extents[nextents].lpage = (uint32) i;
			nextents++;
		}

		START_CRIT_SECTION();
		memkv_init_run_page(page, tag);
		dst = PageGetContents(page);
		/* bytes [off, off + n) of the two images laid end to end */
		while (done < n)
		{
			uint64		pos = off + done;
			MemkvImage *img;
			uint64		ioff;
			Size		take;

			if (pos < w->postings.len)
				img = &w->postings, ioff = pos;
			else
				img = &w->fst, ioff = pos - w->postings.len;
			take = Min(n - done, img->len - ioff);
			memcpy(dst + done, img->data + ioff, take);
			COMP_CRC32C(c, img->data + ioff, take);
			done += take;
		}
		((PageHeader) page)->pd_lower = (dst + n) - (char *) page;
		MarkBufferDirty(buf);
		if (RelationNeedsWAL(index))
			log_newpage_buffer(buf, true);
		END_CRIT_SECTION();
		UnlockReleaseBuffer(buf);
		CHECK_FOR_INTERRUPTS();
	}
	FIN_CRC32C(c);
	*crc = c;
	return nextents;
}

/*
 * Write the header `h` to new header pages tagged `tag`, chained through
 * `next`, WAL-logged as full pages.  Returns the first page's block and
 * sets *npages to how many.
 */
static BlockNumber
memkv_frozen_writer_write_header(Relation index, RunHeader *h, uint32 tag,
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

/*
 * Finish the images and write the new run `run_id`: its data pages (the
 * slice: postings image, then FST image), then its header pages (extents,
 * the slice, the NULL TIDs), on free pages or new blocks, WAL-logged as
 * full pages.  Fills *run, the run's directory entry; nothing references
 * the run until the caller's switch puts that entry in the directory (a
 * crash before leaves its pages unreferenced, for VACUUM's sweep).
 */
void
memkv_frozen_writer_finish(MemkvFrozenWriter *w, Relation index,
						   uint64 run_id, MemkvRunEntry *run)
{
	uint64		total = memkv_frozen_writer_finish_images(w);
	uint64		npages = Max((total + MEMKV_RUN_CHUNK - 1) / MEMKV_RUN_CHUNK, 1);
	uint32		tag = (uint32) run_id;
	RunHeader	h;
	RunSlice	slice;
	FstAllocator alloc;
	uint32		hdr_pages;
	uint64		i;
	int			rc;

	if (npages >= MaxBlockNumber)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("run of index \"%s\" would need %llu pages",
						RelationGetRelationName(index),
						(unsigned long long) npages)));
	memset(&h, 0, sizeof(h));
	memset(&slice, 0, sizeof(slice));
	h.run_id = run_id;
	h.npages = (uint32) npages;
	h.extents = palloc_extended(sizeof(RunExtent) * npages, MCXT_ALLOC_HUGE);
	h.nextents = memkv_frozen_writer_write_slice(w, index, tag, npages,
												 h.extents, &slice.crc);
	slice.first_page = 0;
	slice.postings_bytes = w->postings.len;
	slice.leaf_bytes = w->fst.len;
	slice.top_bytes = 0;
	slice.fence_len = 0;
	slice.fence = NULL;
	h.nslices = 1;
	h.slices = &slice;
	h.nnulls = w->nnulls;
	h.nulls = palloc_extended(sizeof(RunTid) * Max(w->nnulls, 1),
							  MCXT_ALLOC_HUGE);
	for (i = 0; i < w->nnulls; i++)
	{
		h.nulls[i].block = ItemPointerGetBlockNumberNoCheck(&w->nulls[i]);
		h.nulls[i].offset = ItemPointerGetOffsetNumberNoCheck(&w->nulls[i]);
	}
	memkv_fst_allocator(&alloc);
	rc = runhdr_check(&h, RelationGetNumberOfBlocks(index), MEMKV_RUN_CHUNK,
					  &alloc);
	if (rc != RUNHDR_OK)
		elog(ERROR, "memkv: new run header of \"%s\" is invalid: %s",
			 RelationGetRelationName(index), runhdr_strerror(rc));

	memset(run, 0, sizeof(MemkvRunEntry));
	run->header_block = memkv_frozen_writer_write_header(index, &h, tag,
														 &hdr_pages);
	run->run_id = run_id;
	run->ntids = w->ntids + w->nnulls;
	run->nkeys = w->nkeys;
	run->nnulls = w->nnulls;
	run->npages = (uint32) npages + hdr_pages;
	run->nslices = 1;
	run->dead_block = RUNDIR_INVALID_BLOCK;
	if (w->nkeys > 0)
		rundir_set_bounds(run, w->lo, w->lo_len, w->hi, w->hi_len);
	pfree(h.extents);
	pfree(h.nulls);
}

/*
 * After memkv_frozen_writer_finish, give the entry a shared copy of the new
 * run's slice stream (the run `run` describes) and, if the writer
 * collected them, its key blocks, so that the first scans after a freeze
 * need not build them.  Each goes in only if the arena stays at most half
 * full.  Entry lock held exclusively, with no copy installed
 * (memkv_entry_free_run_copy).
 */
void
memkv_frozen_writer_install_cache(MemkvFrozenWriter *w, MemkvEntry *entry,
								  const MemkvRunDesc *run)
{
	uint64		total = w->postings.len + w->fst.len;
	ArenaPtr	p;
	uint8	   *dst;

	Assert(entry->run_copy == ARENA_NULL);
	p = memkv_accelerator_alloc(Max(total, 1));
	if (p == ARENA_NULL)
		return;
	dst = ARENA_ADDR(memkv_allocator()->base, p);
	if (w->postings.len > 0)
		memcpy(dst, w->postings.data, w->postings.len);
	if (w->fst.len > 0)
		memcpy(dst + w->postings.len, w->fst.data, w->fst.len);
	entry->run_copy = p;
	entry->run_copy_bytes = Max(total, 1);
	entry->run_copy_instance = run->instance_id;
	entry->run_copy_epoch = run->run_tag;
	entry->run_copy_start = run->run_header;
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
