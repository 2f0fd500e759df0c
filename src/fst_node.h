/*-------------------------------------------------------------------------
 *
 * fst_node.h
 *	  The decoded form of one FST node, shared by the reader (fst_read.c,
 *	  fst_cursor.c) and the packer (fst_pack.c), which re-encodes every
 *	  node of an image; node encoders shared with the builder (fst_build.c);
 *	  the pack map the builder records for the packer.  Internal to fst*.c.
 *
 * An address names a node by its last byte (see fst.h).  In a packed image
 * a chain node stands for several single-transition nodes in a row; the
 * k-th of them (k > 0) has the virtual address
 *
 *		last byte | k << FST_SUB_SHIFT | bit position << FST_BIT_SHIFT
 *
 * where the bit position is where its label's code starts in the chain's
 * bit area.  Virtual addresses are only ever made by the decoder, never
 * read from an image, so a corrupt image cannot forge one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_FST_NODE_H
#define MEMKV_FST_NODE_H

#include "fst.h"
#include "fst_bytes.h"

#define FST_ADDR_MASK	((UINT64_C(1) << 40) - 1)
#define FST_SUB_SHIFT	40
#define FST_BIT_SHIFT	46

/* A decoded node; logical byte L(i) of the format is end[-i]. */
typedef struct Node
{
	uint64_t	addr;			/* as asked for (virtual, in a chain) */
	uint64_t	start;			/* lowest byte of the whole node */
	const uint8_t *end;
	uint32_t	n;
	bool		final;
	bool		single;			/* also each label of a chain */
	bool		chain;			/* part of a chain node */
	uint8_t		label;			/* single only */
	uint64_t	target;			/* single only */
	uint32_t	hdr;			/* multi: logical index of the labels */
	bool		lastnext;
	uint32_t	ndeltas;
	uint8_t		dbits;
	uint8_t		obits;
	uint32_t	code_bits;		/* width codes at the start of the bit area */
	uint64_t	room;			/* multi: bytes readable at and below end */
	/* chain: this label and the ones after it to the chain's end */
	uint32_t	chain_n;
	uint8_t		chain_labels[FST_CHAIN_MAX];
	uint64_t	chain_next[FST_CHAIN_MAX];	/* target of each */
} Node;

#define NODE_BYTE(nd, i)	((nd)->end[-(int64_t) (i)])

/*
 * Decode the node at addr into nd, reading through the window win (and
 * buf, if the source copies).  Returns 0, or -1 with errmsg set if the
 * bytes do not form a valid node inside the node area.
 */
extern int	fst_node_read(const FstReader *r, FstWindow *win, uint64_t addr,
						  Node *nd, uint8_t *buf, char *errmsg);

/*
 * Read the varint at logical byte *pos of the node whose byte 0 is at e
 * (e[-i] being logical byte i; bytes from `limit` on are not there), set
 * *delta to its value plus one and advance *pos past it.  Returns false
 * for a varint that is too long, overflows or is cut off.
 */
static inline bool
get_delta(const uint8_t *e, uint32_t *pos, uint64_t limit, uint64_t *delta)
{
	uint64_t	v = 0;
	int			shift = 0;
	uint8_t		byte;

	do
	{
		if (*pos >= limit || shift > 56)
			return false;
		byte = e[-(int64_t) (*pos)++];
		v |= (uint64_t) (byte & 0x7f) << shift;
		shift += 7;
	} while (byte & 0x80);
	*delta = v + 1;
	return *delta != 0;
}

/*
 * The pack map (FstPackMap, fst.h): bitmaps over the bytes of a plain
 * image, made by the builder as it writes (or by fst_pack's own walk of
 * the image), and the labels of single-transition nodes counted.  Each
 * bitmap is an array of its own: FAR is set at random places, and at one
 * bit per byte it stays small enough to be cached.
 */
enum
{
	PM_END,						/* last byte of a node */
	PM_FAR,						/* pointed to by something other than the
								 * "next" transition of the single-transition
								 * node right above (the root included) */
	PM_NEXT,					/* pointed to by the "next" transition of the
								 * single-transition node right above */
	PM_NBITMAPS
};

struct FstPackMap
{
	uint64_t   *bits[PM_NBITMAPS];	/* nwords words each */
	uint64_t	nwords;			/* 64-byte groups covered */
	uint64_t	counts[256];	/* labels of single-transition nodes */
};

/* A pack map covering nwords 64-byte groups, all clear (fst_build.c). */
extern FstPackMap *fst_pack_map_new(const FstAllocator *alloc,
									uint64_t nwords);

static inline bool
pm_get(const FstPackMap *m, int which, uint64_t pos)
{
	return (m->bits[which][pos >> 6] >> (pos & 63)) & 1;
}

static inline void
pm_set(FstPackMap *m, int which, uint64_t pos)
{
	m->bits[which][pos >> 6] |= (uint64_t) 1 << (pos & 63);
}

/*
 * The target `delta` below a node starting at `start`, if it lies in the
 * node area: store it in *target and return true.
 */
