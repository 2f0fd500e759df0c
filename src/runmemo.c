/*-------------------------------------------------------------------------
 *
 * runmemo.c
 *	  The run memo: what opening a frozen run learns from its header pages
 *	  and from each slice's FST and postings preambles and trailers, kept
 *	  in the index's relcache entry so that later opens of the same run in
 *	  this backend read no page for it.
 *
 * A run whose header is of version 2 states each slice's key count, so
 * the memo knows every slice's run-wide first ordinal from the header
 * alone (their sum checked against the directory's key count) and opens
 * a slice -- its FST and postings preambles and trailers, its first and
 * last key against the fences around it -- only when a reader first
 * needs it (memkv_run_memo_slice): a new backend's first lookup reads
 * the header and one slice, not all of them.  A version-1 run is opened
 * slice by slice up front, as its first ordinals need every slice's
 * count.  Either way every slice gets the same checks before use.
 *
 * A memo is made under whatever keeps the run's pages from being retired
 * (an entry lock, or a freeze's metapage lock) and read by the frozen
 * readers of runread.c.  It also holds, as the slices are first read and
 * as far as memkv.top_memo_kb allows per index, copies of each slice's FST
 * top region and postings group table: the pages every lookup in the slice
 * reads, which the readers then take from backend memory (src/README,
 * "Run layout"); and the run's membership filter, if it has one, which
 * exact lookups probe (memkv_run_memo_filter).  A run never changes while it is listed and the memo is
 * of one run (its id, tag and header block), so no copy can go stale: a
 * freeze, merge, REINDEX or VACUUM rewrite makes another run, whose memo
 * is made afresh.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "fst.h"
#include "memkv.h"
#include "memutil.h"
#include "deadpages.h"
#include "page.h"
#include "registry.h"
#include "runbloom.h"
#include "runmemo.h"
#include "runpages.h"
#include "memkv_guc.h"

/*
 * The memos of an index, in rd_amcache (allocated in rd_indexcxt with the
 * headers): one slot per run the directory can list.  A MemkvFrozen
 * points at its memo: nothing between an open and its close processes
 * invalidation messages (no heavyweight lock is taken there), so the
 * relcache entry cannot drop the memos meanwhile, and a slot is reused
 * only for a run of the same directory when its own run is not in it
 * (memkv_run_memo_get).
 */
typedef struct MemkvRunMemos
{
	MemkvRunMemo slot[RUNDIR_MAX_RUNS];
	Size		held;			/* the slots' copies, bytes */
} MemkvRunMemos;

/* memkv.top_memo_kb: the bytes of copies a backend holds per index */
int			memkv_top_memo_kb = 4096;

/* Bytes of an opened reader the memo keeps: all before its scratch. */
#define MEMKV_READER_PREFIX		MAXALIGN(offsetof(FstReader, buf))

/* Is this memo of that run? */
static inline bool
memkv_memo_is(const MemkvRunMemo *m, const MemkvRunDesc *run)
{
	return m->used && m->instance_id == run->instance_id &&
		m->run_tag == run->run_tag && m->run_header == run->run_header;
}

/*
 * Copy the opened FST reader of slice s of memo m (opened by
 * memkv_run_memo_slice) into *reader (all but its scratch buffer and
 * message); the caller points its source where it reads the slice.
 */
void
memkv_run_memo_reader(const MemkvRunMemo *m, uint32 s, FstReader *reader)
{
	Assert(s < m->hdr->nslices && m->slices[s].opened);
	memcpy(reader, m->readers + (Size) s * MEMKV_READER_PREFIX,
		   offsetof(FstReader, buf));
	reader->errmsg[0] = '\0';
}

/*
 * Check the fences around slice s, whose FST `reader` opens: its first key
 * is at or after its own fence, and its last key before the next slice's
 * fence.  Over all slices that is the same as each fence lying after the
 * previous slice's last key and at or before its own first key, but it
 * needs no other slice opened.  Returns NULL or what is wrong.
 */
