/*-------------------------------------------------------------------------
 *
 * fst_measure.c
 *	  Size and speed of the FST and posting lists on a real key set.
 *
 * usage: fst_measure [-r registry_bytes] [-p rows_per_page] [-n builds]
 *					  [-b] [-u] [-m] [-T unit_bytes [-W window] [-L] [-D] [-K]
 *					  [-F restarts] [-R repeats]] [file]
 *
 * Reads sorted unique keys, one per line, from file or stdin.  Gives every
 * key one TID, as a table holding the keys in random order would: the
 * tuples are numbered block by block (rows_per_page, by default estimated
 * from the average key length) and dealt to the keys in a random
 * permutation.  Builds the FST and the postings, then reports sizes and
 * the CPU time per key of building, exact lookup (keys in random order, image
 * read through a copying page-like source), full forward and backward
 * iteration, and posting list fetch.  -n builds the FST that many times and
 * reports the median build time (the machine may be shared); -b stops after
 * building and checking the FST (no postings, no timing of the readers).
 * The FST is packed (fst_pack, counted in the build time) unless -u.
 * -m reads the images straight from memory (fst_memory_read, as scans of a
 * shared copy do) instead of through the page-like source.
 *
 * -T unit_bytes measures the top region (fst.h, "TOP REGION") instead:
 * the FST is built without one and with units of unit_bytes (both packed
 * unless -u), and for each image it reports the size, the top region's
 * size and nodes, the leaf units (count, largest), the build time, and
 * for lookups of every key in random order: the distinct pages of
 * MEASURE_PAGE bytes holding the nodes each lookup decodes (the image
 * taken to start at a page boundary), in all, outside the top region,
 * and "cold" ones (touched by fewer than 1% of the lookups), and the
 * time per lookup and per key of full forward and backward iteration.
 * With -L also the leaf-unit decoder (fst_unit_decode): every unit (the
 * whole image, without a top region) decoded into a block of front-coded
 * keys and each key read back from it, forward and backward, ns per key;
 * the walk of the top region that lists the units is timed apart.
 * With -W window also a third image: the top region, and suffixes shared
 * only within `window` bytes of the output's end (FstBuildOptions.
 * share_window).
 *
 *-------------------------------------------------------------------------
 */
#include "fst.h"
#include "fst_node.h"			/* -T walks lookups node by node */
#include "keyblocks.h"
#include "fsst_leaf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void *
m_alloc(void *arg, size_t size)
{
	void	   *p = malloc(size ? size : 1);

	(void) arg;
	if (!p)
		abort();
	return p;
}

static void *
m_realloc(void *arg, void *ptr, size_t oldsize, size_t newsize)
{
	void	   *p = realloc(ptr, newsize ? newsize : 1);

	(void) arg;
	(void) oldsize;
	if (!p)
		abort();
	return p;
}

static void
m_free(void *arg, void *ptr)
{
	(void) arg;
	free(ptr);
}

static const FstAllocator malloc_alloc = {m_alloc, m_realloc, m_free, NULL};

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
		size_t		nc = b->cap ? b->cap : 65536;

		while (nc < b->len + len)
			nc *= 2;
		b->data = realloc(b->data, nc);
		if (!b->data)
			abort();
		b->cap = nc;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

/* Like reading index pages: copy out of 8 KB pages. */
static const uint8_t *
page_read(void *arg, uint64_t off, size_t len, uint8_t *buf)
{
	const uint8_t *base = arg;

	if ((off >> 13) == ((off + len - 1) >> 13))
		return base + off;		/* within one page: point into it */
	memcpy(buf, base + off, len);
	return buf;
}

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* qsort comparator for doubles, ascending. */
static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/*
 * For -b: check that iterating the image gives exactly the input keys with
 * ordinals 0..n-1, print size and build times (min, median, max).
 */
static int
check_build(uint8_t *img, size_t imglen, const char *text, const size_t *off,
			const size_t *len, size_t n, const FstInfo *info,
			const double *t_builds, int nbuilds)
{
	FstReader  *r = malloc(sizeof(FstReader));
	FstCursor  *c = malloc(sizeof(FstCursor));
	FstSource	src;
	size_t		i;
	int			rc;

	src.read = page_read;
	src.arg = img;
	src.size = imglen;
	if (fst_reader_open(r, &src) != 0)
	{
		fprintf(stderr, "open: %s\n", r->errmsg);
		return 1;
	}
	fst_cursor_init(c, r, &malloc_alloc);
	rc = fst_cursor_seek(c, FST_SEEK_FIRST, NULL, 0);
	for (i = 0; rc == 1; i++)
	{
		if (i >= n || c->ordinal != i || c->keylen != len[i] ||
			memcmp(c->key, text + off[i], len[i]) != 0)
		{
			fprintf(stderr, "iteration: key %zu differs\n", i);
			return 1;
		}
		rc = fst_cursor_next(c);
	}
	if (rc != 0 || i != n)
	{
		fprintf(stderr, "iteration failed: %s\n", c->errmsg);
		return 1;
	}
	fst_cursor_free(c);
	free(c);
	free(r);
	printf("keys %zu  nodes %llu  shared %llu\n", n,
		   (unsigned long long) info->nodes,
		   (unsigned long long) info->registry_hits);
	printf("fst %zu B (%.2f B/key)  build fst ns/key min %.0f median %.0f "
		   "max %.0f (%d builds)\n",
		   imglen, (double) imglen / n, t_builds[0] / n,
		   t_builds[nbuilds / 2] / n, t_builds[nbuilds - 1] / n, nbuilds);
	return 0;
}

static uint64_t rnd(void);

/* Bytes of an image per page: a run page's stream (page.h's chunk). */
#define MEASURE_PAGE	8152

