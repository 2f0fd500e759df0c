/*-------------------------------------------------------------------------
 *
 * rundir.c
 *	  Plain C: the run directory's encoding, validation and helpers (see
 *	  rundir.h and src/README, "On-disk format (format version 3)").
 *
 * The encoding is fixed little-endian with no padding and no alignment,
 * so it reads the same on every platform.  Offsets in bytes:
 *
 *	  fixed part (RUNDIR_FIXED_BYTES = 76)
 *		 0 magic u32			 4 version u32
 *		 8 length u32 (bytes of the whole encoding)
 *		12 crc u32: CRC-32C of the whole encoding with these 4 bytes zero
 *		16 instance_id u64		24 generation u64
 *		32 freeze_count u64		40 merge_count u64
 *		48 last_freeze i64		56 last_merge i64
 *		64 limbo_head u32		68 nlimbo u32
 *		72 nstripes u8, nruns u8, nmerges u8, npending u8
 *	  then, in this order:
 *		stripes[nstripes]	6 bytes: log_head u32, log_head_offset u16
 *		runs[nruns]			116 bytes (MemkvRunEntry), newest first:
 *			 0 run_id u64	  8 ntids u64	  16 nkeys u64	 24 nnulls u64
 *			32 ndead u64	 40 dead_generation u64
 *			48 header_block u32	 52 npages u32	 56 nslices u32
 *			60 dead_block u32	 64 flags u16	 66 lo_len u8	 67 hi_len u8
 *			68 lo[24]		 92 hi[24]
 *		merges[nmerges]		13 + 8 * ninputs bytes: output_id u64,
 *							state_block u32, ninputs u8, inputs u64[ninputs]
 *		pending[npending]	5 bytes: block u32, kind u8
 *
 * The magic and version sit where 1.x's MemkvMetaPageData had them (the
 * first two native u32s, little-endian on every platform 1.x was tested
 * on), so a 1.x metapage is recognized as version 2 and refused with its
 * own code.  The CRC sits at a fixed place so that it is checked before
 * any count is trusted: a damaged byte anywhere is a CRC mismatch, and
 * the rules after it catch directories that a bug wrote with a good CRC.
 *
 * Decoding is canonical: every byte is either a field of the struct or a
 * byte that must be zero (bound padding), and the length must be exactly
 * what the counts imply.  So a decoded directory re-encodes to the same
 * bytes, which fuzz_rundir checks.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "crc32c.h"
#include "fst_bytes.h"
#include "rundir.h"

#define RUNDIR_CRC_OFFSET	12

/* The largest encoding fits on the metapage. */
_Static_assert(RUNDIR_MAX_BYTES <= RUNDIR_PAGE_CONTENT_BYTES,
			   "the run directory must fit in a metapage");

/* Record a failure: set *msg and return the code. */
static RundirStatus
fail(RundirStatus code, const char *text, const char **msg)
{
	if (msg)
		*msg = text;
	return code;
}

/* Are the counts within the format's limits (so the arrays hold them)? */
static bool
counts_ok(const MemkvDirectory *dir)
{
	uint32_t	i;

	if (dir->nstripes < 1 || dir->nstripes > RUNDIR_MAX_STRIPES ||
		dir->nruns > RUNDIR_MAX_RUNS || dir->nmerges > RUNDIR_MAX_MERGES ||
		dir->npending > RUNDIR_MAX_PENDING)
		return false;
	for (i = 0; i < dir->nmerges; i++)
		if (dir->merges[i].ninputs < 1 ||
			dir->merges[i].ninputs > RUNDIR_MAX_RUNS)
			return false;
	return true;
}

/*
 * Bytes of dir's encoding.  The counts must be within limits (an entry
 * past them would not be read).
 */
size_t
rundir_encoded_size(const MemkvDirectory *dir)
{
	size_t		size = RUNDIR_FIXED_BYTES;
	uint32_t	i;

	size += (size_t) dir->nstripes * RUNDIR_STRIPE_BYTES;
	size += (size_t) dir->nruns * RUNDIR_RUN_BYTES;
	for (i = 0; i < dir->nmerges && i < RUNDIR_MAX_MERGES; i++)
		size += RUNDIR_MERGE_BYTES(dir->merges[i].ninputs);
	size += (size_t) dir->npending * RUNDIR_PENDING_BYTES;
	return size;
}

