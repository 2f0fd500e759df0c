/*-------------------------------------------------------------------------
 *
 * fuzz_fst.c
 *	  libFuzzer target for the FST and posting lists.
 *
 * The first input byte picks a mode:
 *	  0..3	keys: the rest is split at 0 bytes into keys, sorted and
 *			deduplicated, built into an FST (with a registry size taken from
 *			the mode; packed by fst_pack in modes 2, 3 and 5) and checked
 *			against the sorted array: lookups, iteration both ways, seeks
 *			with every operator.
 *	  4..5	corruption: keys as above, then the image is damaged at
 *			positions/values taken from the input's tail and read with every
 *			operation; must terminate without memory errors.
 *	  Every image is read both through a copying page source and straight
 *	  from memory.
 *	  6		raw FST image: the rest is the image itself (magic numbers,
 *			size and checksum are fixed up so the node decoder is reached;
 *			a bit of the trailer makes it a packed image, another a version
 *			3 image whose top start is the 8 bytes before the trailer).
 *	  7		raw postings image (fixed up likewise, with a consistent table).
 *	  8		postings round trip: lists derived from the input.
 *	  9..11	top region (version 3): the next byte u sets unit_bytes to
 *			1 + 4u, and when u & 2 the share window (FstBuildOptions.
 *			share_window) to the same; the rest are keys as in modes
 *			0..3.  9 builds a plain
 *			image, 10 packs it (with the builder's map when u is odd), both
 *			checked like modes 0..3; 11 packs when u is odd and damages the
 *			image as modes 4..5 do, and also its top start (any value, the
 *			checksum fixed), which the reader must refuse or survive.
 *
 *-------------------------------------------------------------------------
 */
#include "fst.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void *
f_alloc(void *arg, size_t size)
{
	(void) arg;
	return malloc(size ? size : 1);
}

static void *
f_realloc(void *arg, void *ptr, size_t oldsize, size_t newsize)
{
	(void) arg;
	(void) oldsize;
	return realloc(ptr, newsize ? newsize : 1);
}

static void
f_free(void *arg, void *ptr)
{
	(void) arg;
	free(ptr);
}

static const FstAllocator falloc = {f_alloc, f_realloc, f_free, NULL};

typedef struct Buf
{
	uint8_t    *data;
	size_t		len;
	size_t		cap;
} Buf;