static const char *
memkv_slice_fences_ok(const RunHeader *hdr, uint32 s, FstReader *reader)
{
	FstAllocator alloc;
	FstCursor	c;
	const RunSlice *slice = &hdr->slices[s];
	const RunSlice *next = s + 1 < hdr->nslices ? &hdr->slices[s + 1] : NULL;
	const char *failed = NULL;
	int			r;

	memkv_fst_allocator(&alloc);
	fst_cursor_init(&c, reader, &alloc);
	r = fst_cursor_seek(&c, FST_SEEK_FIRST, NULL, 0);
	if (r < 0)
		failed = pstrdup(c.errmsg);
	else if (r == 0)
		failed = "a slice of a run of several slices has no key";
	else if (runhdr_key_cmp(slice->fence, slice->fence_len,
							c.key, c.keylen) > 0)
		failed = "a slice's fence keys do not bound its keys";
	else
	{
		r = fst_cursor_seek(&c, FST_SEEK_LAST, NULL, 0);
		if (r != 1 || c.keylen > MEMKV_MAX_KEY_BYTES)
			failed = r < 0 ? pstrdup(c.errmsg) : "a slice's last key cannot be read";
		else if (next && runhdr_key_cmp(c.key, c.keylen, next->fence,
										next->fence_len) >= 0)
			failed = "a slice's fence keys do not bound its keys";
	}
	fst_cursor_free(&c);
	return failed;
}

/*
 * Open slice s of the run whose header is hdr and whose pages are tagged
 * `tag`, through its pages: its FST reader into *reader and its postings
 * into *postings, checked against each other and the header's key count
 * (version 2), and for a run of several slices against the fences around
 * it.  Returns NULL or what is wrong; *raced tells whether a page read
 * failed.
 */
static const char *
memkv_slice_open(Relation index, uint32 tag, const RunHeader *hdr, uint32 s,
				 FstReader *reader, FstPostings *postings, bool *raced)
{
	const RunSlice *slice = &hdr->slices[s];
	MemkvPageSource post_src;
	MemkvPageSource fst_src;
	FstSource	src;
	const char *failed = NULL;

	memkv_slice_sources_init(index, hdr, tag, s, &post_src, &fst_src);
	src.read = memkv_page_source_read;
	src.arg = &fst_src;
	src.size = slice->leaf_bytes + slice->top_bytes;
	if (fst_reader_open(reader, &src) != 0)
		failed = pstrdup(reader->errmsg);
	else
	{
		src.arg = &post_src;
		src.size = slice->postings_bytes;
		if (fst_postings_open(postings, &src) != 0)
			failed = pstrdup(postings->errmsg);
		else if (postings->nkeys != reader->nkeys)
			failed = "key counts of a slice's FST and postings disagree";
		/* scans copy keys into batches and index tuples: no longer ones */
		else if (reader->max_key_len > MEMKV_MAX_KEY_BYTES)
			failed = "its keys are longer than memkv allows";
		else if (hdr->version >= RUNHDR_VERSION_2 &&
				 reader->nkeys != slice->nkeys)
			failed = "a slice's key count is not its run header's";
		else if (hdr->nslices > 1)
			failed = memkv_slice_fences_ok(hdr, s, reader);
	}
	memkv_page_source_release(&fst_src);
	memkv_page_source_release(&post_src);
	*raced = fst_src.failed || post_src.failed;
	return failed;
}

/* Raise the corruption ERROR for what a slice's open found wrong. */
static void
memkv_memo_corrupted(Relation index, const char *failed, bool raced)
{
	if (raced && RecoveryInProgress())
		memkv_frozen_raced(index);
	ereport(ERROR,
			(errcode(ERRCODE_INDEX_CORRUPTED),
			 errmsg("frozen layer of index \"%s\" is corrupted: %s",
					RelationGetRelationName(index), failed),
			 errhint("Please REINDEX it.")));
}

/*
 * Open slice s of memo m's run (memkv_slice_open) into its slice memo and
 * reader prefix; returns NULL, or what is wrong with the slice (*raced:
 * whether a page read failed).  Nothing of the memo changes unless the
 * open succeeds (then `opened` is set last), so a failure -- this one, or
 * an ERROR of the buffer manager's -- leaves the slice unopened, and the
 * next use tries again.  Caller holds what keeps the run's pages from
 * being retired.
 */
const char *
memkv_run_memo_slice_try(Relation index, MemkvRunMemo *m, uint32 s,
						 bool *raced)
{
	MemkvSliceMemo *sm = &m->slices[s];
	FstReader  *reader;
	FstPostings postings;
	const char *failed;

	*raced = false;
	if (sm->opened)
		return NULL;
	reader = palloc(sizeof(FstReader));
	failed = memkv_slice_open(index, m->run_tag, m->hdr, s, reader,
							  &postings, raced);
	if (failed == NULL)
	{
		memcpy(m->readers + (Size) s * MEMKV_READER_PREFIX, reader,
			   offsetof(FstReader, buf));
		memcpy(&sm->postings, &postings, sizeof(FstPostings));
		sm->nkeys = reader->nkeys;
		sm->opened = true;
	}
	pfree(reader);
	return failed;
}

