/*-------------------------------------------------------------------------
 *
 * spill.c
 *	  Plain C: the front-coded sorted spill format of CREATE INDEX (format
 *	  and rules in spill.h): the writer and the reader (the k-way merge is
 *	  spill_merge.c's).
 *
 * The writer encodes each entry straight into the caller's block buffer,
 * having computed its exact size first, and hands the block to the write
 * callback when the next entry would not fit.  The reader loads one whole
 * block at a time into the caller's SPILL_BLOCK_BYTES buffer, checks its
 * header and CRC, then decodes entries with every length checked against
 * the block's end, so no input makes it read outside its buffers.  A
 * reader may start at any block (the caller positions the stream there)
 * and keep to a key range, for a parallel build's range merges.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "crc32c.h"
#include "fst_bytes.h"
#include "spill.h"

/* The smallest entry: shared, suffix length, TID count, one TID. */
#define SPILL_MIN_ENTRY		4

/* The longest varint of a uint64. */
#define SPILL_VARINT_MAX	10

static void spill_error(char *errmsg, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

/* Format an error message into an object's errmsg buffer. */
static void
spill_error(char *errmsg, const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, SPILL_ERRMSG_LEN, fmt, ap);
	va_end(ap);
}

/*
 * The ordering of memkv keys: bytes unsigned, a proper prefix first (the
 * FST's key_cmp_bytes, exported for spill's callers).
 */
int
spill_key_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	return key_cmp_bytes(a, alen, b, blen);
}

/*
 * Read a varint from buf[*pos..end) into *v, advancing *pos; false if it
 * runs past end or does not fit in 64 bits.
 */
static inline bool
spill_get_varint(const uint8_t *buf, size_t *pos, size_t end, uint64_t *v)
{
	uint64_t	result = 0;
	size_t		p = *pos;
	int			shift;

	for (shift = 0; shift < 64; shift += 7)
	{
		uint8_t		b;

		if (p >= end)
			return false;
		b = buf[p++];
		if (shift == 63 && b > 1)
			return false;
		result |= (uint64_t) (b & 0x7F) << shift;
		if ((b & 0x80) == 0)
		{
			*pos = p;
			*v = result;
			return true;
		}
	}
	return false;
}

/* ----------------------------------------------------------------
 *		Writer
 * ----------------------------------------------------------------
 */

/*
 * Start a spill written in blocks of bufsize bytes (SPILL_MIN_BLOCK ..
 * SPILL_BLOCK_BYTES) through buf, which the caller keeps until
 * spill_writer_finish.  SPILL_ERR_USAGE if bufsize is out of range.
 */
SpillStatus
spill_writer_init(SpillWriter *w, uint8_t *buf, size_t bufsize,
				  SpillWriteFn write, void *write_arg)
{
	memset(w, 0, offsetof(SpillWriter, prev_key));
	w->errmsg[0] = '\0';
	w->write = write;
	w->write_arg = write_arg;
	w->buf = buf;
	w->bufsize = bufsize;
	w->used = SPILL_HEADER_BYTES;
	w->status = SPILL_OK;
	if (bufsize < SPILL_MIN_BLOCK || bufsize > SPILL_BLOCK_BYTES ||
		buf == NULL || write == NULL)
	{
		spill_error(w->errmsg, "spill block size %zu is not between %d and %d",
					bufsize, SPILL_MIN_BLOCK, SPILL_BLOCK_BYTES);
		w->status = SPILL_ERR_USAGE;
	}
	return w->status;
}

/*
 * Complete the current block's header and hand the block to the write
 * callback; the next block starts empty.
 */
