/*-------------------------------------------------------------------------
 *
 * test_rundir.c
 *	  Unit tests of the run directory (src/rundir.c) and CRC-32C
 *	  (src/crc32c.c): random directories round-trip through their byte
 *	  encoding; each validation rule fails with its own code when its
 *	  field is damaged (with the CRC restamped, so that only that rule
 *	  can catch it), and any damage without a restamp is a CRC mismatch;
 *	  the truncated-bound key and range tests never exclude a key the run
 *	  holds (checked against full keys); the committed fuzz seeds decode
 *	  and re-encode byte for byte.
 *
 * Run from test/unit (make check does): it reads corpus/fuzz_rundir.
 * `test_rundir --write-corpus DIR` writes the seeds instead.
 *
 *-------------------------------------------------------------------------
 */
#include "rundir.h"
#include "crc32c.h"

#include <dirent.h>

#include "unit_check.h"

#define NBLOCKS		100000

/* Print "ok NAME" or "FAIL NAME": did any CHECK fail since failed_before? */
static void
report(const char *name, long failed_before)
{
	printf("%s %s\n", failed > failed_before ? "FAIL" : "ok", name);
}
#define CORPUS_DIR	"corpus/fuzz_rundir"

/* A block not used yet in this directory (the tests' allocator). */
static uint32_t next_block;

static uint32_t
new_block(void)
{
	next_block += 1 + (uint32_t) rndn(50);
	return next_block;
}

/* A random key of up to maxlen bytes over a small alphabet. */
static size_t
random_key(uint8_t *key, size_t maxlen)
{
	size_t		len = rndn(maxlen + 1);
	size_t		i;

	for (i = 0; i < len; i++)
		key[i] = (uint8_t) ("ab/\0\xff"[rndn(5)]);
	return len;
}

static int
full_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t		m = alen < blen ? alen : blen;
	int			c = m ? memcmp(a, b, m) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

/* A random valid run with id run_id. */
static void
random_run(MemkvRunEntry *run, uint64_t run_id, uint64_t generation)
{
	uint8_t		a[40];
	uint8_t		b[40];
	size_t		alen;
	size_t		blen;

	memset(run, 0, sizeof(*run));
	run->run_id = run_id;
	run->ntids = rndn(4) == 0 ? 0 : 1 + rndn(UINT64_C(1) << rndn(60));
	run->nnulls = rndn(run->ntids + 1) / 4;
	run->nkeys = run->ntids - run->nnulls ? 1 + rndn(run->ntids - run->nnulls) : 0;
	run->header_block = new_block();
	run->npages = (uint32_t) rndn(1000000);
	run->nslices = (uint32_t) rndn(1000);
	run->dead_block = RUNDIR_INVALID_BLOCK;
	if (rndn(3) == 0)
	{
		run->dead_block = new_block();
		run->ndead = rndn(run->ntids + 1);
		run->dead_generation = run_id + rndn(generation - run_id);
	}
	run->flags = rndn(2) ? RUNDIR_RUN_HAS_FILTER : 0;
	if (rndn(4) == 0)
		run->flags |= RUNDIR_RUN_REWRITE;
	if (run->nkeys > 0)
	{
		alen = random_key(a, sizeof(a));
		blen = random_key(b, sizeof(b));
		if (full_cmp(a, alen, b, blen) > 0)
			rundir_set_bounds(run, b, blen, a, alen);
		else
			rundir_set_bounds(run, a, alen, b, blen);
	}
}

/*
 * A random valid directory: 1..32 stripes, 0..24 runs newest first
 * (decreasing ids), 0..2 merges over disjoint runs, 0..4 pending writes,
 * maybe a limbo chain.  maxed: every count at its limit.
 */
