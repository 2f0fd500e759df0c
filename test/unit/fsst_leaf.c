/*-------------------------------------------------------------------------
 *
 * fsst_leaf.c
 *	  FSST-coded, front-coded leaf units: a measurement prototype for M1
 *	  (see fsst_leaf.h).  Plain C; allocation by malloc, failures abort
 *	  (a measurement tool, not server code).
 *
 *-------------------------------------------------------------------------
 */
#include "fsst_leaf.h"

#include <stdio.h>
#include <stdlib.h>

static void *
xalloc(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
		abort();
	return p;
}

static void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (p == NULL)
		abort();
	return p;
}

/* Eight bytes at p (p has at least `have` bytes), zero padded. */
static inline uint64_t
load8(const uint8_t *p, size_t have)
{
	uint64_t	v = 0;

	memcpy(&v, p, have < 8 ? have : 8);
	return v;
}

static inline uint64_t
mask_len(uint32_t len)
{
	return len >= 8 ? UINT64_MAX : (((uint64_t) 1 << (8 * len)) - 1);
}

/* Index the table's codes by first byte, longest first (for the encoder). */
static void
table_index(FsstTable *t)
{
	uint32_t	count[257] = {0};
	uint32_t	c,
				b;

	for (c = 0; c < t->nsym; c++)
		count[(uint8_t) t->sym[c]]++;
	t->first_start[0] = 0;
	for (b = 0; b < 256; b++)
		t->first_start[b + 1] = (uint16_t) (t->first_start[b] + count[b]);
	memset(count, 0, sizeof(count));
	/* insertion by length, 8 down to 1 */
	for (b = 8; b >= 1; b--)
		for (c = 0; c < t->nsym; c++)
			if (t->len[c] == b)
			{
				uint8_t		f = (uint8_t) t->sym[c];

				t->by_first[t->first_start[f] + count[f]++] = (uint8_t) c;
			}
}

/*
 * The longest symbol matching at in[0..have): its code, or -1 (then the
 * byte is escaped).  *len gets the symbol's length.
 */
static inline int
longest_match(const FsstTable *t, const uint8_t *in, size_t have,
			  uint32_t *len)
{
	uint64_t	w = load8(in, have);
	uint32_t	i;

	for (i = t->first_start[in[0]]; i < t->first_start[in[0] + 1]; i++)
	{
		uint8_t		c = t->by_first[i];

		if (t->len[c] <= have && ((w ^ t->sym[c]) & mask_len(t->len[c])) == 0)
		{
			*len = t->len[c];
			return c;
		}
	}
	*len = 1;
	return -1;
}

size_t
fsst_encode(const FsstTable *t, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t		pos = 0,
				o = 0;

	while (pos < len)
	{
		uint32_t	l;
		int			c = longest_match(t, in + pos, len - pos, &l);

		if (c >= 0)
			out[o++] = (uint8_t) c;
		else
		{
			out[o++] = FSST_ESC;
			out[o++] = in[pos];
		}
		pos += l;
	}
	return o;
}

size_t
fsst_table_bytes(const FsstTable *t)
{
	size_t		n = 1 + t->nsym;
	uint32_t	c;

	for (c = 0; c < t->nsym; c++)
		n += t->len[c];
	return n;
}

/* A candidate symbol of the table's construction. */
typedef struct Cand
{
	uint64_t	sym;
	uint32_t	len;
	uint64_t	gain;
} Cand;

static int
cand_by_gain(const void *a, const void *b)
{
	const Cand *x = a,
			   *y = b;

	if (x->gain != y->gain)
		return x->gain < y->gain ? 1 : -1;
	if (x->len != y->len)
		return x->len < y->len ? 1 : -1;
	return x->sym < y->sym ? -1 : x->sym > y->sym;
}

static int
cand_by_sym(const void *a, const void *b)
{
	const Cand *x = a,
			   *y = b;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	return x->sym < y->sym ? -1 : x->sym > y->sym;
}

/*
 * Build the table in five generations.  Each encodes the sample with the
 * table so far, counting every symbol used (a byte without a symbol
 * counts as itself, ids 0..255; symbols are 256 + code) and every pair of
 * consecutive ones; the candidates are the symbols used and the
 * concatenations of pairs (up to 8 bytes), each worth count * length
 * bytes; the 255 worth most form the next table.
 */
