/*-------------------------------------------------------------------------
 *
 * keyblocks.c
 *	  Front-coded key blocks: builder, seek and iteration.
 *
 * See keyblocks.h for what they are for and their layout.  The builder
 * keeps the data area and the block offsets in two growing buffers and
 * the previous key for front coding.  The reader finds a block by binary
 * search over the blocks' first keys (stored whole) and decodes one block
 * at a time into the iterator's buffer.
 *
 *-------------------------------------------------------------------------
 */
#include "keyblocks.h"
#include "fst_bytes.h"

#include <string.h>

struct KbBuilder
{
	FstAllocator a;
	uint8_t    *data;
	size_t		len;
	size_t		cap;
	uint32_t   *offsets;
	uint32_t	noffsets;
	uint32_t	offcap;
	uint8_t    *prev;
	size_t		prevlen;
	size_t		prevcap;
	uint64_t	nkeys;
	uint32_t	max_key_len;
	bool		failed;
};

/* Grow *buf (of *cap bytes) to hold at least need bytes.  0 or -1. */
static int
grow(FstAllocator *a, void **buf, size_t *cap, size_t need)
{
	size_t		ncap = *cap ? *cap : 256;
	void	   *p;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	p = *buf ? a->realloc(a->arg, *buf, *cap, ncap) : a->alloc(a->arg, ncap);
	if (p == NULL)
		return -1;
	*buf = p;
	*cap = ncap;
	return 0;
}

/* Create an empty builder. */
KbBuilder *
kb_builder_create(const FstAllocator *alloc)
{
	KbBuilder  *b = alloc->alloc(alloc->arg, sizeof(KbBuilder));

	memset(b, 0, sizeof(KbBuilder));
	b->a = *alloc;
	return b;
}

/* Add the next key; see keyblocks.h. */
int
kb_builder_add(KbBuilder *b, const uint8_t *key, size_t len)
{
	size_t		lcp = 0;
	bool		first = (b->nkeys % KB_BLOCK_KEYS) == 0;

	if (b->failed)
		return -1;
	if (b->nkeys > 0)
	{
		size_t		m = len < b->prevlen ? len : b->prevlen;
		int			cmp;

		while (lcp < m && key[lcp] == b->prev[lcp])
			lcp++;
		cmp = lcp < m ? (key[lcp] < b->prev[lcp] ? -1 : 1) :
			(len > b->prevlen ? 1 : (len < b->prevlen ? -1 : 0));
		if (cmp <= 0)
		{
			b->failed = true;
			return -1;
		}
	}
	if (len > UINT32_MAX ||
		b->len + len + 20 > (size_t) UINT32_MAX ||
		grow(&b->a, (void **) &b->data, &b->cap, b->len + len + 20) != 0 ||
		grow(&b->a, (void **) &b->prev, &b->prevcap, len + 1) != 0)
	{
		b->failed = true;
		return -1;
	}
	if (first)
	{
		size_t		cap = (size_t) b->offcap * sizeof(uint32_t);

		if (grow(&b->a, (void **) &b->offsets, &cap,
				 ((size_t) b->noffsets + 2) * sizeof(uint32_t)) != 0)
		{
			b->failed = true;
			return -1;
		}
		b->offcap = (uint32_t) (cap / sizeof(uint32_t));
		b->offsets[b->noffsets++] = (uint32_t) b->len;
		b->len += put_varint(b->data + b->len, len);
		memcpy(b->data + b->len, key, len);
		b->len += len;
	}
	else
	{
		b->len += put_varint(b->data + b->len, lcp);
		b->len += put_varint(b->data + b->len, len - lcp);
		memcpy(b->data + b->len, key + lcp, len - lcp);
		b->len += len - lcp;
	}
	memcpy(b->prev + lcp, key + lcp, len - lcp);
	b->prevlen = len;
	if (len > b->max_key_len)
		b->max_key_len = (uint32_t) len;
	b->nkeys++;
	return 0;
}

