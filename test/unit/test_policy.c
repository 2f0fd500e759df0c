/*-------------------------------------------------------------------------
 *
 * test_policy.c
 *	  Unit tests of the merge policy (src/policy.c): over a simulated
 *	  stream of freezes it reproduces bench/merge_sim.py's figures (merge
 *	  write amplification, most and mean runs), keeps the run count within
 *	  the budget, rewrites each key O(log N) times (at most one rewrite per
 *	  size class without a budget); and each rule on hand-made run lists:
 *	  contiguity, BUSY runs, the pair fallback, the space rule, rewrites.
 *
 *-------------------------------------------------------------------------
 */
#include "policy.h"

#include "unit_check.h"

#define B			100000		/* the freeze threshold of the stream */
#define MAX_SIM_RUNS 64

/* |x|, without libm (the unit Makefile links none). */
static double
absd(double x)
{
	return x < 0 ? -x : x;
}

/*
 * log_base(x) for x >= 1, base > 1, without libm: halve x to [1, 2)
 * counting the halvings, then ln m = 2 atanh((m - 1) / (m + 1)) by its
 * series (|q| <= 1/3: 30 terms are far past double precision).
 */
static double
log_base(double x, double base)
{
	double		r[2];
	double		v[2];
	int			i;

	v[0] = x;
	v[1] = base;
	for (i = 0; i < 2; i++)
	{
		int			k = 0;
		double		q;
		double		q2;
		double		term;
		double		sum = 0;
		int			j;

		while (v[i] >= 2)
		{
			v[i] /= 2;
			k++;
		}
		q = (v[i] - 1) / (v[i] + 1);
		q2 = q * q;
		term = q;
		for (j = 1; j < 60; j += 2)
		{
			sum += term / j;
			term *= q2;
		}
		r[i] = k * 0.69314718055994530942 + 2 * sum;
	}
	return r[0] / r[1];
}

/* Print "ok NAME" or "FAIL NAME": did any CHECK fail since failed_before? */
static void
report(const char *name, long failed_before)
{
	printf("%s %s\n", failed > failed_before ? "FAIL" : "ok", name);
}

/*
 * The figures of bench/merge_sim.py, full precision:
 *	 python3 -c 'import merge_sim as m; print(m.simulate(nb, T, K, initial=i))'
 * run in bench/ (its printed table rounds them).  K = 0: no budget
 * (merge_sim's 10 ** 9).
 */
typedef struct SimCase
{
	int			nbatches;
	uint32_t	T;
	uint32_t	K;
	int			initial;		/* batches in a CREATE INDEX run, or 0 */
	double		merge_wa;
	int			max_runs;
	double		mean_runs;
} SimCase;

static const SimCase sim_cases[] = {
	/* the script's main table, K = 10 */
	{30, 4, 10, 0, 1.4667, 6, 3.5000},
	{30, 6, 10, 0, 1.0000, 9, 4.6667},
	{30, 8, 10, 0, 0.8000, 9, 5.0000},
	{30, 10, 10, 0, 0.9667, 10, 5.3667},
	{200, 4, 10, 0, 2.9300, 10, 5.5200},
	{200, 6, 10, 0, 2.2800, 10, 6.9200},
	{200, 8, 10, 0, 2.2100, 10, 7.0700},
	{200, 10, 10, 0, 2.4300, 10, 7.2400},
	{1000, 4, 10, 0, 4.0300, 10, 7.2670},
	{1000, 6, 10, 0, 3.7520, 10, 8.1230},
	{1000, 8, 10, 0, 4.1780, 10, 8.2870},
	{1000, 10, 10, 0, 4.4860, 10, 8.5670},
	{10000, 4, 10, 0, 7.3295, 10, 8.9161},
	{10000, 6, 10, 0, 8.3695, 10, 9.2737},
	{10000, 8, 10, 0, 8.1895, 10, 9.2601},
	{10000, 10, 10, 0, 8.5157, 10, 9.2675},
	/* without a budget */
	{200, 4, 0, 0, 2.9200, 11, 5.5050},
	{200, 6, 0, 0, 1.8900, 14, 7.2000},
	{200, 8, 0, 0, 1.9600, 16, 7.9600},
	{1000, 4, 0, 0, 3.7200, 14, 7.4020},
	{1000, 6, 0, 0, 2.8320, 18, 9.1850},
	{1000, 8, 0, 0, 2.4720, 21, 10.8570},
	/* T = 6, K varied */
	{200, 6, 6, 0, 3.4550, 6, 5.0350},
	{1000, 6, 6, 0, 6.4860, 6, 5.5420},
	{200, 6, 8, 0, 2.7200, 8, 6.1650},
	{1000, 6, 8, 0, 4.8680, 8, 6.9890},
	{200, 6, 14, 0, 1.8900, 14, 7.2000},
	{1000, 6, 14, 0, 2.9940, 14, 9.1270},
	/* issue 15's benches */
	{5, 6, 10, 30, 0.0000, 6, 4.0000},
	{200, 6, 10, 10, 2.3000, 10, 7.0850},
	{20, 6, 10, 1, 0.9000, 7, 4.0000},
};