static void
random_dir(MemkvDirectory *dir, bool maxed)
{
	uint32_t	i;
	uint32_t	used = 0;		/* runs taken by merges, from the oldest */
	uint64_t	id;

	memset(dir, 0, sizeof(*dir));
	next_block = 0;
	dir->instance_id = rnd();
	dir->generation = 100 + rndn(UINT64_C(1) << 40);
	dir->freeze_count = rnd();
	dir->merge_count = rnd();
	dir->last_freeze = (int64_t) rnd();
	dir->last_merge = (int64_t) rnd();
	dir->nstripes = maxed ? RUNDIR_MAX_STRIPES : 1 + (uint32_t) rndn(32);
	for (i = 0; i < dir->nstripes; i++)
	{
		if (!maxed && rndn(8) == 0)
			dir->stripes[i].log_head = RUNDIR_INVALID_BLOCK;
		else
		{
			dir->stripes[i].log_head = new_block();
			dir->stripes[i].log_head_offset = 1 + (uint16_t) rndn(RUNDIR_MAX_OFFSET);
		}
	}
	dir->nruns = maxed ? RUNDIR_MAX_RUNS : (uint32_t) rndn(RUNDIR_MAX_RUNS + 1);
	id = dir->generation;
	for (i = 0; i < dir->nruns; i++)
	{
		id -= 1 + rndn(3);
		random_run(&dir->runs[i], id, dir->generation);
	}

	/* merges: the output newer than a block of older inputs */
	dir->nmerges = maxed ? 1 : (uint32_t) rndn(RUNDIR_MAX_MERGES + 1);
	for (i = 0; i < dir->nmerges; i++)
	{
		MemkvMergeRecord *m = &dir->merges[i];
		uint32_t	avail = dir->nruns - used;
		uint32_t	j;

		if (avail < 2)
		{
			dir->nmerges = i;
			break;
		}
		m->ninputs = maxed ? avail - 1 : 1 + (uint32_t) rndn(avail - 1);
		m->output_id = dir->runs[used].run_id;
		dir->runs[used].flags |= RUNDIR_RUN_BOUNDED_BELOW;
		for (j = 0; j < m->ninputs; j++)
		{
			m->inputs[j] = dir->runs[used + 1 + j].run_id;
			dir->runs[used + 1 + j].flags |= RUNDIR_RUN_BOUNDED_FROM;
		}
		m->state_block = new_block();
		used += 1 + m->ninputs;
	}

	dir->npending = maxed ? RUNDIR_MAX_PENDING : (uint32_t) rndn(RUNDIR_MAX_PENDING + 1);
	for (i = 0; i < dir->npending; i++)
	{
		dir->pending[i].block = new_block();
		dir->pending[i].kind = 1 + (uint8_t) rndn(4);
	}
	dir->limbo_head = RUNDIR_INVALID_BLOCK;
	if (maxed || rndn(2))
	{
		dir->limbo_head = new_block();
		dir->nlimbo = (uint32_t) rndn(1000);
	}
}

/* Field-by-field equality of two directories (no padding compared). */
static bool
dir_equal(const MemkvDirectory *a, const MemkvDirectory *b)
{
	uint32_t	i;

	if (a->instance_id != b->instance_id || a->generation != b->generation ||
		a->freeze_count != b->freeze_count || a->merge_count != b->merge_count ||
		a->last_freeze != b->last_freeze || a->last_merge != b->last_merge ||
		a->limbo_head != b->limbo_head || a->nlimbo != b->nlimbo ||
		a->nstripes != b->nstripes || a->nruns != b->nruns ||
		a->nmerges != b->nmerges || a->npending != b->npending)
		return false;
	for (i = 0; i < a->nstripes; i++)
		if (a->stripes[i].log_head != b->stripes[i].log_head ||
			a->stripes[i].log_head_offset != b->stripes[i].log_head_offset)
			return false;
	for (i = 0; i < a->nruns; i++)
	{
		const MemkvRunEntry *x = &a->runs[i];
		const MemkvRunEntry *y = &b->runs[i];

		if (x->run_id != y->run_id || x->ntids != y->ntids ||
			x->nkeys != y->nkeys || x->nnulls != y->nnulls ||
			x->ndead != y->ndead || x->dead_generation != y->dead_generation ||
			x->header_block != y->header_block || x->npages != y->npages ||
			x->nslices != y->nslices || x->dead_block != y->dead_block ||
			x->flags != y->flags || x->lo_len != y->lo_len ||
			x->hi_len != y->hi_len ||
			memcmp(x->lo, y->lo, RUNDIR_BOUND_BYTES) != 0 ||
			memcmp(x->hi, y->hi, RUNDIR_BOUND_BYTES) != 0)
			return false;
	}
	for (i = 0; i < a->nmerges; i++)
		if (a->merges[i].output_id != b->merges[i].output_id ||
			a->merges[i].state_block != b->merges[i].state_block ||
			a->merges[i].ninputs != b->merges[i].ninputs ||
			memcmp(a->merges[i].inputs, b->merges[i].inputs,
				   a->merges[i].ninputs * sizeof(uint64_t)) != 0)
			return false;
	for (i = 0; i < a->npending; i++)
		if (a->pending[i].block != b->pending[i].block ||
			a->pending[i].kind != b->pending[i].kind)
			return false;
	return true;
}

/*
 * Recompute the CRC of an encoding in place (bytes 12..15), over the
 * length its length field says (within bufsize).
 */
static void
restamp(uint8_t *buf, size_t bufsize)
{
	uint32_t	crc;
	size_t		len = buf[8] | (buf[9] << 8) | (buf[10] << 16) |
		((size_t) buf[11] << 24);

	if (len > bufsize)
		len = bufsize;
	if (len < 16)
		return;

	memset(buf + 12, 0, 4);
	crc = crc32c(buf, len);
	buf[12] = (uint8_t) crc;
	buf[13] = (uint8_t) (crc >> 8);
	buf[14] = (uint8_t) (crc >> 16);
	buf[15] = (uint8_t) (crc >> 24);
}

