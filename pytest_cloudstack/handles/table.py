"""``Table``: a DynamoDB table of the stack."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from pytest_cloudstack.eventually import DEFAULT_TIMEOUT, eventually
from pytest_cloudstack.handles._common import ClientSource, describe_callable, handle_repr

Item = dict[str, Any]


class Table:
    """A DynamoDB table. ``.table`` is the boto3 ``Table`` resource, ``.client`` the client.

    Reads are strongly consistent by default (a test reads what it just wrote). Python floats
    in items are sent as ``Decimal``, which is what DynamoDB stores; numbers read back are
    ``Decimal``, as boto3 returns them.
    """

    def __init__(self, clients: ClientSource, name: str, logical_id: str | None = None) -> None:
        self.logical_id = logical_id
        #: the boto3 ``Table`` resource
        self.table: Any = clients.resource("dynamodb").Table(name)

    @property
    def name(self) -> str:
        """The table's name."""
        return str(self.table.name)

    @property
    def arn(self) -> str:
        """The table's ARN (DescribeTable, once)."""
        return str(self.table.table_arn)

    @property
    def client(self) -> Any:
        """The boto3 DynamoDB client."""
        return self.table.meta.client

    def key_names(self) -> tuple[str, ...]:
        """The key attributes from the table's real key schema: (hash,) or (hash, range)."""
        schema = sorted(self.table.key_schema, key=lambda key: key["KeyType"] != "HASH")
        return tuple(str(key["AttributeName"]) for key in schema)

    def put(self, item: Mapping[str, Any]) -> Item:
        """Write ``item`` (PutItem) and return it as sent."""
        sent: Item = _to_dynamodb(dict(item))
        self.table.put_item(Item=sent)
        return sent

    def get(self, key: Mapping[str, Any], *, consistent: bool = True) -> Item | None:
        """The item with this key, or None (GetItem). A key without the table's key attributes
        fails with DynamoDB's ``ValidationException``."""
        response = self.table.get_item(Key=_to_dynamodb(dict(key)), ConsistentRead=consistent)
        item = response.get("Item")
        return dict(item) if item is not None else None

    def query(self, key: Any = None, /, **kwargs: Any) -> list[Item]:
        """Every item of a query, all pages read.

        ``key`` is a dict of key attributes to match by equality (``{"pk": "a"}``), or a boto3
        condition (``Key("pk").eq("a") & Key("sk").begins_with("2024")``); other keyword
        arguments go to boto3's ``Table.query`` (``IndexName``, ``FilterExpression`` ...).
        """
        if key is not None:
            kwargs["KeyConditionExpression"] = (
                _key_condition(key) if isinstance(key, Mapping) else key
            )
        if "IndexName" not in kwargs:
            kwargs.setdefault("ConsistentRead", True)  # global secondary indexes refuse it
        return self._all_pages(self.table.query, kwargs)

    def scan_all(self, **kwargs: Any) -> list[Item]:
        """Every item of the table (or of a filtered scan), all pages read."""
        if "IndexName" not in kwargs:
            kwargs.setdefault("ConsistentRead", True)
        return self._all_pages(self.table.scan, kwargs)

    def wait_for_item(
        self,
        key: Mapping[str, Any],
        predicate: Callable[[Item], object] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Item:
        """Wait until the item exists (and ``predicate(item)`` holds), and return it.

        Fails at ``timeout`` with an ``AssertionError`` that shows the last item read.
        """
        __tracebackhide__ = True

        def check() -> Item:
            __tracebackhide__ = True
            item = self.get(key)
            if item is None:
                raise AssertionError(f"no item with key {dict(key)!r} in table {self.name}")
            if predicate is not None and not predicate(item):
                raise AssertionError(
                    f"item {dict(key)!r} in table {self.name} does not satisfy "
                    f"{describe_callable(predicate)}: {item!r}"
                )
            return item

        return eventually(timeout=timeout)(check)

    def clear(self) -> int:
        """Delete every item (a consistent scan of the keys, then batched deletes); return how many."""
        keys = self.key_names()
        names = {f"#k{index}": name for index, name in enumerate(keys)}
        found = self.scan_all(ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)
        with self.table.batch_writer(overwrite_by_pkeys=list(keys)) as batch:
            for item in found:
                batch.delete_item(Key={name: item[name] for name in keys})
        return len(found)

    @staticmethod
    def _all_pages(read: Callable[..., Any], kwargs: dict[str, Any]) -> list[Item]:
        items: list[Item] = []
        while True:
            page = read(**kwargs)
            items.extend(dict(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def __repr__(self) -> str:
        return handle_repr("Table", self.logical_id, self.name)


def _key_condition(key: Mapping[str, Any]) -> Any:
    from boto3.dynamodb.conditions import Key

    condition: Any = None
    for name, value in key.items():
        part = Key(name).eq(_to_dynamodb(value))
        condition = part if condition is None else condition & part
    if condition is None:
        raise ValueError("query: the key dict is empty; pass the hash key attribute")
    return condition


def _to_dynamodb(value: Any) -> Any:
    """Floats as ``Decimal`` (boto3 refuses floats), inside dicts, lists and sets too."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {key: _to_dynamodb(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_dynamodb(inner) for inner in value]
    if isinstance(value, (set, frozenset)):
        return {_to_dynamodb(inner) for inner in value}
    return value