/* What a simulated stream measured. */
typedef struct SimResult
{
	double		merge_wa;
	int			max_runs;
	double		mean_runs;
	int			max_rewrites;	/* most merges any one batch went through */
	bool		budget_kept;	/* runs <= K after every freeze's merges */
	bool		picks_ok;		/* every pick within the list, >= 2 runs,
								 * of one size class */
} SimResult;

/*
 * Run nbatches freezes of B TIDs each (after a CREATE INDEX run of
 * initial batches, if any), asking the policy after each freeze until it
 * has nothing to do, as the merge worker will.  The list is newest first;
 * a merge's output takes the place of its inputs.  batch_run[] tracks
 * which run (by id) holds each batch, to count each batch's rewrites
 * (up to 3,000 batches: past that the count would cost seconds).
 */
static void
simulate(int nbatches, uint32_t T, uint32_t K, int initial, SimResult *res)
{
	PolicyParams params = {B, T, K ? K : 1000000000, 130};
	PolicyRun	runs[MAX_SIM_RUNS];
	uint32_t	ids[MAX_SIM_RUNS];
	uint32_t	nruns = 0;
	uint32_t	next_id = 1;
	int			nb = nbatches + (initial ? 1 : 0);
	uint32_t   *batch_run = calloc((size_t) nb, sizeof(uint32_t));
	int		   *rewrites = calloc((size_t) nb, sizeof(int));
	double		written = 0;
	long		sumruns = 0;
	int			b;
	int			i;

	memset(res, 0, sizeof(*res));
	res->budget_kept = true;
	res->picks_ok = true;
	if (initial)
	{
		runs[0].ntids = runs[0].nkeys = (uint64_t) initial * B;
		runs[0].nbytes = runs[0].ntids * 10;
		runs[0].flags = 0;
		ids[0] = next_id++;
		batch_run[nbatches] = ids[0];
		nruns = 1;
	}
	for (b = 0; b < nbatches; b++)
	{
		PolicyPick	pick;

		/* the freeze: a new run first */
		memmove(&runs[1], &runs[0], nruns * sizeof(PolicyRun));
		memmove(&ids[1], &ids[0], nruns * sizeof(uint32_t));
		runs[0].ntids = runs[0].nkeys = B;
		runs[0].nbytes = B * 10;
		runs[0].flags = 0;
		ids[0] = next_id++;
		batch_run[b] = ids[0];
		nruns++;

		while (policy_pick(runs, nruns, &params, &pick) != POLICY_NONE)
		{
			PolicyRun	out = {0, 0, 0, 0};
			uint32_t	cls = policy_size_class(runs[pick.first].ntids, &params);
			uint32_t	j;

			if (pick.count < 2 || pick.first + pick.count > nruns)
			{
				res->picks_ok = false;
				break;
			}
			for (j = pick.first; j < pick.first + pick.count; j++)
			{
				if (policy_size_class(runs[j].ntids, &params) != cls)
					res->picks_ok = false;
				out.ntids += runs[j].ntids;
				out.nkeys += runs[j].nkeys;
				out.nbytes += runs[j].nbytes;
				for (i = 0; i < nb && nbatches <= 3000; i++)
					if (batch_run[i] == ids[j])
					{
						batch_run[i] = next_id;
						rewrites[i]++;
					}
			}
			written += (double) out.ntids / B;
			runs[pick.first] = out;
			ids[pick.first] = next_id++;
			memmove(&runs[pick.first + 1], &runs[pick.first + pick.count],
					(nruns - pick.first - pick.count) * sizeof(PolicyRun));
			memmove(&ids[pick.first + 1], &ids[pick.first + pick.count],
					(nruns - pick.first - pick.count) * sizeof(uint32_t));
			nruns -= pick.count - 1;
		}
		if (K && nruns > K)
			res->budget_kept = false;
		if ((int) nruns > res->max_runs)
			res->max_runs = (int) nruns;
		sumruns += nruns;
		if (nruns >= MAX_SIM_RUNS - 1)
			break;				/* would not fit: the checks fail */
	}
	res->merge_wa = written / nbatches;
	res->mean_runs = (double) sumruns / nbatches;
	for (i = 0; i < nbatches; i++)
		if (rewrites[i] > res->max_rewrites)
			res->max_rewrites = rewrites[i];
	free(batch_run);
	free(rewrites);
}