static void
test_crc32c(void)
{
	long		failed_before = failed;
	const char *s = "123456789";
	uint32_t	part;

	CHECK(crc32c(s, 9) == UINT32_C(0xE3069283), "CRC-32C check value");
	part = crc32c_update(CRC32C_INIT, s, 4);
	part = crc32c_update(part, s + 4, 5);
	CHECK(crc32c_final(part) == UINT32_C(0xE3069283), "CRC-32C in two parts");
	CHECK(crc32c(NULL, 0) == 0, "CRC-32C of nothing");
	{
		/* the CPU's path (if any) against the table, every tail and offset */
		uint8_t		buf[300];
		int			off,
					len,
					same = 1;

		for (len = 0; len < (int) sizeof(buf); len++)
			buf[len] = (uint8_t) (len * 131 + 7);
		for (off = 0; off < 9; off++)
			for (len = 0; len + off <= (int) sizeof(buf); len += 1 + len / 16)
				if (crc32c_update(CRC32C_INIT ^ (uint32_t) len, buf + off, len) !=
					crc32c_update_table(CRC32C_INIT ^ (uint32_t) len, buf + off, len))
					same = 0;
		CHECK(same, "CRC-32C: the CPU's path equals the table's");
	}
	report("crc32c", failed_before);
}

static void
test_round_trip(void)
{
	long		failed_before = failed;
	static uint8_t buf[RUNDIR_PAGE_CONTENT_BYTES];
	static uint8_t buf2[RUNDIR_PAGE_CONTENT_BYTES];
	MemkvDirectory dir;
	MemkvDirectory back;
	const char *msg = NULL;
	int			iter;

	for (iter = 0; iter < 3000; iter++)
	{
		size_t		len;
		size_t		len2;
		RundirStatus st;

		random_dir(&dir, iter == 0);
		st = rundir_validate(&dir, NBLOCKS, &msg);
		CHECK(st == RUNDIR_OK, "iter %d: generated directory invalid: %s",
			  iter, msg);
		len = rundir_encode(&dir, buf, sizeof(buf));
		CHECK(len == rundir_encoded_size(&dir) && len > 0,
			  "iter %d: encode length %zu", iter, len);
		if (iter == 0)
			CHECK(len <= RUNDIR_MAX_BYTES && len > 3000,
				  "maximal directory is %zu bytes", len);
		/* garbage after the encoding is ignored */
		memset(buf + len, 0xA5, sizeof(buf) - len);
		st = rundir_decode(buf, sizeof(buf), NBLOCKS, &back, &msg);
		CHECK(st == RUNDIR_OK, "iter %d: decode failed: %s", iter, msg);
		CHECK(dir_equal(&dir, &back), "iter %d: round trip differs", iter);
		len2 = rundir_encode(&back, buf2, sizeof(buf2));
		CHECK(len2 == len && memcmp(buf, buf2, len) == 0,
			  "iter %d: re-encoding differs", iter);
		/* exactly the encoding's bytes suffice; one fewer does not */
		CHECK(rundir_decode(buf, len, NBLOCKS, &back, NULL) == RUNDIR_OK,
			  "iter %d: decode of exact length", iter);
		CHECK(rundir_decode(buf, len - 1, NBLOCKS, &back, NULL) == RUNDIR_ERR_SHORT,
			  "iter %d: decode of a truncated buffer", iter);
		/* every single-bit flip is caught (by the CRC, or before it) */
		{
			size_t		pos = rndn(len);
			RundirStatus fst;

			buf[pos] ^= (uint8_t) (1 << rndn(8));
			fst = rundir_decode(buf, len, NBLOCKS, &back, NULL);
			CHECK(fst != RUNDIR_OK, "iter %d: bit flip at %zu not caught",
				  iter, pos);
			if (pos >= 16)
				CHECK(fst == RUNDIR_ERR_CRC, "iter %d: flip at %zu gave %d",
					  iter, pos, (int) fst);
		}
	}
	CHECK(rundir_encode(&dir, buf, rundir_encoded_size(&dir) - 1) == 0,
		  "encode into too small a buffer");
	dir.nruns = RUNDIR_MAX_RUNS + 1;
	CHECK(rundir_encode(&dir, buf, sizeof(buf)) == 0,
		  "encode of a count past its limit");
	report("round_trip", failed_before);
}

/*
 * Damage one rule.  Returns the code expected.  Struct damage is
 * encoded normally (a good CRC); byte damage is restamped by the caller
 * when restamp_after is set.
 */
typedef struct Damage
{
	const char *name;
	RundirStatus expect;
	void		(*apply) (MemkvDirectory *dir);	/* struct damage, or */
	void		(*apply_bytes) (uint8_t *buf, size_t len);	/* byte damage */
	bool		restamp_after;	/* restamp the CRC after byte damage */
	bool		needs_runs;		/* needs >= 2 runs */
	bool		needs_merge;	/* needs a merge record */
} Damage;

