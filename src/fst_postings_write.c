/*-------------------------------------------------------------------------
 *
 * fst_postings_write.c
 *	  Writing compact TID posting lists addressed by key ordinal.  The
 *	  layout is explained in fst_postings.c, the byte format in fst.h.
 *
 * The writer streams groups to a sink as soon as they are complete and
 * buffers only the current group; it keeps 8 bytes per group for the table.
 *
 *-------------------------------------------------------------------------
 */
#include "fst.h"
#include "fst_bytes.h"

#include <string.h>

#define OUTBUF_SIZE		65536

struct FstPostingsWriter
{
	FstAllocator a;
	FstSinkFn	sink;
	void	   *sink_arg;

	uint64_t	nkeys;
	uint64_t	ntids;
	uint32_t	max_list;
	uint64_t	written;

	/* the current group */
	uint32_t	gkeys;
	uint8_t		single_map[FST_POSTINGS_GROUP / 8];
	uint32_t	nsingles;
	FstTid		singles[FST_POSTINGS_GROUP];
	uint8_t    *multi;
	size_t		multi_len;
	size_t		multi_cap;

	/* the current key */
	bool		in_key;
	uint64_t	kcount;
	FstTid		first;
	uint32_t	last_block;
	uint16_t	last_offset;
	uint8_t    *payload;
	size_t		plen;
	size_t		pcap;
	uint32_t	bitacc;
	int			nbits;

	/* group offsets */
	uint64_t   *gofs;
	uint64_t	ngroups;
	uint64_t	gcap;

	bool		failed;
	size_t		outlen;
	uint8_t		outbuf[OUTBUF_SIZE];
	char		errmsg[FST_ERRMSG_LEN];
};

static int
writer_error(FstPostingsWriter *w, const char *msg)
{
	w->failed = true;
	return set_error(w->errmsg, msg);
}

/* Resize an allocation; ptr may be NULL. */
static void *
grow(FstPostingsWriter *w, void *ptr, size_t oldsize, size_t newsize)
{
	if (ptr == NULL)
		return w->a.alloc(w->a.arg, newsize);
	return w->a.realloc(w->a.arg, ptr, oldsize, newsize);
}

/* Make room for `more` bytes in a growable byte buffer. */
static void
reserve(FstPostingsWriter *w, uint8_t **buf, size_t *cap, size_t len,
		size_t more)
{
	size_t		newcap;

	if (len + more <= *cap)
		return;
	newcap = *cap ? *cap : 64;
	while (newcap < len + more)
		newcap *= 2;
	*buf = grow(w, *buf, *cap, newcap);
	*cap = newcap;
}

static int
flush_out(FstPostingsWriter *w)
{
	if (w->outlen > 0)
	{
		if (w->sink(w->sink_arg, w->outbuf, w->outlen) != 0)
			return writer_error(w, "postings sink failed");
		w->outlen = 0;
	}
	return 0;
}

/* Append bytes to the output. */
static int
emit(FstPostingsWriter *w, const uint8_t *data, size_t len)
{
	while (len > 0)
	{
		size_t		n = OUTBUF_SIZE - w->outlen;

		if (n > len)
			n = len;
		memcpy(w->outbuf + w->outlen, data, n);
		w->outlen += n;
		w->written += n;
		data += n;
		len -= n;
		if (w->outlen == OUTBUF_SIZE && flush_out(w) != 0)
			return -1;
	}
	return 0;
}

static uint32_t
tid_block(const FstTid *t)
{
	return ((uint32_t) t->bi_hi << 16) | t->bi_lo;
}

/* Create a writer; the preamble is buffered at once. */
FstPostingsWriter *
fst_postings_writer_create(const FstAllocator *alloc, FstSinkFn sink,
						   void *sink_arg)
{
	FstPostingsWriter *w = alloc->alloc(alloc->arg, sizeof(FstPostingsWriter));
	uint8_t		pre[FST_POSTINGS_PREAMBLE_SIZE];

	memset(w, 0, offsetof(FstPostingsWriter, outbuf));
	w->errmsg[0] = '\0';
	w->a = *alloc;
	w->sink = sink;
	w->sink_arg = sink_arg;
	put_u32(pre, FST_POSTINGS_MAGIC);
	pre[4] = FST_VERSION;
	pre[5] = 0;
	pre[6] = 0;
	pre[7] = 0;
	(void) emit(w, pre, sizeof(pre));
	return w;
}

/* Append one bit to the current key's payload bit stream. */
static void
put_bit(FstPostingsWriter *w, uint32_t bit)
{
	w->bitacc |= bit << w->nbits;
	if (++w->nbits == 8)
	{
		reserve(w, &w->payload, &w->pcap, w->plen, 1);
		w->payload[w->plen++] = (uint8_t) w->bitacc;
		w->bitacc = 0;
		w->nbits = 0;
	}
}

