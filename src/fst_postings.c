/*-------------------------------------------------------------------------
 *
 * fst_postings.c
 *	  Compact TID posting lists addressed by key ordinal.
 *
 * Keys are grouped by 128 consecutive ordinals.  Most keys of an index have
 * exactly one TID; a group stores those as fixed-width values relative to
 * the group's smallest block (block * radix + offset), so a random TID of a
 * table with N tuples costs about log2(N) bits.  Longer lists are stored
 * after them, each with its length in bytes so it can be skipped, as gamma
 * coded gaps (about 2 bits per TID for a run of neighbouring tuples).  A
 * table of group offsets written after the groups finds ordinal i in one
 * table read plus a popcount (single) or a skip over the group's long
 * lists.
 *
 * The writer streams groups to a sink as soon as they are complete and
 * buffers only the current group; it keeps 8 bytes per group for the table.
 * The byte format is described in fst.h.
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

static uint32_t
checksum(const uint8_t *p, size_t len)
{
	return fnv1a_update(FNV1A_INIT, p, len);
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
	put_u32(t + 44, checksum(t, 44));
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

/* ----------------------------------------------------------------- reader */

/* Validate the preamble and trailer. */
int
fst_postings_open(FstPostings *p, const FstSource *src)
{
	const uint8_t *b;
	uint8_t		buf[FST_POSTINGS_TRAILER_SIZE];
	uint64_t	ngroups;
	uint64_t	tsize;

	memset(p, 0, sizeof(FstPostings));
	p->src = *src;
	if (src->size < FST_POSTINGS_PREAMBLE_SIZE + FST_POSTINGS_TRAILER_SIZE)
		return set_error(p->errmsg, "postings image too small");
	b = src->read(src->arg, 0, FST_POSTINGS_PREAMBLE_SIZE, buf);
	if (b == NULL)
		return set_error(p->errmsg, "postings image read failed");
	if (get_u32(b) != FST_POSTINGS_MAGIC || b[4] != FST_VERSION || b[5] != 0)
		return set_error(p->errmsg, "postings image has a bad magic or version");
	b = src->read(src->arg, src->size - FST_POSTINGS_TRAILER_SIZE,
				  FST_POSTINGS_TRAILER_SIZE, buf);
	if (b == NULL)
		return set_error(p->errmsg, "postings image read failed");
	if (get_u32(b) != FST_POSTINGS_TRAILER_MAGIC || b[4] != FST_VERSION ||
		b[5] != 0)
		return set_error(p->errmsg, "postings trailer has a bad magic or version");
	if (checksum(b, 44) != get_u32(b + 44))
		return set_error(p->errmsg, "postings trailer checksum mismatch");
	p->tw = b[6];
	p->nkeys = get_u64(b + 8);
	p->ntids = get_u64(b + 16);
	p->table_off = get_u64(b + 24);
	p->max_list = get_u32(b + 40);
	if (get_u64(b + 32) != src->size)
		return set_error(p->errmsg, "postings image size mismatch");
	if (p->tw < 1 || p->tw > 8)
		return set_error(p->errmsg, "postings table width out of range");
	if (p->table_off < FST_POSTINGS_PREAMBLE_SIZE ||
		p->table_off > src->size - FST_POSTINGS_TRAILER_SIZE)
		return set_error(p->errmsg, "postings table offset out of range");
	ngroups = p->nkeys / FST_POSTINGS_GROUP +
		(p->nkeys % FST_POSTINGS_GROUP ? 1 : 0);
	tsize = src->size - FST_POSTINGS_TRAILER_SIZE - p->table_off;
	if (tsize % p->tw != 0 || tsize / p->tw != ngroups)
		return set_error(p->errmsg, "postings table size mismatch");
	return 0;
}

/* Read the tw-byte group table entry g. */
static int
table_entry(FstPostings *p, uint64_t g, uint64_t *ofs)
{
	uint8_t		buf[8];
	const uint8_t *b;
	uint64_t	v = 0;
	int			k;

	b = p->src.read(p->src.arg, p->table_off + g * p->tw, p->tw, buf);
	if (b == NULL)
		return set_error(p->errmsg, "postings image read failed");
	for (k = 0; k < p->tw; k++)
		v |= (uint64_t) b[k] << (8 * k);
	*ofs = v;
	return 0;
}