static SpillStatus
spill_writer_flush(SpillWriter *w, bool last)
{
	uint8_t    *h = w->buf;

	put_u32(h + 4, w->block_no);
	put_u32(h + 8, (uint32_t) (w->used - SPILL_HEADER_BYTES));
	h[12] = (uint8_t) w->block_entries;
	h[13] = (uint8_t) (w->block_entries >> 8);
	h[14] = (uint8_t) (last ? SPILL_BLOCK_LAST : 0);
	h[15] = 0;
	put_u32(h, crc32c(h + 4, w->used - 4));
	if (w->write(w->write_arg, w->buf, w->used) != 0)
	{
		spill_error(w->errmsg, "could not write block %u of a spill",
					w->block_no);
		return w->status = SPILL_ERR_WRITE;
	}
	w->nbytes += w->used;
	w->block_no++;
	w->used = SPILL_HEADER_BYTES;
	w->block_entries = 0;
	return SPILL_OK;
}

/* The encoded size of an entry. */
static size_t
spill_entry_size(uint32_t shared, uint32_t suffix, const uint64_t *tids,
				 size_t ntids)
{
	size_t		size;
	size_t		i;

	size = varint_len(shared) +
		varint_len((uint64_t) suffix << 1) + suffix +
		(ntids > 1 ? varint_len(ntids - 2) : 0) +
		varint_len(tids[0] >> 16) + varint_len(tids[0] & 0xFFFF);
	for (i = 1; i < ntids; i++)
		size += varint_len(tids[i] - tids[i - 1] - 1);
	return size;
}

/*
 * Encode one entry (ntids <= SPILL_ENTRY_TIDS) into the current block,
 * flushing the block first if it would not fit.  lcp is the length the
 * key shares with the previous entry's key.
 */
static SpillStatus
spill_writer_put(SpillWriter *w, const uint8_t *key, uint32_t keylen,
				 uint32_t lcp, const uint64_t *tids, size_t ntids)
{
	uint32_t	shared = w->block_entries == 0 ? 0 : lcp;
	size_t		size = spill_entry_size(shared, keylen - shared, tids, ntids);
	uint8_t    *p;
	size_t		i;

	if (w->used + size > w->bufsize)
	{
		if (spill_writer_flush(w, false) != SPILL_OK)
			return w->status;
		shared = 0;
		size = spill_entry_size(0, keylen, tids, ntids);
	}
	p = w->buf + w->used;
	p += put_varint(p, shared);
	p += put_varint(p, (uint64_t) (keylen - shared) << 1 | (ntids > 1));
	if (keylen > shared)
		memcpy(p, key + shared, keylen - shared);
	p += keylen - shared;
	if (ntids > 1)
		p += put_varint(p, ntids - 2);
	p += put_varint(p, tids[0] >> 16);
	p += put_varint(p, tids[0] & 0xFFFF);
	for (i = 1; i < ntids; i++)
		p += put_varint(p, tids[i] - tids[i - 1] - 1);
	w->used += size;
	w->block_entries++;
	w->nentries++;
	return SPILL_OK;
}

/*
 * Check an entry the caller gives against the writer's rules; returns
 * the length the key shares with the previous one, or -1 (errmsg set).
 * *same is set to whether the key equals the previous one.  One pass over
 * the shared prefix gives both the order and the prefix (a spill's
 * neighbouring keys often share most of their bytes).
 */
static int64_t
spill_writer_check(SpillWriter *w, const uint8_t *key, size_t keylen,
				   const uint64_t *tids, size_t ntids, bool *same)
{
	uint32_t	lcp = 0;
	size_t		i;

	*same = false;

	if (w->finished)
	{
		spill_error(w->errmsg, "spill entry added after the spill was finished");
		return -1;
	}
	if (keylen > SPILL_MAX_KEY)
	{
		spill_error(w->errmsg, "spill key of %zu bytes exceeds the maximum of %d",
					keylen, SPILL_MAX_KEY);
		return -1;
	}
	if (ntids == 0)
	{
		spill_error(w->errmsg, "spill entry without TIDs");
		return -1;
	}
	for (i = 1; i < ntids; i++)
	{
		if (tids[i] <= tids[i - 1])
		{
			spill_error(w->errmsg, "spill entry's TIDs are not strictly ascending");
			return -1;
		}
	}
	if (w->have_prev)
	{
		int			c;
		size_t		m = keylen < w->prev_len ? keylen : w->prev_len;

		lcp = (uint32_t) common_prefix_len(key, w->prev_key, m);
		if (lcp < keylen && lcp < w->prev_len)
			c = key[lcp] < w->prev_key[lcp] ? -1 : 1;
		else
			c = (keylen > w->prev_len) - (keylen < w->prev_len);
		if (c < 0 || (c == 0 && tids[0] <= w->prev_tid))
		{
			spill_error(w->errmsg, "spill entries are not in ascending (key, TID) order");
			return -1;
		}
		*same = c == 0;
	}
	return lcp;
}