static void d_run_id(MemkvDirectory *d) { d->runs[0].run_id = d->generation; }
static void
d_dup_run(MemkvDirectory *d)
{
	d->runs[1].run_id = d->runs[0].run_id;
	d->runs[1].dead_block = RUNDIR_INVALID_BLOCK;
	d->runs[1].ndead = 0;
	d->runs[1].dead_generation = 0;
}
static void d_dup_block(MemkvDirectory *d) { d->runs[1].header_block = d->runs[0].header_block; }
static void d_dup_block_pending(MemkvDirectory *d) { d->npending = 1; d->pending[0].kind = 1; d->pending[0].block = d->runs[0].header_block; }
static void d_block_past(MemkvDirectory *d) { d->runs[0].header_block = NBLOCKS; }
static void d_block_zero(MemkvDirectory *d) { d->runs[0].header_block = 0; }
static void d_log_past(MemkvDirectory *d) { d->stripes[0].log_head = NBLOCKS + 7; d->stripes[0].log_head_offset = 1; }
static void d_dead_past(MemkvDirectory *d) { d->runs[0].dead_block = NBLOCKS; d->runs[0].dead_generation = d->runs[0].run_id; }
static void d_limbo_past(MemkvDirectory *d) { d->limbo_head = NBLOCKS; }
static void d_state_past(MemkvDirectory *d) { d->merges[0].state_block = NBLOCKS; }
static void d_lo_gt_hi(MemkvDirectory *d)
{
	MemkvRunEntry *r = &d->runs[0];

	r->ntids = r->nkeys = 10;
	r->nnulls = r->ndead = 0;
	r->dead_block = RUNDIR_INVALID_BLOCK;
	r->dead_generation = 0;
	rundir_set_bounds(r, (const uint8_t *) "b", 1, (const uint8_t *) "a", 1);
}
static void d_keyless_bounds(MemkvDirectory *d)
{
	MemkvRunEntry *r = &d->runs[0];

	r->nkeys = 0;
	rundir_set_bounds(r, (const uint8_t *) "a", 1, (const uint8_t *) "b", 1);
}
static void
d_counts(MemkvDirectory *d)
{
	if (d->runs[0].ntids == UINT64_MAX)
		d->runs[0].ntids--;
	d->runs[0].nkeys = d->runs[0].ntids + 1;
	d->runs[0].nnulls = 0;
}
static void d_dead_no_block(MemkvDirectory *d) { d->runs[0].dead_block = RUNDIR_INVALID_BLOCK; d->runs[0].dead_generation = 0; d->runs[0].ndead = 1; d->runs[0].ntids |= 1; }
static void d_dead_gen(MemkvDirectory *d) { d->runs[0].dead_block = 99999; d->runs[0].dead_generation = d->generation; }
static void d_flag_unknown(MemkvDirectory *d) { d->runs[0].flags |= 0x10; }
static void d_bound_len(MemkvDirectory *d) { d->runs[0].lo_len = 25; }
static void d_bound_pad(MemkvDirectory *d) { d->runs[0].hi[23] = 1; d->runs[0].hi_len = 0; d->runs[0].lo_len = 0; memset(d->runs[0].lo, 0, 24); }
static void d_bounded_no_merge(MemkvDirectory *d) { d->nmerges = 0; d->runs[0].flags |= RUNDIR_RUN_BOUNDED_FROM; }
static void d_merge_missing(MemkvDirectory *d) { d->merges[0].output_id = d->generation - 1000000; }
static void d_merge_order(MemkvDirectory *d)
{
	/* output older than an input: swap the roles' ids */
	uint64_t	out = d->merges[0].output_id;

	d->merges[0].output_id = d->merges[0].inputs[0];
	d->merges[0].inputs[0] = out;
	d->runs[rundir_find_run(d, out)].flags ^= RUNDIR_RUN_BOUNDED_BELOW | RUNDIR_RUN_BOUNDED_FROM;
	d->runs[rundir_find_run(d, d->merges[0].output_id)].flags ^= RUNDIR_RUN_BOUNDED_BELOW | RUNDIR_RUN_BOUNDED_FROM;
}
static void d_merge_twice(MemkvDirectory *d) { d->merges[0].inputs[d->merges[0].ninputs++] = d->merges[0].inputs[0]; }
static void d_stripe_offset(MemkvDirectory *d) { d->stripes[0].log_head = 77777; d->stripes[0].log_head_offset = RUNDIR_MAX_OFFSET + 1; }
static void d_stripe_zero(MemkvDirectory *d) { d->stripes[0].log_head = 77777; d->stripes[0].log_head_offset = 0; }
static void d_stripe_none(MemkvDirectory *d) { d->stripes[0].log_head = RUNDIR_INVALID_BLOCK; d->stripes[0].log_head_offset = 1; }
static void d_pending_kind(MemkvDirectory *d) { d->npending = 1; d->pending[0].block = 88888; d->pending[0].kind = 9; }
static void d_limbo(MemkvDirectory *d) { d->limbo_head = RUNDIR_INVALID_BLOCK; d->nlimbo = 3; }