/* The same, raising the corruption ERROR for what it finds wrong. */
static void
memkv_memo_open_slice(Relation index, MemkvRunMemo *m, uint32 s)
{
	bool		raced;
	const char *failed = memkv_run_memo_slice_try(index, m, s, &raced);

	if (failed)
		memkv_memo_corrupted(index, failed, raced);
}

/*
 * Slice s of memo m, opened if it was not yet (memkv_memo_open_slice):
 * what every reader of a slice's FST or postings goes through.  Errors
 * are the corruption ERROR, as when the run was opened whole.  Caller
 * holds what keeps the run's pages from being retired.
 */
const MemkvSliceMemo *
memkv_run_memo_slice(Relation index, MemkvRunMemo *m, uint32 s)
{
	Assert(m->used && s < m->hdr->nslices);
	if (unlikely(!m->slices[s].opened))
	{
		CHECK_FOR_INTERRUPTS();
		memkv_memo_open_slice(index, m, s);
	}
	return &m->slices[s];
}

/*
 * Read run `run`'s header pages and fill memo *m, an empty slot: each
 * slice's first ordinal and stream offset, from the header's key counts
 * (version 2; their sum must be the directory's key count) or by opening
 * every slice now (version 1).  The memo is marked used only at the end:
 * after an error (the corruption ERROR, or the buffer manager's) it is not
 * used, and the memory it got so far is freed when its slot is next taken
 * (memkv_memo_clear).
 */
static void
memkv_run_memo_fill(Relation index, const MemkvRunDesc *run, MemkvRunMemo *m)
{
	RunHeader  *hdr;
	uint64		nkeys = 0;
	uint64		stream_off = 0;
	uint32		s;

	Assert(!m->used && m->hdr == NULL && m->slices == NULL);
	hdr = memkv_run_header_read(index, run, index->rd_indexcxt);
	m->instance_id = run->instance_id;
	m->run_tag = run->run_tag;
	m->run_header = run->run_header;
	m->hdr = hdr;
	m->slices = MemoryContextAllocZero(index->rd_indexcxt,
									   sizeof(MemkvSliceMemo) * hdr->nslices);
	m->readers = MemoryContextAllocHuge(index->rd_indexcxt,
										MEMKV_READER_PREFIX * hdr->nslices);
	m->dead = NULL;
	m->dead_generation = 0;
	m->held = 0;
	for (s = 0; s < hdr->nslices; s++)
	{
		MemkvSliceMemo *sm = &m->slices[s];

		CHECK_FOR_INTERRUPTS();
		if (hdr->version < RUNHDR_VERSION_2)
			memkv_memo_open_slice(index, m, s);
		else
			sm->nkeys = hdr->slices[s].nkeys;
		sm->first_ordinal = nkeys;
		sm->stream_off = stream_off;
		nkeys += sm->nkeys;
		stream_off += hdr->slices[s].postings_bytes +
			hdr->slices[s].leaf_bytes + hdr->slices[s].top_bytes;
	}
	m->nkeys = nkeys;
	if (nkeys != run->run_nkeys)
		memkv_memo_corrupted(index, "key counts of the run's slices and the directory disagree", false);
	m->used = true;
}

/*
 * Bring memo m's dead list up to run's: VACUUM replaces a run's list
 * without changing the run, so the memo keeps the list's generation and
 * reads the list again when the directory names another.  The old list
 * is freed: a frozen reader opened under an older directory is closed
 * before this backend reads a newer one (a batch, a freeze and VACUUM
 * each open and close their runs under one directory).
 */
static MemkvRunMemo *
memkv_run_memo_dead(Relation index, const MemkvRunDesc *run, MemkvRunMemo *m)
{
	uint64		gen = run->entry.dead_block == InvalidBlockNumber ? 0 :
		run->entry.dead_generation;

	if (likely(m->dead_generation == gen &&
			   (m->dead != NULL) == (gen != 0)))
		return m;
	memkv_dead_free(m->dead);
	m->dead = NULL;
	m->dead_generation = 0;
	if (gen != 0)
	{
		m->dead = memkv_dead_read(index, run, index->rd_indexcxt);
		deadlist_cursor_init(&m->dc.cur, m->dead->list);
		m->dc.last = 0;
	}
	m->dead_generation = gen;
	return m;
}

