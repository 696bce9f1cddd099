"""The outbox's typing-free NamedTuple (pagerbridge.outbox._namedtuple) builds the same classes as
typing.NamedTuple, and the outbox's value classes behave as before."""

from __future__ import annotations

import pickle
import typing

import pytest

from pagerbridge.outbox import _namedtuple
from pagerbridge.outbox.storage import NewRow
from pagerbridge.outbox.types import Completion, DrainResult, EnqueuedRow, OutboxRow, Stats


def make(base: typing.Any) -> typing.Any:
    class Row(base):  # type: ignore[misc,valid-type]
        """A row."""

        id: int
        name: str | None
        state: str = "pending"
        tries: int = 0

        @property
        def done(self) -> bool:
            return bool(self.state == "delivered")

        def label(self) -> str:
            return f"{self.id}:{self.name}"

    return Row


LITE = make(_namedtuple.NamedTuple)
TYPED = make(typing.NamedTuple)


def test_the_same_class_as_typing_builds() -> None:
    for attr in (
        "_fields",
        "_field_defaults",
        "__doc__",
        "__module__",
        "__qualname__",
        "__bases__",
    ):
        assert getattr(LITE, attr) == getattr(TYPED, attr), attr
    assert list(LITE.__annotations__) == list(TYPED.__annotations__)
    assert LITE.__annotations__["name"] == "str | None"  # typing: ForwardRef("str | None")
    assert issubclass(LITE, tuple) and type(LITE) is type(TYPED) is type
    lite, typed = LITE(1, "a"), TYPED(1, "a")
    assert tuple(lite) == tuple(typed) == (1, "a", "pending", 0)
    assert repr(lite) == repr(typed) == "Row(id=1, name='a', state='pending', tries=0)"
    assert lite._replace(state="delivered").done and not lite.done
    assert lite.label() == typed.label() == "1:a"
    assert lite._asdict() == typed._asdict()
    assert LITE._make([2, None, "x", 1]) == TYPED._make([2, None, "x", 1]) == (2, None, "x", 1)
    with pytest.raises(AttributeError):
        lite.id = 3


def test_the_same_errors_as_typing() -> None:
    for base in (_namedtuple.NamedTuple, typing.NamedTuple):
        with pytest.raises(TypeError, match="Non-default namedtuple field b cannot follow"):
            type_ = typing.cast(typing.Any, base)

            class Bad(type_):
                a: int = 1
                b: int

        with pytest.raises(AttributeError, match="Cannot overwrite NamedTuple attribute _replace"):

            class Worse(type_):
                a: int

                def _replace(self) -> None: ...


@pytest.mark.parametrize(
    "row",
    [
        NewRow("event", "{}", "rk/k", "rk", "k"),
        EnqueuedRow(1, "k", "rk"),
        Completion(1, "delivered"),
        Stats({"pending": 1}, {"rk": {"pending": 1}}, 5.0),
        DrainResult(1, 0, 0, 0, False),
        OutboxRow._make(
            [1, "event", "{}", "o", "r", "k", "pending", 0, 1.0, None, None]
            + [1.0] * 4
            + ["https://e", 3]
        ),
    ],
    ids=lambda row: type(row).__name__,
)
def test_outbox_values_pickle_and_compare_as_tuples(row: tuple[object, ...]) -> None:
    assert pickle.loads(pickle.dumps(row)) == row
    assert type(row).__module__.startswith("pagerbridge.outbox.")
    assert type(row).__bases__ == (tuple,)


def test_outbox_values_keep_their_methods_and_defaults() -> None:
    assert NewRow("event", "{}", "o", "r", None).state == "pending"
    assert NewRow("change_event", "{}", "o", "r", None)._replace(state="suppressed").state == (
        "suppressed"
    )
    row = OutboxRow(1, "change_event", '{"a":1}', "o", "r", None, "pending", 0, 1.0, None, None,
                    1.0, 1.0, None, 1.0)  # fmt: skip
    assert row.change and row.payload_json() == {"a": 1} and row.as_dict()["payload"] == {"a": 1}
    assert Stats({}, {}, 10.0).oldest_pending_age(15.0) == 5.0
    assert DrainResult(1, 0, 0, 0, False).complete


def test_storage_contract_is_still_reachable_and_a_protocol() -> None:
    from pagerbridge.outbox import OutboxStorage, storage
    from pagerbridge.outbox.storage_contract import OutboxStorage as contract

    assert storage.OutboxStorage is contract is OutboxStorage
    assert getattr(contract, "_is_protocol", False)
    with pytest.raises(AttributeError):
        storage.Nope  # noqa: B018