static void b_magic(uint8_t *b, size_t len) { (void) len; b[0] ^= 1; }
static void b_version_1x(uint8_t *b, size_t len) { (void) len; b[4] = 2; }
static void b_version(uint8_t *b, size_t len) { (void) len; b[4] = 4; }
static void b_crc(uint8_t *b, size_t len) { b[len - 1] ^= 0x40; }
static void b_length_small(uint8_t *b, size_t len) { (void) len; b[8] = RUNDIR_FIXED_BYTES - 1; b[9] = 0; }
static void b_length_off(uint8_t *b, size_t len) { b[8] = (uint8_t) (len + 5); b[9] = (uint8_t) ((len + 5) >> 8); }
static void b_nstripes0(uint8_t *b, size_t len) { (void) len; b[72] = 0; }
static void b_nstripes33(uint8_t *b, size_t len) { (void) len; b[72] = 33; }
static void b_nruns(uint8_t *b, size_t len) { (void) len; b[73] = RUNDIR_MAX_RUNS + 1; }
static void b_nmerges(uint8_t *b, size_t len) { (void) len; b[74] = RUNDIR_MAX_MERGES + 1; }
static void b_npending(uint8_t *b, size_t len) { (void) len; b[75] = RUNDIR_MAX_PENDING + 1; }

static const Damage damages[] = {
	{"bad magic", RUNDIR_ERR_MAGIC, NULL, b_magic, true, false, false},
	{"version 2 (memkv 1.x)", RUNDIR_ERR_VERSION_1X, NULL, b_version_1x, true, false, false},
	{"unknown version", RUNDIR_ERR_VERSION, NULL, b_version, true, false, false},
	{"CRC mismatch", RUNDIR_ERR_CRC, NULL, b_crc, false, false, false},
	{"length below the fixed part", RUNDIR_ERR_LENGTH, NULL, b_length_small, true, false, false},
	{"length past the counts", RUNDIR_ERR_LENGTH, NULL, b_length_off, true, false, false},
	{"no stripes", RUNDIR_ERR_COUNT, NULL, b_nstripes0, true, false, false},
	{"33 stripes", RUNDIR_ERR_COUNT, NULL, b_nstripes33, true, false, false},
	{"25 runs", RUNDIR_ERR_COUNT, NULL, b_nruns, true, false, false},
	{"3 merges", RUNDIR_ERR_COUNT, NULL, b_nmerges, true, false, false},
	{"5 pending", RUNDIR_ERR_COUNT, NULL, b_npending, true, false, false},
	{"run id = generation", RUNDIR_ERR_RUN_ID, d_run_id, NULL, false, true, false},
	{"two runs, one id", RUNDIR_ERR_DUP_RUN, d_dup_run, NULL, false, true, false},
	{"two runs, one block", RUNDIR_ERR_DUP_BLOCK, d_dup_block, NULL, false, true, false},
	{"pending names a run's block", RUNDIR_ERR_DUP_BLOCK, d_dup_block_pending, NULL, false, true, false},
	{"run block past the end", RUNDIR_ERR_BLOCK, d_block_past, NULL, false, true, false},
	{"run block 0", RUNDIR_ERR_BLOCK, d_block_zero, NULL, false, true, false},
	{"log head past the end", RUNDIR_ERR_BLOCK, d_log_past, NULL, false, false, false},
	{"dead list past the end", RUNDIR_ERR_BLOCK, d_dead_past, NULL, false, true, false},
	{"limbo past the end", RUNDIR_ERR_BLOCK, d_limbo_past, NULL, false, false, false},
	{"merge state past the end", RUNDIR_ERR_BLOCK, d_state_past, NULL, false, true, true},
	{"lo > hi", RUNDIR_ERR_BOUNDS, d_lo_gt_hi, NULL, false, true, false},
	{"keyless run with bounds", RUNDIR_ERR_BOUNDS, d_keyless_bounds, NULL, false, true, false},
	{"keys > TIDs", RUNDIR_ERR_RUN_COUNTS, d_counts, NULL, false, true, false},
	{"dead count, no dead list", RUNDIR_ERR_DEAD, d_dead_no_block, NULL, false, true, false},
	{"dead generation = generation", RUNDIR_ERR_DEAD, d_dead_gen, NULL, false, true, false},
	{"unknown run flag", RUNDIR_ERR_RESERVED, d_flag_unknown, NULL, false, true, false},
	{"bound of 25 bytes", RUNDIR_ERR_RESERVED, d_bound_len, NULL, false, true, false},
	{"bound padding", RUNDIR_ERR_RESERVED, d_bound_pad, NULL, false, true, false},
	{"BOUNDED_FROM without a merge", RUNDIR_ERR_MERGE, d_bounded_no_merge, NULL, false, true, false},
	{"merge output not listed", RUNDIR_ERR_MERGE, d_merge_missing, NULL, false, true, true},
	{"merge output older than input", RUNDIR_ERR_MERGE, d_merge_order, NULL, false, true, true},
	{"merge input listed twice", RUNDIR_ERR_MERGE, d_merge_twice, NULL, false, true, true},
	{"log offset past the page", RUNDIR_ERR_STRIPE, d_stripe_offset, NULL, false, false, false},
	{"log offset 0", RUNDIR_ERR_STRIPE, d_stripe_zero, NULL, false, false, false},
	{"offset without a log", RUNDIR_ERR_STRIPE, d_stripe_none, NULL, false, false, false},
	{"unknown pending kind", RUNDIR_ERR_PENDING, d_pending_kind, NULL, false, false, false},
	{"limbo count without a page", RUNDIR_ERR_LIMBO, d_limbo, NULL, false, false, false},
};