/* bench/merge_sim.py's figures, each within 0.01; picks and budget. */
static void
test_merge_sim(void)
{
	long		failed_before = failed;
	size_t		k;

	for (k = 0; k < sizeof(sim_cases) / sizeof(sim_cases[0]); k++)
	{
		const SimCase *c = &sim_cases[k];
		SimResult	r;

		simulate(c->nbatches, c->T, c->K, c->initial, &r);
		CHECK(absd(r.merge_wa - c->merge_wa) < 0.01,
			  "N/B %d T %u K %u: merge WA %.4f, merge_sim %.4f",
			  c->nbatches, c->T, c->K, r.merge_wa, c->merge_wa);
		CHECK(r.max_runs == c->max_runs,
			  "N/B %d T %u K %u: most runs %d, merge_sim %d",
			  c->nbatches, c->T, c->K, r.max_runs, c->max_runs);
		CHECK(absd(r.mean_runs - c->mean_runs) < 0.01,
			  "N/B %d T %u K %u: mean runs %.4f, merge_sim %.4f",
			  c->nbatches, c->T, c->K, r.mean_runs, c->mean_runs);
		CHECK(r.budget_kept, "N/B %d T %u K %u: over the budget",
			  c->nbatches, c->T, c->K);
		CHECK(r.picks_ok, "N/B %d T %u K %u: a pick was not one class's runs",
			  c->nbatches, c->T, c->K);
		printf("  N/B %5d T %2u K %2u initial %2d: merge WA %.4f, most runs %d, "
			   "mean %.4f",
			   c->nbatches, c->T, c->K, c->initial, r.merge_wa, r.max_runs,
			   r.mean_runs);
		if (c->nbatches <= 3000)
			printf(", most rewrites of a key %d", r.max_rewrites);
		printf("\n");
	}
	report("merge_sim figures", failed_before);
}

/*
 * Each key is rewritten O(log N) times.  Without a budget a merge moves
 * its keys up one size class, so a key is rewritten at most
 * floor(log_T(N / B)) times.  With the budget, within the range the README
 * designs for (up to 1,000 freezes' worth of keys, T = 6, K = 10), at
 * most 3 log_T(N / B), and merge WA at most log_T(N / B) + 1.
 */
static void
test_log_rewrites(void)
{
	long		failed_before = failed;
	static const int sizes[] = {30, 100, 200, 500, 1000, 3000};
	static const uint32_t Ts[] = {4, 6, 8};
	size_t		i;
	size_t		j;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (j = 0; j < sizeof(Ts) / sizeof(Ts[0]); j++)
		{
			SimResult	r;
			double		logn = log_base(sizes[i], Ts[j]);

			simulate(sizes[i], Ts[j], 0, 0, &r);
			CHECK(r.max_rewrites <= (int) (logn + 1e-9),
				  "no budget, N/B %d T %u: a key rewritten %d times, log_T N %.2f",
				  sizes[i], Ts[j], r.max_rewrites, logn);
			if (Ts[j] == 6 && sizes[i] <= 1000)
			{
				simulate(sizes[i], 6, 10, 0, &r);
				CHECK(r.max_rewrites <= 3 * logn,
					  "K 10, N/B %d: a key rewritten %d times, log_6 N %.2f",
					  sizes[i], r.max_rewrites, logn);
				CHECK(r.merge_wa <= logn + 1,
					  "K 10, N/B %d: merge WA %.2f, log_6 N %.2f",
					  sizes[i], r.merge_wa, logn);
			}
		}
	report("log_rewrites", failed_before);
}

