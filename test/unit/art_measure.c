/*
 * art_measure.c
 *	  Measure the ART on a key set: arena bytes per key and the time of
 *	  insert, lookup and a full walk.
 *
 *	  build/art_measure [FILE]     keys one per line (stdin without FILE);
 *	                               each key gets one distinct synthetic TID.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "art.h"

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec * 1e9 + (double) ts.tv_nsec;
}

static ArenaPtr
m_alloc(void *arg, size_t size)
{
	return arena_alloc(arg, size);
}

static void
m_free(void *arg, ArenaPtr p, size_t size)
{
	arena_free(arg, p, size);
}

static bool
count_visit(const uint8_t *key, size_t keylen, const ArtTid *tids,
			uint32_t ntids, void *arg)
{
	(void) key;
	(void) tids;
	*(uint64_t *) arg += keylen + ntids;
	return true;
}

int
main(int argc, char **argv)
{
	FILE	   *f = argc > 1 ? fopen(argv[1], "r") : stdin;
	char	   *data = NULL;
	size_t		datalen = 0,
				datacap = 0,
				nkeys = 0,
				i,
				keybytes = 0,
				arena_size;
	size_t	   *off;
	size_t	   *len;
	void	   *base;
	ArtAllocator a;
	ArtTree		tree;
	double		t0,
				t_ins,
				t_look,
				t_walk;
	uint64_t	sink = 0;
	size_t		bad = 0;

	if (f == NULL)
	{
		perror(argv[1]);
		return 1;
	}
	for (;;)
	{
		size_t		n;

		if (datacap - datalen < 1 << 20)
		{
			datacap = datacap ? datacap * 2 : 1 << 24;
			data = realloc(data, datacap);
			if (data == NULL)
				return 1;
		}
		n = fread(data + datalen, 1, datacap - datalen, f);
		if (n == 0)
			break;
		datalen += n;
	}
	for (i = 0; i < datalen; i++)
		nkeys += data[i] == '\n';
	if (datalen > 0 && data[datalen - 1] != '\n')
		nkeys++;
	off = malloc((nkeys + 1) * sizeof(size_t));
	len = malloc((nkeys + 1) * sizeof(size_t));
	nkeys = 0;
	{
		size_t		start = 0;

		for (i = 0; i <= datalen; i++)
			if (i == datalen ? i > start : data[i] == '\n')
			{
				off[nkeys] = start;
				len[nkeys] = i - start;
				keybytes += i - start;
				nkeys++;
				start = i + 1;
			}
	}

	arena_size = (size_t) 256 << 20;
	if (arena_size < nkeys * 400)
		arena_size = nkeys * 400;
	base = malloc(arena_size);
	if (base == NULL)
		return 1;
	arena_init(base, arena_size);
	memset(&a, 0, sizeof(a));	/* retire = NULL: freed at once */
	a.base = base;
	a.alloc = m_alloc;
	a.free = m_free;
	a.arg = base;
	memset(&tree, 0, sizeof(tree));

	t0 = now_ns();
	for (i = 0; i < nkeys; i++)
	{
		ArtTid		t;
		ArtResult	r;

		t.bi_hi = (uint16_t) (i >> 16);
		t.bi_lo = (uint16_t) i;
		t.offset = 1;
		r = art_insert(&tree, &a, (const uint8_t *) data + off[i], len[i], &t);
		if (r == ART_BAD_KEY)
			bad++;
		else if (r != ART_OK)
		{
			fprintf(stderr, "insert failed at key %zu\n", i);
			return 1;
		}
	}
	t_ins = now_ns() - t0;

	t0 = now_ns();
	for (i = 0; i < nkeys; i++)
	{
		const ArtTid *tids;

		sink += art_lookup(&tree, &a, (const uint8_t *) data + off[i], len[i], &tids);
	}
	t_look = now_ns() - t0;

	t0 = now_ns();
	art_walk(&tree, &a, NULL, NULL, false, count_visit, &sink);
	t_walk = now_ns() - t0;

	{
		char		err[256];

		if (!art_check(&tree, &a, arena_size, err, sizeof(err)))
		{
			fprintf(stderr, "art_check: %s\n", err);
			return 1;
		}
	}

	printf("keys           %zu (%llu distinct, %zu rejected)\n", nkeys,
		   (unsigned long long) tree.nkeys, bad);
	printf("key bytes/key  %.1f\n", nkeys ? (double) keybytes / nkeys : 0.0);
	printf("total bytes    %llu\n", (unsigned long long) tree.bytes);
	printf("bytes/key      %.2f\n", tree.nkeys ? (double) tree.bytes / tree.nkeys : 0.0);
	printf("insert ns/key  %.0f\n", nkeys ? t_ins / nkeys : 0.0);
	printf("lookup ns/key  %.0f\n", nkeys ? t_look / nkeys : 0.0);
	printf("walk ns/key    %.0f\n", tree.nkeys ? t_walk / tree.nkeys : 0.0);
	if (sink == 0 && nkeys > 0)
		printf("(nothing found?)\n");
	art_free_all(&tree, &a);
	if (arena_bytes_used(base) != 0)
	{
		fprintf(stderr, "arena not empty after art_free_all\n");
		return 1;
	}
	free(base);
	free(off);
	free(len);
	free(data);
	return 0;
}