/* Encode one run entry into p[0..RUNDIR_RUN_BYTES). */
static void
encode_run(const MemkvRunEntry *run, uint8_t *p)
{
	put_u64(p, run->run_id);
	put_u64(p + 8, run->ntids);
	put_u64(p + 16, run->nkeys);
	put_u64(p + 24, run->nnulls);
	put_u64(p + 32, run->ndead);
	put_u64(p + 40, run->dead_generation);
	put_u32(p + 48, run->header_block);
	put_u32(p + 52, run->npages);
	put_u32(p + 56, run->nslices);
	put_u32(p + 60, run->dead_block);
	put_u16(p + 64, run->flags);
	p[66] = run->lo_len;
	p[67] = run->hi_len;
	memcpy(p + 68, run->lo, RUNDIR_BOUND_BYTES);
	memcpy(p + 92, run->hi, RUNDIR_BOUND_BYTES);
}

/*
 * Encode dir into buf (see the file header for the layout) and stamp the
 * length and CRC.  Returns the length, or 0 if a count is past its limit
 * or the encoding does not fit in bufsize bytes.
 */
size_t
rundir_encode(const MemkvDirectory *dir, uint8_t *buf, size_t bufsize)
{
	size_t		len;
	uint8_t    *p;
	uint32_t	i;
	uint32_t	j;

	if (!counts_ok(dir))
		return 0;
	len = rundir_encoded_size(dir);
	if (len > bufsize)
		return 0;

	put_u32(buf, RUNDIR_MAGIC);
	put_u32(buf + 4, RUNDIR_VERSION);
	put_u32(buf + 8, (uint32_t) len);
	put_u32(buf + RUNDIR_CRC_OFFSET, 0);
	put_u64(buf + 16, dir->instance_id);
	put_u64(buf + 24, dir->generation);
	put_u64(buf + 32, dir->freeze_count);
	put_u64(buf + 40, dir->merge_count);
	put_u64(buf + 48, (uint64_t) dir->last_freeze);
	put_u64(buf + 56, (uint64_t) dir->last_merge);
	put_u32(buf + 64, dir->limbo_head);
	put_u32(buf + 68, dir->nlimbo);
	buf[72] = (uint8_t) dir->nstripes;
	buf[73] = (uint8_t) dir->nruns;
	buf[74] = (uint8_t) dir->nmerges;
	buf[75] = (uint8_t) dir->npending;
	p = buf + RUNDIR_FIXED_BYTES;

	for (i = 0; i < dir->nstripes; i++, p += RUNDIR_STRIPE_BYTES)
	{
		put_u32(p, dir->stripes[i].log_head);
		put_u16(p + 4, dir->stripes[i].log_head_offset);
	}
	for (i = 0; i < dir->nruns; i++, p += RUNDIR_RUN_BYTES)
		encode_run(&dir->runs[i], p);
	for (i = 0; i < dir->nmerges; i++)
	{
		const MemkvMergeRecord *m = &dir->merges[i];

		put_u64(p, m->output_id);
		put_u32(p + 8, m->state_block);
		p[12] = (uint8_t) m->ninputs;
		p += 13;
		for (j = 0; j < m->ninputs; j++, p += 8)
			put_u64(p, m->inputs[j]);
	}
	for (i = 0; i < dir->npending; i++, p += RUNDIR_PENDING_BYTES)
	{
		put_u32(p, dir->pending[i].block);
		p[4] = dir->pending[i].kind;
	}

	put_u32(buf + RUNDIR_CRC_OFFSET, crc32c(buf, len));
	return len;
}

