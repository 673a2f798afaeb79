import math
import random

import pytest

from afnio.utils.data import RandomSampler, Sampler, SequentialSampler, WeightedRandomSampler


def test_sampler_base_is_abstract():
    with pytest.raises(NotImplementedError, match="__init__"):
        Sampler()

    class Half(Sampler[int]):
        def __init__(self) -> None:
            pass

    with pytest.raises(NotImplementedError, match="__iter__"):
        iter(Half())


def test_sequential_sampler():
    sampler = SequentialSampler("abcd")
    assert list(sampler) == [0, 1, 2, 3]
    assert list(sampler) == [0, 1, 2, 3]
    assert len(sampler) == 4
    assert list(SequentialSampler([])) == []


# -- RandomSampler -----------------------------------------------------------------------------


def test_random_sampler_is_a_permutation():
    sampler = RandomSampler(range(20), seed=3)
    order = list(sampler)
    assert sorted(order) == list(range(20))
    assert order != list(range(20))
    assert len(sampler) == 20


def test_random_sampler_same_seed_same_order_every_pass():
    sampler = RandomSampler(range(30), seed=7)
    first = list(sampler)
    assert list(sampler) == first
    assert list(RandomSampler(range(30), seed=7)) == first
    assert list(RandomSampler(range(30), seed=8)) != first


def test_random_sampler_without_seed_draws_fresh_entropy_each_pass():
    sampler = RandomSampler(range(30))
    assert len({tuple(sampler) for _ in range(5)}) > 1


def test_random_sampler_more_samples_than_items_repeats_permutations():
    order = list(RandomSampler(range(4), num_samples=10, seed=0))
    assert len(order) == 10
    assert sorted(order[:4]) == sorted(order[4:8]) == [0, 1, 2, 3]
    assert len(set(order[8:])) == 2


def test_random_sampler_with_replacement():
    sampler = RandomSampler(range(3), replacement=True, num_samples=50, seed=1)
    order = list(sampler)
    assert len(order) == len(sampler) == 50
    assert set(order) == {0, 1, 2}
    assert list(sampler) == order


def test_random_sampler_num_samples_follows_the_dataset():
    data = [1, 2, 3]
    sampler = RandomSampler(data, seed=0)
    data.append(4)
    assert sampler.num_samples == 4
    assert sorted(sampler) == [0, 1, 2, 3]


@pytest.mark.parametrize("replacement", [1, "yes", None])
def test_random_sampler_rejects_non_bool_replacement(replacement):
    with pytest.raises(TypeError, match="replacement should be a boolean value"):
        RandomSampler(range(3), replacement=replacement)


@pytest.mark.parametrize("num_samples", [0, -2, 1.5, True, "3"])
def test_random_sampler_rejects_bad_num_samples(num_samples):
    with pytest.raises(ValueError, match=r"num_samples should be a positive integer value"):
        RandomSampler(range(3), num_samples=num_samples)


def test_random_sampler_rejects_an_empty_dataset():
    with pytest.raises(ValueError, match=r"but got num_samples=0"):
        RandomSampler([])


@pytest.mark.parametrize("seed", ["1", 1.0, True])
def test_samplers_reject_bad_seeds(seed):
    with pytest.raises(TypeError, match="seed should be an int or None"):
        RandomSampler(range(3), seed=seed)
    with pytest.raises(TypeError, match="seed should be an int or None"):
        WeightedRandomSampler([1, 2], 2, seed=seed)


# -- the global random module ------------------------------------------------------------------


def _all_samplers():
    return [
        RandomSampler(range(10), seed=1),
        RandomSampler(range(10)),
        RandomSampler(range(10), replacement=True, num_samples=25, seed=2),
        WeightedRandomSampler([1, 2, 3, 4], 6, seed=3),
        WeightedRandomSampler([1, 2, 3, 4], 3, replacement=False, seed=4),
        WeightedRandomSampler([1, 2, 3, 4], 3, replacement=False),
    ]


def test_samplers_leave_the_global_rng_untouched():
    random.seed(1234)
    state = random.getstate()
    for sampler in _all_samplers():
        list(sampler)
    assert random.getstate() == state


def test_seeded_samplers_ignore_the_global_rng():
    random.seed(1)
    first = [list(s) for s in _all_samplers() if s.seed is not None]
    random.seed(2)
    random.random()
    second = [list(s) for s in _all_samplers() if s.seed is not None]
    assert first == second


# -- WeightedRandomSampler ---------------------------------------------------------------------


def test_weighted_sampler_with_replacement_follows_the_weights():
    sampler = WeightedRandomSampler([1.0, 3.0, 0.0], num_samples=20_000, seed=0)
    order = list(sampler)
    assert len(order) == len(sampler) == 20_000
    assert 2 not in order
    assert order.count(1) / len(order) == pytest.approx(0.75, abs=0.02)
    assert list(sampler) == order


def test_weighted_sampler_without_replacement_draws_each_index_once():
    sampler = WeightedRandomSampler([0.9, 0.4, 0.05, 0.2, 0.3, 0.1], 5, replacement=False, seed=0)
    order = list(sampler)
    assert len(order) == len(set(order)) == 5
    assert list(sampler) == order