static void
test_rules(void)
{
	long		failed_before = failed;
	static uint8_t buf[RUNDIR_PAGE_CONTENT_BYTES];
	size_t		k;

	for (k = 0; k < sizeof(damages) / sizeof(damages[0]); k++)
	{
		const Damage *dm = &damages[k];
		int			tried = 0;
		int			attempt;

		for (attempt = 0; attempt < 2000 && tried < 20; attempt++)
		{
			MemkvDirectory dir;
			MemkvDirectory back;
			const char *msg = NULL;
			size_t		len;
			RundirStatus st;

			random_dir(&dir, false);
			if ((dm->needs_runs && dir.nruns < 2) ||
				(dm->needs_merge && (dir.nmerges < 1 ||
									 dir.merges[0].ninputs >= RUNDIR_MAX_RUNS)))
				continue;
			/* free blocks for the damage functions that use fixed ones */
			if (next_block >= 77777)
				continue;
			tried++;
			if (dm->apply)
			{
				dm->apply(&dir);
				st = rundir_validate(&dir, NBLOCKS, &msg);
				CHECK(st == dm->expect, "%s: validate gave %d (%s), want %d",
					  dm->name, (int) st, msg ? msg : "", (int) dm->expect);
			}
			memset(buf, 0, sizeof(buf));
			len = rundir_encode(&dir, buf, sizeof(buf));
			CHECK(len > 0, "%s: encode failed", dm->name);
			if (dm->apply_bytes)
			{
				dm->apply_bytes(buf, len);
				if (dm->restamp_after)
					restamp(buf, sizeof(buf));
			}
			msg = NULL;
			st = rundir_decode(buf, sizeof(buf), NBLOCKS, &back, &msg);
			CHECK(st == dm->expect, "%s: decode gave %d (%s), want %d",
				  dm->name, (int) st, msg ? msg : "", (int) dm->expect);
			CHECK(msg != NULL && msg[0] != '\0', "%s: no message", dm->name);

			/* the same damage without a restamped CRC never passes */
			if (dm->apply)
			{
				buf[16 + rndn(len - 16)] ^= 0x01;
				CHECK(rundir_decode(buf, len, NBLOCKS, &back, NULL) == RUNDIR_ERR_CRC,
					  "%s: flipped byte not a CRC mismatch", dm->name);
			}
		}
		CHECK(tried > 0, "%s: no directory to damage", dm->name);
		printf("%s rule: %s\n", failed > failed_before ? "FAIL" : "ok", dm->name);
		failed_before = failed;
	}
}

/* A memkv 1.x metapage (MemkvMetaPageData) starts "MKV1", version 2. */
static void
test_version_1x(void)
{
	long		failed_before = failed;
	uint8_t		page[RUNDIR_PAGE_CONTENT_BYTES];
	uint32_t	v[2] = {RUNDIR_MAGIC, 2};
	MemkvDirectory dir;
	const char *msg = NULL;

	memset(page, 0, sizeof(page));
	memcpy(page, v, sizeof(v));		/* native order, as 1.x wrote it */
	CHECK(rundir_decode(page, sizeof(page), NBLOCKS, &dir, &msg) ==
		  RUNDIR_ERR_VERSION_1X, "1.x metapage: %s", msg ? msg : "");
	CHECK(msg != NULL && strstr(msg, "1.x") != NULL, "1.x message: %s",
		  msg ? msg : "");
	CHECK(rundir_decode(page, 3, NBLOCKS, &dir, NULL) == RUNDIR_ERR_SHORT,
		  "3 bytes");
	memset(page, 0, sizeof(page));
	CHECK(rundir_decode(page, sizeof(page), NBLOCKS, &dir, NULL) == RUNDIR_ERR_MAGIC,
		  "zero page");
	report("version_1x", failed_before);
}