/* Next byte of the iterator's range, through its window. */
static int
it_byte(FstPostingsIter *it, uint8_t *out)
{
	if (it->pos >= it->end)
		return set_error(it->p->errmsg, "postings list truncated");
	if (it->pos < it->wpos || it->pos >= it->wpos + it->wlen)
	{
		uint64_t	n = it->end - it->pos;
		const uint8_t *b;

		if (n > sizeof(it->buf))
			n = sizeof(it->buf);
		b = it->p->src.read(it->p->src.arg, it->pos, (size_t) n, it->buf);
		if (b == NULL)
			return set_error(it->p->errmsg, "postings image read failed");
		if (b != it->buf)
			memcpy(it->buf, b, (size_t) n);
		it->wpos = it->pos;
		it->wlen = (uint32_t) n;
	}
	*out = it->buf[it->pos - it->wpos];
	it->pos++;
	return 0;
}

/* Varint from the iterator's range. */
static int
it_varint(FstPostingsIter *it, uint64_t *v)
{
	int			shift = 0;
	uint8_t		byte;

	*v = 0;
	do
	{
		if (shift > 56)
			return set_error(it->p->errmsg, "postings has a bad varint");
		if (it_byte(it, &byte) != 0)
			return -1;
		*v |= (uint64_t) (byte & 0x7f) << shift;
		shift += 7;
	} while (byte & 0x80);
	return 0;
}

/* One bit of the iterator's bit stream. */
static int
it_bit(FstPostingsIter *it, uint32_t *bit)
{
	if (it->curbits == 0)
	{
		uint8_t		byte;

		if (it_byte(it, &byte) != 0)
			return -1;
		it->cur = byte;
		it->curbits = 8;
	}
	*bit = it->cur & 1;
	it->cur >>= 1;
	it->curbits--;
	return 0;
}

/* Elias gamma value (>= 1, < 2^63). */
static int
it_gamma(FstPostingsIter *it, uint64_t *v)
{
	int			z = 0;
	uint32_t	bit;
	uint64_t	x = 1;
	int			i;

	for (;;)
	{
		if (it_bit(it, &bit) != 0)
			return -1;
		if (bit)
			break;
		if (++z > 62)
			return set_error(it->p->errmsg, "postings has a bad gamma code");
	}
	for (i = 0; i < z; i++)
	{
		if (it_bit(it, &bit) != 0)
			return -1;
		x = (x << 1) | bit;
	}
	*v = x;
	return 0;
}

/* Number of set bits of a byte. */
static inline uint32_t
popcount8(uint32_t x)
{
	x = x - ((x >> 1) & 0x55);
	x = (x & 0x33) + ((x >> 2) & 0x33);
	return (x + (x >> 4)) & 0x0f;
}

/* Number of set bits among bits 0..j-1 of a bitmap. */
static uint32_t
bits_below(const uint8_t *map, uint32_t j)
{
	uint32_t	n = 0;
	uint32_t	i;

	for (i = 0; i < j / 8; i++)
	{
		uint32_t	x = map[i];

		x = x - ((x >> 1) & 0x55);
		x = (x & 0x33) + ((x >> 2) & 0x33);
		n += (x + (x >> 4)) & 0x0f;
	}
	for (i = j & ~7u; i < j; i++)
		n += (map[i / 8] >> (i % 8)) & 1;
	return n;
}

/* Forget the group a FstPostingsGroup describes; see fst.h. */
void
fst_postings_group_reset(FstPostingsGroup *grp)
{
	grp->group = UINT64_MAX;
	grp->singles_ready = false;
}

/*
 * Prepare the division of packed single values by the group's radix: a
 * shift for a power of 2, else a multiplication by the rounded-up
 * reciprocal, which a scan does once per row instead of a 64-bit division.
 */
static void
set_radix(FstPostingsGroup *grp)
{
	/* radix >= 1 (load_group) */
	grp->radix_shift = -1;
	grp->radix_recip = 0;
	if ((grp->radix & (grp->radix - 1)) == 0)
		grp->radix_shift = __builtin_ctzll(grp->radix);
	else
		grp->radix_recip = UINT64_MAX / grp->radix + 1;
}

/*
 * v / radix.  With m = ceil(2^64 / d) = (2^64 + e) / d, 0 < e < d, the
 * product v * m / 2^64 is v / d + v * e / (d * 2^64); its floor is v / d
 * exactly when v * e < 2^64, which holds because a group's values have at
 * most 48 bits and its radix at most 2^16 (load_group checks both).
 */
static inline uint64_t
radix_div(const FstPostingsGroup *grp, uint64_t v)
{
	if (grp->radix_shift >= 0)
		return v >> grp->radix_shift;
#ifdef __SIZEOF_INT128__
	return (uint64_t) (((unsigned __int128) v * grp->radix_recip) >> 64);
#else
	return v / grp->radix;
#endif
}

