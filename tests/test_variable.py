import copy

import pytest

import afnio
from afnio import JAGGED, Variable
from afnio._variable import allow_grad_fn_assignment, is_scalar_variable, is_variable


class TestConstruction:
    def test_defaults(self):
        v = Variable()
        assert v.data == "" and v.role == "" and v.requires_grad is False
        assert v.is_leaf and v.grad == [] and v.grad_fn is None and v.output_nr == 0

    @pytest.mark.parametrize("data", ["text", 3, 2.5, True, None, [], ["a", None, "b"]])
    def test_accepted_data(self, data):
        assert Variable(data).data == data

    def test_nested_lists_and_promotion(self):
        assert Variable([1, 2.0]).data == [1.0, 2.0]
        assert Variable([[1, 2.0]]).data == [[1.0, 2.0]]
        assert Variable([[1, None], [3]]).data == [[1, None], [3]]
        assert isinstance(Variable([1, 2]).data[0], int)

    def test_mixed_strings_and_numbers_rejected(self):
        with pytest.raises(TypeError, match="all strings or all numbers"):
            Variable(["a", 1])
        with pytest.raises(TypeError, match="all strings or all numbers"):
            Variable([["a"], [1]])

    @pytest.mark.parametrize("data", [("a", "b"), ["a", ("b",)]])
    def test_tuples_rejected(self, data):
        with pytest.raises(TypeError, match="not a `tuple`"):
            Variable(data)

    @pytest.mark.parametrize("data", [{"a": 1}, object(), b"bytes", [{"a": 1}]])
    def test_other_types_rejected(self, data):
        with pytest.raises(TypeError, match="`data` must be a single value"):
            Variable(data)

    def test_data_setter_validates(self):
        v = Variable("x")
        with pytest.raises(TypeError, match="`data`"):
            v.data = ("a",)
        assert v.data == "x"  # a failed assignment leaves the value alone
        v.data = [1, 2.5]
        assert v.data == [1.0, 2.5]

    def test_bad_flag_and_role_types(self):
        with pytest.raises(TypeError, match="`requires_grad`"):
            Variable("x", requires_grad="yes")
        with pytest.raises(TypeError, match="`role`"):
            Variable("x", role=3)


class TestShape:
    @pytest.mark.parametrize(
        ("data", "shape"),
        [
            ("a", ()),
            (None, ()),
            ([], (0,)),
            (["a", "b"], (2,)),
            ([[1, 2], [3, 4]], (2, 2)),
            ([[[1], [2]], [[3], [4]]], (2, 2, 1)),
        ],
    )
    def test_rectangular(self, data, shape):
        assert Variable(data).shape == shape

    def test_jagged(self):
        shape = Variable([[1, 2], [3]]).shape
        assert shape == (2, JAGGED)
        assert shape[1] is JAGGED and repr(shape[1]) == "j"
        assert Variable([[[1], [2, 3]], [[4]]]).shape == (2, JAGGED, JAGGED)
        assert Variable([1, [2]]).shape == (2, JAGGED)


class TestGrad:
    def test_grad_is_a_list_kept_in_place(self):
        x = Variable("x", requires_grad=True)
        before = id(x.grad)
        x.append_grad(Variable("feedback"))
        assert id(x.grad) == before and x.grad[0].data == "feedback"

    def test_grad_setter(self):
        x = Variable("x", requires_grad=True)
        x.grad = [Variable("g")]
        assert x.grad[0].data == "g"
        with pytest.raises(TypeError, match="expects a list of Variables"):
            x.grad = Variable("g")
        with pytest.raises(TypeError, match="expects a list of Variables"):
            x.grad = ["g"]

    def test_append_grad_type(self):
        with pytest.raises(TypeError, match="`gradient` must be a Variable"):
            Variable("x", requires_grad=True).append_grad("text")

    def test_non_leaf_grad_access(self):
        y = Variable("a", requires_grad=True) + Variable("b")
        for action in (lambda: y.grad, lambda: y.append_grad(Variable("g"))):
            with pytest.raises(RuntimeError, match="non-leaf Variable without `retain_grad`"):
                action()
        with pytest.raises(RuntimeError, match="Attempted to set `grad`"):
            y.grad = []
        y.retain_grad()
        assert y.grad == [] and y.retains_grad

    def test_retain_grad_on_leaf(self):
        with pytest.raises(RuntimeError, match="Cannot call `retain_grad` on a leaf variable"):
            Variable("x", requires_grad=True).retain_grad()


