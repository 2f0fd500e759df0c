/*-------------------------------------------------------------------------
 *
 * keysort.h
 *	  Plain C (no PostgreSQL headers): sorting (key bytes, TID) pairs in
 *	  byte order, ties by TID.  Built for CREATE INDEX on keys with long
 *	  shared prefixes (file paths, URLs): a multikey quicksort over 7-byte
 *	  chunks of the keys, cached next to each item, so that a common
 *	  prefix is read once per item instead of once per comparison.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_KEYSORT_H
#define MEMKV_KEYSORT_H

#include <stddef.h>
#include <stdint.h>

/*
 * One item to sort.  The caller fills key, len and tid; cache is scratch
 * space of keysort_sort; spare is the caller's and is moved with the item.
 * Keys may contain any byte, zero included, and may be empty.
 */
typedef struct KeysortItem
{
	uint64_t	cache;			/* private to keysort_sort */
	const uint8_t *key;			/* the key's bytes, len of them */
	uint64_t	tid;			/* orders items with equal keys */
	uint32_t	len;
	uint32_t	spare;			/* not looked at by keysort_sort */
} KeysortItem;

/*
 * Called now and then (about every KEYSORT_TICK items of work) so that a
 * long sort can be interrupted.  It may not return (longjmp): keysort_sort
 * allocates nothing, so leaving it at any tick is safe, and the items are
 * then in some permutation of their original order.
 */
typedef void (*KeysortTick) (void *arg);

#define KEYSORT_TICK	(1 << 20)

/*
 * Sort items[0..n) ascending by key bytes (unsigned, a proper prefix
 * first), equal keys by tid ascending.  tick may be NULL.  Takes
 * O(n log n + D) time on typical inputs, D the total length of the
 * distinguishing prefixes (a quicksort: like PostgreSQL's qsort, inputs
 * built against its pivot choice can take quadratic time), and
 * O(log n) stack.
 */
extern void keysort_sort(KeysortItem *items, size_t n, KeysortTick tick,
						 void *tick_arg);

#endif							/* MEMKV_KEYSORT_H */