static void
test_size_class(void)
{
	long		failed_before = failed;
	PolicyParams p = {B, 6, 10, 130};
	PolicyParams two = {1, 2, 10, 0};

	CHECK(policy_size_class(0, &p) == 0, "class of 0");
	CHECK(policy_size_class(B - 1, &p) == 0, "class below B");
	CHECK(policy_size_class(B, &p) == 0, "class of B");
	CHECK(policy_size_class(6 * B - 1, &p) == 0, "class of 6B - 1");
	CHECK(policy_size_class(6 * B, &p) == 1, "class of 6B");
	CHECK(policy_size_class(36 * B, &p) == 2, "class of 36B");
	CHECK(policy_size_class(UINT64_MAX, &two) == 63, "class of 2^64 - 1, T 2: %u",
		  policy_size_class(UINT64_MAX, &two));
	CHECK(policy_size_class(UINT64_C(1) << 63, &two) == 63, "class of 2^63, T 2");
	report("size_class", failed_before);
}

/* A run list from sizes in batches (newest first); flags by position. */
static uint32_t
make_runs(PolicyRun *runs, const double *batches, uint32_t n)
{
	uint32_t	i;

	for (i = 0; i < n; i++)
	{
		runs[i].ntids = (uint64_t) (batches[i] * B);
		runs[i].nkeys = runs[i].ntids;
		runs[i].nbytes = runs[i].ntids * 10;
		runs[i].flags = 0;
	}
	return n;
}

