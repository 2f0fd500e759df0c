/*-------------------------------------------------------------------------
 *
 * fst_build.c
 *	  One-pass construction of a minimal acyclic FST from sorted keys.
 *
 * The classic algorithm (Daciuk et al.; the Rust fst crate and Lucene use
 * the same idea): the path of the previous key is kept as a stack of
 * unfinished nodes, one per depth.  When the next key arrives, the part of
 * the stack below the common prefix can never change again, so those nodes
 * are "compiled" deepest first: looked up in a registry of nodes already
 * written (suffix sharing) and written to the sink only if not found.  The
 * registry is a bounded hash table over a bounded ring of node
 * descriptions, so memory does not grow with the number of keys; when it
 * forgets a node the automaton just becomes a little less minimal.  A small
 * second table in front of it holds recently used nodes (frequent suffixes
 * hit there, without a cache miss in the big table), and inserts into the
 * big table are deferred a few nodes so that a prefetch can hide the miss.
 *
 * The byte format is described in fst.h.
 *
 *-------------------------------------------------------------------------
 */
#include "fst.h"
#include "fst_bytes.h"

#include <string.h>

#define OUTBUF_SIZE		65536
#define DESC_MAX		(3 + 256 * 11)
#define REG_WAYS		4
#define HOT_BUCKETS		4096
#define PENDING			16		/* main-table inserts in flight */

#if defined(__GNUC__) || defined(__clang__)
#define FST_PREFETCH(p) __builtin_prefetch(p)
#else
#define FST_PREFETCH(p) ((void) 0)
#endif
#define DEFAULT_REGISTRY_BYTES	((size_t) 64 << 20)

/* A node on the unfinished stack. */
typedef struct UNode
{
	bool		final;
	uint32_t	n;				/* transitions */
	uint32_t	cap;
	uint64_t	first;			/* ordinal of the first key through here */
	uint8_t    *labels;
	uint64_t   *targets;		/* target address; the last is unset */
	uint64_t   *starts;			/* ordinal of the first key of each */
} UNode;

/* A registry entry: where a node description is and where it was written. */
typedef struct RegEntry
{
	uint64_t	addr;
	uint64_t	poolpos;		/* absolute position in the ring */
	uint32_t	hash;
	uint32_t	len;			/* 0: empty */
} RegEntry;

struct FstBuilder
{
	FstAllocator a;
	FstSinkFn	sink;
	void	   *sink_arg;

	UNode	   *stack;
	uint32_t	stack_cap;
	uint32_t	depth;			/* length of the previous key */
	uint8_t    *prev;			/* the previous key, stack_cap bytes */

	uint64_t	nkeys;
	uint64_t	written;		/* bytes emitted so far (logical) */
	uint32_t	max_key_len;
	uint64_t	nodes;
	uint64_t	hits;
	bool		failed;
	bool		finished;

	uint8_t		preamble[FST_PREAMBLE_SIZE];
	uint8_t		code_of[256];	/* label -> common code (0: none) */

	RegEntry   *table;
	uint64_t	nbuckets;		/* power of two */
	RegEntry   *hot;
	uint64_t	nhot;			/* power of two */
	uint64_t	last_written;	/* node written by the last compile, or 0 */
	RegEntry	pending[PENDING];	/* main-table inserts not yet done */
	uint64_t	pending_bucket[PENDING];
	uint32_t	npending;
	uint32_t	pending_head;
	uint8_t    *pool;
	uint64_t	pool_cap;
	uint64_t	pool_written;

	size_t		outlen;
	uint8_t		outbuf[OUTBUF_SIZE];
	uint8_t		desc[DESC_MAX];
	uint8_t		node[FST_MAX_NODE_BYTES];
	char		errmsg[FST_ERRMSG_LEN];
};