/*
 * Add a key with its TIDs (ntids >= 1, strictly ascending).  Entries come
 * in strictly ascending (key, TID) order: a key equal to the previous one
 * is allowed if its first TID follows the previous entry's last.  More
 * than SPILL_ENTRY_TIDS TIDs are written as several entries.  Returns
 * SPILL_OK, or an error (message in w->errmsg) after which the writer
 * refuses everything.
 */
SpillStatus
spill_writer_add(SpillWriter *w, const uint8_t *key, size_t keylen,
				 const uint64_t *tids, size_t ntids)
{
	int64_t		shared;
	int64_t		lcp;
	size_t		done = 0;
	bool		same;

	if (w->status != SPILL_OK)
		return w->status;
	shared = spill_writer_check(w, key, keylen, tids, ntids, &same);
	if (shared < 0)
		return w->status = SPILL_ERR_USAGE;
	lcp = shared;

	while (done < ntids)
	{
		size_t		n = ntids - done;

		if (n > SPILL_ENTRY_TIDS)
			n = SPILL_ENTRY_TIDS;
		if (spill_writer_put(w, key, (uint32_t) keylen, (uint32_t) lcp,
							 tids + done, n) != SPILL_OK)
			return w->status;
		done += n;
		lcp = (int64_t) keylen;
	}

	if (!same)
		w->nkeys++;
	/* the previous key: its first `shared` bytes are this one's already */
	if (keylen > (size_t) shared)
		memcpy(w->prev_key + shared, key + shared, keylen - shared);
	w->prev_len = (uint32_t) keylen;
	w->prev_tid = tids[ntids - 1];
	w->have_prev = true;
	w->ntids += ntids;
	return SPILL_OK;
}

/*
 * Write the last block (flagged last, possibly empty).  Returns SPILL_OK
 * or the writer's error.
 */
SpillStatus
spill_writer_finish(SpillWriter *w)
{
	if (w->status != SPILL_OK)
		return w->status;
	if (w->finished)
	{
		spill_error(w->errmsg, "spill finished twice");
		return w->status = SPILL_ERR_USAGE;
	}
	if (spill_writer_flush(w, true) != SPILL_OK)
		return w->status;
	w->finished = true;
	return SPILL_OK;
}

/* ----------------------------------------------------------------
 *		Reader
 * ----------------------------------------------------------------
 */

/*
 * Start reading a spill through read, with buf (SPILL_BLOCK_BYTES bytes,
 * the caller's until the reader is done) as the block buffer.
 */
void
spill_reader_init(SpillReader *r, uint8_t *buf, SpillReadFn read,
				  void *read_arg)
{
	memset(r, 0, offsetof(SpillReader, key));
	r->errmsg[0] = '\0';
	r->read = read;
	r->read_arg = read_arg;
	r->buf = buf;
	r->status = SPILL_OK;
}

/* Record a damage error and return it. */
#define SPILL_CORRUPT(r, ...) \
	(spill_error((r)->errmsg, __VA_ARGS__), (r)->status = SPILL_ERR_CORRUPT)

/*
 * Read exactly len bytes into buf.  SPILL_OK, SPILL_ERR_READ, or
 * SPILL_END with *got set when the spill ends first.
 */
