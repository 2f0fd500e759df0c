/*-------------------------------------------------------------------------
 *
 * fst_read.c
 *	  Reading an FST image: opening it, decoding its nodes, exact lookup,
 *	  and fst_verify.  The ordered cursors are in fst_cursor.c.
 *
 * The image is reached only through an FstSource, a few bytes at a time, so
 * it may live in index pages.  Every address is checked against the node
 * area before it is read, every target is strictly below the node that
 * names it (the format guarantees it), and every walk is bounded by the
 * maximum key length of the trailer, so corrupt images give errors, never
 * crashes or endless loops.
 *
 * The byte format is described in fst.h.
 *
 *-------------------------------------------------------------------------
 */
#include "fst.h"
#include "fst_bytes.h"
#include "fst_node.h"

#include <string.h>

/*
 * A node read fetches a window of up to WINDOW_BYTES ending at the node, so
 * that the nodes below it (children are usually just below) are read
 * without another call to the source.
 */
#define WINDOW_BYTES	256

static const uint8_t delta_bits[16] = FST_DELTA_BITS;
static const uint8_t output_bits[16] = FST_OUTPUT_BITS;

/* The four low bits of i in reverse order. */
static const uint8_t reverse4[16] = {
	0x0, 0x8, 0x4, 0xc, 0x2, 0xa, 0x6, 0xe,
	0x1, 0x9, 0x5, 0xd, 0x3, 0xb, 0x7, 0xf
};

/* The read callback for an image in contiguous memory. */
const uint8_t *
fst_memory_read(void *arg, uint64_t off, size_t len, uint8_t *buf)
{
	(void) len;
	(void) buf;
	return (const uint8_t *) arg + off;
}

/*
 * Fill the decoding fields of r (see FstReader) from the code table of a
 * packed image.  Returns 0, or -1 if the table is no prefix code.
 */
static int
build_decode_table(FstReader *r, const uint8_t *tab)
{
	uint8_t		lens[256];
	uint16_t	codes[256];
	uint32_t	code = 0;
	uint32_t	index = 0;
	int			s;
	int			l;

	for (s = 0; s < 256; s++)
		lens[s] = (tab[s / 2] >> (4 * (s % 2))) & 0x0f;
	if (fst_code_assign(lens, codes) != 0)
		return -1;
	memset(r->decode, 0, sizeof(r->decode));
	for (s = 0; s < 256; s++)
	{
		uint32_t	i;

		if (lens[s] == 0 || lens[s] > FST_DECODE_BITS)
			continue;
		for (i = codes[s]; i < (1u << FST_DECODE_BITS); i += 1u << lens[s])
			r->decode[i] = (uint16_t) (s | lens[s] << 8);
	}
	/* the canonical code by length, as fst_code_assign numbers it */
	r->code_count[0] = 0;
	for (l = 1; l <= FST_CODE_MAX_BITS; l++)
	{
		code = (code + r->code_count[l - 1]) << 1;
		r->code_first[l] = (uint16_t) code;
		r->code_index[l] = (uint16_t) index;
		r->code_count[l] = 0;
		for (s = 0; s < 256; s++)
			if (lens[s] == l)
			{
				r->code_labels[index++] = (uint8_t) s;
				r->code_count[l]++;
			}
	}
	return 0;
}

/*
 * The label whose code starts at the lowest bit of `bits` (at least
 * FST_CODE_MAX_BITS of them), as label | code length << 8, or 0 if no
 * code matches.
 */
static inline uint32_t
decode_label(const FstReader *r, uint32_t bits)
{
	uint32_t	entry = r->decode[bits & ((1u << FST_DECODE_BITS) - 1)];
	uint32_t	code = 0;
	int			l;

	if (entry != 0)
		return entry;
	/* a longer code: walk the canonical code one bit at a time */
	for (l = 1; l <= FST_CODE_MAX_BITS; l++)
	{
		code = code << 1 | ((bits >> (l - 1)) & 1);
		if (code - r->code_first[l] < r->code_count[l])
			return r->code_labels[r->code_index[l] + code -
								  r->code_first[l]] | (uint32_t) l << 8;
	}
	return 0;
}