static inline bool
target_below(uint64_t start, uint64_t delta, uint64_t *target)
{
	if (start - FST_PREAMBLE_SIZE < 1 || delta > start - 1 - FST_PREAMBLE_SIZE)
		return false;
	*target = start - 1 - delta;
	return true;
}

/*
 * The width-bit field (width <= 40) at bit bitpos of a multi node's bit
 * area.  When eight bytes are readable from the field's first byte on, one
 * load fetches them: logical bytes pos..pos+7 lie at end[-pos-7..-pos], in
 * reverse order.
 */
static inline uint64_t
fst_node_bits(const Node *nd, uint64_t bitpos, int width)
{
	uint64_t	pos;
	int			shift;
	uint64_t	v;

	if (width == 0)
		return 0;
	bitpos += nd->code_bits;
	pos = nd->hdr + nd->n + bitpos / 8;
	shift = (int) (bitpos % 8);
	if (pos + 8 <= nd->room)
		v = get_be64(nd->end - pos - 7) >> shift;
	else
	{
		int			got = 8 - shift;

		v = NODE_BYTE(nd, pos) >> shift;
		while (got < width)
		{
			pos++;
			v |= (uint64_t) NODE_BYTE(nd, pos) << got;
			got += 8;
		}
	}
	return v & (((uint64_t) 1 << width) - 1);
}

/* Label of transition i of a decoded node. */
static inline uint8_t
fst_node_label(const Node *nd, uint32_t i)
{
	if (nd->single)
		return nd->label;
	return NODE_BYTE(nd, nd->hdr + i);
}

/*
 * Target and output of transition i of a decoded node.  Returns 0, or -1
 * if the target lies outside the node area.
 */
static inline int
fst_node_trans(const Node *nd, uint32_t i, uint64_t *target, uint64_t *out,
			   char *errmsg)
{
	uint64_t	d;

	if (nd->single)
	{
		*target = nd->target;
		*out = nd->final ? 1 : 0;
		return 0;
	}
	if (i < nd->ndeltas)
		d = fst_node_bits(nd, (uint64_t) i * nd->dbits, nd->dbits);
	else
		d = 0;					/* the "last next" transition */
	if (d > nd->start - 1 - FST_PREAMBLE_SIZE)
		return set_error(errmsg, "fst transition target out of range");
	*target = nd->start - 1 - d;
	if (i == 0)
		*out = nd->final ? 1 : 0;
	else
		*out = fst_node_bits(nd, (uint64_t) nd->ndeltas * nd->dbits +
							 (uint64_t) (i - 1) * nd->obits, nd->obits);
	return 0;
}

/*
 * Start a walk with window win: the whole image when it lies in memory,
 * else nothing fetched yet.
 */
static inline void
window_start(const FstReader *r, FstWindow *win)
{
	win->p = r->whole;
	win->lo = 0;
	win->hi = r->whole != NULL ? r->nodes_end : 0;
}