/* Labels frequent in paths, URLs and names. */
static const uint8_t default_common[FST_NCOMMON] = {
	'/', '.', '-', '_', 'e', 'a', 't', 's', 'o', 'i', 'r', 'n', 'l', 'c',
	'm', 'd', 'p', 'u', 'h', 'g', 'b', 'y', 'f', 'k', 'v', 'w', '0', '1',
	'2', '3', 'x', '4', '5', '6', '7', '8', '9', 'j', 'q', 'z', 'S', 'C',
	'A', 'T', 'E', 'M', 'P', 'R', 'D', 'I', 'L', 'N', 'O', 'B', 'F', 'G',
	'H', 'U', 'V', 'W', '+', '@', ':'
};

/* Bit widths selectable by the 4-bit codes of a multi node's width byte. */
static const uint8_t delta_bits[16] = FST_DELTA_BITS;
static const uint8_t output_bits[16] = FST_OUTPUT_BITS;

/* Record an error message; the builder refuses further work. */
static int
build_error(FstBuilder *b, const char *msg)
{
	size_t		n = strlen(msg);

	if (n >= FST_ERRMSG_LEN)
		n = FST_ERRMSG_LEN - 1;
	memcpy(b->errmsg, msg, n);
	b->errmsg[n] = '\0';
	b->failed = true;
	return -1;
}

/* Hand the buffered output to the sink. */
static int
flush_out(FstBuilder *b)
{
	if (b->outlen > 0)
	{
		if (b->sink(b->sink_arg, b->outbuf, b->outlen) != 0)
			return build_error(b, "fst sink failed");
		b->outlen = 0;
	}
	return 0;
}

/* Append bytes to the output. */
static int
emit(FstBuilder *b, const uint8_t *data, size_t len)
{
	while (len > 0)
	{
		size_t		n = OUTBUF_SIZE - b->outlen;

		if (n > len)
			n = len;
		memcpy(b->outbuf + b->outlen, data, n);
		b->outlen += n;
		b->written += n;
		data += n;
		len -= n;
		if (b->outlen == OUTBUF_SIZE && flush_out(b) != 0)
			return -1;
	}
	return 0;
}

/* Resize an allocation; ptr may be NULL (then oldsize is 0). */
static void *
grow(FstBuilder *b, void *ptr, size_t oldsize, size_t newsize)
{
	if (ptr == NULL)
		return b->a.alloc(b->a.arg, newsize);
	return b->a.realloc(b->a.arg, ptr, oldsize, newsize);
}

/* Grow the unfinished stack to hold `need` nodes. */
static void
ensure_stack(FstBuilder *b, uint32_t need)
{
	uint32_t	newcap;

	if (need <= b->stack_cap)
		return;
	newcap = b->stack_cap ? b->stack_cap : 16;
	while (newcap < need)
		newcap *= 2;
	b->stack = grow(b, b->stack,
					sizeof(UNode) * b->stack_cap,
					sizeof(UNode) * newcap);
	b->prev = grow(b, b->prev, b->stack_cap, newcap);
	memset(b->stack + b->stack_cap, 0,
		   sizeof(UNode) * (newcap - b->stack_cap));
	b->stack_cap = newcap;
}

/* Append a transition to an unfinished node. */
static void
unode_push(FstBuilder *b, UNode *u, uint8_t label, uint64_t start)
{
	if (u->n == u->cap)
	{
		uint32_t	newcap = u->cap ? u->cap * 2 : 2;

		if (newcap > 256)
			newcap = 256;
		u->labels = grow(b, u->labels, u->cap, newcap);
		u->targets = grow(b, u->targets,
								  sizeof(uint64_t) * u->cap,
								  sizeof(uint64_t) * newcap);
		u->starts = grow(b, u->starts,
								 sizeof(uint64_t) * u->cap,
								 sizeof(uint64_t) * newcap);
		u->cap = newcap;
	}
	u->labels[u->n] = label;
	u->targets[u->n] = 0;
	u->starts[u->n] = start;
	u->n++;
}

/* Reset a stack slot to an empty node whose first key is `first`. */
static void
unode_reset(UNode *u, uint64_t first)
{
	u->final = false;
	u->n = 0;
	u->first = first;
}

/*
 * Create a builder.  The preamble is buffered at once; nothing reaches the
 * sink before the first flush.
 */