/* Read r's image through src from now on; see fst.h. */
void
fst_reader_set_source(FstReader *r, const FstSource *src)
{
	r->src = *src;
	r->whole = src->read == fst_memory_read ? (const uint8_t *) src->arg : NULL;
}

/*
 * The rules of a version 3 image's top start (fst.h, "TOP REGION"), with
 * the root already known to lie in the node area.  Returns 0 or -1.
 */
static int
check_top_start(FstReader *r)
{
	Node		nd;

	if (r->top_start < FST_PREAMBLE_SIZE || r->top_start > r->nodes_end)
		return set_error(r->errmsg, "fst top region start out of range");
	if (r->nkeys == 0)
	{
		if (r->top_start != r->nodes_end)
			return set_error(r->errmsg, "fst empty image has a top region");
		return 0;
	}
	if (r->root != r->nodes_end - 1)
		return set_error(r->errmsg, "fst root is not the last node");
	if (r->top_start == FST_PREAMBLE_SIZE)
		return set_error(r->errmsg,
						 "fst top region start leaves no leaf region");
	/* the leaf region must end with a whole node */
	window_start(r, &r->win);
	if (fst_node_read(r, &r->win, r->top_start - 1, &nd, r->buf,
					  r->errmsg) != 0)
		return set_error(r->errmsg, "fst top region start is no node boundary");
	return 0;
}

/* Validate the preamble and trailer and fill in r. */
int
fst_reader_open(FstReader *r, const FstSource *src)
{
	const uint8_t *p;
	uint8_t		pre[FST_PREAMBLE_SIZE];
	uint8_t		t[FST_TRAILER_SIZE];
	uint8_t		extra[FST_CODE_TABLE_SIZE + FST_TOP_FIELD_SIZE];
	uint64_t	tail = FST_TRAILER_SIZE;

	memset(r, 0, offsetof(FstReader, buf));
	r->errmsg[0] = '\0';
	fst_reader_set_source(r, src);
	if (src->size < FST_PREAMBLE_SIZE + FST_TRAILER_SIZE)
		return set_error(r->errmsg, "fst image too small");
	p = src->read(src->arg, 0, FST_PREAMBLE_SIZE, r->buf);
	if (p == NULL)
		return set_error(r->errmsg, "fst image read failed");
	memcpy(pre, p, FST_PREAMBLE_SIZE);
	p = src->read(src->arg, src->size - FST_TRAILER_SIZE, FST_TRAILER_SIZE,
				  r->buf);
	if (p == NULL)
		return set_error(r->errmsg, "fst image read failed");
	memcpy(t, p, FST_TRAILER_SIZE);

	if (get_u32(pre) != FST_MAGIC || get_u32(t) != FST_TRAILER_MAGIC)
		return set_error(r->errmsg, "fst image has a bad magic number");
	r->version = (uint16_t) (pre[4] | (pre[5] << 8));
	if ((r->version != FST_VERSION && r->version != FST_VERSION_PACKED &&
		 r->version != FST_VERSION_TOP) ||
		(t[4] | (t[5] << 8)) != r->version)
		return set_error(r->errmsg, "fst image has an unsupported version");
	if (r->version == FST_VERSION_TOP)
	{
		uint16_t	flags = (uint16_t) (t[6] | (t[7] << 8));

		if ((flags & ~FST_FLAG_PACKED) != 0 ||
			(pre[6] | (pre[7] << 8)) != flags)
			return set_error(r->errmsg, "fst image has unknown flags");
		r->packed = (flags & FST_FLAG_PACKED) != 0;
		tail += FST_TOP_FIELD_SIZE;
	}
	else
		r->packed = (r->version == FST_VERSION_PACKED);
	if (r->packed)
		tail += FST_CODE_TABLE_SIZE;
	if (src->size < FST_PREAMBLE_SIZE + tail)
		return set_error(r->errmsg, "fst image too small");
	r->nodes_end = src->size - tail;
	if (tail > FST_TRAILER_SIZE)
	{
		/* the code table and the top start, as they are present */
		p = src->read(src->arg, r->nodes_end, tail - FST_TRAILER_SIZE,
					  r->buf);
		if (p == NULL)
			return set_error(r->errmsg, "fst image read failed");
		memcpy(extra, p, tail - FST_TRAILER_SIZE);
	}
	if (fst_image_checksum(t, pre, r->packed ? extra : NULL,
						   r->version == FST_VERSION_TOP ?
						   extra + (r->packed ? FST_CODE_TABLE_SIZE : 0) :
						   NULL) != get_u32(t + 36))
		return set_error(r->errmsg, "fst trailer checksum mismatch");
	if (r->packed && build_decode_table(r, extra) != 0)
		return set_error(r->errmsg, "fst image has a bad code table");
	r->top_start = r->nodes_end;
	if (r->version == FST_VERSION_TOP)
		r->top_start = get_u64(extra + (r->packed ? FST_CODE_TABLE_SIZE : 0));

	r->root = get_u64(t + 8);
	r->nkeys = get_u64(t + 16);
	r->max_key_len = get_u32(t + 32);
	memcpy(r->common, pre + 8, FST_NCOMMON);
	if (get_u64(t + 24) != src->size)
		return set_error(r->errmsg, "fst image size mismatch");
	if (r->nkeys == 0)
	{
		if (r->root != 0 || r->max_key_len != 0)
			return set_error(r->errmsg, "fst empty image has a root");
	}
	else
	{
		if (r->root < FST_PREAMBLE_SIZE || r->root >= r->nodes_end)
			return set_error(r->errmsg, "fst root address out of range");
		/*
		 * Every key byte needs a node of its own on the path, or in a
		 * packed image at least one bit of a chain.
		 */
		if (r->max_key_len > (r->nodes_end - FST_PREAMBLE_SIZE) *
			(r->packed ? 8 : 1))
			return set_error(r->errmsg, "fst max key length out of range");
	}
	if (r->version == FST_VERSION_TOP)
		return check_top_start(r);
	return 0;
}