/*
 * Decode the header of group g into grp: its bounds, which keys are
 * singles and how they are packed, and where its first long list starts.
 * Returns 0, or -1 on corrupt input (grp then describes no group).
 */
static int
load_group(FstPostings *p, FstPostingsGroup *grp, uint64_t g)
{
	FstPostingsIter it;
	uint64_t	ngroups = (p->nkeys + FST_POSTINGS_GROUP - 1) / FST_POSTINGS_GROUP;
	uint64_t	gstart;
	uint64_t	gend;
	uint8_t		flags;
	uint32_t	k;

	grp->group = UINT64_MAX;
	if (g >= ngroups)
		return set_error(p->errmsg, "postings ordinal out of range");
	grp->ngk = (uint32_t) (p->nkeys - g * FST_POSTINGS_GROUP > FST_POSTINGS_GROUP ?
						   FST_POSTINGS_GROUP : p->nkeys - g * FST_POSTINGS_GROUP);
	if (table_entry(p, g, &gstart) != 0)
		return -1;
	if (g + 1 < ngroups)
	{
		if (table_entry(p, g + 1, &gend) != 0)
			return -1;
	}
	else
		gend = p->table_off;
	if (gstart < FST_POSTINGS_PREAMBLE_SIZE || gstart >= gend ||
		gend > p->table_off)
		return set_error(p->errmsg, "postings group offset out of range");

	memset(&it, 0, sizeof(it));
	it.p = p;
	it.pos = gstart;
	it.end = gend;
	if (it_byte(&it, &flags) != 0)
		return -1;
	grp->width = flags & 0x3f;
	grp->all_singles = false;
	memset(grp->map, 0, sizeof(grp->map));
	if (!(flags & 0x40))
	{
		/* no singles */
		if (flags != 0)
			return set_error(p->errmsg, "postings group has bad flags");
		grp->nsingles = 0;
	}
	else if (!(flags & 0x80))
	{
		/* all singles */
		grp->all_singles = true;
		memset(grp->map, 0xff, sizeof(grp->map));
		grp->nsingles = grp->ngk;
	}
	else
	{
		for (k = 0; k < sizeof(grp->map); k++)
			if (it_byte(&it, &grp->map[k]) != 0)
				return -1;
		grp->nsingles = bits_below(grp->map, grp->ngk);
		if (bits_below(grp->map, FST_POSTINGS_GROUP) != grp->nsingles ||
			grp->nsingles == 0)
			return set_error(p->errmsg, "postings group bitmap out of range");
	}
	grp->rank[0] = 0;
	for (k = 1; k < sizeof(grp->rank); k++)
		grp->rank[k] = (uint8_t) (grp->rank[k - 1] +
								  popcount8(grp->map[k - 1]));
	grp->base = 0;
	grp->radix = 1;
	if (grp->nsingles > 0)
	{
		if (it_varint(&it, &grp->base) != 0 || it_varint(&it, &grp->radix) != 0)
			return -1;
		if (grp->base > UINT32_MAX || grp->radix < 1 || grp->radix > 65536 ||
			grp->width > 48)
			return set_error(p->errmsg, "postings group header out of range");
	}
	set_radix(grp);
	grp->end = gend;
	grp->singles_pos = it.pos;
	grp->list_pos[0] = it.pos + ((uint64_t) grp->nsingles * grp->width + 7) / 8;
	grp->nknown = 1;
	grp->singles_ready = false;
	grp->singles_read = 0;
	grp->group = g;
	return 0;
}

/* How many of the loaded group's keys before key j are singles. */
static inline uint32_t
singles_before(const FstPostingsGroup *grp, uint32_t j)
{
	if (grp->all_singles)
		return j;
	return grp->rank[j / 8] +
		popcount8(grp->map[j / 8] & ((1u << (j % 8)) - 1));
}

/*
 * The TID of a single whose packed value is v (base block + v / radix,
 * offset v % radix).  Returns 0, or -1 if the block is out of range.
 */
static inline int
single_tid(FstPostings *p, const FstPostingsGroup *grp, uint64_t v,
		   FstTid *tid)
{
	uint64_t	q = radix_div(grp, v);
	uint64_t	blk = grp->base + q;

	if (blk > UINT32_MAX)
		return set_error(p->errmsg, "postings block out of range");
	tid->bi_hi = (uint16_t) (blk >> 16);
	tid->bi_lo = (uint16_t) blk;
	tid->offset = (uint16_t) (v - q * grp->radix);
	return 0;
}