class TestGraphAttributes:
    def test_grad_fn_is_protected(self):
        x = Variable("x", requires_grad=True)
        y = x + x
        with pytest.raises(AttributeError, match="Direct assignment to `grad_fn`"):
            x.grad_fn = y.grad_fn
        with allow_grad_fn_assignment(), pytest.raises(RuntimeError, match="does not require"):
            Variable("z").grad_fn = y.grad_fn

    def test_output_nr_setter(self):
        v = Variable("x")
        v.output_nr = 2
        assert v.output_nr == 2
        for bad in (-1, 1.5, True, "1"):
            with pytest.raises(TypeError, match="`output_nr` can only be an int"):
                v.output_nr = bad

    def test_requires_grad_(self):
        v = Variable("x")
        assert v.requires_grad_() is v and v.requires_grad and v.is_leaf
        v.requires_grad_(False)
        assert not v.requires_grad
        with pytest.raises(TypeError, match="`requires_grad` must be a bool"):
            v.requires_grad_("yes")

    def test_non_leaf_requires_grad_cannot_change(self):
        y = Variable("a", requires_grad=True) + Variable("b")
        with pytest.raises(RuntimeError, match="only change `requires_grad` flags of leaf"):
            y.requires_grad_(False)
        y.requires_grad_(True)  # unchanged value is fine
        assert not y.is_leaf

    def test_backward_on_leaf(self):
        with pytest.raises(RuntimeError, match="does not require grad or does not have a grad_fn"):
            Variable("x", requires_grad=True).backward()


class TestCopies:
    def test_detach(self):
        x = Variable(["a"], role="r", requires_grad=True)
        y = (x + x).detach()
        assert y.data == ["aa"] and y.role == "r and r"
        assert y.requires_grad is False and y.grad_fn is None

    def test_copy_(self):
        dst = Variable(["a", "b"], role="old")
        src = Variable(["c", "d"], role="new", requires_grad=True)
        assert dst.copy_(src) is dst
        assert dst.data == ["c", "d"] and dst.role == "new" and dst.requires_grad
        src.data[0] = "changed"
        assert dst.data[0] == "c"  # deep copy
        with pytest.raises(ValueError, match=r"shape mismatch \(\(2,\) vs \(3,\)\)"):
            dst.copy_(Variable(["a", "b", "c"]))
        with pytest.raises(ValueError, match="shape mismatch"):
            Variable("a").copy_(Variable(["a"]))
        with pytest.raises(TypeError, match="`src` must be a Variable"):
            dst.copy_("x")

    def test_is_floating_point(self):
        assert Variable(1.5).is_floating_point()
        assert not Variable(1).is_floating_point()
        assert Variable([1.0, None, [2.0]]).is_floating_point()
        assert not Variable([]).is_floating_point()
        assert not Variable("1.0").is_floating_point()

    def test_to(self):
        v = Variable([1, None, [2]], role="r", requires_grad=True)
        w = v.to(float)
        assert w.data == [1.0, None, [2.0]] and w.role == "r" and w.requires_grad
        assert w is not v and v.to().data == v.data
        assert Variable([1, 2]).to(str).data == ["1", "2"]
        with pytest.raises(TypeError, match="`dtype`"):
            v.to(3)

    def test_deepcopy_leaf(self):
        x = Variable(["a"], role="r", requires_grad=True)
        x.append_grad(Variable("g"))
        y = copy.deepcopy(x)
        assert y is not x and y.data == ["a"] and y.grad[0].data == "g"
        assert y.data is not x.data and y.grad[0] is not x.grad[0]

    def test_deepcopy_non_leaf(self):
        y = Variable("a", requires_grad=True) + Variable("b")
        with pytest.raises(RuntimeError, match="Only Variables created explicitly by the user"):
            copy.deepcopy(y)