/* Size of the finished image. */
size_t
kb_builder_size(const KbBuilder *b)
{
	return sizeof(KbHeader) + ((size_t) b->noffsets + 1) * sizeof(uint32_t) +
		b->len;
}

/* Write the image to dst. */
void
kb_builder_finish(const KbBuilder *b, uint8_t *dst)
{
	KbHeader	h;
	uint32_t	end = (uint32_t) b->len;

	memset(&h, 0, sizeof(h));
	h.magic = KB_MAGIC;
	h.nblocks = b->noffsets;
	h.nkeys = b->nkeys;
	h.data_size = b->len;
	h.max_key_len = b->max_key_len;
	memcpy(dst, &h, sizeof(h));
	dst += sizeof(h);
	if (b->noffsets > 0)
		memcpy(dst, b->offsets, (size_t) b->noffsets * sizeof(uint32_t));
	dst += (size_t) b->noffsets * sizeof(uint32_t);
	memcpy(dst, &end, sizeof(end));
	dst += sizeof(end);
	if (b->len > 0)
		memcpy(dst, b->data, b->len);
}

/* Free the builder. */
void
kb_builder_destroy(KbBuilder *b)
{
	if (b == NULL)
		return;
	if (b->data)
		b->a.free(b->a.arg, b->data);
	if (b->offsets)
		b->a.free(b->a.arg, b->offsets);
	if (b->prev)
		b->a.free(b->a.arg, b->prev);
	b->a.free(b->a.arg, b);
}

/* ----------------------------------------------------------------- reader */

/* Open an image; see keyblocks.h. */
int
kb_open(KbImage *kb, const void *image, size_t size)
{
	const KbHeader *h = (const KbHeader *) image;
	size_t		need;

	if (size < sizeof(KbHeader) || h->magic != KB_MAGIC)
		return -1;
	need = sizeof(KbHeader) + ((size_t) h->nblocks + 1) * sizeof(uint32_t) +
		h->data_size;
	if (need != size ||
		h->nblocks != (h->nkeys + KB_BLOCK_KEYS - 1) / KB_BLOCK_KEYS)
		return -1;
	kb->hdr = h;
	kb->offsets = (const uint32_t *) (h + 1);
	kb->data = (const uint8_t *) (kb->offsets + h->nblocks + 1);
	if (kb->offsets[h->nblocks] != h->data_size)
		return -1;
	return 0;
}

/* Read a varint at *p, not past end.  0 or -1. */
static int
get_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	int			shift = 0;
	uint8_t		byte;

	*v = 0;
	do
	{
		if (*p >= end || shift > 56)
			return -1;
		byte = *(*p)++;
		*v |= (uint64_t) (byte & 0x7f) << shift;
		shift += 7;
	} while (byte & 0x80);
	return 0;
}

/* Prepare an unpositioned iterator. */
void
kb_iter_init(KbIter *it, const KbImage *kb, const FstAllocator *alloc)
{
	memset(it, 0, sizeof(KbIter));
	it->kb = kb;
	it->alloc = *alloc;
	it->block = -1;
}

/*
 * Point the iterator at an image, forgetting its position and decoded
 * block (its buffer is kept).
 */
void
kb_iter_set_image(KbIter *it, const KbImage *kb)
{
	it->kb = kb;
	it->block = -1;
	it->nblock = 0;
	it->positioned = false;
}

/* Free the iterator's buffer. */
void
kb_iter_free(KbIter *it)
{
	if (it->buf)
		it->alloc.free(it->alloc.arg, it->buf);
	it->buf = NULL;
	it->bufcap = 0;
	it->positioned = false;
}

/* The first key of block blk (stored whole).  0 or -1. */
static int
block_first(const KbImage *kb, uint32_t blk, const uint8_t **key,
			size_t *len)
{
	const uint8_t *p = kb->data + kb->offsets[blk];
	const uint8_t *end = kb->data + kb->offsets[blk + 1];
	uint64_t	v;

	if (kb->offsets[blk] > kb->offsets[blk + 1] ||
		kb->offsets[blk + 1] > kb->hdr->data_size ||
		get_varint(&p, end, &v) != 0 || v > (uint64_t) (end - p))
		return -1;
	*key = p;
	*len = (size_t) v;
	return 0;
}