/* The pages one lookup touched: all, and those of leaf-region nodes. */
typedef struct PageSet
{
	uint64_t	all[256];
	int			nall;
	uint64_t	leaf[256];
	int			nleaf;
	uint64_t	unit[256];		/* of nodes in the lookup's own unit */
	int			nunit;
	uint64_t	below[256];		/* of nodes below it (shared suffixes) */
	int			nbelow;
} PageSet;

/* The leaf units' last bytes, ascending (-T with a top region). */
static uint64_t *unit_ends;
static size_t nunit_ends;

/* Add the pages of bytes [lo, hi] to a set (once each). */
static void
page_add(uint64_t *set, int *n, uint64_t lo, uint64_t hi)
{
	uint64_t	p;
	int			i;

	for (p = lo / MEASURE_PAGE; p <= hi / MEASURE_PAGE; p++)
	{
		for (i = 0; i < *n; i++)
			if (set[i] == p)
				break;
		if (i == *n && *n < 256)
			set[(*n)++] = p;
	}
}

/*
 * Walk the lookup of key as fst_lookup does, noting the pages of every
 * node it decodes.  Returns 1 if found, 0 if not, -1 on error.
 */
static int
lookup_pages(FstReader *r, const uint8_t *key, size_t klen, PageSet *ps)
{
	uint64_t	addr = r->root;
	FstWindow	win;
	size_t		j = 0;
	Node		nd;

	uint64_t	unit_lo = UINT64_MAX;	/* bytes above it: the unit's */

	ps->nall = ps->nleaf = ps->nunit = ps->nbelow = 0;
	window_start(r, &win);
	for (;;)
	{
		uint64_t	real = addr & FST_ADDR_MASK;
		uint32_t	i;
		uint64_t	out;

		if (fst_node_read(r, &win, addr, &nd, r->buf, r->errmsg) != 0)
			return -1;
		page_add(ps->all, &ps->nall, nd.start, real);
		if (real < r->top_start)
		{
			page_add(ps->leaf, &ps->nleaf, nd.start, real);
			if (unit_lo == UINT64_MAX)
			{
				/* the unit ending here starts after the one before */
				size_t		lo = 0,
							hi = nunit_ends;

				while (lo < hi)
				{
					size_t		mid = (lo + hi) / 2;

					if (unit_ends[mid] < real)
						lo = mid + 1;
					else
						hi = mid;
				}
				unit_lo = lo > 0 ? unit_ends[lo - 1] : FST_PREAMBLE_SIZE - 1;
			}
			if (real > unit_lo)
				page_add(ps->unit, &ps->nunit, nd.start, real);
			else
				page_add(ps->below, &ps->nbelow, nd.start, real);
		}
		if (j == klen)
			return nd.final ? 1 : 0;
		if (nd.chain)
		{
			for (i = 0; i < nd.chain_n; i++, j++)
				if (j == klen || key[j] != nd.chain_labels[i])
					return 0;
			addr = nd.chain_next[nd.chain_n - 1];
			continue;
		}
		i = node_lower_bound(&nd, key[j]);
		if (i == nd.n || fst_node_label(&nd, i) != key[j])
			return 0;
		if (fst_node_trans(&nd, i, &addr, &out, r->errmsg) != 0)
			return -1;
		j++;
	}
}

/* Build the FST of keys 0..n-1 with these options; returns the image. */
static Buf
build_image(const char *text, const size_t *off, const size_t *len, size_t n,
			FstBuildOptions *opts, bool pack, FstInfo *info, double *ns)
{
	Buf			img = {0};
	FstBuilder *b;
	double		t0 = now_ns();
	size_t		i;

	opts->pack_map = pack;
	b = fst_builder_create(&malloc_alloc, buf_sink, &img, opts);
	for (i = 0; i < n; i++)
		if (fst_builder_add(b, (const uint8_t *) text + off[i], len[i]) != 0)
		{
			fprintf(stderr, "key %zu: %s\n", i, fst_builder_error(b));
			exit(1);
		}
	if (fst_builder_finish(b, info) != 0)
	{
		fprintf(stderr, "finish: %s\n", fst_builder_error(b));
		exit(1);
	}
	if (pack)
	{
		Buf			packed = {0};
		char		err[FST_ERRMSG_LEN];
		FstPackMap *map = fst_builder_take_pack_map(b);
		uint64_t	top_nodes = info->top_nodes;

		if (fst_pack(img.data, img.len, map, &malloc_alloc, buf_sink,
					 &packed, info, err) != 0)
		{
			fprintf(stderr, "pack: %s\n", err);
			exit(1);
		}
		info->top_nodes = top_nodes;
		fst_pack_map_free(&malloc_alloc, map);
		free(img.data);
		img = packed;
	}
	*ns = now_ns() - t0;
	fst_builder_destroy(b);
	return img;
}

static int	cmp_u64(const void *a, const void *b);

/*
 * The leaf units of an image with a top region: the distinct leaf-region
 * targets of its top nodes, each unit the bytes after the previous one up
 * to it.  Sets the count and the largest.
 */
static void
leaf_units(FstReader *r, uint64_t *units, uint64_t *max_unit)
{
	uint64_t   *t = NULL;
	size_t		nt = 0,
				cap = 0,
				i;
	uint64_t	addr,
				prev;
	FstWindow	win;
	Node		nd;

	*units = *max_unit = 0;
	if (r->nkeys == 0 || r->top_start == r->nodes_end)
		return;
	window_start(r, &win);
	for (addr = r->root; addr >= r->top_start; addr = nd.start - 1)
	{
		uint32_t	k;

		if (fst_node_read(r, &win, addr, &nd, r->buf, r->errmsg) != 0)
			break;
		for (k = 0; k < nd.n; k++)
		{
			uint64_t	target,
						out;

			if (nd.chain)
				target = nd.chain_next[nd.chain_n - 1];
			else if (fst_node_trans(&nd, k, &target, &out, r->errmsg) != 0)
				break;
			if (target >= r->top_start)
				continue;
			if (nt == cap)
			{
				cap = cap ? 2 * cap : 1024;
				t = realloc(t, sizeof(uint64_t) * cap);
			}
			t[nt++] = target;
		}
		if (nd.start <= r->top_start)
			break;
	}
	qsort(t, nt, sizeof(uint64_t), cmp_u64);
	prev = FST_PREAMBLE_SIZE - 1;
	for (i = 0; i < nt; i++)
		if (t[i] != prev)
		{
			if (t[i] - prev > *max_unit)
				*max_unit = t[i] - prev;
			prev = t[i];
			t[(*units)++] = t[i];
		}
	unit_ends = t;
	nunit_ends = *units;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *) a;
	uint64_t	y = *(const uint64_t *) b;

	return (x > y) - (x < y);
}