static SpillStatus
spill_read_exact(SpillReader *r, uint8_t *buf, size_t len, size_t *got)
{
	size_t		have = 0;

	while (have < len)
	{
		int64_t		n = r->read(r->read_arg, buf + have, len - have);

		if (n < 0 || (uint64_t) n > len - have)
		{
			spill_error(r->errmsg, "could not read block %u of a spill",
						r->block_no);
			return r->status = SPILL_ERR_READ;
		}
		if (n == 0)
			break;
		have += (size_t) n;
	}
	*got = have;
	return have == len ? SPILL_OK : SPILL_END;
}

/*
 * Load the next block: its header checked against what the reader
 * expects, then its payload, then the CRC of both.
 */
static SpillStatus
spill_reader_load(SpillReader *r)
{
	uint8_t    *h = r->buf;
	size_t		got;
	uint32_t	block_no;
	uint32_t	len;
	uint32_t	nentries;
	uint32_t	flags;
	SpillStatus st;

	st = spill_read_exact(r, h, SPILL_HEADER_BYTES, &got);
	if (st == SPILL_ERR_READ)
		return st;
	if (st == SPILL_END)
		return SPILL_CORRUPT(r, "spill truncated: block %u has %zu of %d header bytes",
							 r->block_no, got, SPILL_HEADER_BYTES);
	block_no = get_u32(h + 4);
	len = get_u32(h + 8);
	nentries = (uint32_t) h[12] | (uint32_t) h[13] << 8;
	flags = (uint32_t) h[14] | (uint32_t) h[15] << 8;
	if (block_no != r->block_no)
		return SPILL_CORRUPT(r, "spill block %u is numbered %u", r->block_no,
							 block_no);
	if (len > SPILL_BLOCK_BYTES - SPILL_HEADER_BYTES)
		return SPILL_CORRUPT(r, "spill block %u has a payload of %u bytes, more than %d",
							 r->block_no, len,
							 SPILL_BLOCK_BYTES - SPILL_HEADER_BYTES);
	if ((flags & ~SPILL_BLOCK_LAST) != 0)
		return SPILL_CORRUPT(r, "spill block %u has unknown flags 0x%x",
							 r->block_no, flags);
	if ((uint64_t) nentries * SPILL_MIN_ENTRY > len ||
		(nentries == 0 && (len != 0 || !(flags & SPILL_BLOCK_LAST))))
		return SPILL_CORRUPT(r, "spill block %u has %u entries in %u bytes",
							 r->block_no, nentries, len);

	st = spill_read_exact(r, h + SPILL_HEADER_BYTES, len, &got);
	if (st == SPILL_ERR_READ)
		return st;
	if (st == SPILL_END)
		return SPILL_CORRUPT(r, "spill truncated: block %u has %zu of %u payload bytes",
							 r->block_no, got, len);
	if (crc32c(h + 4, SPILL_HEADER_BYTES - 4 + len) != get_u32(h))
		return SPILL_CORRUPT(r, "spill block %u fails its checksum", r->block_no);

	r->pos = SPILL_HEADER_BYTES;
	r->end = SPILL_HEADER_BYTES + len;
	r->entries_left = nentries;
	r->last_block = (flags & SPILL_BLOCK_LAST) != 0;
	r->first_in_block = true;
	r->in_block = true;
	r->block_no++;
	return SPILL_OK;
}

/*
 * Past the last entry of the loaded block: check the block is used up,
 * and that nothing follows the last block.  SPILL_OK when another block
 * should be loaded, SPILL_END at the end, or an error.
 */