/* Bytes a decoded block's buffer has beyond its keys, for copy16. */
#define KB_COPY_SLACK	32

/* Copy 16 bytes from src to dst: one load, then one store. */
static inline void
copy16(uint8_t *dst, const uint8_t *src)
{
	uint8_t		tmp[16];

	memcpy(tmp, src, 16);
	memcpy(dst, tmp, 16);
}

/* Decode block blk into the iterator's buffer.  0 or -1. */
static int
decode_block(KbIter *it, uint32_t blk)
{
	const KbImage *kb = it->kb;
	const uint8_t *p;
	const uint8_t *end;
	uint64_t	first_ord = (uint64_t) blk * KB_BLOCK_KEYS;
	uint64_t	n64 = kb->hdr->nkeys - first_ord;
	uint32_t	n = n64 > KB_BLOCK_KEYS ? KB_BLOCK_KEYS : (uint32_t) n64;
	size_t		need = (size_t) n * kb->hdr->max_key_len + KB_COPY_SLACK;
	const uint8_t *data_end = kb->data + kb->hdr->data_size;
	size_t		pos = 0;
	uint32_t	i;

	if (it->block == (int64_t) blk)
		return 0;
	if (blk >= kb->hdr->nblocks || kb->offsets[blk] > kb->offsets[blk + 1] ||
		kb->offsets[blk + 1] > kb->hdr->data_size)
		return -1;
	if (need > it->bufcap)
	{
		void	   *nb = it->buf ?
			it->alloc.realloc(it->alloc.arg, it->buf, it->bufcap, need) :
			it->alloc.alloc(it->alloc.arg, need);

		if (nb == NULL)
			return -1;
		it->buf = nb;
		it->bufcap = need;
	}
	p = kb->data + kb->offsets[blk];
	end = kb->data + kb->offsets[blk + 1];
	for (i = 0; i < n; i++)
	{
		uint64_t	lcp = 0;
		uint64_t	slen;

		if (i > 0)
		{
			if (p < end && *p < 0x80)
				lcp = *p++;
			else if (get_varint(&p, end, &lcp) != 0)
				return -1;
			if (lcp > pos - it->start[i - 1])
				return -1;
		}
		if (p < end && *p < 0x80)
			slen = *p++;
		else if (get_varint(&p, end, &slen) != 0)
			return -1;
		if (slen > (uint64_t) (end - p) || lcp + slen > kb->hdr->max_key_len)
			return -1;
		it->start[i] = (uint32_t) pos;

		/*
		 * Short copies as one 16-byte load and store: the buffer has
		 * KB_COPY_SLACK bytes beyond its last key, and the shared prefix
		 * is loaded before anything is stored over the bytes after it.
		 */
		if (lcp > 0 && lcp <= 16)
			copy16(it->buf + pos, it->buf + it->start[i - 1]);
		else if (lcp > 0)
			memmove(it->buf + pos, it->buf + it->start[i - 1], (size_t) lcp);
		if (slen <= 16 && data_end - p >= 16)
			copy16(it->buf + pos + lcp, p);
		else
			memcpy(it->buf + pos + lcp, p, (size_t) slen);
		p += slen;
		pos += (size_t) (lcp + slen);
	}
	it->start[n] = (uint32_t) pos;
	it->nblock = n;
	it->block = blk;
	return 0;
}

/* Make key idx of the decoded block current. */
static int
set_current(KbIter *it, uint32_t idx)
{
	it->idx = idx;
	it->key = it->buf + it->start[idx];
	it->keylen = it->start[idx + 1] - it->start[idx];
	it->ordinal = (uint64_t) it->block * KB_BLOCK_KEYS + idx;
	it->positioned = true;
	return 1;
}

