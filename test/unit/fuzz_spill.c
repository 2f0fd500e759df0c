/*-------------------------------------------------------------------------
 *
 * fuzz_spill.c
 *	  libFuzzer target for the spill format (src/spill.c).  The first input
 *	  byte picks a mode:
 *
 *	  0: the rest is a spill as is: reading it ends in an error (with a
 *		 message) or in SPILL_END, and what it returns is valid entries.
 *	  1: the same, after restamping each block's CRC, so that the decoder's
 *		 own checks, not the checksum, meet the bytes.
 *	  2: the rest describes (key, TID) pairs, which are sorted and
 *		 deduplicated, written as a spill (block size from the input) and
 *		 read back: exactly the same pairs; then split between two spills
 *		 and merged: the same pairs again.
 *
 * "Valid entries": 1..SPILL_ENTRY_TIDS TIDs, keys of at most SPILL_MAX_KEY
 * bytes, (key, TID) strictly ascending.  A failure is a trap (abort);
 * memory errors are the sanitizers'.
 *
 *-------------------------------------------------------------------------
 */
#include "spill.h"
#include "crc32c.h"

#include <stdio.h>

#include "spill_test_util.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(cond) \
	do { \
		if (!(cond)) \
			abort(); \
	} while (0)

static uint8_t readbuf[SPILL_BLOCK_BYTES];
static uint8_t readbuf2[SPILL_BLOCK_BYTES];
static uint8_t writebuf[SPILL_BLOCK_BYTES];
static uint64_t tidbuf[65536];
static SpillReader reader;
static SpillReader reader2;
static SpillWriter writer;
static SpillMerge merge;

/* Read a spill to its end, checking that every entry is valid. */
static void
read_valid(MemSpill *f)
{
	uint8_t		prev[SPILL_MAX_KEY];
	uint32_t	prevlen = 0;
	uint64_t	prevtid = 0;
	bool		have = false;
	SpillStatus st;

	memspill_rewind(f, f->len);
	spill_reader_init(&reader, readbuf, memspill_read, f);
	while ((st = spill_reader_next(&reader)) == SPILL_OK)
	{
		uint32_t	i;

		REQUIRE(reader.ntids >= 1 && reader.ntids <= SPILL_ENTRY_TIDS);
		REQUIRE(reader.keylen <= SPILL_MAX_KEY);
		for (i = 0; i < reader.ntids; i++)
		{
			int			c = have ? spill_key_cmp(reader.key, reader.keylen, prev, prevlen) : 1;

			REQUIRE(c > 0 || (c == 0 && reader.tids[i] > prevtid));
			memcpy(prev, reader.key, reader.keylen);
			prevlen = reader.keylen;
			prevtid = reader.tids[i];
			have = true;
		}
	}
	REQUIRE(st == SPILL_END || st == SPILL_ERR_CORRUPT);
	REQUIRE(st == SPILL_END || reader.errmsg[0] != '\0');
	REQUIRE(spill_reader_next(&reader) == st);
}

/* Restamp each block's CRC, walking the headers. */
static void
restamp(uint8_t *buf, size_t len)
{
	size_t		off = 0;

	while (off + SPILL_HEADER_BYTES <= len)
	{
		uint32_t	plen = (uint32_t) buf[off + 8] | (uint32_t) buf[off + 9] << 8 |
			(uint32_t) buf[off + 10] << 16 | (uint32_t) buf[off + 11] << 24;
		uint32_t	c;

		if (plen > len - off - SPILL_HEADER_BYTES)
			return;
		c = crc32c(buf + off + 4, SPILL_HEADER_BYTES - 4 + plen);
		buf[off] = (uint8_t) c;
		buf[off + 1] = (uint8_t) (c >> 8);
		buf[off + 2] = (uint8_t) (c >> 16);
		buf[off + 3] = (uint8_t) (c >> 24);
		off += SPILL_HEADER_BYTES + plen;
	}
}

/* Write sorted unique pairs as a spill into f; must succeed. */
static void
write_pairs(MemSpill *f, const Pair *p, size_t n, size_t blocksize)
{
	memspill_init(f);
	REQUIRE(spill_writer_init(&writer, writebuf, blocksize, memspill_write, f) == SPILL_OK);
	REQUIRE(pairs_write(&writer, p, n, tidbuf, n) == SPILL_OK);
}

/*
 * Mode 2: pairs from the input.  Each pair: a length byte (key length
 * mod 64, or a 2700-byte key of one repeated byte if it is 255), the key
 * bytes, then a TID byte pair (TID = byte0 << 8 | byte1, so TIDs repeat).
 */