/* A piece of the key order: a leaf unit, or the key of a top node. */
typedef struct Piece
{
	uint64_t	addr;			/* unit root; 0: the key prefix itself */
	uint64_t	ord;
	uint32_t	poff;			/* prefix in the list's byte array */
	uint32_t	plen;
} Piece;

typedef struct PieceList
{
	Piece	   *p;
	size_t		n;
	size_t		cap;
	uint8_t    *bytes;
	size_t		nbytes;
	size_t		bcap;
} PieceList;

static void
piece_add(PieceList *l, uint64_t addr, uint64_t ord, const uint8_t *prefix,
		  uint32_t plen)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? 2 * l->cap : 1024;
		l->p = realloc(l->p, sizeof(Piece) * l->cap);
	}
	if (l->nbytes + plen > l->bcap)
	{
		l->bcap = l->bcap ? 2 * l->bcap : 65536;
		while (l->bcap < l->nbytes + plen)
			l->bcap *= 2;
		l->bytes = realloc(l->bytes, l->bcap);
	}
	l->p[l->n].addr = addr;
	l->p[l->n].ord = ord;
	l->p[l->n].poff = (uint32_t) l->nbytes;
	l->p[l->n].plen = plen;
	memcpy(l->bytes + l->nbytes, prefix, plen);
	l->nbytes += plen;
	l->n++;
}

/*
 * The pieces of the key order below node addr, in key order: the top
 * region walked depth first, each transition into the leaf region a unit,
 * each final top node its own key.
 */
static void
top_pieces(FstReader *r, uint64_t addr, uint64_t ord, uint8_t *prefix,
		   uint32_t plen, PieceList *l)
{
	FstWindow	win;
	Node		nd;
	uint32_t	i;

	for (;;)
	{
		if ((addr & FST_ADDR_MASK) < r->top_start)
		{
			piece_add(l, addr, ord, prefix, plen);
			return;
		}
		window_start(r, &win);
		if (fst_node_read(r, &win, addr, &nd, r->buf, r->errmsg) != 0)
			exit(1);
		if (nd.chain)
		{
			for (i = 0; i < nd.chain_n; i++)
				prefix[plen++] = nd.chain_labels[i];
			addr = nd.chain_next[nd.chain_n - 1];
		}
		else if (nd.single)
		{
			prefix[plen++] = nd.label;
			addr = nd.target;
		}
		else
			break;
	}
	if (nd.final)
		piece_add(l, 0, ord, prefix, plen);
	for (i = 0; i < nd.n; i++)
	{
		uint64_t	target,
					out;

		window_start(r, &win);
		if (fst_node_read(r, &win, addr, &nd, r->buf, r->errmsg) != 0 ||
			fst_node_trans(&nd, i, &target, &out, r->errmsg) != 0)
			exit(1);
		prefix[plen] = fst_node_label(&nd, i);
		top_pieces(r, target, ord + out, prefix, plen + 1, l);
	}
}

static int	reps = 1;			/* -R: timing repeats, the median reported */
static bool decoder_only = false;	/* -D: only the decoder, top region on */
static bool measure_kb = false; /* -K: key blocks and seeks beside */
static uint64_t share_window = 0;	/* -W: a third image, sharing only near */

/* The median of reps timings (sorts them). */
static double
median(double *t, int nt)
{
	qsort(t, nt, sizeof(double), cmp_double);
	return t[nt / 2];
}

/* -L: the leaf-unit decoder over a whole image, both ways. */
static void
measure_decoder(const char *name, FstReader *r, size_t n)
{
	PieceList	l = {0};
	uint8_t    *prefix = malloc(r->max_key_len + 1);
	uint8_t    *key = malloc(r->max_key_len + 1);
	FstUnitWalker *w = fst_unit_walker_create(r, &malloc_alloc);
	double		t0,
				t_top,
				t_dir[2][64];
	uint64_t	check = 0;
	uint64_t	maxblock = 0;
	int			dir,
				rep;

	t0 = now_ns();
	top_pieces(r, r->root, 0, prefix, 0, &l);
	t_top = now_ns() - t0;
	for (rep = 0; rep < reps; rep++)
		for (dir = 0; dir < 2; dir++)
		{
			size_t		got = 0;
			size_t		j;

			t0 = now_ns();
			for (j = 0; j < l.n; j++)
			{
				const Piece *pc = &l.p[dir ? l.n - 1 - j : j];
				const FstKeyBlock *b;
				uint64_t	pos = 0;
				uint32_t	keylen = 0;

				if (pc->addr == 0)
				{
					check += pc->plen;
					got++;
					continue;
				}
				if (fst_unit_decode(w, pc->addr, pc->ord, l.bytes + pc->poff,
									pc->plen, dir == 1, &b) != 0)
				{
					fprintf(stderr, "decode: %s\n", fst_unit_walker_error(w));
					exit(1);
				}
				if (b->len > maxblock)
					maxblock = b->len;
				while (fst_key_block_next(b, &pos, key, &keylen,
										  r->max_key_len))
				{
					check += keylen + key[keylen > 0 ? keylen - 1 : 0];
					got++;
				}
			}
			t_dir[dir][rep] = now_ns() - t0;
			if (got != n)
			{
				fprintf(stderr, "decoder gave %zu of %zu keys\n", got, n);
				exit(1);
			}
		}
	printf("%s: leaf-unit decoder ns per key forward %.1f, backward %.1f "
		   "(median of %d; %zu pieces, largest block %llu B; listing them "
		   "%.0f ns/key)%s\n",
		   name, median(t_dir[0], reps) / n, median(t_dir[1], reps) / n,
		   reps, l.n, (unsigned long long) maxblock, t_top / n,
		   check ? "" : " ");
	fst_unit_walker_destroy(w);
	free(l.p);
	free(l.bytes);
	free(prefix);
	free(key);
}