/*
 * The last block whose first key is < bound (strict) or <= bound, or -1
 * if there is none; -2 on a malformed image.
 */
static int64_t
find_block(const KbImage *kb, const uint8_t *bound, size_t len, bool strict)
{
	int64_t		lo = 0;
	int64_t		hi = (int64_t) kb->hdr->nblocks - 1;
	int64_t		found = -1;

	while (lo <= hi)
	{
		int64_t		mid = lo + (hi - lo) / 2;
		const uint8_t *k;
		size_t		klen;
		int			c;

		if (block_first(kb, (uint32_t) mid, &k, &klen) != 0)
			return -2;
		c = key_cmp_bytes(k, klen, bound, len);
		if (c < 0 || (c == 0 && !strict))
		{
			found = mid;
			lo = mid + 1;
		}
		else
			hi = mid - 1;
	}
	return found;
}

/* Position on the key chosen by op; see keyblocks.h. */
int
kb_iter_seek(KbIter *it, FstSeekOp op, const uint8_t *bound, size_t len)
{
	const KbImage *kb = it->kb;
	int64_t		blk;
	uint32_t	i;

	it->positioned = false;
	if (kb->hdr->nkeys == 0)
		return 0;
	switch (op)
	{
		case FST_SEEK_FIRST:
			if (decode_block(it, 0) != 0)
				return -1;
			return set_current(it, 0);
		case FST_SEEK_LAST:
			if (decode_block(it, kb->hdr->nblocks - 1) != 0)
				return -1;
			return set_current(it, it->nblock - 1);
		case FST_SEEK_GE:
		case FST_SEEK_GT:
			/* the first key >= (>) bound is in the last block starting < (<=) it, or the next */
			blk = find_block(kb, bound, len, op == FST_SEEK_GE);
			if (blk == -2)
				return -1;
			if (blk < 0)
				blk = 0;
			for (; blk < (int64_t) kb->hdr->nblocks; blk++)
			{
				if (decode_block(it, (uint32_t) blk) != 0)
					return -1;
				for (i = 0; i < it->nblock; i++)
				{
					int			c = key_cmp_bytes(it->buf + it->start[i],
											it->start[i + 1] - it->start[i],
											bound, len);

					if (c > 0 || (c == 0 && op == FST_SEEK_GE))
						return set_current(it, i);
				}
			}
			return 0;
		case FST_SEEK_LE:
		case FST_SEEK_LT:
			/* the last key <= (<) bound is in the last block starting <= (<) it */
			blk = find_block(kb, bound, len, op == FST_SEEK_LT);
			if (blk == -2)
				return -1;
			if (blk < 0)
				return 0;
			if (decode_block(it, (uint32_t) blk) != 0)
				return -1;
			for (i = it->nblock; i > 0; i--)
			{
				int			c = key_cmp_bytes(it->buf + it->start[i - 1],
										it->start[i] - it->start[i - 1],
										bound, len);

				if (c < 0 || (c == 0 && op == FST_SEEK_LE))
					return set_current(it, i - 1);
			}
			return -1;			/* its first key qualified: malformed */
	}
	return -1;
}

/* Step forward; see keyblocks.h. */
int
kb_iter_next(KbIter *it)
{
	if (!it->positioned)
		return 0;
	if (it->idx + 1 < it->nblock)
		return set_current(it, it->idx + 1);
	it->positioned = false;
	if (it->block + 1 >= (int64_t) it->kb->hdr->nblocks)
		return 0;
	if (decode_block(it, (uint32_t) (it->block + 1)) != 0)
		return -1;
	return set_current(it, 0);
}

/* Step backward; see keyblocks.h. */
int
kb_iter_prev(KbIter *it)
{
	if (!it->positioned)
		return 0;
	if (it->idx > 0)
		return set_current(it, it->idx - 1);
	it->positioned = false;
	if (it->block == 0)
		return 0;
	if (decode_block(it, (uint32_t) (it->block - 1)) != 0)
		return -1;
	return set_current(it, it->nblock - 1);
}