/* Decode one run entry from p[0..RUNDIR_RUN_BYTES). */
static void
decode_run(const uint8_t *p, MemkvRunEntry *run)
{
	run->run_id = get_u64(p);
	run->ntids = get_u64(p + 8);
	run->nkeys = get_u64(p + 16);
	run->nnulls = get_u64(p + 24);
	run->ndead = get_u64(p + 32);
	run->dead_generation = get_u64(p + 40);
	run->header_block = get_u32(p + 48);
	run->npages = get_u32(p + 52);
	run->nslices = get_u32(p + 56);
	run->dead_block = get_u32(p + 60);
	run->flags = get_u16(p + 64);
	run->lo_len = p[66];
	run->hi_len = p[67];
	memcpy(run->lo, p + 68, RUNDIR_BOUND_BYTES);
	memcpy(run->hi, p + 92, RUNDIR_BOUND_BYTES);
}

/*
 * Check the envelope of buf[0..size): magic, version, length and CRC.
 * Sets *lenp to the encoding's length on success.
 */
static RundirStatus
check_envelope(const uint8_t *buf, size_t size, size_t *lenp,
			   const char **msg)
{
	uint32_t	version;
	uint32_t	len;
	uint32_t	crc;
	static const uint8_t zero4[4] = {0, 0, 0, 0};

	if (size < 8)
		return fail(RUNDIR_ERR_SHORT, "metapage too short for a directory",
					msg);
	if (get_u32(buf) != RUNDIR_MAGIC)
		return fail(RUNDIR_ERR_MAGIC, "bad magic number", msg);
	version = get_u32(buf + 4);
	if (version == RUNDIR_VERSION_1X)
		return fail(RUNDIR_ERR_VERSION_1X,
					"format version 2: built by memkv 1.x", msg);
	if (version != RUNDIR_VERSION)
		return fail(RUNDIR_ERR_VERSION, "unknown format version", msg);
	if (size < RUNDIR_FIXED_BYTES)
		return fail(RUNDIR_ERR_SHORT, "metapage too short for a directory",
					msg);
	len = get_u32(buf + 8);
	if (len < RUNDIR_FIXED_BYTES || len > RUNDIR_MAX_BYTES)
		return fail(RUNDIR_ERR_LENGTH, "directory length out of range", msg);
	if (len > size)
		return fail(RUNDIR_ERR_SHORT, "directory longer than the metapage",
					msg);

	crc = crc32c_update(CRC32C_INIT, buf, RUNDIR_CRC_OFFSET);
	crc = crc32c_update(crc, zero4, 4);
	crc = crc32c_update(crc, buf + RUNDIR_CRC_OFFSET + 4,
						len - RUNDIR_CRC_OFFSET - 4);
	if (crc32c_final(crc) != get_u32(buf + RUNDIR_CRC_OFFSET))
		return fail(RUNDIR_ERR_CRC, "checksum mismatch", msg);
	*lenp = len;
	return RUNDIR_OK;
}

/*
 * Decode buf[0..size) into *dir and validate it (rundir.h).  The envelope
 * first (magic, version, length, CRC), then the counts, which must fit
 * the length exactly, then rundir_validate's rules.
 */
