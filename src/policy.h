/*-------------------------------------------------------------------------
 *
 * policy.h
 *	  Plain C (no PostgreSQL headers): memkv 2's merge policy (src/README,
 *	  "Merge policy"), size-tiered with merge factor T and a run budget K.
 *	  A pure function: the run list's sizes in, "no merge" or a contiguous
 *	  set of runs to merge out.  bench/merge_sim.py simulates the same
 *	  rules; test_policy checks that both give the same figures.
 *
 * The caller (the merge worker) applies merge_delay, pauses and resumes
 * merges, and keeps the run list ordered as the policy assumes: a
 * freeze's run goes first (newest), a merge's output takes the place of
 * its inputs.  Then each size class's runs are contiguous and the list
 * is ordered by class, largest (oldest) last.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MEMKV_POLICY_H
#define MEMKV_POLICY_H

#include <stdbool.h>
#include <stdint.h>

/* PolicyRun.flags */
#define POLICY_RUN_BUSY		0x01	/* in a merge already: never picked */
#define POLICY_RUN_REWRITE	0x02	/* VACUUM asked for a rewrite */

/* One run as the policy sees it. */
typedef struct PolicyRun
{
	uint64_t	ntids;			/* live TIDs: the size that classes use */
	uint64_t	nkeys;			/* distinct keys */
	uint64_t	nbytes;			/* pages' bytes */
	uint32_t	flags;			/* POLICY_RUN_* */
} PolicyRun;

typedef struct PolicyParams
{
	uint64_t	batch;			/* B: the freeze threshold in TIDs (>= 1) */
	uint32_t	merge_factor;	/* T (>= 2); README default 6 */
	uint32_t	run_budget;		/* K (>= 1); README default 10 */
	uint32_t	size_amp_percent;	/* the space rule fires above this
									 * percentage (130); 0: off */
} PolicyParams;

/* Which rule picked the merge. */
typedef enum PolicyRule
{
	POLICY_NONE = 0,			/* no merge due */
	POLICY_FULL_CLASS,			/* a class holds T runs: merge T of them */
	POLICY_BUDGET_CLASS,		/* over K runs: smallest class of >= 2 */
	POLICY_BUDGET_PAIR,			/* over K runs, no class of 2: the
								 * adjacent pair with the fewest TIDs */
	POLICY_SIZE_AMP,			/* bytes over the estimate: all runs */
	POLICY_REWRITE,				/* a REWRITE run on its own */
	POLICY_BAD_PARAMS			/* T < 2, K < 1 or B < 1: no merge */
} PolicyRule;

/* A merge: runs[first .. first + count) of the list given. */
typedef struct PolicyPick
{
	uint32_t	first;
	uint32_t	count;
	PolicyRule	rule;
} PolicyPick;

/*
 * The size class of a run of ntids TIDs: the largest c with
 * batch * T^c <= ntids, 0 below batch.
 */
extern uint32_t policy_size_class(uint64_t ntids, const PolicyParams *params);

/*
 * Pick the next merge among runs[0..nruns), newest first.  Returns the
 * rule that fired (POLICY_NONE: nothing to do) and fills *pick unless
 * nothing fired.  A pick never includes a BUSY run and holds at least
 * two runs, except a POLICY_REWRITE pick of one.  Allocates nothing;
 * O(nruns^2) size-class computations.
 */
extern PolicyRule policy_pick(const PolicyRun *runs, uint32_t nruns,
							  const PolicyParams *params, PolicyPick *pick);

#endif							/* MEMKV_POLICY_H */