static SpillStatus
spill_reader_block_end(SpillReader *r)
{
	uint8_t		extra;
	size_t		got;
	SpillStatus st;

	if (r->pos != r->end)
		return SPILL_CORRUPT(r, "spill block %u has %zu bytes after its last entry",
							 r->block_no - 1, r->end - r->pos);
	r->in_block = false;
	if (!r->last_block)
		return SPILL_OK;
	st = spill_read_exact(r, &extra, 1, &got);
	if (st == SPILL_ERR_READ)
		return st;
	if (st == SPILL_OK)
		return SPILL_CORRUPT(r, "spill has data after its last block");
	return r->status = SPILL_END;
}

/*
 * Decode the entry at r->pos: key (front-coded against the current one)
 * and TIDs, checking that lengths stay within the block and the key
 * limit, and that (key, TID) ascends strictly from the previous entry.
 */
static SpillStatus
spill_reader_decode(SpillReader *r)
{
	const uint8_t *buf = r->buf;
	uint64_t	shared;
	uint64_t	suffix;
	uint64_t	ntids = 1;
	uint64_t	tid;
	uint64_t	lo;
	bool		multi;
	uint64_t	prev_tid = r->ntids ? r->tids[r->ntids - 1] : 0;
	const uint8_t *sfx;
	int			cmp = 1;
	uint32_t	i;

	if (!spill_get_varint(buf, &r->pos, r->end, &shared) ||
		!spill_get_varint(buf, &r->pos, r->end, &suffix))
		return SPILL_CORRUPT(r, "spill entry %llu runs past the end of block %u",
							 (unsigned long long) r->nentries, r->block_no - 1);
	multi = (suffix & 1) != 0;
	suffix >>= 1;
	if (shared > (r->first_in_block ? 0 : r->keylen))
		return SPILL_CORRUPT(r, "spill entry %llu shares %llu bytes of a %u-byte key",
							 (unsigned long long) r->nentries,
							 (unsigned long long) shared, r->keylen);
	if (suffix > SPILL_MAX_KEY - shared)
		return SPILL_CORRUPT(r, "spill entry %llu has a key longer than %d bytes",
							 (unsigned long long) r->nentries, SPILL_MAX_KEY);
	if (suffix > r->end - r->pos)
		return SPILL_CORRUPT(r, "spill entry %llu runs past the end of block %u",
							 (unsigned long long) r->nentries, r->block_no - 1);
	sfx = buf + r->pos;
	r->pos += suffix;

	/* the order against the previous key, before it is overwritten */
	if (r->have_entry)
	{
		if (r->first_in_block)
			cmp = spill_key_cmp(sfx, suffix, r->key, r->keylen);
		else if (shared == r->keylen)
			cmp = suffix > 0;
		else
			cmp = suffix == 0 ? -1 : (sfx[0] > r->key[shared] ? 1 : -1);
		if (cmp < 0)
			return SPILL_CORRUPT(r, "spill entry %llu is out of key order",
								 (unsigned long long) r->nentries);
	}
	memcpy(r->key + shared, sfx, suffix);
	r->keylen = (uint32_t) (shared + suffix);

	if ((multi && !spill_get_varint(buf, &r->pos, r->end, &ntids)) ||
		!spill_get_varint(buf, &r->pos, r->end, &tid) ||
		!spill_get_varint(buf, &r->pos, r->end, &lo))
		return SPILL_CORRUPT(r, "spill entry %llu runs past the end of block %u",
							 (unsigned long long) r->nentries, r->block_no - 1);
	if (multi && ntids > SPILL_ENTRY_TIDS - 2)
		return SPILL_CORRUPT(r, "spill entry %llu has more than %d TIDs",
							 (unsigned long long) r->nentries, SPILL_ENTRY_TIDS);
	ntids = multi ? ntids + 2 : 1;
	if (tid >> 48 != 0 || lo > 0xFFFF)
		return SPILL_CORRUPT(r, "spill entry %llu has an invalid first TID",
							 (unsigned long long) r->nentries);
	tid = tid << 16 | lo;
	if (cmp == 0 && tid <= prev_tid)
		return SPILL_CORRUPT(r, "spill entry %llu repeats its key with TIDs not ascending",
							 (unsigned long long) r->nentries);
	r->tids[0] = tid;
	for (i = 1; i < ntids; i++)
	{
		uint64_t	delta;

		if (!spill_get_varint(buf, &r->pos, r->end, &delta))
			return SPILL_CORRUPT(r, "spill entry %llu runs past the end of block %u",
								 (unsigned long long) r->nentries, r->block_no - 1);
		if (delta >= UINT64_MAX - tid)
			return SPILL_CORRUPT(r, "spill entry %llu has a TID past 2^64",
								 (unsigned long long) r->nentries);
		tid += delta + 1;
		r->tids[i] = tid;
	}
	r->ntids = (uint32_t) ntids;
	r->entries_left--;
	r->first_in_block = false;
	r->have_entry = true;
	r->nentries++;
	return SPILL_OK;
}