/* Append Elias gamma of x >= 1. */
static void
put_gamma(FstPostingsWriter *w, uint64_t x)
{
	int			z = 63;
	int			i;

	while (!((x >> z) & 1))
		z--;
	for (i = 0; i < z; i++)
		put_bit(w, 0);
	for (i = z; i >= 0; i--)
		put_bit(w, (uint32_t) ((x >> i) & 1));
}

/* Start the posting list of the next ordinal. */
void
fst_postings_begin_key(FstPostingsWriter *w)
{
	w->in_key = true;
	w->kcount = 0;
	w->plen = 0;
	w->bitacc = 0;
	w->nbits = 0;
}

/* Add TIDs to the current list; see fst.h. */
int
fst_postings_append(FstPostingsWriter *w, const FstTid *tids, uint64_t n)
{
	uint64_t	i;

	if (w->failed)
		return -1;
	if (!w->in_key)
		return writer_error(w, "postings append outside a key");
	for (i = 0; i < n; i++)
	{
		uint32_t	blk = tid_block(&tids[i]);
		uint16_t	off = tids[i].offset;

		if (w->kcount == 0)
			w->first = tids[i];
		else
		{
			if (blk < w->last_block ||
				(blk == w->last_block && off <= w->last_offset))
				return writer_error(w, "postings TIDs not strictly ascending");
			if (w->kcount == 1)
			{
				reserve(w, &w->payload, &w->pcap, 0, 16);
				w->plen = put_varint(w->payload, tid_block(&w->first));
				w->plen += put_varint(w->payload + w->plen, w->first.offset);
			}
			put_gamma(w, (uint64_t) (blk - w->last_block) + 1);
			if (blk == w->last_block)
				put_gamma(w, (uint64_t) (off - w->last_offset));
			else
				put_gamma(w, (uint64_t) off + 1);
		}
		w->last_block = blk;
		w->last_offset = off;
		w->kcount++;
	}
	return 0;
}

/* Write out the current group and start a new one. */
static int
flush_group(FstPostingsWriter *w)
{
	uint8_t		hdr[48];
	size_t		hl = 0;
	bool		all = (w->nsingles == w->gkeys);
	uint32_t	i;

	if (w->ngroups == w->gcap)
	{
		uint64_t	newcap = w->gcap ? w->gcap * 2 : 256;

		w->gofs = grow(w, w->gofs, w->gcap * sizeof(uint64_t),
					   newcap * sizeof(uint64_t));
		w->gcap = newcap;
	}
	w->gofs[w->ngroups++] = w->written;

	if (w->nsingles > 0)
	{
		uint32_t	base = UINT32_MAX;
		uint32_t	maxoff = 0;
		uint64_t	radix;
		uint64_t	maxv = 0;
		int			width = 0;
		uint64_t	acc = 0;
		int			accbits = 0;
		uint8_t		packed[FST_POSTINGS_GROUP * 6 + 8];
		size_t		pl = 0;

		for (i = 0; i < w->nsingles; i++)
		{
			if (tid_block(&w->singles[i]) < base)
				base = tid_block(&w->singles[i]);
			if (w->singles[i].offset > maxoff)
				maxoff = w->singles[i].offset;
		}
		radix = (uint64_t) maxoff + 1;
		for (i = 0; i < w->nsingles; i++)
		{
			uint64_t	v = (uint64_t) (tid_block(&w->singles[i]) - base) * radix +
				w->singles[i].offset;

			if (v > maxv)
				maxv = v;
		}
		while (width < 64 && (maxv >> width) != 0)
			width++;
		hdr[hl++] = (uint8_t) (width | 0x40 | (all ? 0 : 0x80));
		if (!all)
		{
			memcpy(hdr + hl, w->single_map, sizeof(w->single_map));
			hl += sizeof(w->single_map);
		}
		hl += put_varint(hdr + hl, base);
		hl += put_varint(hdr + hl, radix);
		if (emit(w, hdr, hl) != 0)
			return -1;
		for (i = 0; i < w->nsingles; i++)
		{
			uint64_t	v = (uint64_t) (tid_block(&w->singles[i]) - base) * radix +
				w->singles[i].offset;

			/* width <= 48, so acc never holds more than 55 bits */
			acc |= v << accbits;
			accbits += width;
			while (accbits >= 8)
			{
				packed[pl++] = (uint8_t) acc;
				acc >>= 8;
				accbits -= 8;
			}
		}
		if (accbits > 0)
			packed[pl++] = (uint8_t) acc;
		if (emit(w, packed, pl) != 0)
			return -1;
	}
	else
	{
		hdr[hl++] = 0;			/* no singles: no bitmap, no parameters */
		if (emit(w, hdr, hl) != 0)
			return -1;
	}
	if (w->multi_len > 0 && emit(w, w->multi, w->multi_len) != 0)
		return -1;

	w->gkeys = 0;
	memset(w->single_map, 0, sizeof(w->single_map));
	w->nsingles = 0;
	w->multi_len = 0;
	return 0;
}