FstBuilder *
fst_builder_create(const FstAllocator *alloc, FstSinkFn sink, void *sink_arg,
				   const FstBuildOptions *opts)
{
	FstBuilder *b;
	size_t		budget = DEFAULT_REGISTRY_BYTES;
	const uint8_t *common = default_common;
	uint64_t	nb;
	int			i;

	if (opts && opts->registry_bytes)
		budget = opts->registry_bytes;
	if (opts && opts->common_labels)
		common = opts->common_labels;

	b = alloc->alloc(alloc->arg, sizeof(FstBuilder));
	memset(b, 0, sizeof(FstBuilder));
	b->a = *alloc;
	b->sink = sink;
	b->sink_arg = sink_arg;

	/* three quarters of the budget for the table, the rest for the ring */
	nb = 1;
	while (nb * 2 * REG_WAYS * sizeof(RegEntry) <= budget / 4 * 3)
		nb *= 2;
	b->nbuckets = nb;
	b->table = alloc->alloc(alloc->arg, nb * REG_WAYS * sizeof(RegEntry));
	memset(b->table, 0, nb * REG_WAYS * sizeof(RegEntry));
	b->nhot = HOT_BUCKETS;
	while (b->nhot > 1 && b->nhot * 16 > nb)
		b->nhot /= 2;
	b->hot = alloc->alloc(alloc->arg, b->nhot * REG_WAYS * sizeof(RegEntry));
	memset(b->hot, 0, b->nhot * REG_WAYS * sizeof(RegEntry));
	b->pool_cap = budget / 4;
	if (b->pool_cap < DESC_MAX)
		b->pool_cap = DESC_MAX;
	b->pool = alloc->alloc(alloc->arg, b->pool_cap);

	memset(b->code_of, 0, sizeof(b->code_of));
	for (i = FST_NCOMMON - 1; i >= 0; i--)
		b->code_of[common[i]] = (uint8_t) (i + 1);

	put_u32(b->preamble, FST_MAGIC);
	put_u16(b->preamble + 4, FST_VERSION);
	put_u16(b->preamble + 6, 0);
	memcpy(b->preamble + 8, common, FST_NCOMMON);
	b->preamble[8 + FST_NCOMMON] = 0;
	(void) emit(b, b->preamble, FST_PREAMBLE_SIZE);

	ensure_stack(b, 16);
	return b;
}

/* FNV-1a 64 over a byte string, folded to 32 bits by the caller. */
static uint64_t
hash_bytes(const uint8_t *p, size_t len)
{
	uint64_t	h = 0xcbf29ce484222325ULL;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 32;
	return h;
}

/* Bits needed for v (0 for v == 0). */
static int
bit_width(uint64_t v)
{
	int			w = 0;

	while (v != 0)
	{
		w++;
		v >>= 1;
	}
	return w;
}

/* Smallest code of table whose width holds `bits`, or -1. */
static int
width_code(const uint8_t *table, int bits)
{
	int			c;

	for (c = 0; c < 16; c++)
		if (table[c] >= bits)
			return c;
	return -1;
}

/* A little-endian bit writer over a byte array. */
typedef struct BitWriter
{
	uint8_t    *p;
	size_t		len;			/* whole bytes written */
	uint64_t	acc;			/* pending bits */
	int			nacc;
} BitWriter;

/* Append the low `width` (<= 40) bits of v. */
static void
put_bits(BitWriter *bw, uint64_t v, int width)
{
	if (width < 64)
		v &= ((uint64_t) 1 << width) - 1;
	bw->acc |= v << bw->nacc;
	bw->nacc += width;
	while (bw->nacc >= 8)
	{
		bw->p[bw->len++] = (uint8_t) bw->acc;
		bw->acc >>= 8;
		bw->nacc -= 8;
	}
}

/* Append Elias gamma of x (1..16): leading zeros, then x MSB first. */
static void
put_gamma_bits(BitWriter *bw, uint32_t x)
{
	int			z = 0;
	int			i;

	while ((x >> (z + 1)) != 0)
		z++;
	put_bits(bw, 0, z);
	for (i = z; i >= 0; i--)
		put_bits(bw, (x >> i) & 1, 1);
}