void
fsst_table_build(FsstTable *t, const uint8_t *const *strs,
				 const uint32_t *lens, size_t n)
{
	uint32_t   *c1 = xalloc(sizeof(uint32_t) * 512);
	uint32_t   *c2 = xalloc(sizeof(uint32_t) * 512 * 512);
	Cand	   *cand = xalloc(sizeof(Cand) * (512 + 512 * 512));
	int			gen;

	memset(t, 0, sizeof(FsstTable));
	table_index(t);
	for (gen = 0; gen < 5; gen++)
	{
		size_t		i,
					nc = 0,
					j,
					k;
		uint32_t	a,
					b;

		memset(c1, 0, sizeof(uint32_t) * 512);
		memset(c2, 0, sizeof(uint32_t) * 512 * 512);
		for (i = 0; i < n; i++)
		{
			const uint8_t *s = strs[i];
			size_t		pos = 0;
			int			prev = -1;

			while (pos < lens[i])
			{
				uint32_t	l;
				int			c = longest_match(t, s + pos, lens[i] - pos, &l);
				int			id = c >= 0 ? 256 + c : s[pos];

				c1[id]++;
				if (c >= 0 && l > 1)
					c1[s[pos]]++;	/* its first byte, as a candidate too */
				if (prev >= 0)
					c2[prev * 512 + id]++;
				prev = id;
				pos += l;
			}
		}
		/* the candidates: ids used, and pairs of them */
		for (a = 0; a < 512; a++)
		{
			uint64_t	sa;
			uint32_t	la;

			if (a < 256)
				sa = a, la = 1;
			else if (a - 256 < t->nsym)
				sa = t->sym[a - 256], la = t->len[a - 256];
			else
				continue;
			if (c1[a] > 0)
			{
				cand[nc].sym = sa;
				cand[nc].len = la;
				cand[nc].gain = (uint64_t) c1[a] * la;
				nc++;
			}
			for (b = 0; b < 512; b++)
			{
				uint64_t	sb;
				uint32_t	lb;
				uint32_t	cnt = c2[a * 512 + b];

				if (cnt == 0)
					continue;
				if (b < 256)
					sb = b, lb = 1;
				else
					sb = t->sym[b - 256], lb = t->len[b - 256];
				if (la + lb > 8)
					lb = 8 - la;	/* the pair's head, as FSST does */
				if (lb == 0)
					continue;
				cand[nc].sym = sa | ((sb & mask_len(lb)) << (8 * la));
				cand[nc].len = la + lb;
				cand[nc].gain = (uint64_t) cnt * (la + lb);
				nc++;
			}
		}
		/* merge equal symbols (gains add up), then keep the best 255 */
		qsort(cand, nc, sizeof(Cand), cand_by_sym);
		for (j = 0, k = 0; j < nc; j++)
		{
			if (k > 0 && cand[k - 1].len == cand[j].len &&
				cand[k - 1].sym == cand[j].sym)
				cand[k - 1].gain += cand[j].gain;
			else
				cand[k++] = cand[j];
		}
		qsort(cand, k, sizeof(Cand), cand_by_gain);
		t->nsym = k < FSST_MAX_SYMS ? (uint32_t) k : FSST_MAX_SYMS;
		for (j = 0; j < t->nsym; j++)
		{
			t->sym[j] = cand[j].sym;
			t->len[j] = (uint8_t) cand[j].len;
		}
		table_index(t);
	}
	free(c1);
	free(c2);
	free(cand);
}

/* ------------------------------------------------------------------ run */

static size_t
put_varint(uint8_t *p, uint64_t v)
{
	size_t		n = 0;

	while (v >= 0x80)
	{
		p[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t) v;
	return n;
}

static inline bool
get_varint(const uint8_t **p, const uint8_t *end, uint32_t *v)
{
	uint32_t	x = 0;
	int			shift = 0;
	uint8_t		byte;

	do
	{
		if (*p >= end || shift > 28)
			return false;
		byte = *(*p)++;
		x |= (uint32_t) (byte & 0x7f) << shift;
		shift += 7;
	} while (byte & 0x80);
	*v = x;
	return true;
}

static inline uint16_t
get16(const uint8_t *p)
{
	return (uint16_t) (p[0] | p[1] << 8);
}

static inline void
put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
}

/* One unit being filled. */
typedef struct UnitFill
{
	uint8_t    *entries;		/* unit_bytes */
	size_t		elen;
	uint32_t	nkeys;
	uint32_t	rest[8192];
	uint32_t	nrest;
} UnitFill;