static void
test_helpers(void)
{
	long		failed_before = failed;
	MemkvDirectory dir;
	MemkvRunEntry run;
	uint64_t	ids[3];
	uint32_t	i;

	memset(&dir, 0, sizeof(dir));
	dir.nstripes = 1;
	dir.generation = 1000;
	for (i = 0; i < RUNDIR_MAX_RUNS; i++)
	{
		memset(&run, 0, sizeof(run));
		run.run_id = 10 + i;
		CHECK(rundir_add_run(&dir, &run), "add run %u", i);
	}
	CHECK(dir.nruns == RUNDIR_MAX_RUNS, "full: %u", dir.nruns);
	CHECK(!rundir_add_run(&dir, &run), "add to a full directory");
	CHECK(dir.runs[0].run_id == 10 + RUNDIR_MAX_RUNS - 1, "newest first");
	CHECK(rundir_find_run(&dir, 10) == RUNDIR_MAX_RUNS - 1, "find oldest");
	CHECK(rundir_find_run(&dir, 5) == -1, "find missing");
	ids[0] = 12;
	ids[1] = 20;
	ids[2] = 999;
	CHECK(rundir_remove_runs(&dir, ids, 3) == 2, "remove two of three ids");
	CHECK(dir.nruns == RUNDIR_MAX_RUNS - 2, "count after remove");
	for (i = 1; i < dir.nruns; i++)
		CHECK(dir.runs[i - 1].run_id > dir.runs[i].run_id, "order kept at %u", i);
	CHECK(rundir_find_run(&dir, 12) == -1 && rundir_find_run(&dir, 20) == -1,
		  "removed runs gone");
	/* a merge's output where its inputs were */
	run.run_id = 500;
	CHECK(rundir_insert_run(&dir, 3, &run), "insert at 3");
	CHECK(dir.runs[3].run_id == 500 && rundir_find_run(&dir, 500) == 3, "inserted");
	CHECK(!rundir_insert_run(&dir, dir.nruns + 1, &run), "insert past the end");
	report("helpers", failed_before);
}

/*
 * The key-range tests against full keys: for random key sets (keys up to
 * 40 bytes over a 5-letter alphabet, so bounds are often truncated and
 * keys often share 24-byte prefixes), a key inside [smallest, largest]
 * is never excluded, nor a range that meets the set; and the tests do
 * exclude most keys outside (they are worth having).
 */
static void
test_bounds(void)
{
	long		failed_before = failed;
	long		outside = 0;
	long		excluded = 0;
	int			iter;

	for (iter = 0; iter < 2000; iter++)
	{
		uint8_t		keys[16][40];
		size_t		lens[16];
		int			nkeys = 1 + (int) rndn(16);
		int			lo = 0;
		int			hi = 0;
		int			i;
		int			p;
		MemkvRunEntry run;

		memset(&run, 0, sizeof(run));
		for (i = 0; i < nkeys; i++)
		{
			/* often a shared 20..30-byte prefix */
			lens[i] = random_key(keys[i], 40);
			if (i > 0 && rndn(2) && lens[0] >= 20)
			{
				size_t		common = 20 + rndn(11);

				if (common > lens[0])
					common = lens[0];
				memcpy(keys[i], keys[0], common);
				if (lens[i] < common)
					lens[i] = common;
			}
			if (full_cmp(keys[i], lens[i], keys[lo], lens[lo]) < 0)
				lo = i;
			if (full_cmp(keys[i], lens[i], keys[hi], lens[hi]) > 0)
				hi = i;
		}
		run.nkeys = (uint64_t) nkeys;
		run.ntids = (uint64_t) nkeys;
		rundir_set_bounds(&run, keys[lo], lens[lo], keys[hi], lens[hi]);

		for (i = 0; i < nkeys; i++)
			CHECK(rundir_key_may_be_in(&run, keys[i], lens[i]),
				  "iter %d: key %d of the run excluded", iter, i);

		for (p = 0; p < 50; p++)
		{
			uint8_t		k[40];
			uint8_t		k2[40];
			size_t		klen;
			size_t		k2len;
			bool		in;
			bool		meets;
			const uint8_t *a;
			const uint8_t *b;
			size_t		alen;
			size_t		blen;

			/* a probe: random, or a member key with its tail changed */
			if (rndn(2))
				klen = random_key(k, 40);
			else
			{
				i = (int) rndn((uint64_t) nkeys);
				memcpy(k, keys[i], lens[i]);
				klen = lens[i] > 0 ? rndn(lens[i] + 1) : 0;
				klen += random_key(k + klen, 40 - klen);
			}
			in = full_cmp(keys[lo], lens[lo], k, klen) <= 0 &&
				full_cmp(k, klen, keys[hi], lens[hi]) <= 0;
			if (in)
				CHECK(rundir_key_may_be_in(&run, k, klen),
					  "iter %d: key inside [lo, hi] excluded", iter);
			else
			{
				outside++;
				if (!rundir_key_may_be_in(&run, k, klen))
					excluded++;
			}

			/* a range [k, k2] or half-open, against the members */
			k2len = random_key(k2, 40);
			a = k;
			alen = klen;
			b = k2;
			blen = k2len;
			if (full_cmp(a, alen, b, blen) > 0)
			{
				a = k2;
				alen = k2len;
				b = k;
				blen = klen;
			}
			if (rndn(4) == 0)
				a = NULL;
			else if (rndn(4) == 0)
				b = NULL;
			meets = false;
			for (i = 0; i < nkeys; i++)
				if ((a == NULL || full_cmp(a, alen, keys[i], lens[i]) <= 0) &&
					(b == NULL || full_cmp(keys[i], lens[i], b, blen) <= 0))
					meets = true;
			if (meets)
				CHECK(rundir_range_may_meet(&run, a, alen, b, blen),
					  "iter %d: range meeting the run excluded", iter);
		}
	}
	CHECK(excluded * 2 > outside, "bounds exclude %ld of %ld outside keys",
		  excluded, outside);
	printf("%s bounds (%ld of %ld outside keys excluded)\n",
		   failed > failed_before ? "FAIL" : "ok", excluded, outside);

	/* keyless runs meet nothing */
	{
		MemkvRunEntry run;

		memset(&run, 0, sizeof(run));
		run.ntids = 5;
		run.nnulls = 5;
		CHECK(!rundir_key_may_be_in(&run, (const uint8_t *) "", 0),
			  "keyless run holds the empty key");
		CHECK(!rundir_range_may_meet(&run, NULL, 0, NULL, 0),
			  "keyless run meets the whole range");
	}
}

