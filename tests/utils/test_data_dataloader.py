import random

import pytest

from afnio import Variable
from afnio.cognitive import Parameter
from afnio.utils.data import (
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
    WeightedRandomSampler,
)
from afnio.utils.data.dataloader import collate_tuple, default_collate, uncollate


class Squares(Dataset[tuple[Variable, int]]):
    def __init__(self, n: int) -> None:
        self.n = n
        self.calls: list[int] = []

    def __getitem__(self, index: int) -> tuple[Variable, int]:
        self.calls.append(index)
        return Variable(f"x{index}", role="input"), index * index

    def __len__(self) -> int:
        return self.n


def _ids(batches):
    return [batch[1] for batch in batches]


def test_dataset_base_is_abstract():
    with pytest.raises(NotImplementedError, match=r"^Subclasses of Dataset should implement"):
        Dataset()[0]
    with pytest.raises(NotImplementedError, match="__len__"):
        len(Dataset())


# -- batching ----------------------------------------------------------------------------------


def test_batches_in_order_with_a_partial_last_batch():
    loader = DataLoader(Squares(5), batch_size=2)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [b[0].data for b in batches] == [["x0", "x1"], ["x2", "x3"], ["x4"]]
    assert _ids(batches) == [[0, 1], [4, 9], [16]]


def test_drop_last():
    loader = DataLoader(Squares(5), batch_size=2, drop_last=True)
    assert len(loader) == 2
    assert _ids(loader) == [[0, 1], [4, 9]]
    assert len(DataLoader(Squares(4), batch_size=2, drop_last=True)) == 2


def test_default_batch_size_is_one():
    loader = DataLoader(Squares(3))
    assert len(loader) == 3
    assert [b[0].data for b in loader] == [["x0"], ["x1"], ["x2"]]


def test_empty_dataset_yields_nothing():
    loader = DataLoader([], batch_size=3)
    assert len(loader) == 0
    assert list(loader) == []


def test_plain_sequences_work_as_datasets():
    assert list(DataLoader(["a", "b", "c"], batch_size=2)) == [["a", "b"], ["c"]]


def test_attributes():
    data = Squares(4)
    loader = DataLoader(data, batch_size=3, drop_last=True)
    assert loader.dataset is data
    assert (loader.batch_size, loader.shuffle, loader.drop_last) == (3, False, True)
    assert isinstance(loader.index_sampler, SequentialSampler)
    assert loader.index_sampler is loader.sampler
    shuffled = DataLoader(data, shuffle=True, seed=5)
    assert isinstance(shuffled.index_sampler, RandomSampler)
    assert shuffled.index_sampler.seed == 5


# -- iteration: every iter() is its own pass --------------------------------------------------


def test_each_iter_is_an_independent_pass():
    loader = DataLoader(Squares(4), batch_size=2)
    first, second = iter(loader), iter(loader)
    assert first is not second
    assert next(first)[1] == [0, 1]
    assert next(second)[1] == [0, 1]
    assert next(first)[1] == [4, 9]
    with pytest.raises(StopIteration):
        next(first)
    assert next(second)[1] == [4, 9]


def test_nested_loops_over_the_same_loader():
    loader = DataLoader(Squares(3), batch_size=1)
    pairs = [(a[1][0], b[1][0]) for a in loader for b in loader]
    assert len(pairs) == 9
    assert pairs[:3] == [(0, 0), (0, 1), (0, 4)]


def test_iterator_is_iterable_and_sized():
    loader = DataLoader(Squares(5), batch_size=2)
    it = iter(loader)
    assert iter(it) is it
    assert len(it) == 3


def test_samples_are_read_lazily():
    data = Squares(6)
    it = iter(DataLoader(data, batch_size=2))
    next(it)
    assert data.calls == [0, 1]


def test_loader_can_be_iterated_again_after_a_full_pass():
    loader = DataLoader(Squares(3), batch_size=2)
    assert _ids(loader) == _ids(loader) == [[0, 1], [4]]


