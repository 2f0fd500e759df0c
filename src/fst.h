/*-------------------------------------------------------------------------
 *
 * fst.h
 *	  Finite state transducer mapping byte-string keys to their ordinals,
 *	  and compact per-ordinal TID posting lists.
 *
 * This is the frozen layer of memkv.  It is plain C with no PostgreSQL
 * dependency: memory comes from a caller-supplied allocator (FstAllocator),
 * output goes to a caller-supplied sink (FstSinkFn) and input is read
 * through a caller-supplied byte source (FstSource), so the same code runs
 * in the server (palloc, index pages) and in unit tests and fuzzers.  There
 * is no global mutable state.  Corrupt input is reported by a negative
 * return code and a message in the object's errmsg buffer; no function
 * reads outside the source's size, crashes or loops forever on any input.
 *
 * Two independent byte images are produced:
 *
 *	- the FST image (FstBuilder / FstReader / FstCursor) maps each key to
 *	  its ordinal, 0..nkeys-1 in key order;
 *	- the postings image (FstPostingsWriter / FstPostings) maps an ordinal
 *	  to the sorted list of TIDs of that key.
 *
 * Typical use (CREATE INDEX, freeze): feed keys in order to an FstBuilder
 * and, for the same ordinals, their TID lists to an FstPostingsWriter; both
 * stream bytes to their sinks (e.g. into index pages).  Keep the two image
 * sizes (FstInfo.size, FstPostingsInfo.size) in the metapage: a reader
 * needs the size to find the trailer.  To read, open an FstReader and an
 * FstPostings over FstSources that map logical offsets to pages; lookups
 * and cursors give ordinals, fst_postings_seek turns an ordinal into TIDs.
 *
 * Limits: an FST image must be below 2^40 bytes and hold fewer than 2^40
 * keys (the builder fails cleanly otherwise); keys are at most 2^32-2
 * bytes.  Builder memory: the registry (FstBuildOptions.registry_bytes,
 * default 2 MB, fixed) plus O(longest key) for the unfinished path, and
 * with FstBuildOptions.pack_map 3 bits per byte of the image, and with
 * FstBuildOptions.unit_bytes the top nodes (at 8 kB units about 1% of
 * the image's bytes, held as 32 bytes per transition and 24 per node).
 * Postings writer memory: one group of encoded lists plus 8 bytes per 128
 * keys for the group table.
 *
 *
 * FST IMAGE FORMAT (version 1)
 * ----------------------------
 * All multi-byte integers are little-endian unless said otherwise.
 * "varint" is LEB128: 7 bits per byte, low groups first, high bit set on
 * every byte but the last, at most 9 bytes.
 *
 *	offset 0	preamble, FST_PREAMBLE_SIZE (72) bytes:
 *				  u32 magic FST_MAGIC, u16 version, u16 flags (0),
 *				  u8[63] common-label table, u8 padding (0)
 *	offset 72	node area: nodes, written bottom-up (every node after all the
 *				nodes it points to)
 *	size-40		trailer, FST_TRAILER_SIZE (40) bytes:
 *				  u32 magic FST_TRAILER_MAGIC, u16 version, u16 flags (0),
 *				  u64 root address, u64 nkeys, u64 total image size,
 *				  u32 max key length, u32 checksum (FNV-1a 32 of the 36
 *				  trailer bytes before it followed by the preamble)
 *
 * A node is addressed by the offset of its LAST byte and is read backwards:
 * its logical byte i, L[i], is stored at address addr - i.  Its first
 * stored (lowest) byte is start = addr - len + 1.  Transitions name their
 * target by a delta from the node's start:
 *
 *		target = start - 1 - delta
 *
 * so delta 0 means "the node written immediately before this one", and
 * every target is strictly below the node that points to it: the graph is
 * acyclic by construction, and every walk strictly decreases addresses.
 *
 * Ordinals: each transition has an output; the ordinal of a key is the sum
 * of the outputs along its path.  The output of transition i of a node is
 * the number of keys accepted by the node that sort before the keys under
 * transition i: 1 for the node's own (empty-suffix) key if it is final,
 * plus all keys under transitions 0..i-1.  Outputs depend only on the
 * sub-automaton, so sharing suffixes is unaffected by them.  The output of
 * transition 0 is implicit (final ? 1 : 0).
 *
 * Single-transition non-final node (L[0] bit 7 set):
 *	L[0]	bit 6 "next" (delta is 0), bits 0-5 label code c
 *	[u8]	the label, present only when c == 0; otherwise the label is
 *			common-label table entry c-1
 *	[var]	delta - 1 as a varint, present only when "next" is clear
 *	Its transition's output is 0.
 *
 * Other nodes (L[0] bit 7 clear):
 *	L[0]	bit 6 final, bit 5 "last next" (the last transition's delta is
 *			0 and not stored), bits 0-4 c: the number of transitions n = c
 *			when c < 31, else n = 31 + L[1] (at most 256)
 *	when n == 0 the node ends here: a final leaf (a non-final leaf, or
 *	"last next" without transitions, is corrupt).  Otherwise, continuing at
 *	the next logical byte:
 *	u8[n]	labels, strictly ascending
 *	bits	a bit area of ceil(bits / 8) bytes, bit k being bit (k % 8) of
 *			byte k / 8 (byte j of the area is the j-th following logical
 *			byte), holding in order:
 *			- unless there are no stored deltas (n == 1 with "last next"):
 *			  the 4-bit delta code dc; deltas are FST_DELTA_BITS[dc] wide
 *			- if n > 1: the output code oc as Elias gamma of oc + 1
 *			  (floor(log2(oc + 1)) zero bits, then the bits of oc + 1 most
 *			  significant first); outputs are FST_OUTPUT_BITS[oc] wide
 *			- the deltas of transitions 0..n-1 (0..n-2 with "last next")
 *			- the outputs of transitions 1..n-1
 *			multi-bit fields least significant bit first
 *
 * An empty FST (nkeys == 0) has no nodes and root 0.
 *
 *
 * PACKED FORMAT (version 2)
 * -------------------------
 * fst_pack re-encodes a finished image; the server stores only packed
 * images, readers accept both versions.  Differences from version 1:
 *
 *	- preamble and trailer carry version 2; between the node area and the
 *	  trailer lies a code table of FST_CODE_TABLE_SIZE (128) bytes: the
 *	  code length (0..FST_CODE_MAX_BITS, 0: no code) of label s is the low
 *	  nibble of byte s / 2 for even s, the high one for odd s.  The lengths
 *	  define a canonical prefix code: codes assigned in order of (length,
 *	  label), each the previous plus one, shifted left when the length
 *	  grows.  The trailer checksum continues over the code table after
 *	  the preamble.
 *	- single-transition node codes 1..47 name common labels; codes 48..63
 *	  (FST_CHAIN_CODE0 and up) make a chain node instead: k = code - 46
 *	  single-transition non-final nodes in a row (2 <= k <=
 *	  FST_CHAIN_MAX), each the only way into the next:
 *		L[0]	bit 7 set, bit 6 "next" (the last label's delta is 0), bits
 *				0-5 the code
 *		[var]	delta - 1 of the last label's target, unless "next"
 *		bits	the k labels' codes in path order, each written least
 *				significant bit first in the order of the code's bits
 *				(first bit of the code first), padded to a byte
 *	  The chain's labels other than the first have no address of their
 *	  own: nothing but the chain leads into them.  The last label's target
 *	  is start - 1 - delta, start being the chain's lowest byte.
 *	- the common-label table is the packer's own (the labels of
 *	  single-transition nodes, most frequent first).
 *
 *
 * TOP REGION (version 3)
 * ----------------------
 * A builder given FstBuildOptions.unit_bytes > 0 places its nodes so that
 * a lookup reads one small region shared by all lookups and one unit of
 * at most unit_bytes consecutive bytes.  A node's *own bytes* are the
 * bytes written from the start of its first transition's subtree to its
 * own end (as if it were written in place).  A node whose own bytes
 * exceed unit_bytes, or that points to such a node, is a *top* node: the
 * builder holds it back and writes all top nodes, in the order it
 * compiled them, after the last other node.  These form the *top region*
 * [top start, end of the node area); the rest is the *leaf region*, made
 * of *leaf units*: the subtree under each top node's transition into the
 * leaf region, its own bytes consecutive and at most unit_bytes (plus
 * shared suffix nodes it may point to, which lie below it).  Top nodes
 * are never shared (not entered in the suffix registry), so no leaf node
 * points into the top region; pointers still lead downwards only.
 * fst_pack keeps the placement: it re-encodes the nodes in address order
 * and never merges a top node and a leaf node into one chain node.  The
 * builder gives common-label codes only to the first FST_CHAIN_CODE0 - 1
 * labels of its table (the codes a packed image has), and fst_pack keeps
 * that table instead of choosing its own: so no node grows in packing
 * (distances only shrink, a chain node is used only where it is shorter),
 * and a unit of the packed image is no larger than in the plain one.
 *
 * Such an image, plain or packed, carries version 3 in preamble and
 * trailer, and flags (u16, preamble and trailer alike) FST_FLAG_PACKED
 * when it is packed (its code table is then present as in version 2).
 * Right before the 40-byte trailer lies a u64, the top start, so that
 * the image ends with FST_TOP_FIELD_SIZE + FST_TRAILER_SIZE bytes; the
 * checksum continues over those 8 bytes (after the code table, if any).
 * Rules a reader checks: FST_PREAMBLE_SIZE <= top start <= end of the
 * node area; an empty image has top start == end of the node area; in a
 * non-empty one the root is the last node (its address is the node
 * area's last byte), the top start lies above the preamble (the final
 * leaf is never top), and the bytes below the top start end with a
 * decodable node.  An empty top region (top start == end of the node
 * area) means the whole image is one unit.
 *
 *
 * POSTINGS IMAGE FORMAT (version 1)
 * ---------------------------------
 * A TID is (block, offset) with block = bi_hi << 16 | bi_lo.  Lists are
 * strictly ascending by (block, offset).
 *
 *	offset 0	preamble: u32 magic FST_POSTINGS_MAGIC, u16 version, u16 0
 *	offset 8	groups: group g holds ordinals 128g .. 128g+127 (the last
 *				may be shorter); each starts byte-aligned
 *	table_off	group table: ngroups entries of tw bytes, the offset of
 *				each group in the image
 *	size-48		trailer: u32 magic FST_POSTINGS_TRAILER_MAGIC, u16 version,
 *				u8 tw (1..8), u8 0, u64 nkeys, u64 ntids, u64 table_off,
 *				u64 total size, u32 max TIDs of one key (saturating),
 *				u32 checksum (FNV-1a 32 of the 44 bytes before it)
 *
 * A group starts with u8 flags: bit 6 set when some key of the group has
 * exactly one TID (a "single"), bit 7 set when some but not all keys are
 * singles, bits 0-5 the width W (0..48) of a single's value (0 when there
 * are no singles).  If bit 7 is set, a 128-bit bitmap follows (16 bytes;
 * bit k of byte j stands for key 8j+k of the group) marking the singles.
 * If there are singles: varint base block, varint radix R (1 + the largest
 * offset of the singles), then one W-bit value per single in order,
 * v = (block - base) * R + offset, packed LSB-first into bytes, padded to a
 * byte.  Then, for every non-single key in order: varint n (the number of
 * TIDs, 0 or >= 2); if n >= 2, varint payload length in bytes and the
 * payload: varint first block, varint first offset, then a bit stream
 * (LSB-first) with, for each further TID, gamma(dblock + 1) and then
 * gamma(offset - previous offset) when dblock == 0, or gamma(offset + 1)
 * when dblock > 0; padded to a byte.  gamma(x), x >= 1, is Elias gamma:
 * floor(log2 x) zero bits, then the floor(log2 x) + 1 bits of x, most
 * significant first.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_FST_H
#define MEMKV_FST_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

#define FST_MAGIC					0x464b4d4du	/* "MMKF" */
#define FST_TRAILER_MAGIC			0x544b4d4du	/* "MMKT" */
#define FST_POSTINGS_MAGIC			0x504b4d4du	/* "MMKP" */
#define FST_POSTINGS_TRAILER_MAGIC	0x514b4d4du	/* "MMKQ" */
#define FST_VERSION					1	/* postings; FST images written plain */
#define FST_VERSION_PACKED			2	/* FST images re-encoded by fst_pack */
#define FST_VERSION_TOP				3	/* FST images with a top region */
#define FST_FLAG_PACKED				0x0001	/* version 3: packed form */
#define FST_TOP_FIELD_SIZE			8	/* version 3: u64 top start */
#define FST_PREAMBLE_SIZE			72
#define FST_TRAILER_SIZE			40
#define FST_POSTINGS_PREAMBLE_SIZE	8
#define FST_POSTINGS_TRAILER_SIZE	48
#define FST_POSTINGS_GROUP			128
#define FST_NCOMMON					63

