import pytest

import afnio
import afnio.cognitive.functional as F
from afnio import Variable
from afnio.autodiff.basic_ops import Add, Split, Sum

PREFIX = "Here is the combined feedback we got for this specific {} and other variables: "


class TestAdd:
    def test_strings(self):
        x = Variable("abc", role="first input", requires_grad=True)
        y = Variable("def", role="second input", requires_grad=False)
        z = Add.apply(x, y)
        assert z.data == "abcdef" and z.role == "first input and second input"
        assert z.requires_grad and z.grad_fn.name() == "AddBackward0"

    def test_numbers_mixed_and_lists(self):
        assert Add.apply(Variable(1), Variable(2.5)).data == 3.5
        assert Add.apply(Variable("n="), Variable(3)).data == "n=3"
        assert Add.apply(Variable([1, 2, 3]), Variable([4, 5, 6])).data == [5, 7, 9]
        assert Add.apply(Variable(["a", None]), Variable(["b", "c"])).data == ["ab", None]
        assert Add.apply(Variable([[1], [2]]), Variable([[3], [4]])).data == [[4], [6]]

    def test_errors(self):
        with pytest.raises(TypeError, match="`y` to be a Variable"):
            Add.apply(Variable("a"), "b")
        with pytest.raises(ValueError, match="scalar and a list"):
            Add.apply(Variable("a"), Variable(["b"]))
        with pytest.raises(ValueError, match="`x` has 2 items, `y` 3"):
            Add.apply(Variable([1, 2]), Variable([1, 2, 3]))

    def test_failed_op_creates_no_node(self):
        events = []
        from afnio.autodiff.graph import register_graph_observer

        with register_graph_observer(events.append), pytest.raises(ValueError):
            Add.apply(Variable([1], requires_grad=True), Variable([1, 2]))
        assert events == []

    def test_backward_exact_text(self):
        x = Variable("abc", role="first input", requires_grad=True)
        y = Variable("def", role="second input")
        Add.apply(x, y).backward(Variable("MY_FEEDBACK", role="add gradient"))
        assert len(x.grad) == 1 and y.grad == []
        assert x.grad[0].data == PREFIX.format("first input") + "MY_FEEDBACK"
        assert x.grad[0].role == "feedback to first input"

    def test_backward_batched_and_empty(self):
        x = Variable(["a", "b"], role="items", requires_grad=True)
        (x + Variable(["c", "d"])).backward(Variable(["F1", ""]))
        assert x.grad[0].data == [PREFIX.format("items") + "F1", ""]

    def test_backward_needs_variable(self):
        y = Variable("a", requires_grad=True) + Variable("b")
        with pytest.raises(TypeError, match="`grad_output` to be a Variable"):
            y.grad_fn.apply("text")


class TestSum:
    def test_strings_wrapped(self):
        a = Variable("abc", role="input1")
        b = Variable("def", role="input2")
        c = Variable("ghi", role="input3")
        s = Sum.apply([a, b, c])
        assert s.data == "<ITEM>abc</ITEM><ITEM>def</ITEM><ITEM>ghi</ITEM>"
        assert s.role == "input1 and input2 and input3"

    def test_numbers_and_lists(self):
        assert Sum.apply([Variable(1), Variable(2), Variable(3.5)]).data == 6.5
        s = Sum.apply([Variable([1, 2, 3.5]), Variable([4, 5, 6])])
        assert s.data == [5.0, 7.0, 9.5]
        s = Sum.apply([Variable(["a", "b"]), Variable(["c", "d"])])
        assert s.data == ["<ITEM>a</ITEM><ITEM>c</ITEM>", "<ITEM>b</ITEM><ITEM>d</ITEM>"]

    def test_errors(self):
        with pytest.raises(TypeError, match="list of Variables"):
            Sum.apply(Variable("a"))
        with pytest.raises(TypeError, match="list of Variables"):
            Sum.apply([Variable("a"), "b"])
        with pytest.raises(ValueError, match="empty"):
            Sum.apply([])
        with pytest.raises(TypeError, match="mix"):
            Sum.apply([Variable(["a"]), Variable("b")])
        with pytest.raises(ValueError, match="one length"):
            Sum.apply([Variable(["a"]), Variable(["b", "c"])])

    def test_backward_to_every_input(self):
        a = Variable("abc", role="first input", requires_grad=True)
        b = Variable("def", role="second input", requires_grad=True)
        c = Variable("ghi", role="third input")
        F.sum([a, b, c]).backward(Variable("MY_FEEDBACK"))
        assert a.grad[0].data == PREFIX.format("first input") + "MY_FEEDBACK"
        assert b.grad[0].data == PREFIX.format("second input") + "MY_FEEDBACK"
        assert c.grad == []

    def test_grad_fn_name(self):
        a = afnio.Variable("Hello,", requires_grad=True)
        b = afnio.Variable("world!", requires_grad=True)
        assert F.sum([a, b]).grad_fn.name() == "SumBackward0"