# -- shuffling and samplers --------------------------------------------------------------------


def test_shuffle_with_seed_is_reproducible_and_complete():
    loader = DataLoader(Squares(10), batch_size=3, shuffle=True, seed=11)
    first = [i for batch in _ids(loader) for i in batch]
    assert sorted(first) == sorted(i * i for i in range(10))
    assert [i for batch in _ids(loader) for i in batch] == first
    other = DataLoader(Squares(10), batch_size=3, shuffle=True, seed=11)
    assert [i for batch in _ids(other) for i in batch] == first


def test_shuffle_leaves_the_global_rng_untouched():
    random.seed(99)
    state = random.getstate()
    list(DataLoader(Squares(10), batch_size=3, shuffle=True, seed=1))
    list(DataLoader(Squares(10), batch_size=3, shuffle=True))
    assert random.getstate() == state


def test_custom_sampler():
    sampler = WeightedRandomSampler([0, 0, 1], num_samples=4, seed=0)
    loader = DataLoader(Squares(3), batch_size=3, sampler=sampler)
    assert _ids(loader) == [[4, 4, 4], [4]]
    assert loader.sampler is sampler


def test_len_counts_the_batches_the_sampler_yields():
    sampler = RandomSampler(range(3), replacement=True, num_samples=7, seed=0)
    loader = DataLoader(Squares(3), batch_size=2, sampler=sampler)
    assert len(loader) == len(list(loader)) == 4


def test_a_plain_iterable_of_indices_as_sampler():
    loader = DataLoader(Squares(5), batch_size=2, sampler=[4, 0])
    assert _ids(loader) == [[16, 0]]
    assert len(loader) == 1


def test_a_sampler_without_len_falls_back_to_the_dataset_length():
    class Backwards:
        def __iter__(self):
            return iter([2, 1, 0])

    loader = DataLoader(Squares(3), batch_size=2, sampler=Backwards())
    assert len(loader) == 2
    assert _ids(loader) == [[4, 1], [0]]


# -- validation --------------------------------------------------------------------------------


def test_sampler_and_shuffle_are_exclusive():
    with pytest.raises(ValueError, match=r"^sampler option is mutually exclusive with shuffle$"):
        DataLoader(Squares(3), shuffle=True, sampler=SequentialSampler(range(3)))


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, "2", True, None])
def test_rejects_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match=r"batch_size should be a positive integer value"):
        DataLoader(Squares(3), batch_size=batch_size)


@pytest.mark.parametrize("shuffle", [1, "True", None])
def test_rejects_non_bool_shuffle(shuffle):
    with pytest.raises(ValueError, match=r"shuffle should be True or False, but got shuffle="):
        DataLoader(Squares(3), shuffle=shuffle)


def test_rejects_non_bool_drop_last():
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(Squares(3), drop_last=0)


def test_rejects_things_that_are_not_datasets():
    with pytest.raises(TypeError, match="map-style dataset"):
        DataLoader(iter([1, 2]))


def test_rejects_a_non_iterable_sampler():
    with pytest.raises(TypeError, match="sampler should be an iterable of indices"):
        DataLoader(Squares(3), sampler=3)


def test_rejects_a_bad_seed():
    with pytest.raises(TypeError, match="seed should be an int or None"):
        DataLoader(Squares(3), shuffle=True, seed="0")


# -- collation ---------------------------------------------------------------------------------


def test_variables_are_merged_with_the_first_role_and_requires_grad():
    batch = default_collate(
        [Variable("a", role="first", requires_grad=True), Variable("b", role="second")]
    )
    assert isinstance(batch, Variable)
    assert (batch.data, batch.role, batch.requires_grad) == (["a", "b"], "first", True)
    assert batch.is_leaf and batch.grad_fn is None