/* Write out the last partial byte; returns the bytes written. */
static size_t
flush_bits(BitWriter *bw)
{
	if (bw->nacc > 0)
		bw->p[bw->len++] = (uint8_t) bw->acc;
	bw->acc = 0;
	bw->nacc = 0;
	return bw->len;
}

/*
 * Encode node u at the current output position and emit it.  Returns the
 * node's address (its last byte), or 0 with b->failed set.
 */
static uint64_t
write_node(FstBuilder *b, const UNode *u)
{
	uint8_t    *L = b->node;
	size_t		len = 0;
	uint64_t	start = b->written;
	uint8_t		rev[FST_MAX_NODE_BYTES];
	size_t		i;

	if (u->n == 0)
		L[len++] = 0x40;		/* final leaf */
	else if (u->n == 1 && !u->final)
	{
		uint64_t	delta = start - 1 - u->targets[0];
		uint8_t		code = b->code_of[u->labels[0]];
		uint8_t		h = 0x80 | code;

		if (delta == 0)
			h |= 0x40;
		L[len++] = h;
		if (code == 0)
			L[len++] = u->labels[0];
		if (delta != 0)
			len += put_varint(L + len, delta - 1);
	}
	else
	{
		uint32_t	n = u->n;
		bool		lastnext = (u->targets[n - 1] == start - 1);
		uint32_t	ndeltas = lastnext ? n - 1 : n;
		uint64_t	maxd = 0;
		uint64_t	maxo = u->starts[n - 1] - u->first;
		int			dcode,
					ocode;
		BitWriter	bw;

		for (i = 0; i < ndeltas; i++)
		{
			uint64_t	d = start - 1 - u->targets[i];

			if (d > maxd)
				maxd = d;
		}
		dcode = width_code(delta_bits, bit_width(maxd));
		ocode = n > 1 ? width_code(output_bits, bit_width(maxo)) : 0;
		if (dcode < 0 || ocode < 0)
		{
			build_error(b, "fst image or key count too large for the format");
			return 0;
		}
		L[len++] = (uint8_t) ((u->final ? 0x40 : 0) | (lastnext ? 0x20 : 0) |
							  (n < 31 ? n : 31));
		if (n >= 31)
			L[len++] = (uint8_t) (n - 31);
		for (i = 0; i < n; i++)
			L[len++] = u->labels[i];
		bw.p = L + len;
		bw.len = 0;
		bw.acc = 0;
		bw.nacc = 0;
		/* width codes: 4 bits, then Elias gamma of ocode + 1 */
		if (ndeltas > 0)
			put_bits(&bw, (uint64_t) dcode, 4);
		if (n > 1)
			put_gamma_bits(&bw, (uint32_t) ocode + 1);
		for (i = 0; i < ndeltas; i++)
			put_bits(&bw, start - 1 - u->targets[i], delta_bits[dcode]);
		for (i = 1; i < n; i++)
			put_bits(&bw, u->starts[i] - u->first, output_bits[ocode]);
		len += flush_bits(&bw);
	}

	for (i = 0; i < len; i++)
		rev[i] = L[len - 1 - i];
	if (emit(b, rev, len) != 0)
		return 0;
	b->nodes++;
	return start + len - 1;
}

/*
 * Look for desc (already in b->desc, length len, hash h32) in a registry
 * bucket.  Returns the matching entry, or NULL and sets *victim to the slot
 * a new entry should take (an empty or forgotten one, else the oldest).
 */
static RegEntry *
reg_probe(FstBuilder *b, RegEntry *bucket, uint32_t h32, size_t len,
		  RegEntry **victim)
{
	RegEntry   *v = NULL;
	int			i;

	for (i = 0; i < REG_WAYS; i++)
	{
		RegEntry   *e = &bucket[i];

		if (e->len != 0 && b->pool_written - e->poolpos > b->pool_cap)
			e->len = 0;			/* its description was overwritten */
		if (e->len == 0)
		{
			if (v == NULL || v->len != 0)
				v = e;
			continue;
		}
		if (e->hash == h32 && e->len == len &&
			memcmp(b->pool + e->poolpos % b->pool_cap, b->desc, len) == 0)
			return e;
		if (v == NULL || (v->len != 0 && e->poolpos < v->poolpos))
			v = e;
	}
	*victim = v;
	return NULL;
}