/* Seeks timed per figure: the first NSEEK keys of the permutation. */
#define NSEEK	(1 << 20)

/*
 * -K: the FST cursor's seeks (GE on every sampled key, alone and followed
 * by 19 steps, an ordered LIMIT 20) and 1.x's key blocks on the same keys:
 * size, ns per key forward and backward, the same seeks.  Medians of reps.
 */
static void
measure_baselines(FstReader *r, const char *text, const size_t *off,
				  const size_t *len, size_t n, const size_t *perm)
{
	FstCursor  *c = malloc(sizeof(FstCursor));
	KbBuilder  *kbb = kb_builder_create(&malloc_alloc);
	uint8_t    *kbimg;
	size_t		kbsize;
	KbImage		kb;
	KbIter		it;
	size_t		ns = n < NSEEK ? n : NSEEK;
	double		t0,
				t[6][64];
	uint64_t	check = 0;
	size_t		i;
	int			rep,
				rc,
				k;

	fst_cursor_init(c, r, &malloc_alloc);
	for (i = 0; i < n; i++)
		if (kb_builder_add(kbb, (const uint8_t *) text + off[i], len[i]) != 0)
			exit(1);
	kbsize = kb_builder_size(kbb);
	kbimg = malloc(kbsize);
	kb_builder_finish(kbb, kbimg);
	kb_builder_destroy(kbb);
	if (kb_open(&kb, kbimg, kbsize) != 0)
		exit(1);
	kb_iter_init(&it, &kb, &malloc_alloc);
	for (rep = 0; rep < reps; rep++)
	{
		/* FST cursor: seek, seek + 19 steps */
		for (k = 0; k < 2; k++)
		{
			t0 = now_ns();
			for (i = 0; i < ns; i++)
			{
				size_t		q = perm[i];
				int			s;

				if (fst_cursor_seek(c, FST_SEEK_GE, (const uint8_t *) text +
									off[q], len[q]) != 1 || c->ordinal != q)
				{
					fprintf(stderr, "fst seek %zu failed\n", q);
					exit(1);
				}
				for (s = 0; k == 1 && s < 19; s++)
					if ((rc = fst_cursor_next(c)) != 1)
						break;
				check += c->keylen;
			}
			t[k][rep] = now_ns() - t0;
		}
		/* key blocks: forward, backward, seek, seek + 19 steps */
		t0 = now_ns();
		rc = kb_iter_seek(&it, FST_SEEK_FIRST, NULL, 0);
		for (i = 0; rc == 1; i++)
		{
			check += it.keylen + it.key[it.keylen > 0 ? it.keylen - 1 : 0];
			rc = kb_iter_next(&it);
		}
		t[2][rep] = now_ns() - t0;
		if (rc != 0 || i != n)
			exit(1);
		t0 = now_ns();
		rc = kb_iter_seek(&it, FST_SEEK_LAST, NULL, 0);
		for (i = 0; rc == 1; i++)
		{
			check += it.keylen + it.key[it.keylen > 0 ? it.keylen - 1 : 0];
			rc = kb_iter_prev(&it);
		}
		t[3][rep] = now_ns() - t0;
		if (rc != 0 || i != n)
			exit(1);
		for (k = 0; k < 2; k++)
		{
			t0 = now_ns();
			for (i = 0; i < ns; i++)
			{
				size_t		q = perm[i];
				int			s;

				if (kb_iter_seek(&it, FST_SEEK_GE, (const uint8_t *) text +
								 off[q], len[q]) != 1 || it.ordinal != q)
				{
					fprintf(stderr, "key block seek %zu failed\n", q);
					exit(1);
				}
				for (s = 0; k == 1 && s < 19; s++)
					if (kb_iter_next(&it) != 1)
						break;
				check += it.keylen;
			}
			t[4 + k][rep] = now_ns() - t0;
		}
	}
	printf("fst cursor: ns per seek %.0f, per seek + 19 next %.0f "
		   "(%zu seeks, median of %d)\n",
		   median(t[0], reps) / ns, median(t[1], reps) / ns, ns, reps);
	printf("key blocks: %zu B (%.3f B/key), ns per key forward %.1f, "
		   "backward %.1f, per seek %.0f, per seek + 19 next %.0f "
		   "(median of %d)%s\n",
		   kbsize, (double) kbsize / n, median(t[2], reps) / n,
		   median(t[3], reps) / n, median(t[4], reps) / ns,
		   median(t[5], reps) / ns, reps, check ? "" : " ");
	kb_iter_free(&it);
	free(kbimg);
	fst_cursor_free(c);
	free(c);
}

/* -F: restart intervals of the FSST leaf prototype to measure */
static uint32_t fsst_restarts[8];
static int	nfsst = 0;

/*
 * -F: the FSST leaf prototype (fsst_leaf.h) on the same keys, once per
 * restart interval: size, ns per key forward and backward (checked
 * against the keys once), seeks as measure_baselines.  Medians of reps.
 */