/* Packed images (version 2): see "PACKED FORMAT" above. */
#define FST_CODE_TABLE_SIZE			128 /* 256 4-bit code lengths */
#define FST_CODE_MAX_BITS			11
#define FST_DECODE_BITS				8	/* codes found by one table lookup */
#define FST_CHAIN_CODE0				48	/* single-node codes 48..63: chains */
#define FST_CHAIN_MAX				17	/* labels of one chain node */

/* Field widths (bits) selected by the width codes of a multi node. */
#define FST_DELTA_BITS	{0, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 18, 20, 22, 24, 40}
#define FST_OUTPUT_BITS {1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 32, 40}

/* Largest encoded node: header, count, labels, codes, 511 40-bit fields. */
#define FST_MAX_NODE_BYTES			(3 + 256 + 256 * 10)
#define FST_ERRMSG_LEN				128

/* Memory for the builder, the cursor and the postings writer. */
typedef struct FstAllocator
{
	void	   *(*alloc) (void *arg, size_t size);
	void	   *(*realloc) (void *arg, void *ptr, size_t oldsize, size_t newsize);
	void		(*free) (void *arg, void *ptr);
	void	   *arg;
} FstAllocator;

/* Append `len` bytes to the output; returns 0, or nonzero to abort. */
typedef int (*FstSinkFn) (void *arg, const uint8_t *data, size_t len);