/*
 * Move to the next entry: SPILL_OK with r->key, r->keylen, r->tids and
 * r->ntids set (valid until the next call), SPILL_END after the last one,
 * or an error (message in r->errmsg), which every later call returns too.
 * A damaged or truncated stream is SPILL_ERR_CORRUPT, whatever its bytes.
 */
SpillStatus
spill_reader_next(SpillReader *r)
{
	for (;;)
	{
		SpillStatus st;

		if (r->status != SPILL_OK)
			return r->status;
		while (!r->in_block || r->entries_left == 0)
		{
			if (r->in_block)
				st = spill_reader_block_end(r);
			else
				st = spill_reader_load(r);
			if (st != SPILL_OK)
				return st;
		}
		st = spill_reader_decode(r);
		if (st != SPILL_OK)
			return st;
		if (r->hi != NULL &&
			spill_key_cmp(r->key, r->keylen, r->hi, r->hilen) >= 0)
			return r->status = SPILL_END;
		/* keys ascend: once one reaches lo, all that follow do */
		if (r->lo == NULL ||
			spill_key_cmp(r->key, r->keylen, r->lo, r->lolen) >= 0)
		{
			r->lo = NULL;
			return SPILL_OK;
		}
	}
}

/*
 * Make a reader just initialized start at block block_no, whose first
 * byte the caller's read callback returns next, skip the entries whose
 * key is below lo[0..lolen), and end before the first whose key is at or
 * above hi[0..hilen).  lo or hi NULL: no such bound.  The bounds are the
 * caller's until the reader is done.  The blocks before block_no must not
 * hold a key at or above lo (a spill's sparse index finds such a block:
 * the last whose first key is below lo).
 */
void
spill_reader_set_range(SpillReader *r, uint32_t block_no, const uint8_t *lo,
					   size_t lolen, const uint8_t *hi, size_t hilen)
{
	r->block_no = block_no;
	r->lo = lo;
	r->lolen = (uint32_t) lolen;
	r->hi = hi;
	r->hilen = (uint32_t) hilen;
}

/*
 * The first key of a block as the writer hands it to its write callback
 * (header and payload, len bytes): true with *key (pointing into block)
 * and *keylen set, false if the block holds no entry or does not start
 * as a block does.  For a spill's sparse index; the reader checks the
 * block again (CRC and all) when it reads it.
 */
bool
spill_block_first_key(const uint8_t *block, size_t len, const uint8_t **key,
					  size_t *keylen)
{
	size_t		pos = SPILL_HEADER_BYTES;
	uint64_t	shared;
	uint64_t	suffix;

	if (len <= SPILL_HEADER_BYTES ||
		((uint32_t) block[12] | (uint32_t) block[13] << 8) == 0 ||
		!spill_get_varint(block, &pos, len, &shared) || shared != 0 ||
		!spill_get_varint(block, &pos, len, &suffix) ||
		(suffix >> 1) > SPILL_MAX_KEY || (suffix >> 1) > len - pos)
		return false;
	*key = block + pos;
	*keylen = (size_t) (suffix >> 1);
	return true;
}