static void
measure_fsst(const char *text, const size_t *off, const size_t *len,
			 size_t n, const size_t *perm)
{
	size_t		ns = n < NSEEK ? n : NSEEK;
	int			v;

	for (v = 0; v < nfsst; v++)
	{
		FsstRun		run;
		FsstIter	it;
		double		t0,
					t_build,
					t[4][64];
		uint64_t	check = 0;
		size_t		i,
					bytes;
		int			rep,
					rc,
					k;

		t0 = now_ns();
		if (fsst_run_build(&run, text, off, len, n, MEASURE_PAGE,
						   fsst_restarts[v]) != 0)
			exit(1);
		t_build = now_ns() - t0;
		fsst_iter_init(&it, &run);
		/* both ways once, checked */
		rc = fsst_iter_seek(&it, FST_SEEK_FIRST, NULL, 0);
		for (i = 0; rc == 1; i++)
		{
			if (i >= n || it.ordinal != i || it.keylen != len[i] ||
				memcmp(it.key, text + off[i], len[i]) != 0)
			{
				fprintf(stderr, "fsst: forward key %zu differs\n", i);
				exit(1);
			}
			rc = fsst_iter_next(&it);
		}
		if (rc != 0 || i != n)
		{
			fprintf(stderr, "fsst: forward gave %zu of %zu keys\n", i, n);
			exit(1);
		}
		rc = fsst_iter_seek(&it, FST_SEEK_LAST, NULL, 0);
		for (i = n; rc == 1; i--)
		{
			if (i == 0 || it.ordinal != i - 1 || it.keylen != len[i - 1] ||
				memcmp(it.key, text + off[i - 1], len[i - 1]) != 0)
			{
				fprintf(stderr, "fsst: backward key %zu differs\n", i - 1);
				exit(1);
			}
			/* a step forward and back again on the way (every 97th key) */
			if (i % 97 == 0 && i < n)
			{
				if (fsst_iter_next(&it) != 1 || it.ordinal != i ||
					memcmp(it.key, text + off[i], len[i]) != 0 ||
					fsst_iter_prev(&it) != 1 || it.ordinal != i - 1)
				{
					fprintf(stderr, "fsst: turn at key %zu failed\n", i);
					exit(1);
				}
			}
			rc = fsst_iter_prev(&it);
		}
		if (rc != 0 || i != 0)
		{
			fprintf(stderr, "fsst: backward stopped at %zu\n", i);
			exit(1);
		}
		for (rep = 0; rep < reps; rep++)
		{
			t0 = now_ns();
			rc = fsst_iter_seek(&it, FST_SEEK_FIRST, NULL, 0);
			for (i = 0; rc == 1; i++)
			{
				check += it.keylen + it.key[it.keylen > 0 ? it.keylen - 1 : 0];
				rc = fsst_iter_next(&it);
			}
			t[0][rep] = now_ns() - t0;
			t0 = now_ns();
			rc = fsst_iter_seek(&it, FST_SEEK_LAST, NULL, 0);
			for (i = 0; rc == 1; i++)
			{
				check += it.keylen + it.key[it.keylen > 0 ? it.keylen - 1 : 0];
				rc = fsst_iter_prev(&it);
			}
			t[1][rep] = now_ns() - t0;
			for (k = 0; k < 2; k++)
			{
				t0 = now_ns();
				for (i = 0; i < ns; i++)
				{
					size_t		q = perm[i];
					int			s;

					if (fsst_iter_seek(&it, FST_SEEK_GE, (const uint8_t *) text +
									   off[q], len[q]) != 1 ||
						it.ordinal != q || it.keylen != len[q])
					{
						fprintf(stderr, "fsst seek %zu failed\n", q);
						exit(1);
					}
					for (s = 0; k == 1 && s < 19; s++)
						if (fsst_iter_next(&it) != 1)
							break;
					check += it.keylen;
				}
				t[2 + k][rep] = now_ns() - t0;
			}
		}
		bytes = run.nunits * (size_t) MEASURE_PAGE + run.index_bytes +
			fsst_table_bytes(&run.table);
		printf("fsst leaf, restart %u: %zu B (%.3f B/key: units %zu x %d B, "
			   "%.1f%% filled; index %zu B, table %zu B, %u symbols), build "
			   "%.0f ns/key; ns per key forward %.1f, backward %.1f, per seek "
			   "%.0f, per seek + 19 next %.0f (median of %d)%s\n",
			   fsst_restarts[v], bytes, (double) bytes / n, run.nunits,
			   MEASURE_PAGE, 100.0 * run.used / (run.nunits * (double) MEASURE_PAGE),
			   run.index_bytes, fsst_table_bytes(&run.table), run.table.nsym,
			   t_build / n, median(t[0], reps) / n, median(t[1], reps) / n,
			   median(t[2], reps) / ns, median(t[3], reps) / ns, reps,
			   check ? "" : " ");
		fsst_iter_free(&it);
		fsst_run_free(&run);
	}
}

static bool measure_decode = false;