/*
 * Random access to an image of `size` bytes.  read returns a pointer to the
 * `len` bytes at offset `off`: either its own memory or `buf` (which has
 * room for len bytes) after copying them there; NULL on an I/O error.
 * Callers never ask for bytes outside [0, size) nor for more than
 * FST_MAX_NODE_BYTES at once.  The pointer need only stay valid until the
 * next read call.
 */
typedef struct FstSource
{
	const uint8_t *(*read) (void *arg, uint64_t off, size_t len, uint8_t *buf);
	void	   *arg;
	uint64_t	size;
} FstSource;

/* A read callback for an image held contiguously in memory at `arg`. */
extern const uint8_t *fst_memory_read(void *arg, uint64_t off, size_t len,
									  uint8_t *buf);

/* Same layout as PostgreSQL's ItemPointerData. */
typedef struct FstTid
{
	uint16_t	bi_hi;
	uint16_t	bi_lo;
	uint16_t	offset;
} FstTid;

/* ---------------------------------------------------------------- builder */

typedef struct FstBuildOptions
{
	/*
	 * Memory for the registry of compiled nodes used for suffix sharing;
	 * more finds more shared suffixes.  0 means the default (2 MB).  The
	 * builder's other memory is O(longest key * fan-out).
	 */
	size_t		registry_bytes;
	/* Labels that single-transition nodes encode for free; NULL: default. */
	const uint8_t *common_labels;	/* FST_NCOMMON bytes, or NULL */

	/*
	 * Also record what fst_pack needs to know of the image's nodes (see
	 * fst_builder_take_pack_map), so that packing need not walk the image
	 * first.  Costs 3 bits per byte of the image.
	 */
	bool		pack_map;

	/*
	 * Leaf unit size in bytes (see "TOP REGION"): 0 writes a version 1
	 * image without a top region, the same bytes as a builder without
	 * this option; > 0 holds back the top nodes and writes a version 3
	 * image.  The top nodes are kept in memory until fst_builder_finish.
	 */
	uint64_t	unit_bytes;

	/*
	 * With unit_bytes > 0: a node already written is shared (the suffix
	 * registry's hits) only if it ends within this many bytes of the end
	 * of what is written so far, so that a unit rarely points far below
	 * itself; a farther one is written again.  0: shared wherever it is.
	 */
	uint64_t	share_window;
} FstBuildOptions;

