/*-------------------------------------------------------------------------
 *
 * fst_measure.c
 *	  Size and speed of the FST and posting lists on a real key set.
 *
 * usage: fst_measure [-r registry_bytes] [-p rows_per_page] [-n builds]
 *					  [-b] [-u] [-m] [file]
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
 *-------------------------------------------------------------------------
 */
#include "fst.h"

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