class TestOperators:
    def test_add_requires_variables(self):
        with pytest.raises(TypeError, match="Only Variables can be added to each other."):
            Variable("a") + "b"
        v = Variable("a")
        with pytest.raises(TypeError, match="Only Variables can be added to each other."):
            v += "b"

    @pytest.mark.parametrize(("a_rg", "b_rg"), [(False, True), (False, False)])
    def test_iadd_in_place(self, a_rg, b_rg):
        a = Variable("a", role="A", requires_grad=a_rg)
        b = Variable("b", role="B", requires_grad=b_rg)
        before = id(a)
        a += b
        assert id(a) == before and a.data == "ab" and a.role == "A and B"
        assert a.requires_grad == (a_rg or b_rg)
        assert (a.grad_fn is not None) == (a_rg or b_rg)
        if a.grad_fn is not None:
            assert a.grad_fn.output_variables == (a,)

    @pytest.mark.parametrize("b_rg", [False, True])
    def test_iadd_on_a_leaf_that_requires_grad_refuses_and_changes_nothing(self, b_rg):
        # As torch: the leaf's gradient would be the gradient of a value it no longer holds.
        a = Variable("a", role="A", requires_grad=True)
        b = Variable("b", role="B", requires_grad=b_rg)
        with pytest.raises(RuntimeError, match=r"leaf Variable that requires grad \(role 'A'\)"):
            a += b
        assert (a.data, a.role, a.grad_fn, a.is_leaf, a.requires_grad) == (
            "a",
            "A",
            None,
            True,
            True,
        )
        c = a + b  # the leaf still works, and receives its gradient through `grad`
        c.backward(Variable("shorter", role="feedback"))
        assert len(a.grad) == 1 and "specific A " in a.grad[0].data

    def test_iadd_on_a_leaf_under_no_grad_changes_the_data_only(self):
        a = Variable("a", role="A", requires_grad=True)
        with afnio.no_grad():
            a += Variable("b", role="B")
        assert a.data == "ab" and a.requires_grad and a.is_leaf and a.grad_fn is None

    def test_iadd_on_a_non_leaf_extends_its_history_and_names_the_right_inputs(self):
        x = Variable("x", role="X", requires_grad=True)
        b = x + Variable("c", role="C")
        first = b.grad_fn
        b += Variable("d", role="D")
        assert b.data == "xcd" and b.role == "X and C and D" and not b.is_leaf
        assert b.grad_fn is not first and b.grad_fn.next_functions[0] == (first, 0)
        b.backward(Variable("more detail", role="feedback"))
        # The first Add's feedback names x by its role, and the second names b by the role it
        # had when it was added to (not the role the in-place op gave it afterwards).
        (grad,) = x.grad
        assert grad.role == "feedback to X"
        assert grad.data.startswith("Here is the combined feedback we got for this specific X ")
        assert "specific X and C and other" in grad.data

    def test_iadd_on_a_non_leaf_under_no_grad_keeps_flags_that_agree(self):
        x = Variable("x", role="X", requires_grad=True)
        b = x + Variable("c", role="C")
        node = b.grad_fn
        with afnio.no_grad():
            b += Variable("d", role="D")
        assert b.data == "xcd"
        assert b.requires_grad and not b.is_leaf and b.grad_fn is node
        b.requires_grad = True  # agrees: no error
        with pytest.raises(RuntimeError, match="only change `requires_grad` flags of leaf"):
            b.requires_grad = False

    @pytest.mark.parametrize("grad_mode", [True, False])
    @pytest.mark.parametrize("kind", ["leaf", "leaf requiring grad", "non-leaf"])
    @pytest.mark.parametrize("other_rg", [False, True])
    def test_flags_agree_with_grad_fn_after_any_iadd(self, grad_mode, kind, other_rg):
        if kind == "non-leaf":
            a = Variable("a", requires_grad=True) + Variable("b")
        else:
            a = Variable("a", requires_grad=kind == "leaf requiring grad")
        other = Variable("o", requires_grad=other_rg)
        with afnio.set_grad_enabled(grad_mode):
            try:
                a += other
            except RuntimeError:
                assert kind == "leaf requiring grad" and grad_mode
        assert a.is_leaf == (a.grad_fn is None)
        assert a.grad_fn is None or a.requires_grad
        a.requires_grad = a.requires_grad  # never raises when nothing changes

    def test_clone_stays_in_the_graph(self):
        x = Variable(["a", "b"], role="drafts", requires_grad=True)
        y = x.clone()
        assert y is not x and y.data == x.data and y.data is not x.data
        assert y.role == "drafts" and y.grad_fn.name() == "CloneBackward0"
        y.backward(Variable(["longer", ""], role="feedback to drafts"))
        assert x.grad[0].data == ["longer", ""] and x.grad[0].role == "feedback to drafts"
        z = Variable("c").clone()
        assert z.is_leaf and not z.requires_grad and z.grad_fn is None

    def test_detach_in_place(self):
        y = Variable("a", requires_grad=True) + Variable("b")
        assert y.detach_() is y
        assert (y.grad_fn, y.requires_grad, y.is_leaf, y.data) == (None, False, True, "ab")
        y.requires_grad_()  # a leaf again: its flags can change
        assert y.requires_grad and y.is_leaf


