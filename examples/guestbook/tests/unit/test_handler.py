import json
from pathlib import Path

import pytest
from guestbook import app

EVENTS = Path(__file__).resolve().parents[2] / "events"


@pytest.fixture()
def sqs_event():
    """Generates an SQS event, as events/sqs_event.json has it"""
    return json.loads((EVENTS / "sqs_event.json").read_text())


class RecordingTable:
    def __init__(self):
        self.items = []

    def put_item(self, Item):
        self.items.append(Item)


@pytest.fixture()
def recording_table(monkeypatch):
    table = RecordingTable()
    monkeypatch.setattr(app, "_table", table)
    return table


def test_signature_is_normalised_to_utc():
    item = app.parse_signature(
        json.dumps({"guest": " Ada ", "signed_at": "2024-05-01T14:30:00+02:00"})
    )
    assert item == {"guest": "Ada", "signed_at": "2024-05-01T12:30:00+00:00", "note": ""}


def test_long_notes_are_cut():
    body = json.dumps({"guest": "Ada", "signed_at": "2024-05-01T12:00:00Z", "note": "x" * 1000})
    assert len(app.parse_signature(body)["note"]) == app.MAX_NOTE


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        json.dumps({"signed_at": "2024-05-01T12:00:00Z"}),
        json.dumps({"guest": "", "signed_at": "2024-05-01T12:00:00Z"}),
        json.dumps({"guest": "Ada", "signed_at": "2024-05-01T12:00:00"}),
    ],
)
def test_malformed_messages_are_refused(body):
    with pytest.raises(ValueError):
        app.parse_signature(body)


def test_sign_handler(sqs_event, recording_table):
    result = app.sign_handler(sqs_event, "")

    assert result == {"stored": 1}
    assert recording_table.items == [
        {"guest": "Ada", "signed_at": "2024-05-01T12:30:00+00:00", "note": "Lovely place!"}
    ]


def test_sign_handler_drops_what_it_cannot_read(sqs_event, recording_table):
    sqs_event["Records"][0]["body"] = "{}"

    assert app.sign_handler(sqs_event, "") == {"stored": 0}
    assert recording_table.items == []