/* -T: one image's figures (see the header comment). */
static void
measure_layout(const char *name, const Buf *img, const FstInfo *info,
			   double build_ns, const char *text, const size_t *off,
			   const size_t *len, size_t n, const size_t *perm,
			   bool from_memory)
{
	FstReader  *r = malloc(sizeof(FstReader));
	FstCursor  *c = malloc(sizeof(FstCursor));
	FstSource	src;
	uint32_t   *hits;
	uint64_t	npages = (img->len + MEASURE_PAGE - 1) / MEASURE_PAGE;
	uint64_t	sum_all = 0,
				sum_leaf = 0,
				sum_unit = 0,
				sum_below = 0,
				sum_below_cold = 0,
				sum_cold = 0,
				units,
				max_unit;
	PageSet		ps;
	double		t0,
				t_look,
				t_iter,
				t_back;
	size_t		i;
	int			pass;
	int			rc;

	src.read = from_memory ? fst_memory_read : page_read;
	src.arg = img->data;
	src.size = img->len;
	if (fst_reader_open(r, &src) != 0)
	{
		fprintf(stderr, "open: %s\n", r->errmsg);
		exit(1);
	}
	hits = calloc(npages, sizeof(uint32_t));
	leaf_units(r, &units, &max_unit);
	if (decoder_only)
	{
		printf("%s: fst %zu B (%.3f B/key), leaf units %llu\n", name,
			   img->len, (double) img->len / n, (unsigned long long) units);
		measure_decoder(name, r, n);
		if (measure_kb)
			measure_baselines(r, text, off, len, n, perm);
		measure_fsst(text, off, len, n, perm);
		goto done;
	}
	/* pass 0 counts each page's lookups, pass 1 sums per lookup */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < n; i++)
		{
			size_t		k = perm[i];
			int			p;

			if (lookup_pages(r, (const uint8_t *) text + off[k], len[k],
							 &ps) != 1)
			{
				fprintf(stderr, "page walk of key %zu failed\n", k);
				exit(1);
			}
			if (pass == 0)
			{
				for (p = 0; p < ps.nall; p++)
					hits[ps.all[p]]++;
				continue;
			}
			sum_all += ps.nall;
			sum_leaf += ps.nleaf;
			sum_unit += ps.nunit;
			sum_below += ps.nbelow;
			for (p = 0; p < ps.nall; p++)
				if ((uint64_t) hits[ps.all[p]] * 100 < n)
					sum_cold++;
			for (p = 0; p < ps.nbelow; p++)
				if ((uint64_t) hits[ps.below[p]] * 100 < n)
					sum_below_cold++;
		}
	t0 = now_ns();
	for (i = 0; i < n; i++)
	{
		uint64_t	ord;
		size_t		k = perm[i];

		if (fst_lookup(r, (const uint8_t *) text + off[k], len[k], &ord) != 1 ||
			ord != k)
		{
			fprintf(stderr, "lookup %zu failed: %s\n", k, r->errmsg);
			exit(1);
		}
	}
	t_look = now_ns() - t0;
	fst_cursor_init(c, r, &malloc_alloc);
	t0 = now_ns();
	rc = fst_cursor_seek(c, FST_SEEK_FIRST, NULL, 0);
	for (i = 0; rc == 1; i++)
		rc = fst_cursor_next(c);
	t_iter = now_ns() - t0;
	if (rc != 0 || i != n)
	{
		fprintf(stderr, "iteration failed: %s\n", c->errmsg);
		exit(1);
	}
	t0 = now_ns();
	rc = fst_cursor_seek(c, FST_SEEK_LAST, NULL, 0);
	for (i = 0; rc == 1; i++)
		rc = fst_cursor_prev(c);
	t_back = now_ns() - t0;
	if (rc != 0 || i != n)
	{
		fprintf(stderr, "backward iteration failed: %s\n", c->errmsg);
		exit(1);
	}
	printf("%s: fst %zu B (%.3f B/key), version %u, top region %llu B "
		   "(%.2f%%, %llu nodes, %.1f pages), leaf units %llu (largest "
		   "%llu B), build %.0f ns/key\n",
		   name, img->len, (double) img->len / n, r->version,
		   (unsigned long long) (r->nodes_end - r->top_start),
		   100.0 * (r->nodes_end - r->top_start) / img->len,
		   (unsigned long long) info->top_nodes,
		   (double) (r->nodes_end - r->top_start) / MEASURE_PAGE,
		   (unsigned long long) units, (unsigned long long) max_unit,
		   build_ns / n);
	printf("%s: pages per lookup %.2f, outside the top region %.2f, "
		   "cold (< 1%% of lookups) %.2f; of %llu pages; ns per lookup "
		   "%.0f, per key forward %.0f, backward %.0f\n",
		   name, (double) sum_all / n,
		   r->top_start < r->nodes_end ? (double) sum_leaf / n :
		   (double) sum_all / n, (double) sum_cold / n,
		   (unsigned long long) npages, t_look / n, t_iter / n, t_back / n);
	if (measure_decode)
		measure_decoder(name, r, n);
	if (measure_kb && r->top_start < r->nodes_end)
		measure_baselines(r, text, off, len, n, perm);
	if (r->top_start < r->nodes_end)
		measure_fsst(text, off, len, n, perm);
	if (units > 0)
		printf("%s: of the pages outside the top region, %.2f hold nodes "
			   "of the lookup's own unit, %.2f nodes below it (shared "
			   "suffixes; %.2f of them cold)\n", name,
			   (double) sum_unit / n, (double) sum_below / n,
			   (double) sum_below_cold / n);
	fst_cursor_free(c);
done:
	free(c);
	free(hits);
	free(unit_ends);
	unit_ends = NULL;
	nunit_ends = 0;
	free(r);
}

/* -T: the FST without and with a top region of unit_bytes units. */
static int
measure_top(const char *text, const size_t *off, const size_t *len, size_t n,
			size_t registry, uint64_t unit_bytes, bool pack, bool from_memory)
{
	FstBuildOptions opts = {0};
	FstInfo		info;
	Buf			img;
	double		ns;
	size_t	   *perm = malloc(sizeof(size_t) * (n ? n : 1));
	size_t		i;
	int			with;

	if (n == 0)
		return 1;
	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n; i > 1; i--)
	{
		size_t		j = rnd() % i;
		size_t		t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	opts.registry_bytes = registry;
	printf("keys %zu, unit %llu B, page %d B, %s, %s\n", n,
		   (unsigned long long) unit_bytes, MEASURE_PAGE,
		   pack ? "packed" : "plain",
		   from_memory ? "read from memory" : "read through pages");
	for (with = decoder_only ? 1 : 0; with < (share_window ? 3 : 2); with++)
	{
		opts.unit_bytes = with ? unit_bytes : 0;
		opts.share_window = with == 2 ? share_window : 0;
		img = build_image(text, off, len, n, &opts, pack, &info, &ns);
		measure_layout(with == 2 ? "top region, sharing within the window" :
					   with ? "top region" : "no top region", &img, &info,
					   ns, text, off, len, n, perm, from_memory);
		free(img.data);
	}
	free(perm);
	return 0;
}