/*
 * The bytes a new window ending at addr spans (avail: those of the node area
 * at and below addr).  A window on a top node stays in the top region: the
 * nodes below it are in leaf units elsewhere, and the region may be held
 * apart from the leaf region's pages (the server's run memo), which a window
 * reaching down into them would read for nothing.  A node lies wholly on
 * one side of the top start, so the window still holds the node.
 */
static inline uint64_t
window_width(const FstReader *r, uint64_t addr, uint64_t avail)
{
	uint64_t	w = avail < WINDOW_BYTES ? avail : WINDOW_BYTES;

	if (addr >= r->top_start && addr - r->top_start + 1 < w)
		w = addr - r->top_start + 1;
	return w;
}

/*
 * Fetch a new window ending at addr that holds at least the `need` bytes
 * at and below it (need <= avail, the bytes of the node area at and below
 * addr).  Returns 0, or -1 on a read failure.
 */
static int
window_refetch(const FstReader *r, FstWindow *win, uint64_t addr,
			   uint64_t need, uint64_t avail, Node *nd, uint8_t *buf,
			   char *errmsg)
{
	uint64_t	w;
	const uint8_t *p;

	w = window_width(r, addr, avail);
	if (w < need)
		w = need;
	p = r->src.read(r->src.arg, addr - w + 1, (size_t) w, buf);
	if (p == NULL)
		return set_error(errmsg, "fst image read failed");
	win->lo = addr - w + 1;
	win->hi = addr + 1;
	win->p = p;
	nd->end = p + w - 1;
	return 0;
}

/*
 * Make sure the window holds the `need` bytes at and below addr, fetching
 * another if not.  Returns 0, or -1 on a read failure.
 */