/* Read a whole file; NULL if it cannot be read. */
static uint8_t *
read_file(const char *path, size_t *size)
{
	FILE	   *f = fopen(path, "rb");
	uint8_t    *data;

	*size = 0;
	if (f == NULL)
		return NULL;
	data = malloc(RUNDIR_PAGE_CONTENT_BYTES + 1);
	*size = fread(data, 1, RUNDIR_PAGE_CONTENT_BYTES + 1, f);
	fclose(f);
	return data;
}

/*
 * The committed seeds of fuzz_rundir are valid encodings: each decodes
 * (with nblocks 1000, as the fuzz target's second pass) and re-encodes to
 * the same bytes.
 */
static void
test_corpus(void)
{
	long		failed_before = failed;
	DIR		   *d = opendir(CORPUS_DIR);
	struct dirent *e;
	int			n = 0;

	CHECK(d != NULL, "cannot open %s (run from test/unit)", CORPUS_DIR);
	while (d != NULL && (e = readdir(d)) != NULL)
	{
		char		path[1024];
		uint8_t    *data;
		uint8_t		again[RUNDIR_PAGE_CONTENT_BYTES];
		size_t		size;
		MemkvDirectory dir;
		const char *msg = "";
		RundirStatus st;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, e->d_name);
		data = read_file(path, &size);
		CHECK(data != NULL, "cannot read %s", path);
		if (data == NULL)
			continue;
		st = rundir_decode(data, size, 1000, &dir, &msg);
		CHECK(st == RUNDIR_OK, "%s: %s", e->d_name, msg);
		if (st == RUNDIR_OK)
			CHECK(rundir_encode(&dir, again, sizeof(again)) == size &&
				  memcmp(again, data, size) == 0, "%s: re-encoding differs",
				  e->d_name);
		free(data);
		n++;
	}
	if (d != NULL)
		closedir(d);
	CHECK(n >= 3, "%d seeds in %s", n, CORPUS_DIR);
	printf("%s corpus (%d seeds)\n", failed > failed_before ? "FAIL" : "ok", n);
}

/* Write valid encodings (blocks below 1000) as fuzz seeds into dirname. */
static int
write_corpus(const char *dirname)
{
	int			i;

	for (i = 0; i < 6; i++)
	{
		MemkvDirectory dir;
		uint8_t		buf[RUNDIR_PAGE_CONTENT_BYTES];
		char		path[1024];
		size_t		len;
		FILE	   *f;

		do
		{
			random_dir(&dir, false);
			if (i == 0)
			{
				dir.nruns = dir.nmerges = dir.npending = 0;
				dir.nstripes = 1;
				dir.limbo_head = RUNDIR_INVALID_BLOCK;
				dir.nlimbo = 0;
			}
		} while (next_block >= 1000 ||
				 (i >= 3 && dir.nmerges == 0) ||
				 rundir_validate(&dir, 1000, NULL) != RUNDIR_OK);
		len = rundir_encode(&dir, buf, sizeof(buf));
		snprintf(path, sizeof(path), "%s/dir-%d-runs-%u-merges-%u", dirname,
				 i, dir.nruns, dir.nmerges);
		f = fopen(path, "wb");
		if (f == NULL || fwrite(buf, 1, len, f) != len)
		{
			perror(path);
			return 1;
		}
		fclose(f);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0)
		return write_corpus(argv[2]);
	test_crc32c();
	test_round_trip();
	test_rules();
	test_version_1x();
	test_helpers();
	test_bounds();
	test_corpus();
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