RundirStatus
rundir_decode(const uint8_t *buf, size_t size, uint32_t nblocks,
			  MemkvDirectory *dir, const char **msg)
{
	RundirStatus st;
	size_t		len = 0;
	const uint8_t *p;
	const uint8_t *end;
	uint32_t	i;
	uint32_t	j;

	st = check_envelope(buf, size, &len, msg);
	if (st != RUNDIR_OK)
		return st;

	memset(dir, 0, sizeof(*dir));
	dir->instance_id = get_u64(buf + 16);
	dir->generation = get_u64(buf + 24);
	dir->freeze_count = get_u64(buf + 32);
	dir->merge_count = get_u64(buf + 40);
	dir->last_freeze = (int64_t) get_u64(buf + 48);
	dir->last_merge = (int64_t) get_u64(buf + 56);
	dir->limbo_head = get_u32(buf + 64);
	dir->nlimbo = get_u32(buf + 68);
	dir->nstripes = buf[72];
	dir->nruns = buf[73];
	dir->nmerges = buf[74];
	dir->npending = buf[75];
	if (dir->nstripes < 1 || dir->nstripes > RUNDIR_MAX_STRIPES)
		return fail(RUNDIR_ERR_COUNT, "stripe count out of range", msg);
	if (dir->nruns > RUNDIR_MAX_RUNS)
		return fail(RUNDIR_ERR_COUNT, "too many runs", msg);
	if (dir->nmerges > RUNDIR_MAX_MERGES)
		return fail(RUNDIR_ERR_COUNT, "too many merges", msg);
	if (dir->npending > RUNDIR_MAX_PENDING)
		return fail(RUNDIR_ERR_COUNT, "too many pending writes", msg);

	p = buf + RUNDIR_FIXED_BYTES;
	end = buf + len;
	if ((size_t) (end - p) < (size_t) dir->nstripes * RUNDIR_STRIPE_BYTES +
		(size_t) dir->nruns * RUNDIR_RUN_BYTES)
		return fail(RUNDIR_ERR_LENGTH, "directory shorter than its counts",
					msg);
	for (i = 0; i < dir->nstripes; i++, p += RUNDIR_STRIPE_BYTES)
	{
		dir->stripes[i].log_head = get_u32(p);
		dir->stripes[i].log_head_offset = get_u16(p + 4);
	}
	for (i = 0; i < dir->nruns; i++, p += RUNDIR_RUN_BYTES)
		decode_run(p, &dir->runs[i]);
	for (i = 0; i < dir->nmerges; i++)
	{
		MemkvMergeRecord *m = &dir->merges[i];

		if (end - p < 13)
			return fail(RUNDIR_ERR_LENGTH, "directory shorter than its counts",
						msg);
		m->output_id = get_u64(p);
		m->state_block = get_u32(p + 8);
		m->ninputs = p[12];
		p += 13;
		if (m->ninputs < 1 || m->ninputs > RUNDIR_MAX_RUNS)
			return fail(RUNDIR_ERR_COUNT, "merge input count out of range",
						msg);
		if ((size_t) (end - p) < 8 * (size_t) m->ninputs)
			return fail(RUNDIR_ERR_LENGTH, "directory shorter than its counts",
						msg);
		for (j = 0; j < m->ninputs; j++, p += 8)
			m->inputs[j] = get_u64(p);
	}
	if ((size_t) (end - p) != (size_t) dir->npending * RUNDIR_PENDING_BYTES)
		return fail(RUNDIR_ERR_LENGTH, "directory length disagrees with its counts",
					msg);
	for (i = 0; i < dir->npending; i++, p += RUNDIR_PENDING_BYTES)
	{
		dir->pending[i].block = get_u32(p);
		dir->pending[i].kind = p[4];
	}

	return rundir_validate(dir, nblocks, msg);
}

/* Is a (valid) block inside the relation and not the metapage? */
static bool
block_in_range(uint32_t block, uint32_t nblocks)
{
	return block != 0 && block < nblocks;
}

/* Byte-order comparison, a proper prefix first (memcmp, then length). */
static int
key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t		m = alen < blen ? alen : blen;
	int			c = m ? memcmp(a, b, m) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

/* Are bound bytes past len all zero? */
static bool
bound_padding_zero(const uint8_t *bound, uint8_t len)
{
	uint32_t	i;

	for (i = len; i < RUNDIR_BOUND_BYTES; i++)
		if (bound[i] != 0)
			return false;
	return true;
}

