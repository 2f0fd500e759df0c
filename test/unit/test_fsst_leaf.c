/*-------------------------------------------------------------------------
 *
 * test_fsst_leaf.c
 *	  Tests of the FSST leaf prototype (fsst_leaf.c), which fst_measure
 *	  uses for M1: the symbol table's round trip on any bytes, and runs of
 *	  test/data's paths with several restart intervals and unit sizes
 *	  giving back every key both ways, at every seek, and across turns.
 *
 *-------------------------------------------------------------------------
 */
#include "fsst_leaf.h"
#include "unit_check.h"

/* The lines of ../data/debian-paths.txt, sorted, distinct, concatenated. */
typedef struct Keys
{
	char	   *text;
	size_t	   *off;
	size_t	   *len;
	size_t		n;
} Keys;

static const char *sort_text;

static int
cmp_line(const void *a, const void *b)
{
	const size_t *x = a;
	const size_t *y = b;
	const char *p = sort_text + x[0];
	const char *q = sort_text + y[0];
	size_t		lx = x[1],
				ly = y[1];
	int			c = memcmp(p, q, lx < ly ? lx : ly);

	return c != 0 ? c : (lx > ly) - (lx < ly);
}

static Keys
read_keys(void)
{
	FILE	   *fp = fopen("../data/debian-paths.txt", "rb");
	Keys		k = {0};
	size_t		cap = 0,
				tl = 0,
				n = 0,
				s = 0,
				i,
				m;
	size_t	   *pairs;

	CHECK(fp != NULL, "cannot open ../data/debian-paths.txt");
	if (fp == NULL)
		return k;
	for (;;)
	{
		size_t		got;

		if (tl + 65536 > cap)
		{
			cap = cap ? cap * 2 : 1 << 20;
			k.text = realloc(k.text, cap);
		}
		got = fread(k.text + tl, 1, cap - tl, fp);
		if (got == 0)
			break;
		tl += got;
	}
	fclose(fp);
	pairs = malloc(sizeof(size_t) * 2 * (tl + 1));
	for (i = 0; i < tl; i++)
		if (k.text[i] == '\n')
		{
			pairs[2 * n] = s;
			pairs[2 * n + 1] = i - s;
			n++;
			s = i + 1;
		}
	sort_text = k.text;
	qsort(pairs, n, 2 * sizeof(size_t), cmp_line);
	k.off = malloc(sizeof(size_t) * (n + 1));
	k.len = malloc(sizeof(size_t) * (n + 1));
	for (i = 0, m = 0; i < n; i++)
	{
		if (m > 0 && cmp_line(&pairs[2 * i], &pairs[2 * (i - 1)]) == 0)
			continue;
		k.off[m] = pairs[2 * i];
		k.len[m] = pairs[2 * i + 1];
		m++;
	}
	k.n = m;
	free(pairs);
	return k;
}

/* Random strings, some of bytes the table has never seen, round trip. */
static void
test_round_trip(const Keys *k)
{
	const uint8_t **s = malloc(sizeof(uint8_t *) * k->n);
	uint32_t   *l = malloc(sizeof(uint32_t) * k->n);
	FsstTable  *t = malloc(sizeof(FsstTable));
	uint8_t		in[300],
				enc[600],
				out[300 + 8];
	size_t		i;
	int			r;

	for (i = 0; i < k->n; i++)
	{
		s[i] = (const uint8_t *) k->text + k->off[i];
		l[i] = (uint32_t) k->len[i];
	}
	fsst_table_build(t, s, l, k->n);
	CHECK(t->nsym > 100 && t->nsym <= FSST_MAX_SYMS, "table has %u symbols",
		  t->nsym);
	for (r = 0; r < 2000; r++)
	{
		size_t		n = rndn(300);
		size_t		e;
		int64_t		d;

		for (i = 0; i < n; i++)
			in[i] = r % 2 ? (uint8_t) rnd() :
				(uint8_t) k->text[k->off[r] + i % (k->len[r] ? k->len[r] : 1)];
		e = fsst_encode(t, in, n, enc);
		CHECK(e <= 2 * n, "encoded %zu bytes to %zu", n, e);
		d = fsst_decode(t, enc, e, out, n);
		CHECK(d == (int64_t) n && memcmp(in, out, n) == 0,
			  "round trip of %zu bytes gave %lld", n, (long long) d);
		/* room one byte short, and a cut-off escape, are refused */
		if (n > 0)
			CHECK(fsst_decode(t, enc, e, out, n - 1) < 0,
				  "decode past its room");
	}
	enc[0] = FSST_ESC;
	CHECK(fsst_decode(t, enc, 1, out, 300) < 0, "escape at the end");
	free(s);
	free(l);
	free(t);
}