static inline int
window_cover(const FstReader *r, FstWindow *win, uint64_t addr, uint64_t need,
			 uint64_t avail, Node *nd, uint8_t *buf, char *errmsg)
{
	if (need <= addr - win->lo + 1)
		return 0;
	return window_refetch(r, win, addr, need, avail, nd, buf, errmsg);
}

/*
 * Decode the chain node whose header byte is at addr (nd->end set) from
 * its label `sub` on, that label's code starting at bit `bitpos` of the
 * bit area: nd becomes the single-transition node of label `sub`, and
 * nd->chain_* hold all the labels from `sub` to the chain's end.
 */
static int
read_chain(const FstReader *r, FstWindow *win, uint64_t addr, uint32_t sub,
		   uint32_t bitpos, uint64_t avail, Node *nd, uint8_t *buf,
		   char *errmsg)
{
	uint8_t		h = NODE_BYTE(nd, 0);
	uint32_t	k = (h & 0x3f) - FST_CHAIN_CODE0 + 2;
	uint32_t	pos = 1;
	uint64_t	delta = 0;
	uint64_t	need;
	uint64_t	readable;
	uint32_t	m;

	if (sub >= k || bitpos > (uint32_t) k * FST_CODE_MAX_BITS)
		return set_error(errmsg, "fst chain position out of range");
	/* header, varint, and the bit area of k codes at most */
	need = 1 + 9 + ((uint64_t) k * FST_CODE_MAX_BITS + 7) / 8;
	if (need > avail)
		need = avail;
	if (window_cover(r, win, addr, need, avail, nd, buf, errmsg) != 0)
		return -1;
	if (!(h & 0x40) && !get_delta(nd->end, &pos, need, &delta))
		return set_error(errmsg, "fst node has a bad varint");
	readable = addr - win->lo + 1;
	for (m = 0; sub + m < k; m++)
	{
		uint64_t	at = pos + bitpos / 8;
		uint32_t	peek = 0;
		uint32_t	entry;
		uint32_t	i;

		/*
		 * The next FST_CODE_MAX_BITS bits: by one load when four bytes
		 * can be read, else byte by byte with zeros beyond the node area.
		 * Either way a code reaching past `need` is refused below.
		 */
		if (at + 4 <= readable)
			peek = get_be32(nd->end - at - 3);
		else
			for (i = 0; i < 3; i++)
				if (at + i < need)
					peek |= (uint32_t) NODE_BYTE(nd, at + i) << (8 * i);
		peek >>= bitpos % 8;
		entry = decode_label(r, peek);
		if (entry == 0)
			return set_error(errmsg, "fst chain has a bad code");
		bitpos += entry >> 8;
		if (pos + ((uint64_t) bitpos + 7) / 8 > need)
			return set_error(errmsg, "fst node truncated");
		nd->chain_labels[m] = (uint8_t) entry;
		/* where label sub + m + 1 starts */
		nd->chain_next[m] = (addr & FST_ADDR_MASK) |
			(uint64_t) (sub + m + 1) << FST_SUB_SHIFT |
			(uint64_t) bitpos << FST_BIT_SHIFT;
	}
	nd->start = addr - (pos + (bitpos + 7) / 8) + 1;
	if (!target_below(nd->start, delta, &nd->chain_next[m - 1]))
		return set_error(errmsg, "fst transition target out of range");
	nd->chain_n = m;
	nd->single = true;
	nd->chain = true;
	nd->final = false;
	nd->n = 1;
	nd->label = nd->chain_labels[0];
	nd->target = nd->chain_next[0];
	return 0;
}

/*
 * Read and decode the node at addr into nd; see fst_node.h.  Its bytes come
 * from the window win when they are in it, else a new window ending at addr
 * is fetched (into buf, if the source copies).
 */