static uint64_t rs = 88172645463325252ULL;

static uint64_t
rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 7;
	rs ^= rs << 17;
	return rs;
}

int
main(int argc, char **argv)
{
	FILE	   *in = stdin;
	size_t		registry = 0;
	long		rpp = 0;
	char	   *text = NULL;
	size_t		tlen = 0,
				tcap = 0;
	size_t	   *off;
	size_t	   *len;
	size_t		n = 0,
				i;
	int			a;
	Buf			fimg = {0},
				pimg = {0};
	FstBuildOptions opts = {0};
	FstBuilder *b;
	FstInfo		info;
	FstPostingsWriter *w;
	FstTid	   *tids;
	size_t	   *perm;
	double		t0,
				t1,
				t_build,
				t_post,
				t_look,
				t_iter,
				t_back,
				t_pfetch;
	FstReader  *r;
	FstCursor  *c;
	FstSource	src;
	FstPostings p;
	uint64_t	check = 0;
	int			rc;
	int			nbuilds = 1;
	bool		build_only = false;
	bool		pack = true;
	bool		from_memory = false;
	uint64_t	unit_bytes = 0;
	size_t		plain_size = 0;
	double	   *t_builds;
	double	   *t_plain;

	for (a = 1; a < argc; a++)
	{
		if (strcmp(argv[a], "-r") == 0 && a + 1 < argc)
			registry = strtoull(argv[++a], NULL, 10);
		else if (strcmp(argv[a], "-p") == 0 && a + 1 < argc)
			rpp = atol(argv[++a]);
		else if (strcmp(argv[a], "-n") == 0 && a + 1 < argc)
			nbuilds = atoi(argv[++a]) > 0 ? atoi(argv[a]) : 1;
		else if (strcmp(argv[a], "-b") == 0)
			build_only = true;
		else if (strcmp(argv[a], "-u") == 0)
			pack = false;
		else if (strcmp(argv[a], "-m") == 0)
			from_memory = true;
		else if (strcmp(argv[a], "-L") == 0)
			measure_decode = true;
		else if (strcmp(argv[a], "-D") == 0)
			decoder_only = measure_decode = true;
		else if (strcmp(argv[a], "-F") == 0 && a + 1 < argc)
		{
			char	   *p = argv[++a];

			while (*p && nfsst < 8)
			{
				fsst_restarts[nfsst++] = (uint32_t) strtoul(p, &p, 10);
				if (*p == ',')
					p++;
			}
		}
		else if (strcmp(argv[a], "-K") == 0)
			measure_kb = true;
		else if (strcmp(argv[a], "-R") == 0 && a + 1 < argc)
		{
			reps = atoi(argv[++a]);
			reps = reps < 1 ? 1 : reps > 64 ? 64 : reps;
		}
		else if (strcmp(argv[a], "-T") == 0 && a + 1 < argc)
			unit_bytes = strtoull(argv[++a], NULL, 10);
		else if (strcmp(argv[a], "-W") == 0 && a + 1 < argc)
			share_window = strtoull(argv[++a], NULL, 10);
		else if ((in = fopen(argv[a], "rb")) == NULL)
		{
			perror(argv[a]);
			return 2;
		}
	}

	/* slurp */
	for (;;)
	{
		size_t		got;

		if (tcap - tlen < 1 << 20)
		{
			tcap = tcap ? tcap * 2 : 1 << 24;
			text = realloc(text, tcap);
		}
		got = fread(text + tlen, 1, tcap - tlen, in);
		if (got == 0)
			break;
		tlen += got;
	}
	off = malloc(sizeof(size_t) * (tlen + 1));
	len = malloc(sizeof(size_t) * (tlen + 1));
	{
		size_t		s = 0;

		for (i = 0; i < tlen; i++)
			if (text[i] == '\n')
			{
				off[n] = s;
				len[n] = i - s;
				n++;
				s = i + 1;
			}
		if (s < tlen)
		{
			off[n] = s;
			len[n] = tlen - s;
			n++;
		}
	}
	if (rpp <= 0)
	{
		double		avg = 0;

		for (i = 0; i < n; i++)
			avg += len[i];
		avg = n ? avg / n : 0;
		/* 24-byte tuple header + 4-byte line pointer + padded varlena */
		rpp = (long) (8168 / (28 + 8 * (long) ((avg + 1 + 7) / 8)));
		if (rpp > 291)
			rpp = 291;
	}

	if (unit_bytes > 0)
		return measure_top(text, off, len, n, registry, unit_bytes, pack,
						   from_memory);

	/* FST, built nbuilds times; the image of the last build is kept */
	opts.registry_bytes = registry;
	t_builds = malloc(sizeof(double) * nbuilds);
	t_plain = malloc(sizeof(double) * nbuilds);
	for (a = 0; a < nbuilds; a++)
	{
		fimg.len = 0;
		t0 = now_ns();
		opts.pack_map = pack;
		b = fst_builder_create(&malloc_alloc, buf_sink, &fimg, &opts);
		for (i = 0; i < n; i++)
			if (fst_builder_add(b, (uint8_t *) text + off[i], len[i]) != 0)
			{
				fprintf(stderr, "key %zu: %s\n", i, fst_builder_error(b));
				return 1;
			}
		if (fst_builder_finish(b, &info) != 0)
		{
			fprintf(stderr, "finish: %s\n", fst_builder_error(b));
			return 1;
		}
		t_plain[a] = now_ns() - t0;
		if (pack)
		{
			Buf			packed = {0};
			char		err[FST_ERRMSG_LEN];
			FstPackMap *map = fst_builder_take_pack_map(b);

			plain_size = fimg.len;
			if (fst_pack(fimg.data, fimg.len, map, &malloc_alloc, buf_sink,
						 &packed, &info, err) != 0)
			{
				fprintf(stderr, "pack: %s\n", err);
				return 1;
			}
			fst_pack_map_free(&malloc_alloc, map);
			free(fimg.data);
			fimg = packed;
		}
		t1 = now_ns();
		t_builds[a] = t1 - t0;
		fst_builder_destroy(b);
	}
	qsort(t_builds, nbuilds, sizeof(double), cmp_double);
	t_build = t_builds[nbuilds / 2];
	qsort(t_plain, nbuilds, sizeof(double), cmp_double);
	printf("plain build ns/key median %.0f\n",
		   n ? t_plain[nbuilds / 2] / n : 0.0);

	if (pack)
		printf("plain image %zu B (%.2f B/key), packed %zu B\n", plain_size,
			   n ? (double) plain_size / n : 0.0, fimg.len);
	if (build_only)
		return check_build(fimg.data, fimg.len, text, off, len, n, &info,
						   t_builds, nbuilds);

	/* one TID per key, dealt at random */
	perm = malloc(sizeof(size_t) * (n ? n : 1));
	for (i = 0; i < n; i++)
		perm[i] = i;
	for (i = n; i > 1; i--)
	{
		size_t		j = rnd() % i;
		size_t		t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	tids = malloc(sizeof(FstTid) * (n ? n : 1));
	for (i = 0; i < n; i++)
	{
		uint32_t	blk = (uint32_t) (perm[i] / rpp);

		tids[i].bi_hi = (uint16_t) (blk >> 16);
		tids[i].bi_lo = (uint16_t) blk;
		tids[i].offset = (uint16_t) (perm[i] % rpp + 1);
	}
	t0 = now_ns();
	w = fst_postings_writer_create(&malloc_alloc, buf_sink, &pimg);
	for (i = 0; i < n; i++)
		if (fst_postings_add(w, &tids[i], 1) != 0)
			return 1;
	if (fst_postings_finish(w, NULL) != 0)
		return 1;
	t_post = now_ns() - t0;
	fst_postings_writer_destroy(w);

	/* lookups in random order */
	src.read = from_memory ? fst_memory_read : page_read;
	src.arg = fimg.data;
	src.size = fimg.len;
	r = malloc(sizeof(FstReader));
	if (fst_reader_open(r, &src) != 0)
	{
		fprintf(stderr, "open: %s\n", r->errmsg);
		return 1;
	}
	for (i = n; i > 1; i--)
	{
		size_t		j = rnd() % i;
		size_t		t = perm[i - 1];

		perm[i - 1] = perm[j];
		perm[j] = t;
	}
	t0 = now_ns();
	for (i = 0; i < n; i++)
	{
		uint64_t	ord;
		size_t		k = perm[i];

		if (fst_lookup(r, (uint8_t *) text + off[k], len[k], &ord) != 1 ||
			ord != k)
		{
			fprintf(stderr, "lookup %zu failed: %s\n", k, r->errmsg);
			return 1;
		}
	}
	t_look = now_ns() - t0;

	c = malloc(sizeof(FstCursor));
	fst_cursor_init(c, r, &malloc_alloc);
	t0 = now_ns();
	rc = fst_cursor_seek(c, FST_SEEK_FIRST, NULL, 0);
	for (i = 0; rc == 1; i++)
	{
		check += c->keylen;
		rc = fst_cursor_next(c);
	}
	t_iter = now_ns() - t0;
	if (rc != 0 || i != n)
	{
		fprintf(stderr, "iteration failed: %s\n", c->errmsg);
		return 1;
	}
	t0 = now_ns();
	rc = fst_cursor_seek(c, FST_SEEK_LAST, NULL, 0);
	for (i = 0; rc == 1; i++)
		rc = fst_cursor_prev(c);
	t_back = now_ns() - t0;
	if (rc != 0 || i != n)
	{
		fprintf(stderr, "backward iteration failed: %s\n", c->errmsg);
		return 1;
	}

	src.arg = pimg.data;
	src.size = pimg.len;
	if (fst_postings_open(&p, &src) != 0)
	{
		fprintf(stderr, "postings open: %s\n", p.errmsg);
		return 1;
	}
	t0 = now_ns();
	for (i = 0; i < n; i++)
	{
		FstPostingsIter it;
		FstTid		t;
		size_t		k = perm[i];

		if (fst_postings_seek(&p, &it, k) != 0 ||
			fst_postings_next(&it, &t, 1) != 1 ||
			memcmp(&t, &tids[k], sizeof(FstTid)) != 0)
		{
			fprintf(stderr, "postings %zu failed: %s\n", k, p.errmsg);
			return 1;
		}
	}
	t_pfetch = now_ns() - t0;

	printf("keys %zu  avg key %.1f B  rows/page %ld  nodes %llu  shared %llu\n",
		   n, n ? (double) tlen / n - 1 : 0, rpp,
		   (unsigned long long) info.nodes,
		   (unsigned long long) info.registry_hits);
	printf("fst %zu B (%.2f B/key)  postings %zu B (%.2f B/key)  total %.2f B/key\n",
		   fimg.len, (double) fimg.len / n, pimg.len, (double) pimg.len / n,
		   (double) (fimg.len + pimg.len) / n);
	printf("ns/key: build fst %.0f  build postings %.0f  lookup %.0f  "
		   "iterate %.0f  iterate back %.0f  postings fetch %.0f\n",
		   t_build / n, t_post / n, t_look / n, t_iter / n, t_back / n,
		   t_pfetch / n);
	fst_cursor_free(c);
	free(c);
	free(r);
	return check == 0 && n > 0 && tlen > n ? 1 : 0;
}