/* Finish the current list and add it to the group. */
int
fst_postings_end_key(FstPostingsWriter *w)
{
	if (w->failed)
		return -1;
	if (!w->in_key)
		return writer_error(w, "postings end_key outside a key");
	w->in_key = false;
	if (w->kcount == 1)
	{
		w->single_map[w->gkeys / 8] |= (uint8_t) (1 << (w->gkeys % 8));
		w->singles[w->nsingles++] = w->first;
	}
	else
	{
		if (w->nbits > 0)
		{
			reserve(w, &w->payload, &w->pcap, w->plen, 1);
			w->payload[w->plen++] = (uint8_t) w->bitacc;
			w->bitacc = 0;
			w->nbits = 0;
		}
		reserve(w, &w->multi, &w->multi_cap, w->multi_len, 20 + w->plen);
		w->multi_len += put_varint(w->multi + w->multi_len, w->kcount);
		if (w->kcount >= 2)
		{
			w->multi_len += put_varint(w->multi + w->multi_len, w->plen);
			memcpy(w->multi + w->multi_len, w->payload, w->plen);
			w->multi_len += w->plen;
		}
	}
	w->nkeys++;
	w->ntids += w->kcount;
	if (w->kcount > w->max_list)
		w->max_list = w->kcount > UINT32_MAX ? UINT32_MAX : (uint32_t) w->kcount;
	if (++w->gkeys == FST_POSTINGS_GROUP)
		return flush_group(w);
	return 0;
}

/* Add a whole list; see fst.h. */
int
fst_postings_add(FstPostingsWriter *w, const FstTid *tids, uint64_t n)
{
	fst_postings_begin_key(w);
	if (fst_postings_append(w, tids, n) != 0)
		return -1;
	return fst_postings_end_key(w);
}

/* Write the last group, the group table and the trailer. */
int
fst_postings_finish(FstPostingsWriter *w, FstPostingsInfo *info)
{
	uint64_t	table_off;
	uint64_t	maxofs = 0;
	uint64_t	i;
	int			tw = 1;
	uint8_t		t[FST_POSTINGS_TRAILER_SIZE];

	if (w->failed)
		return -1;
	if (w->in_key)
		return writer_error(w, "postings finish inside a key");
	if (w->gkeys > 0 && flush_group(w) != 0)
		return -1;
	table_off = w->written;
	for (i = 0; i < w->ngroups; i++)
		if (w->gofs[i] > maxofs)
			maxofs = w->gofs[i];
	while (tw < 8 && (maxofs >> (8 * tw)) != 0)
		tw++;
	for (i = 0; i < w->ngroups; i++)
	{
		uint8_t		e[8];

		put_u64(e, w->gofs[i]);
		if (emit(w, e, tw) != 0)
			return -1;
	}
	memset(t, 0, sizeof(t));
	put_u32(t, FST_POSTINGS_TRAILER_MAGIC);
	t[4] = FST_VERSION;
	t[5] = 0;
	t[6] = (uint8_t) tw;
	t[7] = 0;
	put_u64(t + 8, w->nkeys);
	put_u64(t + 16, w->ntids);
	put_u64(t + 24, table_off);
	put_u64(t + 32, w->written + FST_POSTINGS_TRAILER_SIZE);
	put_u32(t + 40, w->max_list);
	put_u32(t + 44, postings_checksum(t, 44));
	if (emit(w, t, sizeof(t)) != 0 || flush_out(w) != 0)
		return -1;
	if (info)
	{
		info->nkeys = w->nkeys;
		info->ntids = w->ntids;
		info->size = w->written;
	}
	return 0;
}

const char *
fst_postings_writer_error(const FstPostingsWriter *w)
{
	return w->errmsg;
}

/* Bytes held for the current group and key, not yet given to the sink. */
size_t
fst_postings_buffered(const FstPostingsWriter *w)
{
	return w->multi_len + w->plen + w->outlen +
		(size_t) w->nsingles * sizeof(FstTid);
}

/* Free the writer and its buffers. */
void
fst_postings_writer_destroy(FstPostingsWriter *w)
{
	if (w == NULL)
		return;
	if (w->multi)
		w->a.free(w->a.arg, w->multi);
	if (w->payload)
		w->a.free(w->a.arg, w->payload);
	if (w->gofs)
		w->a.free(w->a.arg, w->gofs);
	w->a.free(w->a.arg, w);
}
