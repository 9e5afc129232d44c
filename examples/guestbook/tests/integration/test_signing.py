import json
import os
import time
import uuid
from unittest import TestCase

import boto3

# These tests run against a deployed stack, found by its name in AWS_SAM_STACK_NAME
# (the stack_name that `sam deploy` was given).


class TestSigning(TestCase):
    """A signature sent to the queue ends up in the table, through SignFunction."""

    @classmethod
    def get_stack_name(cls) -> str:
        stack_name = os.environ.get("AWS_SAM_STACK_NAME")
        if not stack_name:
            raise RuntimeError(
                "AWS_SAM_STACK_NAME is not set: export the name of the deployed guestbook stack"
            )
        return stack_name

    @classmethod
    def setUpClass(cls) -> None:
        stack_name = cls.get_stack_name()
        response = boto3.client("cloudformation").describe_stacks(StackName=stack_name)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in response["Stacks"][0]["Outputs"]}
        cls.queue_url = outputs["SignaturesQueueUrl"]
        cls.table = boto3.resource("dynamodb").Table(outputs["GuestbookTableName"])
        cls.sqs = boto3.client("sqs")

    def wait_for_signatures(self, guest, count, timeout=30):
        deadline = time.time() + timeout
        while True:
            items = self.table.query(
                KeyConditionExpression="guest = :guest",
                ExpressionAttributeValues={":guest": guest},
            )["Items"]
            if len(items) >= count or time.time() > deadline:
                return items
            time.sleep(0.2)

    def test_a_signature_is_recorded(self):
        guest = f"guest-{uuid.uuid4().hex[:8]}"
        self.sqs.send_message(
            QueueUrl=self.queue_url,
            MessageBody=json.dumps(
                {"guest": guest, "signed_at": "2024-05-01T14:30:00+02:00", "note": "hello"}
            ),
        )

        items = self.wait_for_signatures(guest, 1)

        self.assertEqual(
            items, [{"guest": guest, "signed_at": "2024-05-01T12:30:00+00:00", "note": "hello"}]
        )

    def test_a_malformed_message_is_dropped_and_the_rest_recorded(self):
        guest = f"guest-{uuid.uuid4().hex[:8]}"
        for signed_at in ["yesterday", "2024-05-02T08:00:00Z"]:
            self.sqs.send_message(
                QueueUrl=self.queue_url,
                MessageBody=json.dumps({"guest": guest, "signed_at": signed_at}),
            )

        items = self.wait_for_signatures(guest, 1)

        self.assertEqual(
            items, [{"guest": guest, "signed_at": "2024-05-02T08:00:00+00:00", "note": ""}]
        )