static void
test_rules(void)
{
	long		failed_before = failed;
	PolicyParams p = {B, 6, 10, 130};
	PolicyRun	runs[32];
	PolicyPick	pick;
	PolicyRule	rule;
	uint32_t	n;

	/* nothing due */
	{
		static const double s[] = {1, 1, 6, 36};

		n = make_runs(runs, s, 4);
		CHECK(policy_pick(runs, n, &p, &pick) == POLICY_NONE, "nothing due");
		CHECK(policy_pick(runs, 0, &p, &pick) == POLICY_NONE, "no runs");
	}
	/* rule 1: six class-0 runs after two class-1 runs */
	{
		static const double s[] = {1, 1, 1, 1, 1, 1, 6, 7};

		n = make_runs(runs, s, 8);
		rule = policy_pick(runs, n, &p, &pick);
		CHECK(rule == POLICY_FULL_CLASS && pick.first == 0 && pick.count == 6,
			  "full class: rule %d first %u count %u", rule, pick.first, pick.count);
	}
	/* rule 1 with seven class-0 runs: the six oldest */
	{
		static const double s[] = {1, 1, 1, 1, 1, 1, 1, 6};

		n = make_runs(runs, s, 8);
		rule = policy_pick(runs, n, &p, &pick);
		CHECK(rule == POLICY_FULL_CLASS && pick.first == 1 && pick.count == 6,
			  "six oldest of seven: rule %d first %u count %u", rule,
			  pick.first, pick.count);
	}
	/* rule 1 across a shrunk run: the window takes it along */
	{
		static const double s[] = {1, 1, 1, 0.5, 1, 1, 1, 6};

		n = make_runs(runs, s, 8);
		rule = policy_pick(runs, n, &p, &pick);
		/* 0.5 batches is class 0 too: the six oldest class-0 runs */
		CHECK(rule == POLICY_FULL_CLASS && pick.first == 1 && pick.count == 6,
			  "window: rule %d first %u count %u", rule, pick.first, pick.count);
	}
	{
		static const double s[] = {2, 1, 1, 7, 1, 1, 1, 40};

		n = make_runs(runs, s, 8);
		rule = policy_pick(runs, n, &p, &pick);
		CHECK(rule == POLICY_FULL_CLASS && pick.first == 0 && pick.count == 7,
			  "window over a class-1 run: rule %d first %u count %u", rule,
			  pick.first, pick.count);
	}
	/* rule 1 never spans a BUSY run */
	{
		static const double s[] = {1, 1, 1, 1, 1, 6, 1, 36};

		n = make_runs(runs, s, 8);
		runs[5].flags = POLICY_RUN_BUSY;
		CHECK(policy_pick(runs, n, &p, &pick) == POLICY_NONE,
			  "busy run splits the class: nothing due");
	}
	/* rule 2: eleven runs, the smallest class with two */
	{
		static const double s[] = {1, 6, 7, 36, 37, 216, 217, 1296, 1297, 7776, 7777};

		n = make_runs(runs, s, 11);
		rule = policy_pick(runs, n, &p, &pick);
		CHECK(rule == POLICY_BUDGET_CLASS && pick.first == 1 && pick.count == 2,
			  "budget: rule %d first %u count %u", rule, pick.first, pick.count);
		/* with ten, within the budget */
		CHECK(policy_pick(runs + 1, n - 1, &p, &pick) == POLICY_NONE,
			  "ten runs: within the budget");
	}
	/* rule 2's fallback: eleven runs of eleven classes */
	{
		PolicyParams p2 = {1, 2, 10, 0};
		uint32_t	i;

		for (i = 0; i < 11; i++)
		{
			runs[i].ntids = runs[i].nkeys = UINT64_C(1) << (i + 2);
			runs[i].nbytes = runs[i].ntids;
			runs[i].flags = 0;
		}
		rule = policy_pick(runs, 11, &p2, &pick);
		CHECK(rule == POLICY_BUDGET_PAIR && pick.first == 0 && pick.count == 2,
			  "pair: rule %d first %u count %u", rule, pick.first, pick.count);
		runs[1].flags = POLICY_RUN_BUSY;
		rule = policy_pick(runs, 11, &p2, &pick);
		CHECK(rule == POLICY_BUDGET_PAIR && pick.first == 2 && pick.count == 2,
			  "pair around a busy run: rule %d first %u count %u", rule,
			  pick.first, pick.count);
	}
	/* rule 3: the small runs take far more bytes per key */
	{
		static const double s[] = {1, 1, 50};

		n = make_runs(runs, s, 3);
		CHECK(policy_pick(runs, n, &p, &pick) == POLICY_NONE, "dense: no merge");
		runs[0].nbytes = runs[1].nbytes = runs[0].ntids * 200;
		rule = policy_pick(runs, n, &p, &pick);
		CHECK(rule == POLICY_SIZE_AMP && pick.first == 0 && pick.count == 3,
			  "space: rule %d first %u count %u", rule, pick.first, pick.count);
		p.size_amp_percent = 0;
		CHECK(policy_pick(runs, n, &p, &pick) == POLICY_NONE, "space rule off");
		p.size_amp_percent = 130;
		runs[2].flags = POLICY_RUN_BUSY;
		CHECK(policy_pick(runs, n, &p, &pick) == POLICY_NONE,
			  "space rule waits for the merge in progress");
	}
	/* rule 4: a REWRITE run alone, or inside the merge picked anyway */
	{
		static const double s[] = {1, 1, 6, 36};
		static const double f[] = {1, 1, 1, 1, 1, 1, 6, 7};

		n = make_runs(runs, s, 4);
		runs[2].flags = POLICY_RUN_REWRITE;
		rule = policy_pick(runs, n, &p, &pick);
		CHECK(rule == POLICY_REWRITE && pick.first == 2 && pick.count == 1,
			  "rewrite alone: rule %d first %u count %u", rule, pick.first,
			  pick.count);
		runs[2].flags |= POLICY_RUN_BUSY;
		CHECK(policy_pick(runs, n, &p, &pick) == POLICY_NONE,
			  "busy rewrite run left alone");
		n = make_runs(runs, f, 8);
		runs[3].flags = POLICY_RUN_REWRITE;
		rule = policy_pick(runs, n, &p, &pick);
		CHECK(rule == POLICY_FULL_CLASS && pick.first == 0 && pick.count == 6,
			  "rewrite inside a merge: rule %d first %u count %u", rule,
			  pick.first, pick.count);
		runs[3].flags = 0;
		runs[7].flags = POLICY_RUN_REWRITE;
		rule = policy_pick(runs, n, &p, &pick);
		CHECK(rule == POLICY_REWRITE && pick.first == 7 && pick.count == 1,
			  "rewrite before the merge: rule %d first %u count %u", rule,
			  pick.first, pick.count);
	}
	/* bad parameters */
	{
		PolicyParams bad = {B, 1, 10, 130};

		n = make_runs(runs, (const double[]) {1, 1}, 2);
		CHECK(policy_pick(runs, n, &bad, &pick) == POLICY_BAD_PARAMS, "T = 1");
		bad.merge_factor = 6;
		bad.run_budget = 0;
		CHECK(policy_pick(runs, n, &bad, &pick) == POLICY_BAD_PARAMS, "K = 0");
		bad.run_budget = 10;
		bad.batch = 0;
		CHECK(policy_pick(runs, n, &bad, &pick) == POLICY_BAD_PARAMS, "B = 0");
	}
	report("rules", failed_before);
}

int
main(void)
{
	test_size_class();
	test_rules();
	test_merge_sim();
	test_log_rewrites();
	printf("SUMMARY %ld %ld\n", passed, failed);
	return failed ? 1 : 0;
}