class TestPrinting:
    def test_repr(self):
        assert repr(Variable("abc", role="r")) == "Variable(data='abc', role='r')"
        assert repr(Variable(3, role="n", requires_grad=True)) == (
            "Variable(data=3, role='n', requires_grad=True)"
        )
        y = Variable("a", role="x", requires_grad=True) + Variable("b", role="y")
        assert repr(y) == "Variable(data='ab', role='x and y', grad_fn=<AddBackward0>)"

    def test_repr_cuts_long_text_and_lists(self):
        text = "You are a helpful assistant. " * 20
        r = repr(Variable(text, role="system prompt", requires_grad=True))
        assert r == (
            "Variable(data='You are a helpful assistant. Y... You are a helpful assistant. ', "
            "role='system prompt', requires_grad=True)"
        )
        r = repr(Variable([f"item {i}" for i in range(10)], role="batch"))
        assert r == (
            "Variable(data=['item 0', 'item 1', 'item 2', ..., 'item 7', 'item 8', 'item 9'], "
            "role='batch')"
        )

    def test_str_shortens(self):
        text = "a" * 30 + "b" * 30
        assert str(Variable(text, role="r")) == (
            f"variable('{'a' * 20}...{'b' * 20}', role=r, requires_grad=False)"
        )
        s = str(Variable(list(range(10)), role="r"))
        assert s == "variable([0, 1, 2, ..., 7, 8, 9], role=r, requires_grad=False)"


def test_helpers():
    assert is_variable(Variable("x")) and not is_variable("x")
    assert is_scalar_variable(Variable(True)) and is_scalar_variable(Variable("x"))
    assert not is_scalar_variable(Variable(None)) and not is_scalar_variable(Variable([1]))
    assert afnio.is_variable is is_variable


def test_role_assignment_is_checked():
    v = Variable("x", role="old")
    with pytest.raises(TypeError, match="`role` must be a str"):
        v.role = 3
    assert v.role == "old"
    v.role = "new"
    assert v.role == "new"