def test_missing_samples_survive_collation():
    batch = default_collate([Variable("a", role="r"), Variable(None, role="r"), Variable("c")])
    assert batch.data == ["a", None, "c"]
    numbers = default_collate([Variable(None), Variable(2), Variable(3.5)])
    assert numbers.data == [None, 2.0, 3.5]


def test_nested_data_and_parameters_merge_into_a_plain_variable():
    batch = default_collate([Parameter(["a", "b"], role="p"), Variable(["c"], role="q")])
    assert type(batch) is Variable
    assert (batch.data, batch.role, batch.requires_grad) == ([["a", "b"], ["c"]], "p", True)


def test_variables_that_cannot_share_a_batch_raise_a_clear_error():
    with pytest.raises(TypeError, match=r"Cannot collate the batch's Variables \(role 'r'\)"):
        default_collate([Variable("a", role="r"), Variable(1, role="r")])


def test_dicts_collate_key_by_key_and_keep_variables_apart():
    v0, v1 = Variable("a"), Variable("b")
    batch = default_collate([{"text": v0, "n": 1}, {"text": v1, "n": 2}])
    assert batch == {"text": [v0, v1], "n": [1, 2]}
    assert list(batch) == ["text", "n"]


def test_dicts_with_different_keys_raise():
    with pytest.raises(ValueError, match="different keys"):
        default_collate([{"a": 1}, {"b": 2}])


def test_other_samples_become_a_list():
    assert default_collate(["a", "b"]) == ["a", "b"]
    v = Variable("v")
    assert default_collate([v, "s"]) == [v, "s"]


def test_spec_example_with_nested_tuples():
    samples = [(Variable(f"x{i}", role="in"), (Variable(i, role="y"), f"s{i}")) for i in range(2)]
    loader = DataLoader(samples, batch_size=2)
    [(x, (y, s))] = list(loader)
    assert (x.data, x.role) == (["x0", "x1"], "in")
    assert (y.data, y.role) == ([0, 1], "y")
    assert s == ["s0", "s1"]


def test_collate_tuple_with_tuples_mixed_among_other_values():
    batch = collate_tuple([(1, ("a", "b")), (2, "c")])
    assert batch == ([1, 2], [(["a"], ["b"]), "c"])


def test_collate_tuple_rejects_different_lengths():
    with pytest.raises(ValueError, match=r"different lengths into a batch: got lengths \[1, 2\]"):
        collate_tuple([(1,), (1, 2)])


def test_collate_tuple_variables_inside_tuples_with_missing_data():
    batch = collate_tuple([(Variable(None, role="t"),), (Variable("x", role="t"),)])
    assert batch[0].data == [None, "x"]
    assert batch[0].role == "t"


def test_uncollate_inverts_default_collate():
    samples = [
        (Variable("a", role="text", requires_grad=True), "x", ("p", 1)),
        (Variable("b", role="text", requires_grad=True), "y", ("q", 2)),
    ]
    back = uncollate(default_collate(samples))
    assert [(s[0].data, s[0].role, s[0].requires_grad, s[1], s[2]) for s in back] == [
        ("a", "text", True, "x", ("p", 1)),
        ("b", "text", True, "y", ("q", 2)),
    ]
    assert uncollate({"q": ["a", "b"], "n": [1, 2]}) == [{"q": "a", "n": 1}, {"q": "b", "n": 2}]
    assert [v.data for v in uncollate(Variable(["a", "b"], role="r"))] == ["a", "b"]
    assert uncollate(["a", "b"]) == ["a", "b"]
    one = default_collate(uncollate((["a", "b"], ["x", "y"]))[1:])
    assert one == (["b"], ["y"])


def test_uncollate_refuses_what_is_not_a_batch():
    with pytest.raises(ValueError, match=r"different lengths \[1, 2\]"):
        uncollate((["a"], ["x", "y"]))
    with pytest.raises(ValueError, match="holds no list of samples"):
        uncollate(Variable("a"))
    with pytest.raises(ValueError, match="Cannot split str"):
        uncollate("abc")