/* The rules of one run entry on its own. */
static RundirStatus
validate_run(const MemkvDirectory *dir, const MemkvRunEntry *run,
			 uint32_t nblocks, const char **msg)
{
	if (run->flags & ~RUNDIR_RUN_FLAGS_ALL)
		return fail(RUNDIR_ERR_RESERVED, "unknown run flag", msg);
	if (run->lo_len > RUNDIR_BOUND_BYTES || run->hi_len > RUNDIR_BOUND_BYTES)
		return fail(RUNDIR_ERR_RESERVED, "run bound longer than 24 bytes",
					msg);
	if (!bound_padding_zero(run->lo, run->lo_len) ||
		!bound_padding_zero(run->hi, run->hi_len))
		return fail(RUNDIR_ERR_RESERVED, "run bound padding not zero", msg);
	if (run->run_id >= dir->generation)
		return fail(RUNDIR_ERR_RUN_ID, "run id not below the generation", msg);
	if (!block_in_range(run->header_block, nblocks))
		return fail(RUNDIR_ERR_BLOCK,
					"run header block is the metapage or past the end", msg);
	if (run->nnulls > run->ntids || run->nkeys > run->ntids - run->nnulls ||
		run->ndead > run->ntids)
		return fail(RUNDIR_ERR_RUN_COUNTS,
					"run's key, NULL or dead count exceeds its TIDs", msg);
	if (run->nkeys == 0 && (run->lo_len != 0 || run->hi_len != 0))
		return fail(RUNDIR_ERR_BOUNDS, "keyless run with key bounds", msg);
	if (run->nkeys > 0 &&
		key_cmp(run->lo, run->lo_len, run->hi, run->hi_len) > 0)
		return fail(RUNDIR_ERR_BOUNDS, "run's low bound above its high bound",
					msg);
	if (run->dead_block == RUNDIR_INVALID_BLOCK)
	{
		if (run->ndead != 0 || run->dead_generation != 0)
			return fail(RUNDIR_ERR_DEAD, "dead count without a dead list", msg);
	}
	else
	{
		if (!block_in_range(run->dead_block, nblocks))
			return fail(RUNDIR_ERR_BLOCK,
						"dead-list block is the metapage or past the end", msg);
		if (run->dead_generation < run->run_id ||
			run->dead_generation >= dir->generation)
			return fail(RUNDIR_ERR_DEAD,
						"dead-list generation outside the run's lifetime", msg);
	}
	return RUNDIR_OK;
}

/*
 * The merge records against the runs: each names an existing output and
 * existing inputs, older than the output; no run plays two roles; a run
 * carries BOUNDED_BELOW exactly if it is an output and BOUNDED_FROM
 * exactly if it is an input.
 */
static RundirStatus
validate_merges(const MemkvDirectory *dir, uint32_t nblocks, const char **msg)
{
	uint8_t		role[RUNDIR_MAX_RUNS];	/* RUNDIR_RUN_BOUNDED_* */
	uint32_t	i;
	uint32_t	j;
	int			k;

	memset(role, 0, sizeof(role));
	for (i = 0; i < dir->nmerges; i++)
	{
		const MemkvMergeRecord *m = &dir->merges[i];

		if (!block_in_range(m->state_block, nblocks))
			return fail(RUNDIR_ERR_BLOCK,
						"merge-state block is the metapage or past the end",
						msg);
		k = rundir_find_run(dir, m->output_id);
		if (k < 0)
			return fail(RUNDIR_ERR_MERGE, "merge output is not a listed run",
						msg);
		if (role[k])
			return fail(RUNDIR_ERR_MERGE, "run in two merge roles", msg);
		role[k] = RUNDIR_RUN_BOUNDED_BELOW;
		for (j = 0; j < m->ninputs; j++)
		{
			k = rundir_find_run(dir, m->inputs[j]);
			if (k < 0)
				return fail(RUNDIR_ERR_MERGE,
							"merge input is not a listed run", msg);
			if (role[k])
				return fail(RUNDIR_ERR_MERGE, "run in two merge roles", msg);
			if (m->inputs[j] >= m->output_id)
				return fail(RUNDIR_ERR_MERGE,
							"merge input not older than its output", msg);
			role[k] = RUNDIR_RUN_BOUNDED_FROM;
		}
	}
	for (i = 0; i < dir->nruns; i++)
	{
		uint16_t	bounded = dir->runs[i].flags &
			(RUNDIR_RUN_BOUNDED_BELOW | RUNDIR_RUN_BOUNDED_FROM);

		if (bounded != role[i])
			return fail(RUNDIR_ERR_MERGE,
						"run's bounded flags disagree with the merge records",
						msg);
	}
	return RUNDIR_OK;
}

/*
 * No two structures name the same block: stripe log heads, run header
 * and dead-list blocks, merge-state blocks, pending writes, the limbo
 * head.  (Ranges are checked by the callers.)
 */