typedef struct FstInfo
{
	uint64_t	nkeys;
	uint64_t	size;			/* total image bytes, trailer included */
	uint64_t	root;
	uint32_t	max_key_len;
	uint64_t	nodes;			/* nodes written */
	uint64_t	registry_hits;	/* nodes shared instead of written */
	uint64_t	top_start;		/* version 3: where the top region starts;
								 * else the end of the node area */
	uint64_t	top_nodes;		/* nodes in the top region (builder only) */
} FstInfo;

typedef struct FstBuilder FstBuilder;

/* Create a builder writing to `sink`; opts may be NULL.  Never NULL. */
extern FstBuilder *fst_builder_create(const FstAllocator *alloc,
									  FstSinkFn sink, void *sink_arg,
									  const FstBuildOptions *opts);

/*
 * Add the next key; its ordinal is the number of keys added before it.
 * Keys must be strictly ascending (unsigned bytes, a prefix first).
 * Returns 0, or -1 (order violation, sink failure; see fst_builder_error).
 */
extern int	fst_builder_add(FstBuilder *b, const uint8_t *key, size_t len);

/* Write the remaining nodes and the trailer; returns 0 or -1. */
extern int	fst_builder_finish(FstBuilder *b, FstInfo *info);

/* The message of the last error. */
extern const char *fst_builder_error(const FstBuilder *b);