/* Write the filled unit out as the run's next unit. */
static void
unit_flush(FsstRun *run, UnitFill *f, size_t *cap)
{
	uint8_t    *u;
	size_t		hdr = 4 + 2 * (size_t) f->nrest;
	uint32_t	i;

	if (run->nunits == *cap)
	{
		*cap = *cap ? *cap * 2 : 1024;
		run->units = xrealloc(run->units, *cap * run->unit_bytes);
	}
	u = run->units + run->nunits * run->unit_bytes;
	memset(u, 0, run->unit_bytes);
	put16(u, f->nkeys);
	put16(u + 2, f->nrest);
	for (i = 0; i < f->nrest; i++)
		put16(u + 4 + 2 * i, (uint32_t) (hdr + f->rest[i]));
	memcpy(u + hdr, f->entries, f->elen);
	run->used += hdr + f->elen;
	run->nunits++;
	f->elen = 0;
	f->nkeys = 0;
	f->nrest = 0;
}

int
fsst_run_build(FsstRun *run, const char *text, const size_t *off,
			   const size_t *len, size_t n, uint32_t unit_bytes,
			   uint32_t restart)
{
	const uint8_t **sample;
	uint32_t   *slen;
	size_t		ns = 0,
				stride,
				i,
				cap = 0,
				max_key = 0;
	uint8_t    *enc;
	UnitFill   *f = xalloc(sizeof(UnitFill));

	memset(run, 0, sizeof(FsstRun));
	run->unit_bytes = unit_bytes;
	run->restart = restart;
	run->nkeys = n;
	for (i = 0; i < n; i++)
		if (len[i] > max_key)
			max_key = len[i];
	run->max_key_len = (uint32_t) max_key;

	/* the sample: front-coded suffixes of about 64K keys spread evenly */
	stride = n / 65536 + 1;
	sample = xalloc(sizeof(uint8_t *) * (n / stride + 1));
	slen = xalloc(sizeof(uint32_t) * (n / stride + 1));
	for (i = 0; i < n; i += stride)
	{
		size_t		l = 0;

		if (i > 0)
			while (l < len[i] && l < len[i - 1] &&
				   text[off[i] + l] == text[off[i - 1] + l])
				l++;
		sample[ns] = (const uint8_t *) text + off[i] + l;
		slen[ns++] = (uint32_t) (len[i] - l);
	}
	fsst_table_build(&run->table, sample, slen, ns);
	free(sample);
	free(slen);

	enc = xalloc(2 * max_key + 32);
	f->entries = xalloc(unit_bytes);
	f->elen = f->nkeys = f->nrest = 0;
	run->first_ord = xalloc(sizeof(uint64_t) * (n + 2));
	run->fk_off = xalloc(sizeof(size_t) * (n + 2));
	run->fk = NULL;
	for (i = 0; i < n; i++)
	{
		const uint8_t *k = (const uint8_t *) text + off[i];
		int			attempt;

		for (attempt = 0; attempt < 2; attempt++)
		{
			bool		rs = f->nkeys == 0 ||
				(restart > 0 && f->nkeys % restart == 0);
			size_t		l = 0,
						el,
						need;
			uint8_t		hdr[10];
			size_t		hl;

			if (!rs)
				while (l < len[i] && l < len[i - 1] &&
					   k[l] == (uint8_t) text[off[i - 1] + l])
					l++;
			el = fsst_encode(&run->table, k + l, len[i] - l, enc);
			hl = put_varint(hdr, l);
			hl += put_varint(hdr + hl, el);
			need = 4 + 2 * ((size_t) f->nrest + (rs ? 1 : 0)) + f->elen +
				hl + el;
			if (need > unit_bytes)
			{
				if (f->nkeys == 0)
				{
					fprintf(stderr, "fsst: key %zu does not fit a unit\n", i);
					return -1;
				}
				unit_flush(run, f, &cap);
				continue;
			}
			if (f->nkeys == 0)
			{
				/* a new unit: its index entry */
				size_t		u = run->nunits;

				run->first_ord[u] = i;
				run->fk_off[u] = u == 0 ? 0 : run->fk_off[u];
				run->fk = xrealloc(run->fk, run->fk_off[u] + len[i]);
				memcpy(run->fk + run->fk_off[u], k, len[i]);
				run->fk_off[u + 1] = run->fk_off[u] + len[i];
				run->index_bytes += el + 8;
			}
			if (rs)
				f->rest[f->nrest++] = (uint32_t) f->elen;
			memcpy(f->entries + f->elen, hdr, hl);
			memcpy(f->entries + f->elen + hl, enc, el);
			f->elen += hl + el;
			f->nkeys++;
			break;
		}
	}
	if (f->nkeys > 0)
		unit_flush(run, f, &cap);
	run->first_ord[run->nunits] = n;
	free(enc);
	free(f->entries);
	free(f);
	return 0;
}