static RundirStatus
validate_distinct_blocks(const MemkvDirectory *dir, const char **msg)
{
	uint32_t	blocks[RUNDIR_MAX_STRIPES + 2 * RUNDIR_MAX_RUNS +
						   RUNDIR_MAX_MERGES + RUNDIR_MAX_PENDING + 1];
	uint32_t	n = 0;
	uint32_t	i;
	uint32_t	j;

	for (i = 0; i < dir->nstripes; i++)
		blocks[n++] = dir->stripes[i].log_head;
	for (i = 0; i < dir->nruns; i++)
	{
		blocks[n++] = dir->runs[i].header_block;
		blocks[n++] = dir->runs[i].dead_block;
	}
	for (i = 0; i < dir->nmerges; i++)
		blocks[n++] = dir->merges[i].state_block;
	for (i = 0; i < dir->npending; i++)
		blocks[n++] = dir->pending[i].block;
	blocks[n++] = dir->limbo_head;

	for (i = 0; i < n; i++)
	{
		if (blocks[i] == RUNDIR_INVALID_BLOCK)
			continue;
		for (j = i + 1; j < n; j++)
			if (blocks[j] == blocks[i])
				return fail(RUNDIR_ERR_DUP_BLOCK,
							"two structures name the same block", msg);
	}
	return RUNDIR_OK;
}

/*
 * Every rule of the format but the envelope's (rundir.h); rundir_decode
 * ends with it, and a writer may call it on the directory it is about to
 * encode.  Checks in a fixed order and reports the first rule broken.
 */
RundirStatus
rundir_validate(const MemkvDirectory *dir, uint32_t nblocks, const char **msg)
{
	RundirStatus st;
	uint32_t	i;
	uint32_t	j;

	if (!counts_ok(dir))
		return fail(RUNDIR_ERR_COUNT, "a count is past its limit", msg);

	for (i = 0; i < dir->nstripes; i++)
	{
		const MemkvStripeHead *s = &dir->stripes[i];

		if (s->log_head == RUNDIR_INVALID_BLOCK)
		{
			if (s->log_head_offset != 0)
				return fail(RUNDIR_ERR_STRIPE,
							"log head offset on a stripe without a log", msg);
		}
		else if (!block_in_range(s->log_head, nblocks))
			return fail(RUNDIR_ERR_BLOCK,
						"log head block is the metapage or past the end", msg);
		else if (s->log_head_offset < 1 ||
				 s->log_head_offset > RUNDIR_MAX_OFFSET)
			return fail(RUNDIR_ERR_STRIPE, "log head offset out of range", msg);
	}

	for (i = 0; i < dir->nruns; i++)
	{
		st = validate_run(dir, &dir->runs[i], nblocks, msg);
		if (st != RUNDIR_OK)
			return st;
		for (j = 0; j < i; j++)
			if (dir->runs[j].run_id == dir->runs[i].run_id)
				return fail(RUNDIR_ERR_DUP_RUN, "two runs with the same id",
							msg);
	}

	st = validate_merges(dir, nblocks, msg);
	if (st != RUNDIR_OK)
		return st;

	for (i = 0; i < dir->npending; i++)
	{
		if (dir->pending[i].kind < RUNDIR_PENDING_FREEZE ||
			dir->pending[i].kind > RUNDIR_PENDING_BUILD)
			return fail(RUNDIR_ERR_PENDING, "unknown pending write kind", msg);
		if (!block_in_range(dir->pending[i].block, nblocks))
			return fail(RUNDIR_ERR_BLOCK,
						"pending block is the metapage or past the end", msg);
	}

	if (dir->limbo_head == RUNDIR_INVALID_BLOCK)
	{
		if (dir->nlimbo != 0)
			return fail(RUNDIR_ERR_LIMBO, "limbo entries without a limbo page",
						msg);
	}
	else if (!block_in_range(dir->limbo_head, nblocks))
		return fail(RUNDIR_ERR_BLOCK,
					"limbo block is the metapage or past the end", msg);

	return validate_distinct_blocks(dir, msg);
}

/* Index of the run with this id, or -1 (a linear search of <= 24). */
int
rundir_find_run(const MemkvDirectory *dir, uint64_t run_id)
{
	uint32_t	i;

	for (i = 0; i < dir->nruns && i < RUNDIR_MAX_RUNS; i++)
		if (dir->runs[i].run_id == run_id)
			return (int) i;
	return -1;
}