/* Decode every single TID of the loaded group into grp->singles. */
static int
decode_singles(FstPostings *p, FstPostingsGroup *grp)
{
	uint64_t	nbytes = ((uint64_t) grp->nsingles * grp->width + 7) / 8;
	uint8_t		buf[FST_POSTINGS_GROUP * 48 / 8];
	const uint8_t *b = buf;
	uint64_t	acc = 0;
	int			nacc = 0;
	uint64_t	mask = grp->width ? (((uint64_t) 1 << grp->width) - 1) : 0;
	uint32_t	k;
	size_t		pos = 0;
	bool		bytewise = false;

	if (nbytes > sizeof(buf) || grp->singles_pos + nbytes > grp->end)
		return set_error(p->errmsg, "postings group truncated");
	if (nbytes > 0)
	{
		b = p->src.read(p->src.arg, grp->singles_pos, (size_t) nbytes, buf);
		if (b == NULL)
			return set_error(p->errmsg, "postings image read failed");
	}
	for (k = 0; k < grp->nsingles; k++)
	{
		uint64_t	v;
		uint64_t	bit = (uint64_t) k * grp->width;

		/* one 8-byte load while 8 bytes are there (width <= 48) ... */
		if (!bytewise && bit / 8 + 8 <= nbytes)
			v = (get_u64(b + bit / 8) >> (bit % 8)) & mask;
		else
		{
			if (!bytewise)
			{
				/* ... then byte by byte from the first bit not consumed */
				bytewise = true;
				pos = (size_t) (bit / 8);
				if (bit % 8 != 0)
				{
					acc = (uint64_t) b[pos++] >> (bit % 8);
					nacc = 8 - (int) (bit % 8);
				}
			}
			while (nacc < grp->width)
			{
				acc |= (uint64_t) b[pos++] << nacc;
				nacc += 8;
			}
			v = acc & mask;
			acc = grp->width < 64 ? acc >> grp->width : 0;
			nacc -= grp->width;
		}
		if (single_tid(p, grp, v, &grp->singles[k]) != 0)
			return -1;
	}
	grp->singles_ready = true;
	return 0;
}

/* Decode single number k of the loaded group alone into *tid. */
static int
decode_single(FstPostings *p, const FstPostingsGroup *grp, uint32_t k,
			  FstTid *tid)
{
	uint64_t	bit = (uint64_t) k * grp->width;
	uint64_t	pos = grp->singles_pos + bit / 8;
	uint32_t	nbytes = (uint32_t) ((bit % 8 + grp->width + 7) / 8);
	uint8_t		buf[8];
	const uint8_t *b = buf;
	uint64_t	acc = 0;
	uint64_t	v;
	uint32_t	i;

	if (k >= grp->nsingles || pos + nbytes > grp->end)
		return set_error(p->errmsg, "postings group truncated");
	if (nbytes > 0)
	{
		b = p->src.read(p->src.arg, pos, nbytes, buf);
		if (b == NULL)
			return set_error(p->errmsg, "postings image read failed");
	}
	for (i = 0; i < nbytes; i++)
		acc |= (uint64_t) b[i] << (8 * i);
	v = (acc >> (bit % 8)) &
		(grp->width ? (((uint64_t) 1 << grp->width) - 1) : 0);
	return single_tid(p, grp, v, tid);
}

/*
 * The TID of a single, through grp; see fst.h.  The first single asked of
 * a group is decoded alone (a point lookup wants one); from the second on,
 * all of the group's at once (a scan wants them all).
 */
int
fst_postings_single(FstPostings *p, FstPostingsGroup *grp, uint64_t ordinal,
					FstTid *tid)
{
	uint64_t	g = ordinal / FST_POSTINGS_GROUP;
	uint32_t	j = (uint32_t) (ordinal % FST_POSTINGS_GROUP);

	if (ordinal >= p->nkeys)
		return set_error(p->errmsg, "postings ordinal out of range");
	if (grp->group != g && load_group(p, grp, g) != 0)
		return -1;
	if (!((grp->map[j / 8] >> (j % 8)) & 1))
		return 0;
	if (!grp->singles_ready && grp->singles_read++ == 0)
		return decode_single(p, grp, singles_before(grp, j), tid) == 0 ? 1 : -1;
	if (!grp->singles_ready && decode_singles(p, grp) != 0)
		return -1;
	*tid = grp->singles[singles_before(grp, j)];
	return 1;
}

/* Position it on the list of ordinal; see fst.h. */
int
fst_postings_seek(FstPostings *p, FstPostingsIter *it, uint64_t ordinal)
{
	FstPostingsGroup grp;

	grp.group = UINT64_MAX;
	return fst_postings_seek_group(p, &grp, it, ordinal);
}