/* One run: both ways, each key sought, between keys, turns. */
static void
test_run(const Keys *k, uint32_t unit_bytes, uint32_t restart)
{
	FsstRun		run;
	FsstIter	it;
	size_t		i;
	int			rc;
	uint8_t    *bound = malloc(4096 + 2);

	rc = fsst_run_build(&run, k->text, k->off, k->len, k->n, unit_bytes,
						restart);
	CHECK(rc == 0, "build, unit %u restart %u", unit_bytes, restart);
	if (rc != 0)
		return;
	CHECK(run.nunits > 1 && run.used <= run.nunits * (size_t) unit_bytes,
		  "unit %u: %zu units", unit_bytes, run.nunits);
	fsst_iter_init(&it, &run);
	rc = fsst_iter_seek(&it, FST_SEEK_FIRST, NULL, 0);
	for (i = 0; rc == 1; i++)
	{
		if (i >= k->n || it.ordinal != i || it.keylen != k->len[i] ||
			memcmp(it.key, k->text + k->off[i], k->len[i]) != 0)
			break;
		rc = fsst_iter_next(&it);
	}
	CHECK(rc == 0 && i == k->n, "unit %u restart %u: forward stopped at %zu",
		  unit_bytes, restart, i);
	rc = fsst_iter_seek(&it, FST_SEEK_LAST, NULL, 0);
	for (i = k->n; rc == 1; i--)
	{
		if (i == 0 || it.ordinal != i - 1 || it.keylen != k->len[i - 1] ||
			memcmp(it.key, k->text + k->off[i - 1], k->len[i - 1]) != 0)
			break;
		rc = fsst_iter_prev(&it);
	}
	CHECK(rc == 0 && i == 0, "unit %u restart %u: backward stopped at %zu",
		  unit_bytes, restart, i);
	for (i = 0; i < k->n; i++)
	{
		size_t		l = k->len[i];

		/* the key itself */
		rc = fsst_iter_seek(&it, FST_SEEK_GE,
							(const uint8_t *) k->text + k->off[i], l);
		CHECK(rc == 1 && it.ordinal == i && it.keylen == l &&
			  memcmp(it.key, k->text + k->off[i], l) == 0,
			  "unit %u restart %u: seek %zu", unit_bytes, restart, i);
		/* a step back and forth from there */
		if (i > 0 && i % 7 == 0)
		{
			CHECK(fsst_iter_prev(&it) == 1 && it.ordinal == i - 1 &&
				  it.keylen == k->len[i - 1] &&
				  fsst_iter_next(&it) == 1 && it.ordinal == i &&
				  it.keylen == l &&
				  memcmp(it.key, k->text + k->off[i], l) == 0,
				  "turn at %zu", i);
		}
		/* just above it: the next key, or none */
		memcpy(bound, k->text + k->off[i], l);
		bound[l] = 0;
		rc = fsst_iter_seek(&it, FST_SEEK_GE, bound, l + 1);
		if (i + 1 < k->n)
			CHECK(rc == 1 && it.ordinal == i + 1 && it.keylen == k->len[i + 1],
				  "seek above %zu gave %d at %llu", i, rc,
				  (unsigned long long) it.ordinal);
		else
			CHECK(rc == 0, "seek above the last key");
	}
	CHECK(fsst_iter_seek(&it, FST_SEEK_GE, (const uint8_t *) "", 0) == 1 &&
		  it.ordinal == 0, "seek of the empty bound");
	CHECK(fsst_iter_seek(&it, FST_SEEK_GE, (const uint8_t *) "\xff", 1) == 0,
		  "seek above everything");
	fsst_iter_free(&it);
	fsst_run_free(&run);
	free(bound);
}

int
main(void)
{
	Keys		k = read_keys();
	static const uint32_t restarts[] = {0, 1, 7, 32};
	size_t		i;

	if (k.n > 0)
	{
		test_round_trip(&k);
		for (i = 0; i < 4; i++)
		{
			test_run(&k, 8152, restarts[i]);
			test_run(&k, 1024, restarts[i]);
		}
	}
	free(k.text);
	free(k.off);
	free(k.len);
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