/* Keys added and bytes produced so far (for progress reports). */
extern uint64_t fst_builder_nkeys(const FstBuilder *b);
extern uint64_t fst_builder_written(const FstBuilder *b);

/* Release all memory of the builder (finished or not). */
extern void fst_builder_destroy(FstBuilder *b);

/*
 * What a builder made with FstBuildOptions.pack_map knows of its image's
 * nodes, for fst_pack: where each node ends, which nodes are pointed to
 * and how, and how often each label occurs (fst_node.h).
 */
typedef struct FstPackMap FstPackMap;

/*
 * The pack map of a finished builder, which passes to the caller (free
 * it with fst_pack_map_free); NULL if none was recorded or the build
 * failed.
 */
extern FstPackMap *fst_builder_take_pack_map(FstBuilder *b);
extern void fst_pack_map_free(const FstAllocator *alloc, FstPackMap *map);

/*
 * Re-encode the finished plain image image[0..size) in the packed format
 * (version 2, smaller: see "PACKED FORMAT"; a version 3 image stays
 * version 3, its nodes in the same places), streaming it to sink.  Same
 * keys and ordinals; info gets the new image's figures.  `map` is the
 * pack map the builder of this very image recorded, or NULL, in which
 * case fst_pack first makes one by walking the image; the map is only
 * read.  The output is the same either way.  Memory: 5 bits per byte of
 * the input image (3 of them the map's) plus 8 bytes per node pointed
 * to.  Returns 0, or -1 with a message in errmsg
 * (FST_ERRMSG_LEN bytes) if the input is not a valid plain image, does
 * not match the map, or the sink fails.
 */
extern int	fst_pack(const uint8_t *image, uint64_t size, FstPackMap *map,
					 const FstAllocator *alloc, FstSinkFn sink, void *sink_arg,
					 FstInfo *info, char *errmsg);


/* ----------------------------------------------------------------- reader */

/*
 * Bytes [lo, hi) of an image as last fetched, at p (valid only until the
 * next read call on the source; every public function starts afresh).
 */
typedef struct FstWindow
{
	uint64_t	lo;
	uint64_t	hi;
	const uint8_t *p;
} FstWindow;

typedef struct FstReader
{
	FstSource	src;
	uint64_t	root;
	uint64_t	nkeys;
	uint64_t	nodes_end;		/* first byte after the node area */
	uint32_t	max_key_len;
	uint16_t	version;		/* FST_VERSION, _PACKED or _TOP */
	bool		packed;			/* version 2, or 3 with FST_FLAG_PACKED */
	uint64_t	top_start;		/* first byte of the top region (version
								 * 3), else nodes_end: no top region */
	uint8_t		common[FST_NCOMMON];
	FstWindow	win;			/* for fst_lookup */
	/*
	 * The image itself when it lies contiguously in memory (src.read is
	 * fst_memory_read): every window then spans all of it and is never
	 * fetched again.  NULL for other sources.
	 */
	const uint8_t *whole;
	/*
	 * Packed images: label | code length << 8 for the next FST_DECODE_BITS
	 * bits of a chain (0: a longer code, or none); for longer codes, the
	 * canonical code's first code, count and first index in code_labels
	 * for each length.
	 */
	uint16_t	decode[1 << FST_DECODE_BITS];
	uint16_t	code_first[FST_CODE_MAX_BITS + 1];
	uint16_t	code_count[FST_CODE_MAX_BITS + 1];
	uint16_t	code_index[FST_CODE_MAX_BITS + 1];
	uint8_t		code_labels[256];	/* by (length, label) */
	uint8_t		buf[FST_MAX_NODE_BYTES];
	char		errmsg[FST_ERRMSG_LEN];
} FstReader;

/* Validate preamble and trailer of the image in src.  Returns 0 or -1. */
extern int	fst_reader_open(FstReader *r, const FstSource *src);

/*
 * Read the opened image of r through src from now on: the same bytes,
 * reached another way (say, a copy in memory instead of pages).
 */
extern void fst_reader_set_source(FstReader *r, const FstSource *src);

