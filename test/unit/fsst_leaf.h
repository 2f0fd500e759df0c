/*-------------------------------------------------------------------------
 *
 * fsst_leaf.h
 *	  A measurement prototype (M1, src/README "Measurements that decide"):
 *	  a run's keys as leaf units of front-coded keys whose suffixes are
 *	  FSST-compressed, one symbol table per run.  Not part of the server;
 *	  linked into fst_measure only.
 *
 * FSST (Boncz, Neumann, Leis, "FSST: Fast Random Access String
 * Compression", VLDB 2020) replaces substrings of up to 8 bytes by one-byte
 * codes from a table of at most 255 symbols, code 255 escaping one literal
 * byte; the table is grown from a sample in a few generations, each
 * keeping the symbols and pairs of symbols that saved the most bytes when
 * the sample was encoded with the table before.  Decoding is one 8-byte
 * store per code.
 *
 * Unit layout (at most unit_bytes, one page's stream; a unit never
 * straddles pages):
 *	u16 nkeys, u16 nrestarts, u16 restart[nrestarts] (entry offsets)
 *	entries: varint lcp, varint elen, elen FSST code bytes
 * A restart entry (every `restart` keys of the unit, and its first key)
 * has lcp 0: the whole key is coded, so a seek can binary-search the
 * restarts and decode from one.  The unit index (in the server: the
 * top region) is kept decoded in memory; its size is accounted as the
 * FSST-coded first key of each unit plus 8 bytes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_FSST_LEAF_H
#define MEMKV_FSST_LEAF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fst.h"				/* FstSeekOp */

#define FSST_ESC		255
#define FSST_MAX_SYMS	255

typedef struct FsstTable
{
	uint64_t	sym[256];		/* symbol bytes, little-endian, zero padded */
	uint8_t		len[256];		/* 1..8 */
	uint32_t	nsym;
	/* encoder: codes by first byte, longest first */
	uint16_t	first_start[257];
	uint8_t		by_first[FSST_MAX_SYMS];
} FsstTable;

/*
 * Build a table from n sample strings (each read up to its length; the
 * caller needs no padding).
 */
extern void fsst_table_build(FsstTable *t, const uint8_t *const *strs,
							 const uint32_t *lens, size_t n);

/* Bytes of the table as stored: count, lengths, symbol bytes. */
extern size_t fsst_table_bytes(const FsstTable *t);

/* Encode in[0..len) into out (room 2 * len); returns the coded length. */
extern size_t fsst_encode(const FsstTable *t, const uint8_t *in, size_t len,
						  uint8_t *out);

/*
 * Decode in[0..len) into out, which has room for `room` bytes plus 8 of
 * slack.  Returns the decoded length, or -1 if the codes are malformed
 * (an escape at the end) or decode to more than room bytes.
 */
static inline int64_t
fsst_decode(const FsstTable *t, const uint8_t *in, size_t len, uint8_t *out,
			size_t room)
{
	const uint8_t *end = in + len;
	uint8_t    *o = out;
	uint8_t    *limit = out + room;

	while (in < end)
	{
		uint8_t		c = *in++;

		if (o > limit)
			return -1;
		if (c != FSST_ESC)
		{
			uint64_t	s = t->sym[c];

			memcpy(o, &s, 8);
			o += t->len[c];
		}
		else
		{
			if (in == end)
				return -1;
			*o++ = *in++;
		}
	}
	if (o > limit)
		return -1;
	return o - out;
}

typedef struct FsstRun
{
	FsstTable	table;
	uint32_t	unit_bytes;
	uint32_t	restart;		/* keys between restarts; 0: unit start only */
	uint8_t    *units;			/* nunits * unit_bytes */
	size_t		nunits;
	size_t		used;			/* bytes of the units actually filled */
	uint64_t	nkeys;
	uint32_t	max_key_len;
	/* the unit index, decoded */
	uint64_t   *first_ord;		/* nunits + 1 */
	uint8_t    *fk;				/* first keys, concatenated */
	size_t	   *fk_off;			/* nunits + 1 */
	size_t		index_bytes;	/* as accounted (see above) */
} FsstRun;

/*
 * Build a run from n sorted unique keys (text + off[i], len[i]).  Returns
 * 0, or -1 if a key does not fit in a unit.
 */
extern int	fsst_run_build(FsstRun *run, const char *text, const size_t *off,
						   const size_t *len, size_t n, uint32_t unit_bytes,
						   uint32_t restart);
extern void fsst_run_free(FsstRun *run);

/*
 * A position in the run, like KbIter: key[0..keylen) and ordinal when
 * positioned.  Forward steps decode one entry in place; backward steps
 * decode the restart group before them into gbuf and walk it back.
 */
typedef struct FsstIter
{
	const FsstRun *run;
	size_t		unit;
	const uint8_t *u;			/* the unit */
	uint32_t	nkeys;			/* of the unit */
	uint32_t	nrest;
	uint32_t	idx;			/* the current key's index in the unit */
	const uint8_t *p;			/* forward: the next entry */
	bool		positioned;
	bool		group_mode;		/* backward: key points into gbuf */
	uint64_t	ordinal;
	uint8_t    *kbuf;			/* max_key_len + 8 */
	const uint8_t *key;
	uint32_t	keylen;
	/* the decoded restart group (backward) */
	uint8_t    *gbuf;
	size_t		gcap;
	uint32_t   *gstart;
	uint32_t	gcapn;
	uint32_t	gfirst;			/* unit index of the group's first key */
	uint32_t	gn;
} FsstIter;

extern void fsst_iter_init(FsstIter *it, const FsstRun *run);
extern void fsst_iter_free(FsstIter *it);

/* As kb_iter_seek (FIRST, LAST, GE only): 1, 0 if none, -1 if malformed. */
extern int	fsst_iter_seek(FsstIter *it, FstSeekOp op, const uint8_t *bound,
						   size_t len);
extern int	fsst_iter_next(FsstIter *it);
extern int	fsst_iter_prev(FsstIter *it);

#endif							/* MEMKV_FSST_LEAF_H */