def test_weighted_sampler_without_replacement_respects_the_weights():
    weights = [10, 1, 1, 1, 1]
    firsts = [
        next(iter(WeightedRandomSampler(weights, 5, replacement=False, seed=seed)))
        for seed in range(4000)
    ]
    # Successive weighted draws: the heavy item comes first with probability 10/14, not 1/5.
    assert firsts.count(0) / len(firsts) == pytest.approx(10 / 14, abs=0.03)
    lasts = [
        list(WeightedRandomSampler(weights, 5, replacement=False, seed=seed))[-1]
        for seed in range(2000)
    ]
    assert lasts.count(0) / len(lasts) < 0.05


def test_weighted_sampler_without_replacement_never_draws_zero_weights():
    for seed in range(200):
        order = list(WeightedRandomSampler([0, 1, 0, 2, 5], 3, replacement=False, seed=seed))
        assert sorted(order) == [1, 3, 4]


@pytest.mark.parametrize("num_samples", [0, -1, 2.0, True, None])
def test_weighted_sampler_rejects_bad_num_samples(num_samples):
    with pytest.raises(ValueError, match="num_samples should be a positive integer value"):
        WeightedRandomSampler([1, 2], num_samples)


def test_weighted_sampler_rejects_non_bool_replacement():
    with pytest.raises(ValueError, match="replacement should be a boolean value"):
        WeightedRandomSampler([1, 2], 2, replacement=0)


@pytest.mark.parametrize("weights", [[], (), "12", [1, "2"], [1, None], [True, 1.0], 5, {1: 2}])
def test_weighted_sampler_rejects_non_numeric_weights(weights):
    with pytest.raises(ValueError, match=r"^Weights must be a non-empty sequence of numbers\.$"):
        WeightedRandomSampler(weights, 1)


@pytest.mark.parametrize("bad", [-0.5, math.nan, math.inf])
def test_weighted_sampler_rejects_negative_or_non_finite_weights(bad):
    with pytest.raises(
        ValueError, match=r"`weights` must be finite and non-negative.*weights\[1\]"
    ):
        WeightedRandomSampler([1.0, bad, 2.0], 2)


def test_weighted_sampler_rejects_all_zero_weights():
    with pytest.raises(ValueError, match="`weights` are all zero"):
        WeightedRandomSampler([0, 0.0], 1)


def test_weighted_sampler_without_replacement_needs_enough_items():
    with pytest.raises(ValueError) as info:
        WeightedRandomSampler([1, 2], 3, replacement=False)
    assert str(info.value) == (
        "num_samples (3) cannot be greater than the population size (2) when replacement is False."
    )
    with pytest.raises(ValueError, match=r"number of positive weights \(2\)"):
        WeightedRandomSampler([1, 0, 2], 3, replacement=False)
    # With replacement, zero weights are fine whatever num_samples is.
    assert set(WeightedRandomSampler([1, 0, 2], 30, seed=0)) == {0, 2}


def test_weighted_sampler_keeps_float_weights():
    assert WeightedRandomSampler((1, 2), 1).weights == [1.0, 2.0]


# -- afnio 0.3.7's sequences -----------------------------------------------------------------------
# 0.3.7 re-seeded the global generator (random.seed(seed)) at each pass and drew with
# random.sample / random.choices; these are the orders it gave, which the samplers reproduce on
# their own generator.


@pytest.mark.parametrize(
    ("sampler", "expected"),
    [
        (lambda: RandomSampler(range(5), seed=42), [0, 4, 2, 1, 3]),
        (
            lambda: RandomSampler(range(5), replacement=True, num_samples=7, seed=1),
            [0, 4, 3, 1, 2, 2, 3],
        ),
        (
            lambda: WeightedRandomSampler([0.1, 0.9, 0.4, 0.7, 3.0, 0.6], 5, True, seed=0),
            [4, 4, 4, 3, 4],
        ),
    ],
    ids=["random", "random with replacement", "weighted with replacement"],
)
def test_samplers_give_afnio_0_3_7_sequences_without_the_global_rng(sampler, expected):
    random.seed(123)
    state = random.getstate()
    s = sampler()
    assert list(s) == expected
    assert list(s) == expected  # every pass
    assert random.getstate() == state


def test_long_passes_follow_afnio_0_3_7_draws():
    # More samples than items (sample() per full pass) and more than 32 with replacement
    # (choices() in chunks of 32), as 0.3.7 drew them on the global generator.
    legacy = random.Random(7)
    expected = legacy.sample(range(4), 4) + legacy.sample(range(4), 4) + legacy.sample(range(4), 2)
    assert list(RandomSampler(range(4), num_samples=10, seed=7)) == expected
    legacy = random.Random(7)
    expected = legacy.choices(range(3), k=32) + legacy.choices(range(3), k=8)
    assert list(RandomSampler(range(3), replacement=True, num_samples=40, seed=7)) == expected