/*
 * Exact lookup.  Returns 1 and sets *ordinal if key is present, 0 if not,
 * -1 on corrupt input (message in r->errmsg).
 */
extern int	fst_lookup(FstReader *r, const uint8_t *key, size_t len,
					   uint64_t *ordinal);

typedef enum FstSeekOp
{
	FST_SEEK_FIRST,				/* the smallest key; key argument ignored */
	FST_SEEK_LAST,				/* the largest key */
	FST_SEEK_GE,				/* the first key >= bound */
	FST_SEEK_GT,				/* the first key > bound */
	FST_SEEK_LE,				/* the last key <= bound */
	FST_SEEK_LT					/* the last key < bound */
} FstSeekOp;

typedef struct FstFrame
{
	uint64_t	addr;			/* node */
	uint64_t	ord;			/* ordinal accumulated on arriving here */
	uint32_t	ti;				/* transition taken to the next frame */
	uint32_t	n;				/* transitions of the node (set with ti) */
	bool		final;			/* the node is final (set with ti) */
} FstFrame;

/*
 * A position in the key order.  When positioned, key[0..keylen) is the
 * current key and ordinal its ordinal.  Created by fst_cursor_init; the
 * reader must outlive it.
 */
typedef struct FstCursor
{
	FstReader  *r;
	FstAllocator alloc;
	FstFrame   *stack;			/* grown on demand up to max_key_len + 1 */
	uint8_t    *key;
	uint32_t	cap;			/* frames and key bytes allocated */
	uint32_t	depth;			/* key length of the current frame */
	uint32_t	keylen;
	uint64_t	ordinal;
	bool		positioned;
	FstWindow	win;
	uint8_t		buf[FST_MAX_NODE_BYTES];
	char		errmsg[FST_ERRMSG_LEN];
} FstCursor;

/* Prepare a cursor on r; unpositioned.  Memory grows with key length. */
extern void fst_cursor_init(FstCursor *c, FstReader *r,
							const FstAllocator *alloc);

/* Free the cursor's memory. */
extern void fst_cursor_free(FstCursor *c);

/*
 * Position on the key chosen by op and bound (bound ignored for FIRST and
 * LAST).  Returns 1 if positioned, 0 if there is no such key (cursor then
 * unpositioned), -1 on corrupt input (message in c->errmsg).
 */
extern int	fst_cursor_seek(FstCursor *c, FstSeekOp op,
							const uint8_t *bound, size_t len);

/*
 * Step to the next (prev: previous) key in order.  Returns 1 if positioned,
 * 0 at the end (unpositioned afterwards), -1 on corrupt input.  On an
 * unpositioned cursor returns 0.
 */
extern int	fst_cursor_next(FstCursor *c);
extern int	fst_cursor_prev(FstCursor *c);

/*
 * Keys of a subtree decoded at once (fst_unit.c): a leaf unit of a version
 * 3 image, or any node.  data[0..len) holds nkeys keys in key order (or,
 * if backward, in reverse), each as varint lcp (bytes shared with the key
 * before it in the block; 0 for the first), varint suffix length, suffix
 * bytes.  Ordinals are consecutive: first_ordinal is the smallest.
 */
typedef struct FstKeyBlock
{
	uint8_t    *data;
	uint64_t	len;
	uint64_t	nkeys;
	uint64_t	first_ordinal;
	bool		backward;
} FstKeyBlock;

typedef struct FstUnitWalker FstUnitWalker;

/*
 * A walker over r's image (r must outlive it); memory grows with the key
 * length, the fan-out on a path and the largest block.  Never NULL.
 */
extern FstUnitWalker *fst_unit_walker_create(FstReader *r,
											 const FstAllocator *alloc);
extern void fst_unit_walker_destroy(FstUnitWalker *w);
extern const char *fst_unit_walker_error(const FstUnitWalker *w);

/*
 * Decode every key under node addr, reached by the path prefix[0..plen)
 * with accumulated ordinal ord (the ordinal of the subtree's smallest
 * key), depth first, forward or backward.  *block points into the walker
 * until its next call.  Returns 0, or -1 on a damaged image (message in
 * fst_unit_walker_error): a bad node, a key longer than the trailer's
 * maximum, or ordinals that do not follow each other.
 */
extern int	fst_unit_decode(FstUnitWalker *w, uint64_t addr, uint64_t ord,
							const uint8_t *prefix, uint32_t plen,
							bool backward, const FstKeyBlock **block);