/*
 * Compile an unfinished node: return the address of an identical node
 * already written if the registry remembers one, else write it.
 *
 * The registry has two levels: a small "hot" table that stays in cache and
 * catches the frequently shared suffixes, and the main table.  When the
 * node's last transition points to the node written by the previous call,
 * no registered node can be identical (it would have to point to a node
 * that was registered after it), so the lookup is skipped.
 */
static uint64_t
compile_node(FstBuilder *b, const UNode *u)
{
	size_t		len = 0;
	uint32_t	i;
	uint64_t	h;
	uint32_t	h32;
	RegEntry   *hot;
	RegEntry   *main;
	RegEntry   *e;
	RegEntry   *hot_victim;
	RegEntry   *main_victim;
	uint64_t	addr;
	uint64_t	ringpos;
	bool		fresh;

	b->desc[len++] = u->final ? 1 : 0;
	len += put_varint(b->desc + len, u->n);
	for (i = 0; i < u->n; i++)
	{
		b->desc[len++] = u->labels[i];
		len += put_varint(b->desc + len, u->targets[i]);
	}
	h = hash_bytes(b->desc, len);
	h32 = (uint32_t) h;
	main = b->table + ((h >> 32) & (b->nbuckets - 1)) * REG_WAYS;
	FST_PREFETCH(main);
	hot = b->hot + (h32 & (b->nhot - 1)) * REG_WAYS;
	fresh = (u->n > 0 && b->last_written != 0 &&
			 u->targets[u->n - 1] == b->last_written);
	b->last_written = 0;

	e = reg_probe(b, hot, h32, len, &hot_victim);
	if (e != NULL && !fresh)
	{
		b->hits++;
		return e->addr;
	}
	if (!fresh)
	{
		e = reg_probe(b, main, h32, len, &main_victim);
		if (e != NULL)
		{
			b->hits++;
			*hot_victim = *e;
			return e->addr;
		}
	}

	addr = write_node(b, u);
	if (b->failed)
		return 0;
	b->last_written = addr;

	/* remember it; descriptions never wrap around the end of the ring */
	ringpos = b->pool_written % b->pool_cap;
	if (ringpos + len > b->pool_cap)
		b->pool_written += b->pool_cap - ringpos;
	memcpy(b->pool + b->pool_written % b->pool_cap, b->desc, len);
	hot_victim->addr = addr;
	hot_victim->poolpos = b->pool_written;
	hot_victim->hash = h32;
	hot_victim->len = (uint32_t) len;
	b->pool_written += len;

	/*
	 * The main table gets it a few calls later, when the prefetch of its
	 * bucket has had time to complete.  Until then the hot table has it.
	 */
	if (b->npending == PENDING)
	{
		uint32_t	k = b->pending_head;

		(void) reg_probe(b, b->table + b->pending_bucket[k] * REG_WAYS,
						 0, 0, &main_victim);
		*main_victim = b->pending[k];
		b->pending_head = (k + 1) % PENDING;
		b->npending--;
	}
	{
		uint32_t	k = (b->pending_head + b->npending) % PENDING;

		b->pending[k] = *hot_victim;
		b->pending_bucket[k] = (uint64_t) (main - b->table) / REG_WAYS;
		b->npending++;
	}
	return addr;
}

/*
 * Add the next key.  Everything of the previous key's path below the common
 * prefix is compiled; the new suffix is pushed as unfinished nodes.
 */