static void
round_trip(const uint8_t *data, size_t size)
{
	static Pair pairs[4096];
	static uint8_t longkeys[16][SPILL_MAX_KEY];
	size_t		n = 0;
	size_t		pos = 1;
	size_t		nlong = 0;
	size_t		blocksize;
	size_t		i;
	size_t		k;
	MemSpill	f;
	MemSpill	g;
	SpillReader *heap[2];
	SpillMergeOut out;
	SpillStatus st;

	if (size < 1)
		return;
	blocksize = SPILL_MIN_BLOCK + (size_t) data[0] * 16;
	while (pos < size && n < 4096)
	{
		uint8_t		l = data[pos++];

		if (l == 255 && nlong < 16 && pos < size)
		{
			memset(longkeys[nlong], data[pos++], SPILL_MAX_KEY);
			pairs[n].key = longkeys[nlong++];
			pairs[n].len = SPILL_MAX_KEY;
		}
		else
		{
			l %= 64;
			if (l > size - pos)
				l = (uint8_t) (size - pos);
			pairs[n].key = data + pos;
			pairs[n].len = l;
			pos += l;
		}
		pairs[n].tid = 0;
		if (pos + 2 <= size)
		{
			pairs[n].tid = (uint64_t) data[pos] << 8 | data[pos + 1];
			pos += 2;
		}
		n++;
	}
	n = pairs_sort_unique(pairs, n);

	/* one spill: read back exactly */
	write_pairs(&f, pairs, n, blocksize);
	memspill_rewind(&f, f.len);
	spill_reader_init(&reader, readbuf, memspill_read, &f);
	k = 0;
	while ((st = spill_reader_next(&reader)) == SPILL_OK)
	{
		for (i = 0; i < reader.ntids; i++, k++)
		{
			REQUIRE(k < n);
			REQUIRE(pairs[k].len == reader.keylen);
			REQUIRE(memcmp(pairs[k].key, reader.key, reader.keylen) == 0);
			REQUIRE(pairs[k].tid == reader.tids[i]);
		}
	}
	REQUIRE(st == SPILL_END && k == n);
	free(f.data);

	/* alternate pairs into two spills, merged: the same pairs */
	{
		static Pair a[4096];
		static Pair b[4096];
		size_t		na = 0;
		size_t		nb = 0;

		for (i = 0; i < n; i++)
		{
			if ((data[i % size] ^ i) & 1)
				a[na++] = pairs[i];
			else
				b[nb++] = pairs[i];
		}
		/* b also repeats a's first pair: the merge keeps it once */
		if (na > 0)
		{
			b[nb++] = a[0];
			nb = pairs_sort_unique(b, nb);
		}
		write_pairs(&f, a, na, blocksize);
		write_pairs(&g, b, nb, SPILL_BLOCK_BYTES);
	}
	memspill_rewind(&f, f.len);
	memspill_rewind(&g, g.len);
	spill_reader_init(&reader, readbuf, memspill_read, &f);
	spill_reader_init(&reader2, readbuf2, memspill_read, &g);
	heap[0] = &reader;
	heap[1] = &reader2;
	REQUIRE(spill_merge_init(&merge, heap, 2) == SPILL_OK);
	k = 0;
	while ((st = spill_merge_next(&merge, &out)) == SPILL_OK)
	{
		REQUIRE(out.ntids >= 1 && out.ntids <= SPILL_MERGE_TIDS);
		REQUIRE(out.new_key == (k == 0 ||
								spill_key_cmp(out.key, out.keylen,
											  pairs[k - 1].key, pairs[k - 1].len) != 0));
		for (i = 0; i < out.ntids; i++, k++)
		{
			REQUIRE(k < n);
			REQUIRE(pairs[k].len == out.keylen);
			REQUIRE(memcmp(pairs[k].key, out.key, out.keylen) == 0);
			REQUIRE(pairs[k].tid == out.tids[i]);
		}
	}
	REQUIRE(st == SPILL_END && k == n);
	free(f.data);
	free(g.data);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	MemSpill	f;

	if (size < 1)
		return 0;
	switch (data[0] % 3)
	{
		case 0:
		case 1:
			memspill_init(&f);
			memspill_write(&f, data + 1, size - 1);
			if (data[0] % 3 == 1)
				restamp(f.data, f.len);
			read_valid(&f);
			free(f.data);
			break;
		case 2:
			round_trip(data + 1, size - 1);
			break;
	}
	return 0;
}
