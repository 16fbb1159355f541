"""Screens of k of a study's n arms: blocks dealt in balanced cycles, each screen's order
balanced per rater and over the plan, all of it reproducible from the seed."""

from __future__ import annotations

import random
from collections import Counter
from itertools import combinations
from math import comb

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annotations.services.blocks import MAX_LISTED_BLOCKS, block_orders, incomplete_blocks


def _counts(blocks, n_arms):
    arms = Counter(a for block in blocks for a in block)
    pairs = Counter(pair for block in blocks for pair in combinations(sorted(block), 2))
    return [arms[a] for a in range(n_arms)], [pairs[p] for p in combinations(range(n_arms), 2)]


@st.composite
def designs(draw, max_arms=8):
    n_arms = draw(st.integers(3, max_arms))
    k = draw(st.integers(2, n_arms - 1))
    return n_arms, k


@settings(max_examples=60, deadline=None)
@given(designs(), st.integers(1, 90), st.integers(0, 2**32 - 1))
def test_every_cycle_shows_each_arm_and_each_pair_equally_often(design, count, seed):
    n_arms, k = design
    blocks = incomplete_blocks(n_arms, k, count, random.Random(seed))
    assert len(blocks) == count
    assert all(len(set(block)) == k and list(block) == sorted(block) and 0 <= block[0] and block[-1] < n_arms
               for block in blocks)
    cycle = comb(n_arms, k)
    per_cycle_pair = comb(n_arms - 2, k - 2)
    for end in range(1, count + 1):
        arms, pairs = _counts(blocks[:end], n_arms)
        whole, rest = divmod(end, cycle)
        if rest == 0:  # a cycle just ended: a balanced incomplete block design
            assert set(arms) == {whole * cycle * k // n_arms} and set(pairs) == {whole * per_cycle_pair}
        else:  # within a cycle: every subset once per cycle, and the arms stay within two
            assert max(arms) - min(arms) <= 2, (end, arms)
            assert min(pairs) >= whole * per_cycle_pair and max(pairs) <= (whole + 1) * per_cycle_pair
    # Every subset turns up once in each complete cycle.
    for start in range(0, count - cycle + 1, cycle):
        assert len(set(blocks[start:start + cycle])) == cycle


@settings(max_examples=40, deadline=None)
@given(designs(), st.integers(1, 40), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_blocks_dealt_after_planned_ones_continue_their_cycle(design, first, second, seed):
    n_arms, k = design
    rng = random.Random(seed)
    planned = incomplete_blocks(n_arms, k, first, rng)
    more = incomplete_blocks(n_arms, k, second, rng, planned=planned)
    cycle = comb(n_arms, k)
    together = planned + more
    # The cycle the planned blocks began is completed before any subset repeats.
    done = (len(planned) // cycle + 1) * cycle
    if len(together) >= done:
        arms, pairs = _counts(together[:done], n_arms)
        assert len(set(arms)) == 1 and len(set(pairs)) == 1
    uses = Counter(together)
    assert max(uses.values()) - min(uses[b] for b in combinations(range(n_arms), k)) <= 1


def test_a_bare_shuffled_cycle_would_not_stay_as_even_within_its_cycle():
    """Why the next block is chosen, not drawn: dealt from a shuffled cycle, an arm can
    fall many screens behind the others before the cycle ends."""
    n_arms, k = 8, 3

    def worst_arm_spread(blocks):
        return max(max(arms) - min(arms) for arms in (_counts(blocks[:end], n_arms)[0]
                                                      for end in range(1, len(blocks))))

    chosen_worst = drawn_worst = 0
    for seed in range(10):
        rng = random.Random(seed)
        drawn = list(combinations(range(n_arms), k))
        rng.shuffle(drawn)
        chosen_worst = max(chosen_worst, worst_arm_spread(incomplete_blocks(n_arms, k, len(drawn), rng)))
        drawn_worst = max(drawn_worst, worst_arm_spread(drawn))
    assert chosen_worst <= 2 < drawn_worst


def test_blocks_are_reproducible_from_the_seed_and_differ_between_seeds():
    one = incomplete_blocks(6, 3, 50, random.Random(7))
    assert one == incomplete_blocks(6, 3, 50, random.Random(7))
    assert one != incomplete_blocks(6, 3, 50, random.Random(8))


def test_too_many_subsets_to_list_are_sampled_and_still_spread_the_arms():
    n_arms, k = 26, 6
    assert comb(n_arms, k) > MAX_LISTED_BLOCKS
    blocks = incomplete_blocks(n_arms, k, 300, random.Random(1))
    arms, pairs = _counts(blocks, n_arms)
    assert all(len(set(block)) == k for block in blocks)
    assert max(arms) - min(arms) <= 2 and min(pairs) > 0
    assert blocks == incomplete_blocks(n_arms, k, 300, random.Random(1))


def test_a_block_size_out_of_range_is_refused():
    with pytest.raises(ValueError):
        incomplete_blocks(3, 4, 1, random.Random(0))


def _spread(orders, k):
    counts = Counter((arm, position) for order in orders for position, arm in enumerate(order))
    arms = {arm for order in orders for arm in order}
    return max((max(counts[(a, p)] for p in range(k)) - min(counts[(a, p)] for p in range(k)) for a in arms),
               default=0)


@settings(max_examples=60, deadline=None)
@given(designs(max_arms=9), st.lists(st.integers(0, 60), min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_each_arm_sits_in_each_position_equally_often_per_rater_and_over_the_plan(design, lengths, seed):
    n_arms, k = design
    rng = random.Random(seed)
    blocks = incomplete_blocks(n_arms, k, sum(lengths), rng)
    rng.shuffle(blocks)  # raters' queues hold any mix of blocks
    queues, start = {}, 0
    for rater, length in enumerate(lengths):
        queues[rater], start = blocks[start:start + length], start + length
    orders = block_orders(queues, k, rng)
    assert {rater: len(rows) for rater, rows in orders.items()} == {r: len(q) for r, q in queues.items()}
    for rater, rows in orders.items():
        assert all(sorted(order) == list(block) for order, block in zip(rows, queues[rater]))
        assert _spread(rows, k) <= 1
    assert _spread([order for rows in orders.values() for order in rows], k) <= 1


def test_orders_are_reproducible_and_take_every_order_of_a_block():
    queues = {1: [(0, 1, 2)] * 60 + [(1, 2, 3)] * 30, 2: [(0, 2, 3)] * 45}
    one = block_orders(queues, 3, random.Random(4))
    assert one == block_orders(queues, 3, random.Random(4))
    assert one != block_orders(queues, 3, random.Random(5))
    # A rater who sees the same three arms again and again still meets all six orders.
    assert len({tuple(order) for order in one[1][:60] if sorted(order) == [0, 1, 2]}) == 6


def test_an_order_of_the_wrong_size_is_refused():
    with pytest.raises(ValueError):
        block_orders({1: [(0, 1)]}, 3, random.Random(0))