int
fst_node_read(const FstReader *r, FstWindow *win, uint64_t vaddr, Node *nd,
			  uint8_t *buf, char *errmsg)
{
	uint64_t	addr = vaddr & FST_ADDR_MASK;
	uint32_t	sub = (uint32_t) ((vaddr >> FST_SUB_SHIFT) & 0x3f);
	uint32_t	bitpos = (uint32_t) (vaddr >> FST_BIT_SHIFT);
	uint64_t	avail;
	uint64_t	w;
	const uint8_t *p;
	uint8_t		h;
	uint32_t	pos;

	if (addr < FST_PREAMBLE_SIZE || addr >= r->nodes_end)
		return set_error(errmsg, "fst node address out of range");
	avail = addr - FST_PREAMBLE_SIZE + 1;
	if (win->p == NULL || addr < win->lo || addr >= win->hi ||
		(addr - win->lo < 15 && win->lo > FST_PREAMBLE_SIZE))
	{
		w = window_width(r, addr, avail);
		p = r->src.read(r->src.arg, addr - w + 1, (size_t) w, buf);
		if (p == NULL)
			return set_error(errmsg, "fst image read failed");
		win->lo = addr - w + 1;
		win->hi = addr + 1;
		win->p = p;
	}
	w = addr - win->lo + 1;		/* bytes of the window at and below addr */
	nd->addr = vaddr;
	nd->end = win->p + (addr - win->lo);
	nd->chain = false;
	h = NODE_BYTE(nd, 0);
	nd->final = (h & 0x40) != 0;
	pos = 1;
	if (r->packed && (h & 0x80) &&
		(h & 0x3f) >= FST_CHAIN_CODE0)
		return read_chain(r, win, addr, sub, bitpos, avail, nd, buf, errmsg);
	if (sub != 0 || bitpos != 0)
		return set_error(errmsg, "fst chain position out of range");
	if (h & 0x80)
	{
		uint64_t	delta;
		uint32_t	len;

		nd->single = true;
		nd->final = false;
		nd->n = 1;
		if (!fst_decode_single(nd->end, w, r->common,
							   r->packed, &nd->label,
							   &delta, &len))
			return set_error(errmsg, "fst node truncated or bad varint");
		nd->start = addr - len + 1;
		if (!target_below(nd->start, delta, &nd->target))
			return set_error(errmsg, "fst transition target out of range");
		return 0;
	}
	else
	{
		uint32_t	v = h & 0x1f;
		uint64_t	len;
		uint64_t	bits;
		uint64_t	need;
		uint32_t	code_bits;
		uint32_t	codes;

		nd->single = false;
		nd->lastnext = (h & 0x20) != 0;
		if (v == 31)
		{
			if (pos >= w)
				return set_error(errmsg, "fst node truncated");
			v = 31 + NODE_BYTE(nd, pos++);
			if (v > 256)
				return set_error(errmsg, "fst node has too many transitions");
		}
		nd->n = v;
		if (v == 0)
		{
			if (!nd->final || nd->lastnext)
				return set_error(errmsg, "fst leaf node is not final");
			nd->start = addr - pos + 1;
			return 0;
		}
		nd->ndeltas = nd->lastnext ? v - 1 : v;
		nd->hdr = pos;

		/* the labels and the width codes must be in the window */
		need = pos + v + 2;
		if (need > avail)
			need = avail;
		if (window_cover(r, win, addr, need, avail, nd, buf, errmsg) != 0)
			return -1;
		w = addr - win->lo + 1;

		/*
		 * The width codes, at most 4 + 9 bits: the delta code if the node
		 * has deltas, then the output width in gamma code (z zeros, a one,
		 * z more bits) if it has outputs.  Bytes beyond the window read as
		 * zeros; the length check below refuses codes that reach them.
		 */
		codes = pos + v < w ? NODE_BYTE(nd, pos + v) : 0;
		if (pos + v + 1 < w)
			codes |= (uint32_t) NODE_BYTE(nd, pos + v + 1) << 8;
		code_bits = 0;
		nd->dbits = 0;
		nd->obits = 0;
		if (nd->ndeltas > 0)
		{
			nd->dbits = delta_bits[codes & 0xf];
			codes >>= 4;
			code_bits = 4;
		}
		if (v > 1)
		{
			uint32_t	x;
			int			z;

			if ((codes & 0x1f) == 0)
				return set_error(errmsg, "fst node has a bad width code");
			z = __builtin_ctz(codes);
			/* a one, then the z bits after the zeros, first bit highest */
			x = 1u << z |
				reverse4[(codes >> (z + 1)) & ((1u << z) - 1)] >> (4 - z);
			if (x > 16)
				return set_error(errmsg, "fst node has a bad width code");
			nd->obits = output_bits[x - 1];
			code_bits += 2 * z + 1;
		}
		if (pos + v + (code_bits + 7) / 8 > w)
			return set_error(errmsg, "fst node truncated");
		nd->code_bits = code_bits;
		bits = code_bits + (uint64_t) nd->ndeltas * nd->dbits +
			(uint64_t) (v - 1) * nd->obits;
		len = pos + v + (bits + 7) / 8;
		if (len > avail)
			return set_error(errmsg, "fst node extends below the node area");
		nd->start = addr - len + 1;
		if (nd->start == FST_PREAMBLE_SIZE)
			return set_error(errmsg, "fst node has no room for targets");
		if (window_cover(r, win, addr, len, avail, nd, buf, errmsg) != 0)
			return -1;
		nd->room = addr - win->lo + 1;
		return 0;
	}
}