/*
 * Empty slot m, used or left half-filled by an error: free what it holds
 * (whatever of it memkv_run_memo_fill got to) and give its copies' bytes
 * back to the index's count.
 */
static void
memkv_memo_clear(MemkvRunMemos *memos, MemkvRunMemo *m)
{
	uint32		s;

	if (m->slices)
	{
		for (s = 0; s < m->hdr->nslices; s++)
		{
			if (m->slices[s].top)
				pfree(m->slices[s].top);
			if (m->slices[s].table)
				pfree(m->slices[s].table);
		}
		pfree(m->slices);
	}
	memos->held -= m->held;
	if (m->filter)
		pfree(m->filter);
	if (m->readers)
		pfree(m->readers);
	if (m->hdr)
		pfree(m->hdr);
	memkv_dead_free(m->dead);
	memset(m, 0, sizeof(MemkvRunMemo));
}

/*
 * The memo of run meta->runs[i], made if missing.  A new memo takes a
 * slot whose run is not in `meta` (there always is one: the slots are as
 * many as the runs a directory can list), so no memo of a run the caller
 * may have open is replaced.
 */
MemkvRunMemo *
memkv_run_memo_get(Relation index, const MemkvMetaPageData *meta, int i)
{
	MemkvRunMemos *memos = (MemkvRunMemos *) index->rd_amcache;
	const MemkvRunDesc *run = &meta->runs[i];
	MemkvRunMemo *victim = NULL;
	int			j;

	Assert(i >= 0 && i < meta->nruns);
	if (memos == NULL)
	{
		memos = MemoryContextAllocZero(index->rd_indexcxt,
									   sizeof(MemkvRunMemos));
		index->rd_amcache = memos;
	}
	for (j = 0; j < RUNDIR_MAX_RUNS; j++)
	{
		if (memkv_memo_is(&memos->slot[j], run))
			return memkv_run_memo_dead(index, run, &memos->slot[j]);
	}
	for (j = 0; j < RUNDIR_MAX_RUNS && victim == NULL; j++)
	{
		MemkvRunMemo *m = &memos->slot[j];
		int			k;
		bool		listed = false;

		for (k = 0; m->used && k < meta->nruns && !listed; k++)
			listed = memkv_memo_is(m, &meta->runs[k]);
		if (!listed)
			victim = m;
	}
	Assert(victim != NULL);
	memkv_memo_clear(memos, victim);
	memkv_run_memo_fill(index, run, victim);
	return memkv_run_memo_dead(index, run, victim);
}

/*
 * The header of run meta->runs[i], from the index's run memo (made if
 * missing).  Valid until the memo is replaced: within one entry lock, or
 * one freeze.
 */
const RunHeader *
memkv_run_memo_header(Relation index, const MemkvMetaPageData *meta, int i)
{
	return memkv_run_memo_get(index, meta, i)->hdr;
}

/* Bytes of a run's slice streams (postings, then the FST), all slices. */
uint64
memkv_run_slice_bytes(const RunHeader *hdr)
{
	uint64		total = 0;
	uint32		s;

	for (s = 0; s < hdr->nslices; s++)
		total += hdr->slices[s].postings_bytes + hdr->slices[s].leaf_bytes +
			hdr->slices[s].top_bytes;
	return total;
}

/*
 * Copy bytes [lo, hi) of the source ps reads (a fresh one: nothing of it in
 * memory yet) into backend memory of the index's relcache entry.  NULL if
 * a page read failed.
 */
static uint8 *
memkv_memo_copy(Relation index, MemkvPageSource *ps, uint64 lo, uint64 hi)
{
	Size		len = (Size) (hi - lo);
	uint8	   *dst = MemoryContextAlloc(index->rd_indexcxt, len);
	Size		done;

	for (done = 0; done < len;)
	{
		Size		n = Min(len - done, MEMKV_RUN_CHUNK);
		const uint8 *p = memkv_page_source_read(ps, lo + done, n, dst + done);

		if (p == NULL)
		{
			pfree(dst);
			return NULL;
		}
		if (p != dst + done)
			memcpy(dst + done, p, n);
		done += n;
	}
	return dst;
}