static int
buf_sink(void *arg, const uint8_t *data, size_t len)
{
	Buf		   *b = arg;

	if (b->len + len > b->cap)
	{
		size_t		nc = b->cap ? b->cap : 1024;

		while (nc < b->len + len)
			nc *= 2;
		b->data = realloc(b->data, nc);
		b->cap = nc;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

/* Copying source that traps any read outside the image. */
typedef struct PageSrc
{
	const uint8_t *data;
	uint64_t	size;
} PageSrc;

static const uint8_t *
page_read(void *arg, uint64_t off, size_t len, uint8_t *buf)
{
	PageSrc    *s = arg;

	if (off > s->size || len > s->size - off || len > FST_MAX_NODE_BYTES)
		__builtin_trap();
	memcpy(buf, s->data + off, len);
	return buf;
}

typedef struct Key
{
	const uint8_t *b;
	size_t		len;
} Key;

static int
keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t		n = alen < blen ? alen : blen;
	int			c = n ? memcmp(a, b, n) : 0;

	if (c)
		return c;
	return alen < blen ? -1 : (alen > blen ? 1 : 0);
}

static int
keycmp_q(const void *x, const void *y)
{
	const Key  *a = x;
	const Key  *b = y;

	return keycmp(a->b, a->len, b->b, b->len);
}

static size_t
split_keys(const uint8_t *d, size_t size, Key *k)
{
	size_t		n = 0,
				i,
				m = 0,
				start = 0;

	for (i = 0; i <= size; i++)
		if (i == size || d[i] == 0)
		{
			k[n].b = d + start;
			k[n].len = i - start;
			n++;
			start = i + 1;
		}
	qsort(k, n, sizeof(Key), keycmp_q);
	for (i = 0; i < n; i++)
		if (m == 0 || keycmp_q(&k[m - 1], &k[i]) != 0)
			k[m++] = k[i];
	return m;
}

static size_t
model_bound(const Key *k, size_t n, const uint8_t *b, size_t blen, bool strict)
{
	size_t		lo = 0,
				hi = n;

	while (lo < hi)
	{
		size_t		mid = (lo + hi) / 2;
		int			c = keycmp(k[mid].b, k[mid].len, b, blen);

		if (c < 0 || (strict && c == 0))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
expect_at(FstCursor *c, int rc, const Key *k, size_t n, size_t idx)
{
	if (idx >= n)
	{
		if (rc != 0)
			__builtin_trap();
		return;
	}
	if (rc != 1 || c->ordinal != idx ||
		keycmp(c->key, c->keylen, k[idx].b, k[idx].len) != 0)
		__builtin_trap();
}

/*
 * Run every reader operation, reading the image through src; with a model,
 * check the answers.
 */
static void
exercise_source(const FstSource *srcp, const Key *k, size_t n, bool check)
{
	FstSource	src = *srcp;
	FstReader  *r = malloc(sizeof(FstReader));
	FstCursor  *c = malloc(sizeof(FstCursor));
	size_t		i;
	uint64_t	steps;
	int			rc;

	if (fst_reader_open(r, &src) != 0)
	{
		if (check)
			__builtin_trap();
		free(r);
		free(c);
		return;
	}
	fst_cursor_init(c, r, &falloc);
	for (i = 0; i < n; i++)
	{
		uint64_t	ord;

		rc = fst_lookup(r, k[i].b, k[i].len, &ord);
		if (check && (rc != 1 || ord != i))
			__builtin_trap();
	}
	steps = 0;
	rc = fst_cursor_seek(c, FST_SEEK_FIRST, NULL, 0);
	while (rc == 1)
	{
		if (check)
			expect_at(c, rc, k, n, steps);
		if (++steps > r->nkeys)
			__builtin_trap();
		rc = fst_cursor_next(c);
	}
	if (check && (rc != 0 || steps != n))
		__builtin_trap();
	steps = 0;
	rc = fst_cursor_seek(c, FST_SEEK_LAST, NULL, 0);
	while (rc == 1)
	{
		if (check)
			expect_at(c, rc, k, n, n - 1 - steps);
		if (++steps > r->nkeys)
			__builtin_trap();
		rc = fst_cursor_prev(c);
	}
	for (i = 0; i < n; i++)
	{
		/* bounds: each key and each key minus its last byte */
		int			v;

		for (v = 0; v < 2; v++)
		{
			size_t		blen = k[i].len - (v && k[i].len ? 1 : 0);
			size_t		lb = model_bound(k, n, k[i].b, blen, false);
			size_t		ub = model_bound(k, n, k[i].b, blen, true);
			int			op;

			for (op = FST_SEEK_GE; op <= FST_SEEK_LT; op++)
			{
				size_t		e;

				rc = fst_cursor_seek(c, (FstSeekOp) op, k[i].b, blen);
				e = op == FST_SEEK_GE ? lb : op == FST_SEEK_GT ? ub :
					op == FST_SEEK_LE ? (ub ? ub - 1 : n) : (lb ? lb - 1 : n);
				if (check)
					expect_at(c, rc, k, n, e);
				rc = fst_cursor_next(c);
				if (check && e < n)
					expect_at(c, rc, k, n, e + 1);
			}
		}
	}
	{
		char		err[FST_ERRMSG_LEN];

		rc = fst_verify(r, NULL, &falloc, NULL, err);
		if (check && rc != 0)
			__builtin_trap();
	}
	fst_cursor_free(c);
	free(c);
	free(r);
}

/*
 * exercise_source through the copying page source, then straight from
 * memory (fst_memory_read, whose windows span the whole image) on a copy
 * of exactly the image's size, so that any read outside it is caught.
 */
static void
exercise(const uint8_t *img, size_t size, const Key *k, size_t n, bool check)
{
	PageSrc		ps = {img, size};
	FstSource	src = {page_read, &ps, size};
	uint8_t    *copy = malloc(size ? size : 1);

	exercise_source(&src, k, n, check);
	memcpy(copy, img, size);
	src.read = fst_memory_read;
	src.arg = copy;
	exercise_source(&src, k, n, check);
	free(copy);
}

static void
fuzz_postings_image(const uint8_t *img, size_t size)
{
	PageSrc		ps = {img, size};
	FstSource	src = {page_read, &ps, size};
	FstPostings p;
	uint64_t	o;

	if (fst_postings_open(&p, &src) != 0)
		return;
	for (o = 0; o < p.nkeys && o < 200; o++)
	{
		FstPostingsIter it;
		FstTid	   *out;
		uint64_t	got = 0;
		int64_t		m;

		if (fst_postings_seek(&p, &it, o) != 0)
			continue;
		/*
		 * Like the server, size the buffer by the count: the reader must
		 * have bounded it by the list's bytes (fst.h), and the list must
		 * not decode past it.
		 */
		if (it.count > 1 + 4 * (uint64_t) size || it.count > p.ntids)
			__builtin_trap();
		out = malloc(sizeof(FstTid) * (it.count + 1));
		while (got < it.count &&
			   (m = fst_postings_next(&it, out + got, it.count - got)) > 0)
			got += (uint64_t) m;
		free(out);
	}
}

static void
fuzz_postings_roundtrip(const uint8_t *d, size_t size)
{
	Buf			out = {0};
	FstPostingsWriter *w = fst_postings_writer_create(&falloc, buf_sink, &out);
	FstTid		tids[64];
	size_t		i = 0;
	uint64_t	nkeys = 0;
	size_t		keystart[512];
	size_t		keylen[512];
	FstTid		all[512 * 8];
	size_t		nall = 0;

	/* each 4-byte chunk: list length (0..7), then blocks and offsets */
	while (i + 4 <= size && nkeys < 512)
	{
		uint32_t	n = d[i] % 8;
		uint32_t	blk = (uint32_t) d[i + 1] << 8 | d[i + 2];
		uint32_t	j;

		keystart[nkeys] = nall;
		for (j = 0; j < n; j++)
		{
			tids[j].bi_hi = (uint16_t) (blk >> 16);
			tids[j].bi_lo = (uint16_t) blk;
			tids[j].offset = (uint16_t) (d[i + 3] + j * (d[i] >> 3));
			if (j > 0 && tids[j].offset <= tids[j - 1].offset)
			{
				blk += 1 + (d[i + 3] & 7);
				tids[j].bi_hi = (uint16_t) (blk >> 16);
				tids[j].bi_lo = (uint16_t) blk;
			}
			all[nall++] = tids[j];
		}
		keylen[nkeys] = n;
		if (fst_postings_add(w, tids, n) != 0)
			__builtin_trap();
		nkeys++;
		i += 4;
	}
	if (fst_postings_finish(w, NULL) != 0)
		__builtin_trap();
	fst_postings_writer_destroy(w);
	{
		PageSrc		ps = {out.data, out.len};
		FstSource	src = {page_read, &ps, out.len};
		FstPostings p;
		uint64_t	o;

		if (fst_postings_open(&p, &src) != 0)
			__builtin_trap();
		for (o = 0; o < nkeys; o++)
		{
			FstPostingsIter it;
			FstTid		got[8];

			if (fst_postings_seek(&p, &it, o) != 0 || it.count != keylen[o] ||
				fst_postings_next(&it, got, 8) != (int64_t) keylen[o] ||
				memcmp(got, all + keystart[o], keylen[o] * sizeof(FstTid)) != 0)
				__builtin_trap();
		}
	}
	free(out.data);
}

static uint32_t
fnv32(uint32_t h, const uint8_t *p, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
	{
		h ^= p[i];
		h *= 0x01000193u;
	}
	return h;
}

static void
put_le(uint8_t *p, uint64_t v, int n)
{
	int			i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

/*
 * Make the magic numbers, version, size and checksum of a raw FST image
 * right, so that the fuzzer's bytes reach the node decoder; root, key
 * count and max key length stay as the fuzzer wrote them.
 */
static void
fix_fst_image(uint8_t *img, size_t size)
{
	uint8_t    *t;
	bool		top;
	bool		packed;
	size_t		tail;
	uint32_t	h;

	if (size < FST_PREAMBLE_SIZE + FST_TRAILER_SIZE)
		return;
	t = img + size - FST_TRAILER_SIZE;
	/* version 3 images have a top start before the trailer */
	top = (t[16] & 4) &&
		size >= FST_PREAMBLE_SIZE + FST_TOP_FIELD_SIZE + FST_TRAILER_SIZE;
	tail = FST_TRAILER_SIZE + (top ? FST_TOP_FIELD_SIZE : 0);
	/* packed images have a code table before that */
	packed = (t[16] & 2) &&
		size >= FST_PREAMBLE_SIZE + FST_CODE_TABLE_SIZE + tail;
	if (packed)
		tail += FST_CODE_TABLE_SIZE;
	put_le(img, FST_MAGIC, 4);
	put_le(img + 4, top ? FST_VERSION_TOP :
		   packed ? FST_VERSION_PACKED : FST_VERSION, 2);
	put_le(t, FST_TRAILER_MAGIC, 4);
	put_le(t + 4, top ? FST_VERSION_TOP :
		   packed ? FST_VERSION_PACKED : FST_VERSION, 2);
	if (top)
	{
		uint64_t	nodes_end = size - tail;

		put_le(img + 6, packed ? FST_FLAG_PACKED : 0, 2);
		put_le(t + 6, packed ? FST_FLAG_PACKED : 0, 2);
		if ((t[17] & 4) && nodes_end > FST_PREAMBLE_SIZE)
		{
			/* the root last, the top start somewhere in the node area */
			uint8_t    *f = t - FST_TOP_FIELD_SIZE;
			uint64_t	at = 0;
			int			i;

			put_le(t + 8, nodes_end - 1, 8);
			for (i = 0; i < 8; i++)
				at |= (uint64_t) f[i] << (8 * i);
			put_le(f, FST_PREAMBLE_SIZE + 1 +
				   at % (nodes_end - FST_PREAMBLE_SIZE), 8);
		}
	}
	put_le(t + 24, size, 8);
	if (t[17] & 1)
		put_le(t + 18, 0, 6);	/* often a plausible key count */
	h = fnv32(fnv32(0x811c9dc5u, t, 36), img, FST_PREAMBLE_SIZE);
	if (packed)
		h = fnv32(h, img + size - tail, FST_CODE_TABLE_SIZE);
	if (top)
		h = fnv32(h, t - FST_TOP_FIELD_SIZE, FST_TOP_FIELD_SIZE);
	put_le(t + 36, h, 4);
}

/*
 * Set the top start of the version 3 image img[0..size) (packed or not)
 * and fix its checksum.
 */
static void
set_top_start(uint8_t *img, size_t size, uint64_t top, bool packed)
{
	uint8_t    *t = img + size - FST_TRAILER_SIZE;
	uint8_t    *f = t - FST_TOP_FIELD_SIZE;
	uint32_t	h;

	put_le(f, top, 8);
	h = fnv32(fnv32(0x811c9dc5u, t, 36), img, FST_PREAMBLE_SIZE);
	if (packed)
		h = fnv32(h, f - FST_CODE_TABLE_SIZE, FST_CODE_TABLE_SIZE);
	h = fnv32(h, f, FST_TOP_FIELD_SIZE);
	put_le(t + 36, h, 4);
}

/* The same for a raw postings image, with a consistent group table. */
static void
fix_postings_image(uint8_t *img, size_t size)
{
	uint8_t    *t;
	int			tw;
	uint64_t	room;
	uint64_t	nkeys;
	uint64_t	ngroups;

	if (size < FST_POSTINGS_PREAMBLE_SIZE + FST_POSTINGS_TRAILER_SIZE)
		return;
	t = img + size - FST_POSTINGS_TRAILER_SIZE;
	tw = 1 + t[6] % 3;
	room = size - FST_POSTINGS_PREAMBLE_SIZE - FST_POSTINGS_TRAILER_SIZE;
	nkeys = ((uint64_t) t[8] | (uint64_t) t[9] << 8) %
		(room / tw * FST_POSTINGS_GROUP + 1);
	ngroups = (nkeys + FST_POSTINGS_GROUP - 1) / FST_POSTINGS_GROUP;
	put_le(img, FST_POSTINGS_MAGIC, 4);
	put_le(img + 4, FST_VERSION, 2);
	put_le(img + 6, 0, 2);
	put_le(t, FST_POSTINGS_TRAILER_MAGIC, 4);
	put_le(t + 4, FST_VERSION, 2);
	t[6] = (uint8_t) tw;
	t[7] = 0;
	put_le(t + 8, nkeys, 8);
	put_le(t + 24, size - FST_POSTINGS_TRAILER_SIZE - ngroups * tw, 8);
	put_le(t + 32, size, 8);
	put_le(t + 44, fnv32(0x811c9dc5u, t, 44), 4);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t		mode;
	uint8_t		unit = 0;
	Key		   *k;
	size_t		n;
	Buf			img = {0};

	if (size < 1)
		return 0;
	mode = data[0] % 12;
	data++;
	size--;
	if (mode >= 9)
	{
		if (size < 1)
			return 0;
		unit = data[0];
		data++;
		size--;
	}
	if (mode == 6)
	{
		uint8_t    *img2 = malloc(size + 1);

		memcpy(img2, data, size);
		fix_fst_image(img2, size);
		exercise(img2, size, NULL, 0, false);
		free(img2);
		return 0;
	}
	if (mode == 7)
	{
		uint8_t    *img2 = malloc(size + 1);

		memcpy(img2, data, size);
		fix_postings_image(img2, size);
		fuzz_postings_image(img2, size);
		free(img2);
		return 0;
	}
	if (mode == 8)
	{
		fuzz_postings_roundtrip(data, size);
		return 0;
	}

	{
		size_t		cut = size;
		FstBuildOptions opts = {0};
		FstBuilder *b;
		FstPackMap *map;
		size_t		i;
		bool		damage = (mode == 4 || mode == 5 || mode == 11);
		bool		pack = (mode == 2 || mode == 3 || mode == 5 ||
							mode == 10 || (mode == 11 && (unit & 1)));

		/* in corruption mode the last 16 bytes say what to damage */
		if (damage && size >= 16)
			cut = size - 16;
		k = malloc(sizeof(Key) * (cut + 1));
		n = split_keys(data, cut, k);
		opts.registry_bytes = (mode & 1) ? 2048 : 65536;
		/* modes 2 and 5 pack with the builder's map, 3 without */
		opts.pack_map = (mode == 2 || mode == 5 ||
						 (mode >= 10 && (unit & 1)));
		if (mode >= 9)
			opts.unit_bytes = 1 + 4 * (uint64_t) unit;
		/* suffixes shared only near the output's end, for some units */
		if (mode >= 9 && (unit & 2))
			opts.share_window = opts.unit_bytes;
		b = fst_builder_create(&falloc, buf_sink, &img, &opts);
		for (i = 0; i < n; i++)
			if (fst_builder_add(b, k[i].b, k[i].len) != 0)
				__builtin_trap();
		if (fst_builder_finish(b, NULL) != 0)
			__builtin_trap();
		map = fst_builder_take_pack_map(b);
		fst_builder_destroy(b);
		if (pack)
		{
			Buf			packed = {0};
			char		err[FST_ERRMSG_LEN];

			if (fst_pack(img.data, img.len, map, &falloc, buf_sink, &packed,
						 NULL, err) != 0)
				__builtin_trap();
			free(img.data);
			img = packed;
		}
		fst_pack_map_free(&falloc, map);

		if (!damage)
			exercise(img.data, img.len, k, n, true);
		else if (cut < size)
		{
			const uint8_t *t = data + cut;
			int			j;

			if (mode == 11 && (t[0] & 1))
			{
				/* a top start anywhere (often near the real one) */
				uint64_t	v = 0;

				for (j = 0; j < 8; j++)
					v |= (uint64_t) t[8 + j] << (8 * j);
				if (t[0] & 2)
					v = img.len - FST_TRAILER_SIZE - FST_TOP_FIELD_SIZE -
						(pack ? FST_CODE_TABLE_SIZE : 0) - v % 64;
				set_top_start(img.data, img.len, v, pack);
			}
			else
				for (j = 0; j < 16; j += 4)
				{
					size_t		pos = ((size_t) t[j] << 16 |
									   (size_t) t[j + 1] << 8 |
									   t[j + 2]) % img.len;

					img.data[pos] ^= t[j + 3];
				}
			exercise(img.data, img.len, k, n, false);
		}
		free(k);
		free(img.data);
	}
	return 0;
}