class TestSplit:
    def test_scalar(self):
        x = Variable("a b c", role="letters", requires_grad=True)
        parts = Split.apply(x, " ")
        assert isinstance(parts, tuple) and [p.data for p in parts] == ["a", "b", "c"]
        assert [p.role for p in parts] == [f"split part {i} of letters" for i in range(3)]
        assert all(p.requires_grad for p in parts)
        assert [p.data for p in F.split(Variable("a  b\tc"))] == ["a", "b", "c"]
        assert [p.data for p in F.split(Variable("a,b,c"), ",", 1)] == ["a", "b,c"]

    def test_batched(self):
        x = Variable(["afnio is great!", "Deep learning"], role="sentences")
        parts = F.split(x, " ", 2)
        assert [p.data for p in parts] == [["afnio", "Deep"], ["is", "learning"], ["great!", ""]]

    def test_variables_as_arguments(self):
        parts = F.split(Variable("a-b-c"), Variable("-"), Variable(1))
        assert [p.data for p in parts] == ["a", "b-c"]

    def test_errors(self):
        with pytest.raises(TypeError, match="`x.data` to be a string or a list of strings"):
            F.split(Variable(3))
        with pytest.raises(TypeError, match="`x.data`"):
            F.split(Variable([1, 2]))
        with pytest.raises(TypeError, match="`sep`"):
            F.split(Variable("a"), 3)
        with pytest.raises(TypeError, match="`maxsplit`"):
            F.split(Variable("a"), " ", "2")
        with pytest.raises(TypeError, match="`maxsplit`"):
            F.split(Variable("a"), " ", True)
        with pytest.raises(ValueError, match="non-empty"):
            F.split(Variable("a"), "")
        with pytest.raises(TypeError, match="`x` to be a Variable"):
            F.split("a b")

    def test_backward_batched_scalar_feedback(self):
        x = Variable(["a b c", "d e f"], role="sentences", requires_grad=True)
        parts = F.split(x, " ")
        parts[1].backward(Variable("MY_FEEDBACK"))
        assert x.grad[0].data == (
            PREFIX.format("sentences") + "<ITEM></ITEM><ITEM>MY_FEEDBACK</ITEM><ITEM></ITEM>"
        )

    def test_backward_batched_list_feedback(self):
        x = Variable(["a b", "c d"], role="pairs", requires_grad=True)
        first, second = F.split(x, " ")
        F.sum([first, second]).backward(Variable(["F0", "F1"]))

        def expected(feedback):
            parts = [PREFIX.format(f"split part {i} of pairs") + feedback for i in range(2)]
            return PREFIX.format("pairs") + "".join(f"<ITEM>{p}</ITEM>" for p in parts)

        assert x.grad[0].data == [expected("F0"), expected("F1")]