void
fsst_run_free(FsstRun *run)
{
	free(run->units);
	free(run->first_ord);
	free(run->fk);
	free(run->fk_off);
}

/* ----------------------------------------------------------------- iter */

void
fsst_iter_init(FsstIter *it, const FsstRun *run)
{
	memset(it, 0, sizeof(FsstIter));
	it->run = run;
	it->kbuf = xalloc((size_t) run->max_key_len + 16);
}

void
fsst_iter_free(FsstIter *it)
{
	free(it->kbuf);
	free(it->gbuf);
	free(it->gstart);
}

/* Enter unit u: header read, p at its first entry. */
static int
enter_unit(FsstIter *it, size_t u)
{
	const FsstRun *run = it->run;

	it->unit = u;
	it->u = run->units + u * run->unit_bytes;
	it->nkeys = get16(it->u);
	it->nrest = get16(it->u + 2);
	if (it->nkeys == 0 || it->nrest == 0 ||
		4 + 2 * (size_t) it->nrest > run->unit_bytes)
		return -1;
	it->p = it->u + 4 + 2 * (size_t) it->nrest;
	it->idx = UINT32_MAX;
	it->group_mode = false;
	return 0;
}

/* Decode the entry at it->p into kbuf (holding the key before it). */
static inline int
decode_entry(FsstIter *it)
{
	const uint8_t *end = it->u + it->run->unit_bytes;
	uint32_t	lcp,
				el;
	int64_t		got;

	if (!get_varint(&it->p, end, &lcp) || !get_varint(&it->p, end, &el) ||
		el > (size_t) (end - it->p) || lcp > it->keylen)
		return -1;
	got = fsst_decode(&it->run->table, it->p, el, it->kbuf + lcp,
					  it->run->max_key_len - lcp);
	if (got < 0)
		return -1;
	it->p += el;
	it->keylen = lcp + (uint32_t) got;
	it->key = it->kbuf;
	return 0;
}

/* Step forward; 1, 0 at the end, -1 if malformed. */
int
fsst_iter_next(FsstIter *it)
{
	if (!it->positioned)
		return 0;
	if (it->group_mode)
	{
		/* after backward steps: restart from the current key's group */
		uint32_t	target = it->idx + 1;
		uint32_t	r = 0,
					i;

		if (target < it->nkeys)
		{
			if (it->run->restart > 0)
				r = target / it->run->restart;
			it->p = it->u + get16(it->u + 4 + 2 * r);
			it->keylen = 0;
			for (i = r * (it->run->restart ? it->run->restart : 0);
				 i <= target; i++)
				if (decode_entry(it) != 0)
					return -1;
			it->group_mode = false;
			it->idx = target;
			it->ordinal++;
			return 1;
		}
		it->group_mode = false;
	}
	if (it->idx + 1 >= it->nkeys)
	{
		if (it->unit + 1 >= it->run->nunits)
		{
			it->positioned = false;
			return 0;
		}
		if (enter_unit(it, it->unit + 1) != 0)
			return -1;
		it->keylen = 0;
	}
	if (decode_entry(it) != 0)
		return -1;
	it->idx = it->idx == UINT32_MAX || it->idx + 1 >= it->nkeys ? 0 :
		it->idx + 1;
	it->ordinal++;
	return 1;
}

/*
 * Decode the restart group holding unit key `idx` of the current unit into
 * gbuf, each key whole.
 */
static int
decode_group(FsstIter *it, uint32_t idx)
{
	uint32_t	R = it->run->restart ? it->run->restart : it->nkeys;
	uint32_t	r = idx / R;
	uint32_t	first = r * R;
	uint32_t	last = first + R < it->nkeys ? first + R : it->nkeys;
	uint32_t	i;
	size_t		need = (size_t) (last - first) * it->run->max_key_len + 16;

	if (r >= it->nrest)
		return -1;
	if (need > it->gcap)
	{
		it->gcap = need;
		it->gbuf = xrealloc(it->gbuf, need);
	}
	if (last - first + 1 > it->gcapn)
	{
		it->gcapn = last - first + 1;
		it->gstart = xrealloc(it->gstart, sizeof(uint32_t) * it->gcapn);
	}
	it->p = it->u + get16(it->u + 4 + 2 * r);
	it->keylen = 0;
	it->gstart[0] = 0;
	for (i = first; i < last; i++)
	{
		size_t		at = it->gstart[i - first];

		if (decode_entry(it) != 0)
			return -1;
		memcpy(it->gbuf + at, it->kbuf, it->keylen);
		it->gstart[i - first + 1] = (uint32_t) (at + it->keylen);
	}
	it->gfirst = first;
	it->gn = last - first;
	it->group_mode = true;
	return 0;
}