/*
 * Insert *run at pos, older runs moving one place down.  A merge's
 * output goes where its inputs are (src/README, "Merge policy": the list
 * stays ordered by size class), a freeze's run at 0.
 */
bool
rundir_insert_run(MemkvDirectory *dir, uint32_t pos, const MemkvRunEntry *run)
{
	if (dir->nruns >= RUNDIR_MAX_RUNS || pos > dir->nruns)
		return false;
	memmove(&dir->runs[pos + 1], &dir->runs[pos],
			(dir->nruns - pos) * sizeof(MemkvRunEntry));
	dir->runs[pos] = *run;
	dir->nruns++;
	return true;
}

/* Add *run as the newest run. */
bool
rundir_add_run(MemkvDirectory *dir, const MemkvRunEntry *run)
{
	return rundir_insert_run(dir, 0, run);
}

/* Remove the runs named by ids[0..n), keeping the others in order. */
uint32_t
rundir_remove_runs(MemkvDirectory *dir, const uint64_t *ids, uint32_t n)
{
	uint32_t	kept = 0;
	uint32_t	removed = 0;
	uint32_t	i;
	uint32_t	j;

	for (i = 0; i < dir->nruns; i++)
	{
		bool		drop = false;

		for (j = 0; j < n && !drop; j++)
			drop = dir->runs[i].run_id == ids[j];
		if (drop)
			removed++;
		else
			dir->runs[kept++] = dir->runs[i];
	}
	dir->nruns = kept;
	return removed;
}

/* Copy the first RUNDIR_BOUND_BYTES of a key into a zero-padded bound. */
static void
set_bound(uint8_t *bound, uint8_t *lenp, const uint8_t *key, size_t len)
{
	size_t		n = len < RUNDIR_BOUND_BYTES ? len : RUNDIR_BOUND_BYTES;

	memset(bound, 0, RUNDIR_BOUND_BYTES);
	if (n > 0)
		memcpy(bound, key, n);
	*lenp = (uint8_t) n;
}

/* Set the run's bounds from its smallest and largest full keys. */
void
rundir_set_bounds(MemkvRunEntry *run,
				  const uint8_t *smallest, size_t smallest_len,
				  const uint8_t *largest, size_t largest_len)
{
	set_bound(run->lo, &run->lo_len, smallest, smallest_len);
	set_bound(run->hi, &run->hi_len, largest, largest_len);
}

/*
 * Is prefix24(key) <= hi?  Equivalent to comparing the key's first
 * RUNDIR_BOUND_BYTES bytes with hi.  If key <= largest then
 * prefix24(key) <= prefix24(largest) = hi, so a key of the run passes.
 */
static bool
prefix_at_most_hi(const MemkvRunEntry *run, const uint8_t *key, size_t len)
{
	size_t		n = len < RUNDIR_BOUND_BYTES ? len : RUNDIR_BOUND_BYTES;

	return key_cmp(key, n, run->hi, run->hi_len) <= 0;
}

/*
 * lo <= key and prefix24(key) <= hi.  lo is a prefix of the smallest
 * key, so lo <= smallest <= key for every key of the run.
 */
bool
rundir_key_may_be_in(const MemkvRunEntry *run, const uint8_t *key, size_t len)
{
	if (run->nkeys == 0)
		return false;
	if (key_cmp(run->lo, run->lo_len, key, len) > 0)
		return false;
	return prefix_at_most_hi(run, key, len);
}

/*
 * The run may hold a key in [lower, upper] unless upper < lo (then upper
 * < smallest) or prefix24(lower) > hi (then lower > largest).
 */
bool
rundir_range_may_meet(const MemkvRunEntry *run,
					  const uint8_t *lower, size_t lower_len,
					  const uint8_t *upper, size_t upper_len)
{
	if (run->nkeys == 0)
		return false;
	if (upper != NULL &&
		key_cmp(upper, upper_len, run->lo, run->lo_len) < 0)
		return false;
	if (lower != NULL && !prefix_at_most_hi(run, lower, lower_len))
		return false;
	return true;
}