/*
 * fst_lookup's step over a single-transition node that lies wholly in the
 * reader's window (the cursor's take_single_fast rule): 1 if its label is
 * `label` (*addr is then its target), 0 if it is another label, -1 if the
 * node is not such a node or does not decode cleanly -- the caller then
 * reads it the general way, which also reports any corruption.  A lookup
 * of a 64-byte path steps over about 23 of these; fst_node_read's general
 * decoding costs each about twice as many instructions.
 */
static inline int
lookup_single_fast(const FstReader *r, uint64_t *addr, uint8_t label)
{
	const FstWindow *win = &r->win;
	uint64_t	a = *addr;
	const uint8_t *e;
	uint8_t		got;
	uint64_t	delta;
	uint32_t	len;
	uint64_t	target;

	/* a plain address (not inside a chain) with 16 window bytes at it */
	if (win->p == NULL || a >= win->hi || a < win->lo + 15 ||
		a >= r->nodes_end)
		return -1;
	e = win->p + (a - win->lo);
	if (!fst_decode_single(e, 16, r->common, r->packed, &got, &delta, &len) ||
		!target_below(a - len + 1, delta, &target))
		return -1;
	if (got != label)
		return 0;
	*addr = target;
	return 1;
}

/* Exact lookup of key; see fst.h. */
int
fst_lookup(FstReader *r, const uint8_t *key, size_t len, uint64_t *ordinal)
{
	uint64_t	addr = r->root;
	uint64_t	ord = 0;
	size_t		j;
	Node		nd;

	window_start(r, &r->win);
	if (r->nkeys == 0 || len > r->max_key_len)
		return 0;
	for (j = 0; j < len;)
	{
		uint32_t	i;
		uint64_t	out;
		int			fast = lookup_single_fast(r, &addr, key[j]);

		if (fast == 0)
			return 0;
		if (fast == 1)
		{
			j++;				/* a single node's output is 0 */
			continue;
		}
		if (fst_node_read(r, &r->win, addr, &nd, r->buf, r->errmsg) != 0)
			return -1;
		if (nd.chain)
		{
			/* all the chain's labels at once (outputs are 0) */
			for (i = 0; i < nd.chain_n; i++, j++)
				if (j == len || key[j] != nd.chain_labels[i])
					return 0;
			addr = nd.chain_next[nd.chain_n - 1];
			continue;
		}
		i = node_lower_bound(&nd, key[j]);
		if (i == nd.n || fst_node_label(&nd, i) != key[j])
			return 0;
		if (fst_node_trans(&nd, i, &addr, &out, r->errmsg) != 0)
			return -1;
		if (out >= r->nkeys - ord)
			return set_error(r->errmsg, "fst output out of range");
		ord += out;
		j++;
	}
	if (fst_node_read(r, &r->win, addr, &nd, r->buf, r->errmsg) != 0)
		return -1;
	if (!nd.final)
		return 0;
	*ordinal = ord;
	return 1;
}