/* Position it on the list of ordinal, through grp; see fst.h. */
int
fst_postings_seek_group(FstPostings *p, FstPostingsGroup *grp,
						FstPostingsIter *it, uint64_t ordinal)
{
	uint32_t	j = (uint32_t) (ordinal % FST_POSTINGS_GROUP);
	uint32_t	idx;
	FstTid		tid;
	int			r;

	/* every field fst_postings_next may read is set below or here */
	it->p = p;
	it->count = 0;
	it->done = 0;
	it->block = 0;
	it->offset = 0;
	it->cur = 0;
	it->curbits = 0;
	it->wpos = 0;
	it->wlen = 0;
	it->pos = 0;

	/* a single: its TID is all there is to read */
	r = fst_postings_single(p, grp, ordinal, &tid);
	if (r < 0)
		return -1;
	it->end = grp->end;
	if (r == 1)
	{
		it->block = (uint32_t) tid.bi_hi << 16 | tid.bi_lo;
		it->offset = tid.offset;
		it->count = 1;
		it->end = it->pos;		/* nothing more to read */
		return 0;
	}

	/* find where the idx'th long list starts, skipping each list once */
	idx = j - singles_before(grp, j);
	while (grp->nknown <= idx)
	{
		uint64_t	n;
		uint64_t	plen;

		it->pos = grp->list_pos[grp->nknown - 1];
		if (it_varint(it, &n) != 0)
			return -1;
		if (n == 1)
			return set_error(p->errmsg, "postings list of one TID not single");
		if (n >= 2)
		{
			if (it_varint(it, &plen) != 0)
				return -1;
			if (plen > it->end - it->pos)
				return set_error(p->errmsg, "postings list length out of range");
			it->pos += plen;
		}
		grp->list_pos[grp->nknown++] = it->pos;
	}
	it->pos = grp->list_pos[idx];
	{
		uint64_t	n;
		uint64_t	plen;
		uint64_t	v;

		if (it_varint(it, &n) != 0)
			return -1;
		if (n == 1)
			return set_error(p->errmsg, "postings list of one TID not single");
		it->done = 0;
		if (n == 0)
		{
			it->count = 0;
			return 0;
		}
		if (it_varint(it, &plen) != 0)
			return -1;
		if (plen > it->end - it->pos)
			return set_error(p->errmsg, "postings list length out of range");
		/*
		 * The count is what callers size their buffers by: bound it by what
		 * the list can hold (every TID after the first takes two gamma
		 * codes, at least two bits) and by the image's totals.
		 */
		if (n - 1 > plen * 4 || n > p->ntids ||
			(p->max_list < UINT32_MAX && n > p->max_list))
			return set_error(p->errmsg, "postings list count out of range");
		it->count = n;
		it->end = it->pos + plen;
		if (it_varint(it, &v) != 0)
			return -1;
		if (v > UINT32_MAX)
			return set_error(p->errmsg, "postings block out of range");
		it->block = (uint32_t) v;
		if (it_varint(it, &v) != 0)
			return -1;
		if (v > UINT16_MAX)
			return set_error(p->errmsg, "postings offset out of range");
		it->offset = (uint16_t) v;
		it->curbits = 0;
	}
	return 0;
}

/* Decode up to max further TIDs; see fst.h. */
int64_t
fst_postings_next(FstPostingsIter *it, FstTid *out, uint64_t max)
{
	uint64_t	got = 0;

	while (got < max && it->done < it->count)
	{
		if (it->done > 0)
		{
			uint64_t	db;
			uint64_t	x;

			if (it_gamma(it, &db) != 0)
				return -1;
			db--;
			if (db > UINT32_MAX - it->block)
				return set_error(it->p->errmsg, "postings block out of range");
			if (it_gamma(it, &x) != 0)
				return -1;
			if (db == 0)
			{
				if (x > (uint64_t) (UINT16_MAX - it->offset))
					return set_error(it->p->errmsg, "postings offset out of range");
				it->offset = (uint16_t) (it->offset + x);
			}
			else
			{
				if (x - 1 > UINT16_MAX)
					return set_error(it->p->errmsg, "postings offset out of range");
				it->block += (uint32_t) db;
				it->offset = (uint16_t) (x - 1);
			}
		}
		out[got].bi_hi = (uint16_t) (it->block >> 16);
		out[got].bi_lo = (uint16_t) it->block;
		out[got].offset = it->offset;
		got++;
		it->done++;
	}
	return (int64_t) got;
}
