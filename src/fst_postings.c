/*-------------------------------------------------------------------------
 *
 * fst_postings.c
 *	  Compact TID posting lists addressed by key ordinal: the reader.
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
 * The writer is in fst_postings_write.c; the byte format is described in
 * fst.h.
 *
 *-------------------------------------------------------------------------
 */
#include "fst.h"
#include "fst_bytes.h"

#include <string.h>

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
	if (postings_checksum(b, 44) != get_u32(b + 44))
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

/*
 * Number of set bits among bits 0..j-1 (j <= FST_POSTINGS_GROUP) of a
 * bitmap, bit i being bit i % 8 of byte i / 8: a word's popcount at a time
 * (a point lookup asks once per group it loads).
 */
static inline uint32_t
bits_below(const uint8_t *map, uint32_t j)
{
	uint32_t	n = 0;
	uint32_t	w;

	for (w = 0; w * 64 < j; w++)
	{
		uint64_t	x = 0;
		uint32_t	i;

		for (i = 0; i < 8; i++)
			x |= (uint64_t) map[w * 8 + i] << (8 * i);
		if (j - w * 64 < 64)
			x &= ((uint64_t) 1 << (j - w * 64)) - 1;
		n += (uint32_t) __builtin_popcountll(x);
	}
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
	return bits_below(grp->map, j);
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
		/* like a list's count below: never more TIDs than the image has */
		if (p->ntids == 0)
			return set_error(p->errmsg, "postings list count out of range");
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