/* Index of the first transition whose label is >= b (n if none). */
static inline uint32_t
node_lower_bound(const Node *nd, uint8_t b)
{
	uint32_t	lo = 0;
	uint32_t	hi = nd->n;

	if (nd->single)
		return nd->label >= b ? 0 : 1;
	while (lo < hi)
	{
		uint32_t	mid = (lo + hi) / 2;

		if (NODE_BYTE(nd, nd->hdr + mid) < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Decode the plain single-transition node whose byte 0 is at e (e[-i]
 * being logical byte i, `have` bytes there): its label (common labels from
 * `common`), the delta of its target and its length.  Returns false if it
 * is no such node (a multi node, or in a packed image a chain) or is cut
 * off.
 */
static inline bool
fst_decode_single(const uint8_t *e, uint64_t have, const uint8_t *common,
				  bool packed, uint8_t *label, uint64_t *delta, uint32_t *len)
{
	uint8_t		h = e[0];
	uint32_t	pos = 1;

	if (!(h & 0x80) || (packed && (h & 0x3f) >= FST_CHAIN_CODE0))
		return false;
	if (h & 0x3f)
		*label = common[(h & 0x3f) - 1];
	else
	{
		if (pos >= have)
			return false;
		*label = e[-(int64_t) pos++];
	}
	*delta = 0;
	if (!(h & 0x40) && !get_delta(e, &pos, have, delta))
		return false;
	*len = pos;
	return true;
}

/*
 * The label code of a packed image, from the label counts of its pack map
 * (fst_code.c): code lengths (0: no code, at most FST_CODE_MAX_BITS), and
 * the FST_NCOMMON labels of the common-label table, most frequent first.
 */
extern void fst_make_code_lengths(const uint64_t *counts, uint8_t *lens);
extern void fst_choose_common(const uint64_t *counts, uint8_t *common);

/*
 * The canonical prefix code of a packed image from its code lengths
 * (lens[s] bits for label s, 0: no code, at most FST_CODE_MAX_BITS): the
 * codes, shortest first and by label within a length, are stored in
 * codes[] bit-reversed, so that written least significant bit first they
 * read in code order.  Returns 0, or -1 if the lengths describe no prefix
 * code (too many short codes).
 */
static inline int
fst_code_assign(const uint8_t *lens, uint16_t *codes)
{
	uint32_t	count[FST_CODE_MAX_BITS + 1] = {0};
	uint32_t	next[FST_CODE_MAX_BITS + 1];
	uint32_t	kraft = 0;
	uint32_t	code = 0;
	int			l;
	int			s;

	for (s = 0; s < 256; s++)
	{
		if (lens[s] > FST_CODE_MAX_BITS)
			return -1;
		if (lens[s] > 0)
		{
			count[lens[s]]++;
			kraft += 1u << (FST_CODE_MAX_BITS - lens[s]);
		}
	}
	if (kraft > (1u << FST_CODE_MAX_BITS))
		return -1;
	for (l = 1; l <= FST_CODE_MAX_BITS; l++)
	{
		code = (code + count[l - 1]) << 1;
		next[l] = code;
	}
	for (s = 0; s < 256; s++)
	{
		uint32_t	c,
					rev = 0;
		int			i;

		codes[s] = 0;
		if (lens[s] == 0)
			continue;
		c = next[lens[s]]++;
		for (i = 0; i < lens[s]; i++)
			rev |= ((c >> i) & 1) << (lens[s] - 1 - i);
		codes[s] = (uint16_t) rev;
	}
	return 0;
}

/* Bits needed for v (0 for v == 0). */
static inline int
bit_width(uint64_t v)
{
#if defined(__GNUC__) || defined(__clang__)
	return v == 0 ? 0 : 64 - __builtin_clzll(v);
#else
	int			w = 0;

	while (v != 0)
	{
		w++;
		v >>= 1;
	}
	return w;
#endif
}

/* Smallest code of table whose width holds `bits`, or -1. */
static inline int
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
static inline void
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
static inline void
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
static inline size_t
flush_bits(BitWriter *bw)
{
	if (bw->nacc > 0)
		bw->p[bw->len++] = (uint8_t) bw->acc;
	bw->acc = 0;
	bw->nacc = 0;
	return bw->len;
}

/*
 * Encode a single-transition non-final node into L (at most 11 bytes):
 * common-label code `code` (0: the label is stored), target `delta` below
 * the node's start.  Returns the length.
 */
static inline size_t
fst_encode_single(uint8_t *L, uint8_t code, uint8_t label, uint64_t delta)
{
	size_t		len = 1;

	L[0] = 0x80 | code | (delta == 0 ? 0x40 : 0);
	if (code == 0)
		L[len++] = label;
	if (delta != 0)
		len += put_varint(L + len, delta - 1);
	return len;
}

/*
 * Encode a node with n >= 1 transitions in the multi layout of fst.h into
 * L (FST_MAX_NODE_BYTES): labels ascending, deltas[i] the delta of
 * transition i's target from the node's start (0: the node written just
 * before), outs[i] the output of transition i (outs[0] unused: it is
 * final ? 1 : 0).  Returns the length, or 0 if a delta or an output is
 * too large for the format.
 */
static inline size_t
fst_encode_multi(uint8_t *L, bool final, uint32_t n, const uint8_t *labels,
				 const uint64_t *deltas, const uint64_t *outs)
{
	static const uint8_t delta_bits[16] = FST_DELTA_BITS;
	static const uint8_t output_bits[16] = FST_OUTPUT_BITS;
	bool		lastnext = (deltas[n - 1] == 0);
	uint32_t	ndeltas = lastnext ? n - 1 : n;
	uint64_t	maxd = 0;
	uint64_t	maxo = n > 1 ? outs[n - 1] : 0;
	int			dcode,
				ocode;
	BitWriter	bw;
	size_t		len = 0;
	uint32_t	i;

	for (i = 0; i < ndeltas; i++)
		if (deltas[i] > maxd)
			maxd = deltas[i];
	dcode = width_code(delta_bits, bit_width(maxd));
	ocode = n > 1 ? width_code(output_bits, bit_width(maxo)) : 0;
	if (dcode < 0 || ocode < 0)
		return 0;
	L[len++] = (uint8_t) ((final ? 0x40 : 0) | (lastnext ? 0x20 : 0) |
						  (n < 31 ? n : 31));
	if (n >= 31)
		L[len++] = (uint8_t) (n - 31);
	for (i = 0; i < n; i++)
		L[len++] = labels[i];
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
		put_bits(&bw, deltas[i], delta_bits[dcode]);
	for (i = 1; i < n; i++)
		put_bits(&bw, outs[i], output_bits[ocode]);
	len += flush_bits(&bw);
	return len;
}

/*
 * The checksum of any image: FNV-1a 32 of the trailer's first 36 bytes,
 * the preamble, the code table (packed images; NULL for plain ones) and
 * the top start field (version 3; NULL before).
 */
static inline uint32_t
fst_image_checksum(const uint8_t *trailer, const uint8_t *preamble,
				   const uint8_t *table, const uint8_t *top)
{
	uint32_t	h = trailer_checksum(trailer, preamble);

	if (table != NULL)
		h = fnv1a_update(h, table, FST_CODE_TABLE_SIZE);
	if (top != NULL)
		h = fnv1a_update(h, top, FST_TOP_FIELD_SIZE);
	return h;
}

#endif							/* MEMKV_FST_NODE_H */