/*
 * The run's filter blocks (runbloom.c), copied into backend memory on the
 * first call if the index's copies stay within memkv.top_memo_kb, so that
 * a probe then touches no page; NULL if the run has no filter or the copy
 * did not fit (probes then read the filter's pages).  The copy is checked
 * against the filter's CRC: a mismatch is the corruption ERROR, since a
 * damaged filter can hide keys.  Same caller rules as
 * memkv_run_memo_slice_mem.
 */
const uint8 *
memkv_run_memo_filter(Relation index, MemkvRunMemo *m)
{
	MemkvRunMemos *memos = (MemkvRunMemos *) index->rd_amcache;
	Size		bytes = (Size) m->hdr->filter.nblocks * RUNFILTER_BLOCK_BYTES;
	MemoryContext old;
	bool		crc_ok;
	uint8	   *copy;

	if (m->filter || m->filter_tried || bytes == 0)
		return m->filter;
	if (memos->held + bytes > (Size) memkv_top_memo_kb * 1024)
	{
		m->filter_tried = true; /* no room: probes read the pages */
		return NULL;
	}
	old = MemoryContextSwitchTo(index->rd_indexcxt);
	copy = memkv_run_filter_read(index, m->hdr, m->run_tag, &crc_ok);
	MemoryContextSwitchTo(old);
	if (!crc_ok)
	{
		pfree(copy);
		ereport(ERROR,
				(errcode(ERRCODE_INDEX_CORRUPTED),
				 errmsg("frozen layer of index \"%s\" is corrupted: the filter of run %u does not match its checksum",
						RelationGetRelationName(index), m->run_tag),
				 errhint("Please REINDEX it.")));
	}
	/* only now: a failed copy raises its ERROR again at the next probe */
	m->filter_tried = true;
	m->filter = copy;
	memos->held += bytes;
	m->held += bytes;
	return m->filter;
}

/*
 * Let the page sources *post and *fst, just set up over slice s of memo
 * m's run, read the slice's postings group table (and trailer) and its FST
 * top region from the memo's copies: made here on the slice's first use
 * if the index's copies stay within memkv.top_memo_kb (0: none), else the
 * sources keep reading pages.  A version-2 slice has no top region to
 * copy.  Returns false if a page read failed (the caller reports it, as
 * for any read of the run).  Caller holds what keeps the run's pages from
 * being retired, as for memkv_run_memo_get.
 */
bool
memkv_run_memo_slice_mem(Relation index, MemkvRunMemo *m, uint32 s,
						 MemkvPageSource *post, MemkvPageSource *fst)
{
	MemkvRunMemos *memos = (MemkvRunMemos *) index->rd_amcache;
	MemkvSliceMemo *sm = &m->slices[s];
	const RunSlice *slice = &m->hdr->slices[s];
	Size		budget = (Size) memkv_top_memo_kb * 1024;
	uint64		top_lo = slice->leaf_bytes;
	uint64		top_hi = slice->leaf_bytes + slice->top_bytes;
	uint64		tab_lo = sm->postings.table_off;
	uint64		tab_hi = slice->postings_bytes;

	Assert(memos != NULL && m->used && s < m->hdr->nslices && sm->opened);
	Assert(tab_lo < tab_hi && sm->postings.src.size == tab_hi);
	if (sm->top == NULL && slice->top_bytes > 0 &&
		memos->held + (top_hi - top_lo) <= budget)
	{
		sm->top = memkv_memo_copy(index, fst, top_lo, top_hi);
		if (sm->top == NULL)
			return false;
		memos->held += top_hi - top_lo;
		m->held += top_hi - top_lo;
		elog(DEBUG2, "memkv: index \"%s\" holds the top region of run %u slice %u (%llu bytes) in backend memory",
			 RelationGetRelationName(index), m->run_tag, s,
			 (unsigned long long) (top_hi - top_lo));
	}
	if (sm->table == NULL && memos->held + (tab_hi - tab_lo) <= budget)
	{
		sm->table = memkv_memo_copy(index, post, tab_lo, tab_hi);
		if (sm->table == NULL)
			return false;
		memos->held += tab_hi - tab_lo;
		m->held += tab_hi - tab_lo;
	}
	if (sm->top)
	{
		fst->mem = sm->top;
		fst->mem_lo = top_lo;
		fst->mem_hi = top_hi;
	}
	if (sm->table)
	{
		post->mem = sm->table;
		post->mem_lo = tab_lo;
		post->mem_hi = tab_hi;
	}
	return true;
}