static inline void
group_current(FsstIter *it)
{
	uint32_t	g = it->idx - it->gfirst;

	it->key = it->gbuf + it->gstart[g];
	it->keylen = it->gstart[g + 1] - it->gstart[g];
}

/* Step backward; 1, 0 at the start, -1 if malformed. */
int
fsst_iter_prev(FsstIter *it)
{
	if (!it->positioned)
		return 0;
	if (it->idx == 0)
	{
		if (it->unit == 0)
		{
			it->positioned = false;
			return 0;
		}
		if (enter_unit(it, it->unit - 1) != 0)
			return -1;
		it->idx = it->nkeys;
	}
	it->idx--;
	if (!it->group_mode || it->idx < it->gfirst ||
		it->idx >= it->gfirst + it->gn)
	{
		if (decode_group(it, it->idx) != 0)
			return -1;
	}
	group_current(it);
	it->ordinal--;
	return 1;
}

static inline int
keycmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	int			c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

/* Position; see fsst_leaf.h. */
int
fsst_iter_seek(FsstIter *it, FstSeekOp op, const uint8_t *bound, size_t len)
{
	const FsstRun *run = it->run;
	size_t		lo,
				hi,
				u;
	uint32_t	rlo,
				rhi,
				i;

	it->positioned = false;
	if (run->nunits == 0)
		return 0;
	if (op == FST_SEEK_FIRST)
	{
		if (enter_unit(it, 0) != 0)
			return -1;
		it->keylen = 0;
		if (decode_entry(it) != 0)
			return -1;
		it->idx = 0;
		it->ordinal = 0;
		it->positioned = true;
		return 1;
	}
	if (op == FST_SEEK_LAST)
	{
		if (enter_unit(it, run->nunits - 1) != 0)
			return -1;
		it->idx = it->nkeys - 1;
		if (decode_group(it, it->idx) != 0)
			return -1;
		group_current(it);
		it->ordinal = run->nkeys - 1;
		it->positioned = true;
		return 1;
	}
	if (op != FST_SEEK_GE)
		return -1;
	/* the last unit whose first key is <= bound (or the first) */
	lo = 0;
	hi = run->nunits;
	while (hi - lo > 1)
	{
		size_t		mid = (lo + hi) / 2;

		if (keycmp(run->fk + run->fk_off[mid],
				   run->fk_off[mid + 1] - run->fk_off[mid], bound, len) <= 0)
			lo = mid;
		else
			hi = mid;
	}
	u = lo;
	if (enter_unit(it, u) != 0)
		return -1;
	/* the last restart whose key is <= bound */
	rlo = 0;
	rhi = it->nrest;
	while (rhi - rlo > 1)
	{
		uint32_t	mid = (rlo + rhi) / 2;

		it->p = it->u + get16(it->u + 4 + 2 * mid);
		it->keylen = 0;
		if (decode_entry(it) != 0)
			return -1;
		if (keycmp(it->kbuf, it->keylen, bound, len) <= 0)
			rlo = mid;
		else
			rhi = mid;
	}
	it->p = it->u + get16(it->u + 4 + 2 * rlo);
	it->keylen = 0;
	for (i = run->restart ? rlo * run->restart : 0; i < it->nkeys; i++)
	{
		if (decode_entry(it) != 0)
			return -1;
		if (keycmp(it->kbuf, it->keylen, bound, len) >= 0)
		{
			it->idx = i;
			it->ordinal = run->first_ord[u] + i;
			it->positioned = true;
			return 1;
		}
	}
	/* all keys of the unit are below bound: the next unit's first */
	if (u + 1 >= run->nunits)
		return 0;
	if (enter_unit(it, u + 1) != 0)
		return -1;
	it->keylen = 0;
	if (decode_entry(it) != 0)
		return -1;
	it->idx = 0;
	it->ordinal = run->first_ord[u + 1];
	it->positioned = true;
	return 1;
}