/* ------------------------------------------------------------- checking */

/* Copy a message (of any object) into errmsg; returns -1. */
static int
copy_error(char *errmsg, const char *msg)
{
	return set_error(errmsg, msg[0] ? msg : "fst verification failed");
}

/* Check the posting list of one ordinal; adds its TIDs to *ntids. */
static int
verify_postings(FstPostings *p, uint64_t ord, uint64_t *ntids, char *errmsg)
{
	FstPostingsIter it;
	FstTid		tids[64];
	uint64_t	got = 0;
	uint32_t	pblock = 0;
	uint16_t	poff = 0;
	int64_t		m;

	if (fst_postings_seek(p, &it, ord) != 0)
		return copy_error(errmsg, p->errmsg);
	while ((m = fst_postings_next(&it, tids, 64)) > 0)
	{
		int64_t		i;

		for (i = 0; i < m; i++)
		{
			uint32_t	blk = ((uint32_t) tids[i].bi_hi << 16) | tids[i].bi_lo;

			if (got + i > 0 &&
				(blk < pblock || (blk == pblock && tids[i].offset <= poff)))
				return set_error(errmsg, "postings TIDs not ascending");
			pblock = blk;
			poff = tids[i].offset;
		}
		got += (uint64_t) m;
	}
	if (m < 0)
		return copy_error(errmsg, p->errmsg);
	if (got != it.count)
		return set_error(errmsg, "postings list shorter than its count");
	*ntids += got;
	return 0;
}

/* Check an FST and optionally its postings; see fst.h. */
int
fst_verify(FstReader *r, FstPostings *p, const FstAllocator *alloc,
		   FstVerifyInfo *info, char *errmsg)
{
	FstCursor  *c = alloc->alloc(alloc->arg, sizeof(FstCursor));
	uint8_t    *prev = NULL;
	uint32_t	prevlen = 0;
	uint64_t	n = 0;
	uint64_t	ntids = 0;
	uint32_t	maxlen = 0;
	int			rc;
	int			result = -1;

	errmsg[0] = '\0';
	if (p != NULL && p->nkeys != r->nkeys)
	{
		set_error(errmsg, "fst and postings key counts differ");
		goto done;
	}
	fst_cursor_init(c, r, alloc);
	prev = alloc->alloc(alloc->arg, (size_t) r->max_key_len + 1);
	rc = fst_cursor_seek(c, FST_SEEK_FIRST, NULL, 0);
	while (rc == 1)
	{
		int			cmp = key_cmp_bytes(c->key, c->keylen, prev, prevlen);

		if (c->ordinal != n)
		{
			set_error(errmsg, "fst ordinals do not start at 0");
			break;
		}
		if (n > 0 && cmp <= 0)
		{
			set_error(errmsg, "fst keys not strictly ascending");
			break;
		}
		memcpy(prev, c->key, c->keylen);
		prevlen = c->keylen;
		if (c->keylen > maxlen)
			maxlen = c->keylen;
		if (p != NULL && verify_postings(p, n, &ntids, errmsg) != 0)
			break;
		n++;
		rc = fst_cursor_next(c);
	}
	if (rc < 0)
		copy_error(errmsg, c->errmsg);
	else if (rc == 0)
	{
		if (n != r->nkeys)
			set_error(errmsg, "fst key count differs from the trailer");
		else if (maxlen != r->max_key_len)
			set_error(errmsg, "fst max key length differs from the trailer");
		else if (p != NULL && ntids != p->ntids)
			set_error(errmsg, "postings TID count differs from the trailer");
		else
			result = 0;
	}
	if (info)
	{
		info->nkeys = n;
		info->ntids = ntids;
		info->max_key_len = maxlen;
	}
	fst_cursor_free(c);
done:
	if (prev)
		alloc->free(alloc->arg, prev);
	alloc->free(alloc->arg, c);
	return result;
}