/*
 * Read the key at *pos of a block into key (which holds the previous key
 * of the block, keylen bytes; room for the image's max key length) and
 * advance *pos.  Returns false at the block's end or on a malformed
 * entry.
 */
static inline bool
fst_key_block_next(const FstKeyBlock *b, uint64_t *pos, uint8_t *key,
				   uint32_t *keylen, uint32_t max_key_len)
{
	uint64_t	v[2];
	int			k;

	for (k = 0; k < 2; k++)
	{
		int			shift = 0;
		uint8_t		byte;

		v[k] = 0;
		do
		{
			if (*pos >= b->len || shift > 56)
				return false;
			byte = b->data[(*pos)++];
			v[k] |= (uint64_t) (byte & 0x7f) << shift;
			shift += 7;
		} while (byte & 0x80);
	}
	if (v[0] > *keylen || v[1] > max_key_len - v[0] || v[1] > b->len - *pos)
		return false;
	memcpy(key + v[0], b->data + *pos, v[1]);
	*pos += v[1];
	*keylen = (uint32_t) (v[0] + v[1]);
	return true;
}

/* --------------------------------------------------------------- postings */
/* (fst_verify, which checks an FST and its postings together, is below.) */

typedef struct FstPostingsWriter FstPostingsWriter;

typedef struct FstPostingsInfo
{
	uint64_t	nkeys;
	uint64_t	ntids;
	uint64_t	size;
} FstPostingsInfo;

/* Create a writer streaming the postings image to sink.  Never NULL. */
extern FstPostingsWriter *fst_postings_writer_create(const FstAllocator *alloc,
													 FstSinkFn sink,
													 void *sink_arg);

/*
 * Add the posting list of the next ordinal: n TIDs strictly ascending
 * (n may be 0).  Equivalent to begin + append + end.  Returns 0 or -1.
 */
extern int	fst_postings_add(FstPostingsWriter *w, const FstTid *tids,
							 uint64_t n);

/*
 * Streaming form for long lists: begin a key, append its TIDs in any number
 * of calls (ascending across calls), end it.  The writer buffers at most
 * one group (128 keys) of encoded lists.
 */
extern void fst_postings_begin_key(FstPostingsWriter *w);
extern int	fst_postings_append(FstPostingsWriter *w, const FstTid *tids,
								uint64_t n);
extern int	fst_postings_end_key(FstPostingsWriter *w);

/* Write the group table and the trailer.  Returns 0 or -1. */
extern int	fst_postings_finish(FstPostingsWriter *w, FstPostingsInfo *info);
extern const char *fst_postings_writer_error(const FstPostingsWriter *w);
/*
 * Bytes the writer holds that have not reached the sink yet (the current
 * group's lists, the current key's, the output buffer; single TIDs counted
 * at 6 bytes): at least what finishing the group adds to the sink's image.
 */
extern size_t fst_postings_buffered(const FstPostingsWriter *w);
extern void fst_postings_writer_destroy(FstPostingsWriter *w);

typedef struct FstPostings
{
	FstSource	src;
	uint64_t	nkeys;
	uint64_t	ntids;
	uint64_t	table_off;
	uint32_t	max_list;
	uint8_t		tw;
	char		errmsg[FST_ERRMSG_LEN];
} FstPostings;

/* Validate preamble and trailer.  Returns 0 or -1. */
extern int	fst_postings_open(FstPostings *p, const FstSource *src);

/* Iterator over the TIDs of one ordinal. */
typedef struct FstPostingsIter
{
	FstPostings *p;
	uint64_t	count;			/* TIDs in the list */
	uint64_t	done;			/* TIDs returned so far */
	uint32_t	block;			/* previous TID */
	uint16_t	offset;
	uint64_t	pos;			/* next byte of the list to read */
	uint64_t	end;			/* end of the list's bytes */
	uint32_t	cur;			/* bits not yet consumed of the last byte */
	int			curbits;
	uint64_t	wpos;			/* buf holds bytes [wpos, wpos + wlen) */
	uint32_t	wlen;
	uint8_t		buf[64];
} FstPostingsIter;

/*
 * Position it on the list of `ordinal`.  Returns 0 and sets it->count, or
 * -1 on corrupt input or an ordinal out of range (message in p->errmsg).
 * A count read from the image is checked before it is returned: at most
 * 1 + 4 per payload byte (each further TID takes at least two bits), the
 * trailer's ntids and, unless saturated, its max_list; so a caller may
 * size a buffer by it.
 */
extern int	fst_postings_seek(FstPostings *p, FstPostingsIter *it,
							  uint64_t ordinal);