int
fst_builder_add(FstBuilder *b, const uint8_t *key, size_t len)
{
	uint32_t	lcp = 0;
	uint32_t	j;

	if (b->failed)
		return -1;
	if (b->finished)
		return build_error(b, "fst builder already finished");
	if (len >= UINT32_MAX)
		return build_error(b, "fst key too long");

	if (b->nkeys > 0)
	{
		uint32_t	prevlen = b->depth;
		const uint8_t *prev = b->prev;

		while (lcp < prevlen && lcp < len && prev[lcp] == key[lcp])
			lcp++;
		if (lcp == len || (lcp < prevlen && key[lcp] < prev[lcp]))
			return build_error(b, "fst keys not in strictly ascending order");
		for (j = prevlen; j > lcp; j--)
		{
			uint64_t	addr = compile_node(b, &b->stack[j]);
			UNode	   *parent = &b->stack[j - 1];

			if (b->failed)
				return -1;
			parent->targets[parent->n - 1] = addr;
		}
	}
	else
		unode_reset(&b->stack[0], 0);

	ensure_stack(b, (uint32_t) len + 1);
	for (j = lcp; j < len; j++)
	{
		unode_push(b, &b->stack[j], key[j], b->nkeys);
		unode_reset(&b->stack[j + 1], b->nkeys);
	}
	memcpy(b->prev + lcp, key + lcp, len - lcp);
	b->stack[len].final = true;
	b->depth = (uint32_t) len;
	if ((uint32_t) len > b->max_key_len)
		b->max_key_len = (uint32_t) len;
	b->nkeys++;
	return 0;
}

/* Compile the rest of the stack, write the trailer, flush the sink. */
int
fst_builder_finish(FstBuilder *b, FstInfo *info)
{
	uint64_t	root = 0;
	uint8_t		t[FST_TRAILER_SIZE];
	uint32_t	j;

	if (b->failed)
		return -1;
	if (b->finished)
		return build_error(b, "fst builder already finished");
	if (b->nkeys > 0)
	{
		for (j = b->depth; j > 0; j--)
		{
			uint64_t	addr = compile_node(b, &b->stack[j]);
			UNode	   *parent = &b->stack[j - 1];

			if (b->failed)
				return -1;
			parent->targets[parent->n - 1] = addr;
		}
		root = compile_node(b, &b->stack[0]);
		if (b->failed)
			return -1;
	}
	put_u32(t, FST_TRAILER_MAGIC);
	put_u16(t + 4, FST_VERSION);
	put_u16(t + 6, 0);
	put_u64(t + 8, root);
	put_u64(t + 16, b->nkeys);
	put_u64(t + 24, b->written + FST_TRAILER_SIZE);
	put_u32(t + 32, b->max_key_len);
	put_u32(t + 36, trailer_checksum(t, b->preamble));
	if (emit(b, t, FST_TRAILER_SIZE) != 0 || flush_out(b) != 0)
		return -1;
	b->finished = true;
	if (info)
	{
		info->nkeys = b->nkeys;
		info->size = b->written;
		info->root = root;
		info->max_key_len = b->max_key_len;
		info->nodes = b->nodes;
		info->registry_hits = b->hits;
	}
	return 0;
}

/* The last error message. */
const char *
fst_builder_error(const FstBuilder *b)
{
	return b->errmsg;
}

/* Keys added so far. */
uint64_t
fst_builder_nkeys(const FstBuilder *b)
{
	return b->nkeys;
}

/* Bytes produced so far, including those still buffered. */
uint64_t
fst_builder_written(const FstBuilder *b)
{
	return b->written;
}

/* Free everything the builder allocated. */
void
fst_builder_destroy(FstBuilder *b)
{
	uint32_t	i;

	if (b == NULL)
		return;
	for (i = 0; i < b->stack_cap; i++)
	{
		UNode	   *u = &b->stack[i];

		if (u->cap)
		{
			b->a.free(b->a.arg, u->labels);
			b->a.free(b->a.arg, u->targets);
			b->a.free(b->a.arg, u->starts);
		}
	}
	b->a.free(b->a.arg, b->stack);
	b->a.free(b->a.arg, b->prev);
	b->a.free(b->a.arg, b->table);
	b->a.free(b->a.arg, b->hot);
	b->a.free(b->a.arg, b->pool);
	b->a.free(b->a.arg, b);
}