/*
 * Return up to max further TIDs of the list into out.  Returns the number
 * returned (0 at the end of the list) or -1 on corrupt input.
 */
extern int64_t fst_postings_next(FstPostingsIter *it, FstTid *out,
								 uint64_t max);

/*
 * What a reader has learnt about one group: its header, and where each of
 * its first `nknown` long lists starts.  Seeking several ordinals of one
 * group through the same FstPostingsGroup decodes the group's header once
 * and skips each long list at most once, in either direction, so reading
 * consecutive ordinals costs O(1) each instead of a walk from the group's
 * start.  Valid for one FstPostings image; fst_postings_group_reset
 * forgets it.
 */
typedef struct FstPostingsGroup
{
	uint64_t	group;			/* group number, or UINT64_MAX: nothing known */
	uint64_t	end;			/* end of the group's bytes */
	uint64_t	singles_pos;	/* first byte of the packed single values */
	uint64_t	base;			/* base block of the singles */
	uint64_t	radix;			/* 1 + largest offset of the singles */
	uint64_t	radix_recip;	/* ceil(2^64 / radix), radix not a power of 2 */
	int			radix_shift;	/* log2(radix) if a power of 2, else -1 */
	uint32_t	ngk;			/* keys in the group */
	uint32_t	nsingles;
	uint8_t		width;			/* bits per single value */
	bool		all_singles;
	uint8_t		map[FST_POSTINGS_GROUP / 8];	/* singles, when mixed */
	uint32_t	nknown;			/* list_pos[0 .. nknown-1] are known */
	uint64_t	list_pos[FST_POSTINGS_GROUP + 1];	/* long list starts */
	bool		singles_ready;	/* singles[0 .. nsingles-1] are decoded */
	uint32_t	singles_read;	/* singles asked for since the group was loaded */
	FstTid		singles[FST_POSTINGS_GROUP];
} FstPostingsGroup;

/* Forget everything a FstPostingsGroup knows. */
extern void fst_postings_group_reset(FstPostingsGroup *grp);

/*
 * fst_postings_seek, remembering the group's layout in grp for the next
 * seek into the same group.  Same results and errors as fst_postings_seek.
 */
extern int	fst_postings_seek_group(FstPostings *p, FstPostingsGroup *grp,
									FstPostingsIter *it, uint64_t ordinal);

/*
 * If `ordinal` has exactly one TID, store it in *tid and return 1; return
 * 0 if its list is empty or longer (read it with fst_postings_seek_group),
 * -1 on corrupt input or an ordinal out of range.  The first such call in
 * a group decodes all of the group's single TIDs into grp, so consecutive
 * ordinals then cost an array read.
 */
extern int	fst_postings_single(FstPostings *p, FstPostingsGroup *grp,
								uint64_t ordinal, FstTid *tid);

/*
 * fst_postings_single answered inline from what grp holds already: returns
 * 1 with *tid set if `ordinal` is in grp's group, the group has only
 * singles and they are decoded (a scan's common case: all keys after the
 * group's second); else 0, and the caller asks fst_postings_single.
 */
static inline int
fst_postings_single_decoded(const FstPostingsGroup *grp, uint64_t ordinal,
							FstTid *tid)
{
	uint32_t	j = (uint32_t) (ordinal % FST_POSTINGS_GROUP);

	/* grp->group first: the other fields are set only with it */
	if (ordinal / FST_POSTINGS_GROUP != grp->group || !grp->singles_ready ||
		!grp->all_singles || j >= grp->nsingles)
		return 0;
	*tid = grp->singles[j];
	return 1;
}

/* ------------------------------------------------------------- checking */

typedef struct FstVerifyInfo
{
	uint64_t	nkeys;
	uint64_t	ntids;
	uint32_t	max_key_len;	/* longest key actually found */
} FstVerifyInfo;

/*
 * Check a whole FST (and its postings, if p is not NULL): every key is
 * reachable in strictly ascending order with ordinals 0..nkeys-1, the key
 * count and maximum length agree with the trailer, and every posting list
 * decodes to the announced number of strictly ascending TIDs, with the
 * totals of the postings trailer.  O(total size).  Returns 0, or -1 with a
 * message in errmsg (FST_ERRMSG_LEN bytes).
 */
extern int	fst_verify(FstReader *r, FstPostings *p, const FstAllocator *alloc,
					   FstVerifyInfo *info, char *errmsg);

#endif							/* MEMKV_FST_H */
